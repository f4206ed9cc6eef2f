"""A network fault across three contracts under three policies: each contract judges the
one shared ticket by its own deadlines (SLA.md: each contract is settled on its own terms).

The switch SW2 (link L2, no backup fibre) dies at hour 100 with everything behind it: a
camera of the camera contract, a door-access set of the door contract, a face camera of
the face contract. Acknowledged 45 minutes after detection, all back 18 hours later.

| contract | policy | respond within | network repair (no backup) | response | repair |
|---|---|---|---|---|---|
| cam-rent | cam-quarter | 30 min | 12 h | 45 min: late | 18 h: late |
| door-rent | door-quarter | 60 min | 24 h | 45 min: in time | 18 h: in time |
| face-rent | face-quarter | 15 min | 6 h | 45 min: late | 18 h: late |

Judged by the deadlines the ticket carries for alerts (cam-quarter's), the door contract
would be late twice: the error this rule prevents.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from collector.cli import main
from collector.ledger.chain import Ledger
from collector.pipeline.replay import replay
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from tests.collector.sla.conftest import District, camera
from tests.collector.sla.test_report import at
from tests.ledgers import ledger_in

SITE = """\
debounce: {down_after: 1, up_after: 1, stale_after: 2h, flap_window: 1m}
network_fault: {min_devices: 3, share: 0.8, window: 2m}
"""
POLICIES = {
    "cam": """\
kind: policy
id: cam-quarter
name: 摄像机租赁考核
response_deadline: 30m
repair_deadlines: {network_no_backup: 12h}
settlement: {rule: pro_rata, unit: device, unit_price: "628.00", prepay_rate: "0.90"}
"""
    + SITE,
    "door": """\
kind: policy
id: door-quarter
name: 视频门禁租赁考核
response_deadline: 60m
repair_deadlines: {network_no_backup: 24h}
settlement: {rule: full_above_target, unit: set, unit_price: "350.00", prepay_rate: "0"}
"""
    + SITE,
    "face": """\
kind: policy
id: face-quarter
name: 人脸点位考核
response_deadline: 15m
escalation: {unacknowledged_after: 10m}
repair_deadlines: {network_no_backup: 6h}
settlement: {rule: pro_rata, unit: device, unit_price: "850.00", prepay_rate: "0.90"}
"""
    + SITE,
}
DISTRICT = (
    """\
kind: inventory
sites: [{id: d1, name: 分局}]
regions: [{id: R1, name: 城关街道}]
contracts:
  - {id: cam-rent, name: 摄像机租赁, unit: device, policy: cam-quarter}
  - {id: door-rent, name: 视频门禁租赁, unit: set, policy: door-quarter}
  - {id: face-rent, name: 人脸点位, unit: device, policy: face-quarter}
links:
  - {id: L2, name: 新城汇聚, backup_fiber: false}
devices:
  - {id: SW2, name: 交换机2, kind: switch, site: d1, address: 10.0.1.2, region: R1,
     snmp: {profile: if-mib-switch}, service_start: 2026-01-01, ports: 24, link: L2}
