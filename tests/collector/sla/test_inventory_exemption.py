"""A back-dated inventory change is an exemption: put in force on 30 September, an
inventory that ends C2's service on the 23rd and adds C3 from 1 July moves no figure of
the days before the 30th until the bureau approves it (figures computed by hand; hours
from Q3's start, tests/collector/sla/conftest.py)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from collector.cli import main
from collector.ledger.chain import Ledger
from collector.pipeline.exemptions import exemptions, inventory_change
from collector.pipeline.replay import replay
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from tests.collector.sla.conftest import INVENTORY, POLICY, District, camera, hour, write
from tests.ledgers import ledger_in

ZONE = ZoneInfo("Asia/Shanghai")


def device_figures(folder: Path, inventory: Path, policy: Path) -> dict[str, dict[str, int]]:
    out = folder / f"figures-{len(list(folder.glob('figures-*')))}.json"
    command = [
        "sla", "--ledger", ledger_in(folder), "--inventory", str(inventory),
        "--policy", str(policy), "--period", "2026-Q3", "--group-by", "device", "-o", str(out),
    ]  # fmt: skip
    assert main(command) == 0
    groups = json.loads(out.read_text(encoding="utf-8"))["groups"]
    return {g["key"]: g["exposure"] for g in groups if g["key"].startswith("C")}


def test_a_back_dated_inventory_change_counts_once_approved(tmp_path: Path) -> None:
    old_file, policy = write(
        tmp_path / "old", INVENTORY + camera("C1", "SW1", 1) + camera("C2", "SW1", 2), POLICY
    )
    new_text = (
        INVENTORY + camera("C1", "SW1", 1)
        + camera("C2", "SW1", 2).replace("}}\n", "}, service_end: 2026-09-23}\n")
        + camera("C3", "SW1", 3, start="2026-07-01")
    )  # fmt: skip
    new_file, _ = write(tmp_path / "new", new_text, POLICY)
    old, new = load_config(old_file, Inventory), load_config(new_file, Inventory)
    assert new.devices[-2].service_end == date(2026, 9, 23)
    district = District(["C1", "C2", "C3", "SW1", "SW2"], down={"C2": [(2000, 2209)]})
    ledger = Ledger(ledger_in(tmp_path))
    # The fleet as it stands (C3 polled all along); the question is only its inventory.
    replay(new, PolicyBook.only(load_config(policy, Policy)), district.observations(), [], ledger)

    change = inventory_change(old, new, date(2026, 9, 30), ZONE, "王工", "ab" * 32)
    assert change is not None
    assert change.devices == ("C2", "C3")  # C1 did not change
    assert change.start.isoformat() == "2026-07-01T00:00:00+08:00"  # C3's first day
    assert inventory_change(old, new, date(2026, 7, 1), ZONE, "王工", "ab" * 32) is None
    body = change.body("announced") | {"id": "inv1"}
    with ledger.transaction():
        ledger.append("exemption", hour(2184).isoformat(), body)  # 30 September
    ledger.close()

    pending = device_figures(tmp_path, new_file, policy)
    # As before the change: C2 in service to the end (208 h down), C3 counted from the
    # day it was added (24 h).
    assert (pending["C2"]["counted"], pending["C2"]["online"]) == (
        2208 * 3_600_000,
        2000 * 3_600_000,
    )
    assert (pending["C3"]["counted"], pending["C3"]["online"]) == (24 * 3_600_000, 24 * 3_600_000)

    ledger = Ledger(ledger_in(tmp_path))
    approval = {"event": "approved", "id": "inv1", "by": "赵科长", "party": "bureau", "note": None}
    with ledger.transaction():
        ledger.append("exemption", hour(2190).isoformat(), approval)
    [found] = exemptions(ledger.connection)
    assert (found.what, found.status, found.back_dated) == ("inventory", "approved", True)
    ledger.close()
    approved = device_figures(tmp_path, new_file, policy)
    assert (approved["C2"]["counted"], approved["C2"]["online"]) == (
        2016 * 3_600_000,
        2000 * 3_600_000,
    )
    assert (approved["C3"]["counted"], approved["C3"]["online"]) == (
        2208 * 3_600_000,
        2208 * 3_600_000,
    )
    assert approved["C1"] == pending["C1"]
