"""Maintenance windows announced in the console: recorded in the ledger, taken out of the
SLA figures by every computation (sla, export, verify), refused when they name nothing."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from collector.cli import main
from collector.ledger.chain import Ledger
from collector.pipeline.exemptions import exemptions, in_force
from collector.pipeline.replay import replay
from simulator.local_servers import Mosquitto
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from tests.collector.sla.conftest import INVENTORY, POLICY, District, camera, hour, write
from tests.collector.web.console.conftest import browser, console
from tests.collector.web.console.test_access import logged_in
from tests.ledgers import ledger_in


def test_a_window_in_the_ledger_takes_its_hours_out_of_the_figures(
    tmp_path: Path, capsys: object
) -> None:
    inventory_text = INVENTORY + camera("C1", "SW1", 1) + camera("C2", "SW1", 2)
    inventory_file, policy_file = write(tmp_path, inventory_text, POLICY)
    district = District(["C1", "C2", "SW1", "SW2"], down={"C1": [(100, 110)]})
    ledger = Ledger(ledger_in(tmp_path))
    inventory = load_config(inventory_file, Inventory)
    replay(
        inventory,
        PolicyBook.only(load_config(policy_file, Policy)),
        district.observations(),
        [],
        ledger,
    )
    command = [
        "sla", "--ledger", ledger_in(tmp_path), "--inventory", str(inventory_file),
        "--policy", str(policy_file), "--period", "2026-Q3", "--group-by", "device",
        "-o", str(tmp_path / "before.json"),
    ]  # fmt: skip
    ledger.close()
    assert main(command) == 0
    ledger = Ledger(ledger_in(tmp_path))
    body = {
        "event": "announced", "id": "w1", "start": hour(99).isoformat(),
        "end": hour(111).isoformat(), "reason": "光缆割接", "devices": ["C1"], "regions": [],
        "links": [], "by": "张工",
    }  # fmt: skip
    with ledger.transaction():
        ledger.append("maintenance", hour(98).isoformat(), body)
    [window] = exemptions(ledger.connection)
    assert window.window.reason == "光缆割接"
    assert window.status == "pending"
    ledger.close()
    command[-1] = str(tmp_path / "requested.json")
    assert main(command) == 0
    assert main([*command[:-1], str(tmp_path / "what-if.json"), "--with-pending"]) == 0
    ledger = Ledger(ledger_in(tmp_path))
    approval = {"event": "approved", "id": "w1", "by": "赵科长", "party": "bureau", "note": None}
    with ledger.transaction():
        ledger.append("maintenance", hour(120).isoformat(), approval)
    [window] = exemptions(ledger.connection)
    assert window.status == "approved"
    ledger.close()
    command[-1] = str(tmp_path / "after.json")
    assert main(command) == 0
    before, requested, what_if, after = (
        {g["key"]: g for g in json.loads((tmp_path / f).read_text())["groups"]}
        for f in ("before.json", "requested.json", "what-if.json", "after.json")
    )
    assert requested == before  # a request alone moves no figure
    assert before["C1"]["online_rate"] < 1
    assert after["C1"]["online_rate"] == 1.0  # its 10 down hours were inside the window
    assert after["C1"]["exposure"]["maintenance"] == 12 * 3_600_000
    assert after["C2"] == before["C2"]  # a window names its devices, no others
    assert what_if == after  # what the console shows beside the figures while it waits


def test_a_rejected_window_never_counts_and_a_second_decision_is_not_taken(
    ledger: Ledger,
) -> None:
    request = {
        "event": "announced", "id": "w2", "start": hour(1).isoformat(),
        "end": hour(2).isoformat(), "reason": "补报", "devices": ["C1"], "regions": [],
        "links": [], "by": "张工",
    }  # fmt: skip
    with ledger.transaction():
        ledger.append("maintenance", hour(5).isoformat(), request)
        ledger.append("maintenance", hour(6).isoformat(), request | {"event": "rejected",
                      "by": "赵科长", "party": "bureau", "note": "无停电证明"})  # fmt: skip
        ledger.append("maintenance", hour(7).isoformat(), request | {"event": "approved",
                      "by": "someone", "party": "bureau", "note": None})  # fmt: skip
    [window] = exemptions(ledger.connection)
    assert window.status == "rejected"
    assert window.back_dated  # asked for at hour 5, starting at hour 1
    assert window.decision is not None
    assert window.decision.note == "无停电证明"
    assert in_force(ledger.connection) == []
    assert in_force(ledger.connection, with_pending=True) == []


async def test_an_operator_announces_and_ends_a_window_and_bad_input_is_named(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    async with console(tmp_path, broker.port, agent=False) as live:
        device = inventory.devices[0].id
        async with browser(live) as operator:
            csrf = await logged_in(operator, "zhang")
            form = {
                "csrf": csrf,
                "start": "2026-12-01T22:00",
                "end": "2026-12-02T02:00",
                "reason": "光缆割接",
            }
            wrong = await operator.post("/maintenance", data={**form, "scope": "NO-SUCH-ID"})
            assert wrong.status_code == 422
            assert "scope" in wrong.text
            assert "NO-SUCH-ID" in wrong.text
            backwards = await operator.post(
                "/maintenance", data={**form, "scope": device, "end": "2026-12-01T21:00"}
            )
            assert backwards.status_code == 422
            assert "end" in backwards.text
            assert exemptions(live.collector.ledger.connection) == []
            made = await operator.post("/maintenance", data={**form, "scope": device})
            assert made.status_code == 303
            [window] = exemptions(live.collector.ledger.connection)
            assert window.by == "张工"
            assert window.window.devices == [device]
            assert window.window.start.utcoffset() == timedelta(hours=8)  # the policy's zone
            page = await operator.get("/maintenance")
            assert "光缆割接" in page.text
            ended = await operator.post(f"/maintenance/{window.id}/end", data={"csrf": csrf})
            assert ended.status_code == 303
            [window] = exemptions(live.collector.ledger.connection)
            assert window.ended_early
        async with browser(live) as nobody:
            refused = await nobody.post("/maintenance", data={**form, "scope": device})
            assert refused.status_code == 401
