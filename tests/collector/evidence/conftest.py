"""A small district's quarter in a signed ledger, and its evidence bundle (built once)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collector.cli import main
from collector.evidence.heads import TABLE, sign_head
from collector.ledger.chain import Ledger
from collector.pipeline.replay import replay
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from slawatch.keys import load_private, new_pair
from tests.collector.sla.conftest import INVENTORY, POLICY, District, camera, write
from tests.ledgers import ledger_in

CAMERAS = [f"C{n}" for n in range(1, 11)]


@dataclass(frozen=True)
class Quarter:
    folder: Path
    ledger: str  # a file or a DSN (tests/ledgers.py)
    inventory: Path
    policy: Path
    key: Path
    public: Path

    def export(self, out: Path, *extra: str) -> int:
        return main(
            [
                "evidence", "export", "--ledger", str(self.ledger),
                "--inventory", str(self.inventory), "--policy", str(self.policy),
                "--period", "2026-Q3", "--out", str(out), *extra,
            ]
        )  # fmt: skip


def _district() -> tuple[str, District]:
    inventory = INVENTORY + "".join(
        camera(name, "SW1" if n < 6 else "SW2", n, "R1" if n < 6 else "R2")
        for n, name in enumerate(CAMERAS, 1)
    )
    district = District(
        [*CAMERAS, "SW1", "SW2"],
        down={"C1": [(100, 103)], "C7": [(500, 540)], "C8": [(1500, 1501)]},
        silent={"C3": [(1000, 1100)]},
    )
    district.ack("C1", 100.2)
    district.ack("C8", 1500.9)
    return inventory, district


@pytest.fixture(scope="session")
def quarter(tmp_path_factory: pytest.TempPathFactory) -> Quarter:
    """Replayed through the real pipeline; its head signed at the end as a collector would."""
    folder = tmp_path_factory.mktemp("quarter")
    inventory_text, district = _district()
    inventory_file, policy_file = write(folder, inventory_text, POLICY)
    key = folder / "collector.pem"
    public = new_pair(key)
    ledger = Ledger(ledger_in(folder))
    policies = PolicyBook.only(load_config(policy_file, Policy))
    inventory = load_config(inventory_file, Inventory)
    replay(inventory, policies, district.observations(), district.acks, ledger)
    ledger.connection.execute(TABLE)
    middle = ledger.next_seq // 2
    (middle_hash,) = ledger.connection.execute(
        "SELECT hash FROM ledger WHERE seq = ?", (middle,)
    ).fetchone()
    signed_at = datetime(2026, 10, 1, tzinfo=UTC)
    for seq, digest in ((middle, middle_hash), (ledger.next_seq - 1, ledger.head)):
        head = sign_head(load_private(key), seq, digest, signed_at)
        ledger.connection.execute(
            "INSERT INTO signed_heads VALUES (?, ?)", (head.seq, head.record())
        )
    ledger.close()
    return Quarter(folder, ledger_in(folder), inventory_file, policy_file, key, public)


@pytest.fixture(scope="session")
def bundle(quarter: Quarter, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "bundle.zip"
    assert quarter.export(out, "--sign", str(quarter.key)) == 0
    return out
