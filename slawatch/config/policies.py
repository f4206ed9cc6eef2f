"""Which policy judges which contract: each contract names its own (``policy:``).

A district holds several contracts at once (rented cameras, door-access sets,
checkpoints), each with its targets, deadlines and settlement rule. The default policy
judges devices that belong to no contract and contracts that name no policy; an imposed
policy judges every contract alike, and the report says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from slawatch.config.errors import ConfigError, ConfigProblem, show_value
from slawatch.config.inventory import Contract, Inventory, contracts_of_devices
from slawatch.config.loader import load_config
from slawatch.config.policy import MaintenanceWindow, Policy
from slawatch.config.yamlsource import YamlDocument
from slawatch.messages import Said


def policy_files(paths: Iterable[Path]) -> list[Path]:
    """Each path a policy file, or a directory whose ``*.yaml`` files are policies."""
    found: list[Path] = []
    for path in paths:
        found += sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    return found


@dataclass(frozen=True, slots=True, weakref_slot=True)  # report memos key on it
class PolicyBook:
    default: Policy
    by_id: Mapping[str, Policy] = field(default_factory=dict)
    imposed: bool = False  # the default judges every contract, whatever it names

    @classmethod
    def load(cls, paths: Sequence[Path]) -> PolicyBook:
        """Policy files or directories of them; the first policy found is the default."""
        loaded = [load_config(file, Policy) for file in policy_files(paths)]
        if not loaded:
            problem = ConfigProblem(paths[0], 0, (), Said("config.no_policy"))
            raise ConfigError([problem])
        by_id: dict[str, Policy] = {}
        for policy in loaded:
            by_id.setdefault(policy.id, policy)
        return cls(loaded[0], by_id)

    @classmethod
    def only(cls, policy: Policy) -> PolicyBook:
        """One policy imposed on every contract (``sla --impose FILE``)."""
        return cls(policy, {policy.id: policy}, imposed=True)

    def with_maintenance(self, windows: Sequence[MaintenanceWindow]) -> PolicyBook:
        """Every policy with ``windows`` added to its own (those announced in the console)."""
        if not windows:
            return self

        copies = {
            id(policy): policy.model_copy(
                update={"maintenance_windows": [*policy.maintenance_windows, *windows]}
            )
            for policy in (self.default, *self.by_id.values())
        }  # one copy per policy: the default stays the same object as its by_id entry
        return PolicyBook(
            copies[id(self.default)],
            {key: copies[id(policy)] for key, policy in self.by_id.items()},
            self.imposed,
        )

    @property
    def policies(self) -> list[Policy]:
        """The default first, then the others by id."""
        rest = sorted((p for p in self.by_id.values() if p is not self.default), key=_id)
        return [self.default, *rest]

    def for_contract(self, contract: Contract | None) -> Policy:
        if self.imposed or contract is None or contract.policy is None:
            return self.default
        return self.by_id[contract.policy]

    def of_devices(self, inventory: Inventory) -> dict[str, Policy]:
        """The policy judging each device: its contract's, or for a door-access set's host
        and cameras, the set's contract's (its host's when the set names none): a set is
        judged whole."""
        contracts = {contract.id: contract for contract in inventory.contracts}
        return {
            device_id: self.for_contract(contracts.get(contract or ""))
            for device_id, contract in contracts_of_devices(inventory).items()
        }

    def check(self, inventory: Inventory, file: Path) -> None:
        """Every contract's policy must be loaded: judging it under another one would
        settle it at the wrong price."""
        if self.imposed:
            return
        known = ", ".join(sorted(self.by_id))
        missing = [
            (n, contract)
            for n, contract in enumerate(inventory.contracts)
            if contract.policy is not None and contract.policy not in self.by_id
        ]
        if missing:
            document = YamlDocument(file, None)  # read again only to locate the lines
            raise ConfigError(
                [
                    document.problem(
                        ("contracts", n, "policy"),
                        Said("config.policy_not_loaded", contract=contract.id, known=known),
                        show_value(contract.policy),
                    )
                    for n, contract in missing
                ]
            )


def _id(policy: Policy) -> str:
    return policy.id
