"""``check-config``: validate config files without touching the network.

Settings files are followed to the inventory and policy they name, because an agent that
starts with a valid settings file and a broken inventory is still a broken agent.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from slawatch.config.errors import ConfigError, ConfigProblem
from slawatch.config.inventory import Inventory
from slawatch.config.loader import ConfigModel, load_any, load_config, model_kind
from slawatch.config.policies import PolicyBook, policy_files
from slawatch.config.settings import AgentSettings, CollectorSettings
from slawatch.config.types import SecretRef
from slawatch.config.yamlsource import YamlDocument

EXIT_OK = 0
EXIT_INVALID = 2


def _referenced(model: ConfigModel) -> list[Path]:
    if isinstance(model, AgentSettings):
        return [model.inventory]
    if isinstance(model, CollectorSettings):
        return [model.inventory, model.policy, *policy_files(model.contract_policies)]
    return []


def _contracts_judged(settings: CollectorSettings) -> list[ConfigProblem]:
    """Every contract of the inventory names a policy the collector is given."""
    try:
        policies = PolicyBook.load([settings.policy, *settings.contract_policies])
        policies.check(load_config(settings.inventory, Inventory), settings.inventory)
    except ConfigError as exc:  # each file's own problems are listed when it is checked
        return [problem for problem in exc.problems if problem.path[:1] == ("contracts",)]
    return []


def _unreadable(
    refs: list[tuple[tuple[str | int, ...], SecretRef]], file: Path
) -> list[ConfigProblem]:
    problems = []
    for path, ref in refs:
        try:
            ref.resolve()
        except LookupError as exc:
            problems.append(YamlDocument(file, None).problem(path, str(exc)))
    return problems


def _secrets_readable(
    settings: AgentSettings | CollectorSettings, file: Path
) -> list[ConfigProblem]:
    """Every secret the settings reference can be read now (never printed): a process
    that starts without one fails at start-up, not at its first connection."""
    refs: list[tuple[tuple[str | int, ...], SecretRef]] = []
    if settings.broker.password is not None:
        refs.append((("broker", "password"), settings.broker.password))
    problems = []
    if isinstance(settings, CollectorSettings):
        if settings.api is not None:
            try:
                settings.api.token_value()
            except LookupError as exc:
                problems.append(YamlDocument(file, None).problem(("api", "token"), str(exc)))
        refs += settings.alerting.secrets() if settings.alerting else []
        if settings.signing is not None:
            problems += _signing_key(settings.signing.key, file)
    else:
        problems += _inventory_secrets(settings.inventory)
    return problems + _unreadable(refs, file)


def _signing_key(key: Path, file: Path) -> list[ConfigProblem]:
    """The ledger's signing key can be read, and by nobody else (its contents are checked
    when the collector loads it)."""
    document = YamlDocument(file, None)
    try:
        mode = key.stat().st_mode
        key.read_bytes()
    except OSError as exc:
        return [document.problem(("signing", "key"), f"{key}: cannot read: {exc.strerror}")]
    if mode & 0o077:
        return [
            document.problem(
                ("signing", "key"), f"{key}: readable by others (mode {mode & 0o777:o}): chmod 600"
            )
        ]
    return []


def _inventory_secrets(file: Path) -> list[ConfigProblem]:
    """The devices' credentials the agent reads at start (camera passwords, communities)."""
    try:
        inventory = load_config(file, Inventory)
    except ConfigError:
        return []  # the inventory's own problems are listed when it is checked
    refs: list[tuple[tuple[str | int, ...], SecretRef]] = []
    for name, credential in inventory.credentials.items():
        at = ("credentials", name)
        for key, ref in (
            ("password", credential.password),
            ("snmp_community", credential.snmp_community),
        ):
            if ref is not None:
                refs.append(((*at, key), ref))
        if credential.snmp_v3 is not None:
            refs.append(((*at, "snmp_v3", "auth_key"), credential.snmp_v3.auth_key))
            refs.append(((*at, "snmp_v3", "priv_key"), credential.snmp_v3.priv_key))
    return _unreadable(refs, file)


def check_files(files: list[Path], allowed_kinds: set[str], out: TextIO = sys.stdout) -> int:
    """Print every problem as FILE:LINE: key.path: message; return the process exit code."""
    problems: list[ConfigProblem] = []
    pending = list(files)
    seen: set[Path] = set()
    while pending:
        file = pending.pop(0)
        if file.resolve() in seen:
            continue
        seen.add(file.resolve())
        try:
            model = load_any(file)
        except ConfigError as exc:
            problems += exc.problems
            continue
        kind = model_kind(model)
        if kind not in allowed_kinds:
            problems.append(
                ConfigProblem(
                    file,
                    1,
                    ("kind",),
                    f"this command checks {', '.join(sorted(allowed_kinds))}",
                    kind,
                )
            )
            continue
        pending += _referenced(model)
        if isinstance(model, CollectorSettings):
            problems += _contracts_judged(model)
        if isinstance(model, AgentSettings | CollectorSettings):
            problems += _secrets_readable(model, file)
        out.write(f"{file}: ok ({_summary(model)})\n")
    for problem in problems:
        out.write(f"{problem}\n")
    return EXIT_INVALID if problems else EXIT_OK


def _summary(model: ConfigModel) -> str:
    if isinstance(model, Inventory):
        return (
            f"inventory: {len(model.devices)} devices, {len(model.sets)} door-access sets, "
            f"{len(model.links)} links"
        )
    return model_kind(model)