"""
    + camera("C1", "SW2", 1)
    + camera("F1", "SW2", 5).replace("contract: cam-rent", "contract: face-rent")
    + "  - {id: DH1, name: 门禁主机1, kind: door_host, site: d1, address: 10.0.2.1, region: R1, "
    "snmp: {profile: door-host-generic}, service_start: 2026-01-01, "
    "uplink: {switch: SW2, port: 2}}\n"
    + camera("D1", "SW2", 3).replace("contract: cam-rent, ", "")
    + camera("D2", "SW2", 4).replace("contract: cam-rent, ", "")
    + "sets:\n"
    + "  - {id: S1, name: 幸福里1栋, host: DH1, cameras: [D1, D2], contract: door-rent}\n"
)
DEVICES = ["SW2", "C1", "F1", "DH1", "D1", "D2"]


def shared_fault_ledger(folder: Path, district: District | None = None) -> list[str]:
    """The quarter replayed through the real pipeline into ``folder``/ledger.sqlite; the
    command-line arguments naming its ledger, inventory and policies."""
    (folder / "policies").mkdir(parents=True)
    for name, text in POLICIES.items():
        (folder / "policies" / f"{name}.yaml").write_text(text, encoding="utf-8")
    (folder / "inventory.yaml").write_text(DISTRICT, encoding="utf-8")
    policies = [folder / "policies" / "cam.yaml", folder / "policies"]
    if district is None:
        district = District(DEVICES, down={device: [(100, 118)] for device in DEVICES})
        district.ack("C1", 100.75)
    ledger = Ledger(ledger_in(folder))
    replay(
        load_config(folder / "inventory.yaml", Inventory),
        PolicyBook.load(policies),
        district.observations(),
        sorted(district.acks, key=lambda ack: ack.at),
        ledger,
    )
    ledger.close()
    arguments = ["--ledger", ledger_in(folder)]
    arguments += ["--inventory", str(folder / "inventory.yaml"), "--period", "2026-Q3"]
    for path in policies:
        arguments += ["--policy", str(path)]
    return arguments


def shared_fault(folder: Path) -> dict[str, Any]:
    """The quarter reported by the real command."""
    out = folder / "report.json"
    assert main(["sla", *shared_fault_ledger(folder), "-o", str(out)]) == 0
    found: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return found


def test_a_network_ticket_across_contracts_is_judged_by_each_contracts_deadlines(
    tmp_path: Path,
) -> None:
    built = shared_fault(tmp_path)
    (ticket,) = built["tickets"]  # one network fault, the front-end tickets merged into it
    assert (ticket["fault_class"], ticket["link"], ticket["backup_fiber"]) == (
        "network",
        "L2",
        False,
    )
    assert sorted(ticket["device_ids"]) == sorted(DEVICES)
    # Detected at hour 100; each policy's deadlines from there.
    assert ticket["detected_at"] == at(100)
    assert ticket["deadlines"] == {
        "cam-quarter": {"response_deadline": at(100.5), "repair_deadline": at(112)},
        "door-quarter": {"response_deadline": at(101), "repair_deadline": at(124)},
        "face-quarter": {"response_deadline": at(100.25), "repair_deadline": at(106)},
    }
    # The ticket itself carries, for alerts and the console, the strictest policy among
    # the devices it opened with (C1, D1, D2, DH1 down in that order at hour 100 make 4 of
    # the link's 5: cam-quarter's 12 h); F1 joined it after.
    assert (ticket["policy"], ticket["repair_deadline"]) == ("cam-quarter", at(112))
    # Its entry in the list says how each policy judged it; its own fields, by its own.
    assert ticket["judged"] == {
        "cam-quarter": {"pending": False, "repaired_in_time": False, "responded_in_time": False},
        "door-quarter": {"pending": False, "repaired_in_time": True, "responded_in_time": True},
        "face-quarter": {"pending": False, "repaired_in_time": False, "responded_in_time": False},
    }
    assert (ticket["responded_in_time"], ticket["repaired_in_time"]) == (False, False)
    groups = {group["key"]: group for group in built["groups"]}
    verdicts = {
        key: (g["tickets"], g["responded_in_time"], g["repaired_in_time"], g["late"])
        for key, g in groups.items()
    }
    assert verdicts == {
        "-": (1, 0, 0, 1),  # the switch, under the site's policy (cam-quarter): 30 min, 12 h
        "cam-rent": (1, 0, 0, 1),  # 45 min > 30 min; 18 h > 12 h
        "door-rent": (1, 1, 1, 0),  # 45 min ≤ 60 min; 18 h ≤ 24 h
        "face-rent": (1, 0, 0, 1),  # 45 min > 15 min; 18 h > 6 h
    }
    assert groups["door-rent"]["repair_timeliness_rate"] == 1.0
    assert groups["door-rent"]["response_timeliness_rate"] == 1.0
    assert groups["cam-rent"]["repair_timeliness_rate"] == 0.0
    # Overrun by each contract's own deadline: 6 h past cam's 12 h, 12 h past face's 6 h.
    assert groups["cam-rent"]["worst_tickets"] == [{"id": ticket["id"], "overrun_s": 21600.0}]
    assert groups["face-rent"]["worst_tickets"] == [{"id": ticket["id"], "overrun_s": 43200.0}]
    assert groups["door-rent"]["worst_tickets"] == []
