"""The duty room over HTTP: faults ranked by impact then urgency, filtered, exported,
acknowledged in bulk with one note (refusals in words); the scope search; the device page
of a device that left the inventory; the map's points."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import yaml

from agent.wire import Health, Reason, Status
from collector.pipeline.faults import FaultClass, Ticket
from collector.web.console.duty import Filters, by_impact
from simulator.local_servers import Mosquitto
from slawatch.config.inventory import Inventory, contracts_of_devices
from tests.collector.live import FakeAgent
from tests.collector.web.console.conftest import browser, console
from tests.collector.web.console.test_access import logged_in
from tests.conftest import wait_for

PAGE = {"accept": "text/html"}
MOMENT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def ticket(
    ticket_id: str, devices: int, fault_class: FaultClass, minutes: float, acked: bool = False
) -> Ticket:
    detected = MOMENT + timedelta(minutes=minutes)
    return Ticket(
        ticket_id, fault_class, Reason.TIMEOUT, None, None,
        [f"{ticket_id}-{n}" for n in range(devices)], detected, detected,
        detected + timedelta(minutes=30), detected + timedelta(hours=4), "p",
        acknowledged_at=detected if acked else None,
    )  # fmt: skip


def test_a_link_of_54_outranks_an_older_single_camera_then_class_then_deadline() -> None:
    camera = ticket("camera", 1, FaultClass.FRONT_END, 0)
    link = ticket("link", 54, FaultClass.NETWORK, 30)
    port = ticket("port", 1, FaultClass.NETWORK, 20)
    late = ticket("late", 1, FaultClass.FRONT_END, 10)
    # Acknowledged: its next deadline is the repair's, hours away; the other's response
    # falls due first.
    acked = ticket("acked", 1, FaultClass.FRONT_END, -5, acked=True)
    ranked = [t.id for t in by_impact([camera, late, acked, port, link])]
    assert ranked == ["link", "port", "camera", "late", "acked"]


def test_filters_by_region_class_acknowledgement_and_contract(inventory: Inventory) -> None:
    cameras = [d for d in inventory.devices if d.kind.value == "camera" and d.contract]
    switch = next(d for d in inventory.devices if d.kind.value == "switch")
    found = ticket("t", 0, FaultClass.FRONT_END, 0)
    found.device_ids = [cameras[0].id]
    devices = {d.id: d for d in inventory.devices}
    contract_of = contracts_of_devices(inventory)
    assert Filters().matches(found, devices, contract_of)
    assert Filters(region=cameras[0].region).matches(found, devices, contract_of)
    assert not Filters(region="R99").matches(found, devices, contract_of)
    assert not Filters(fault_class="network").matches(found, devices, contract_of)
    assert Filters(acknowledged="no").matches(found, devices, contract_of)
    assert not Filters(acknowledged="yes").matches(found, devices, contract_of)
    assert Filters(contract="cam-rent").matches(found, devices, contract_of)
    assert not Filters(contract="door-rent").matches(found, devices, contract_of)
    found.device_ids = [switch.id]
    assert Filters(contract="-").matches(found, devices, contract_of)
    found.device_ids = [inventory.sets[0].cameras[0]]  # a set's camera: the set's contract
    assert Filters(contract="door-rent").matches(found, devices, contract_of)


async def test_list_export_bulk_acknowledgement_search_and_a_retired_device(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    cameras = [d for d in inventory.devices if d.kind.value == "camera"][:2]
    async with console(tmp_path, broker.port, agent=False) as live, browser(live) as operator:
        csrf = await logged_in(operator, "zhang")
        agent = FakeAgent(broker.port, agent_id="edge-t", site="sim")
        start = datetime.now(UTC) - timedelta(seconds=1)  # observed before sent
        for second in range(3):  # two cameras dark, each on its own
            await agent.publish(
                agent.batch(
                    [
                        Status(
                            device_id=camera.id,
                            observed_at=start + timedelta(milliseconds=10 * second + n),
                            health=Health.DOWN,
                            reason=Reason.TIMEOUT,
                        )
                        for n, camera in enumerate(cameras)
                    ]
                )
            )
        faults = live.collector.pipeline.faults
        await wait_for(lambda: all(faults.ticket_for_device(c.id) for c in cameras), 20)
        ids = sorted(t.id for t in faults.open_tickets())

        listed = (await operator.get("/faults.json")).json()
        assert listed["count"] == len(ids)
        assert sorted(row["id"] for row in listed["rows"]) == ids
        assert (await operator.get("/faults.json?class=network")).json()["rows"] == []
        unacked = (await operator.get("/faults.json?acknowledged=no")).json()
        assert unacked["count"] == len(ids)

        refused = await operator.post("/faults/ack", data={"csrf": csrf}, headers=PAGE)
        assert refused.status_code == 422
        assert "未保存：工单号：未选择任何工单" in refused.text
        gone = await operator.post(
            "/faults/ack?lang=en", data={"csrf": csrf, "ticket": "F-none"}, headers=PAGE
        )
        assert "Not saved: Ticket: ticket F-none does not exist" in gone.text
        forged = await operator.post(
            "/faults/ack", data={"csrf": "wrong", "ticket": ids}, headers=PAGE
        )
        assert forged.status_code == 403
        done = await operator.post(
            "/faults/ack", data={"csrf": csrf, "ticket": ids, "note": "夜班统一响应"}
        )
        assert done.status_code == 303
        assert all(faults.tickets[i].acknowledged_by == "张工" for i in ids)
        rows = (await operator.get("/faults.json?acknowledged=yes")).json()["rows"]
        assert {row["note"] for row in rows} == {"夜班统一响应"}

        exported = await operator.get("/faults.xlsx?lang=zh")
        assert exported.status_code == 200
        sheet = openpyxl.load_workbook(io.BytesIO(exported.content)).active
        assert sheet is not None
        table = list(sheet.iter_rows(values_only=True))
        assert table[0][:3] == ("工单号", "故障类别", "影响设备数")
        assert [row[0] for row in table[1:]] == [row["id"] for row in listed["rows"]]
        assert {row[10] for row in table[1:]} == {"夜班统一响应"}

        choices = (await operator.get("/scope.json", params={"q": "城关"})).json()
        assert {"value": "城关街道", "label": "区域: 城关街道 · 城关派出所"} in choices
        by_address = (await operator.get("/scope.json", params={"q": cameras[0].address})).json()
        assert by_address[0]["value"] == cameras[0].name

        # A device gone from the inventory: its page still answers, marked 已停用.
        file = tmp_path / "inventory.yaml"
        kept = yaml.safe_load(file.read_text(encoding="utf-8"))
        kept["devices"] = [d for d in kept["devices"] if d["id"] != cameras[1].id]
        file.write_text(yaml.safe_dump(kept, allow_unicode=True), encoding="utf-8")
        live.collector.reload_from_settings("wang")
        retired = await operator.get(f"/fleet/{cameras[1].id}", headers=PAGE)
        assert retired.status_code == 200
        assert '<span class="retired" id="retired">已停用</span>' in retired.text
        assert (await operator.get("/fleet/NEVER-SEEN", headers=PAGE)).status_code == 404

        mapped = await operator.get("/map", headers=PAGE)
        assert mapped.status_code == 200
        assert cameras[0].id in mapped.text
