"""A district with two contracts under two policies, reported in one run, and a quarter
asked for before it ended: every figure against arithmetic done by hand.

The ledger is written by the real pipeline (replay) and read by the real command.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from wcwidth import wcswidth

from collector.cli import main
from collector.ledger.chain import Ledger
from collector.pipeline.replay import replay
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from tests.collector.sla.conftest import HOURS, District, camera
from tests.collector.sla.test_report import at, rate
from tests.ledgers import ledger_in

CAMERA_POLICY = """\
kind: policy
id: cam-quarter
name: 摄像机租赁考核
timezone: Asia/Shanghai
targets: {online_rate: 0.90}
unknown: exclude
debounce: {down_after: 1, up_after: 1, stale_after: 2h, flap_window: 1m}
repair_deadlines: {front_end: 4h}
settlement: {rule: pro_rata, unit: device, unit_price: "628.00", prepay_rate: "0.90"}
"""
DOOR_POLICY = """\
kind: policy
id: door-quarter
name: 视频门禁租赁考核
timezone: Asia/Shanghai
targets: {online_rate: 0.93, response_timeliness_rate: 0.97}
unknown: exclude
repair_deadlines: {front_end: 2h}
settlement: {rule: full_above_target, unit: set, unit_price: "350.00", prepay_rate: "0"}
"""
DISTRICT = (
    """\
kind: inventory
sites: [{id: d1, name: 分局}]
regions:
  - {id: R1, name: 城关街道, police_station: 城关派出所}
  - {id: R2, name: 新城街道, police_station: 新城派出所}
contracts:
  - {id: cam-rent, name: 摄像机租赁, unit: device, policy: cam-quarter}
  - {id: door-rent, name: 视频门禁租赁, unit: set, policy: door-quarter}
links:
  - {id: L1, name: 城关汇聚, backup_fiber: true}
devices:
  - {id: SW1, name: 交换机1, kind: switch, site: d1, address: 10.0.1.1, region: R1,
     snmp: {profile: if-mib-switch}, service_start: 2026-01-01, ports: 24, link: L1}
"""
    + camera("C1", "SW1", 1)
    + (
        "  - {id: DH1, name: 门禁主机1, kind: door_host, site: d1, address: 10.0.2.1, region: R2, "
        "snmp: {profile: door-host-generic}, service_start: 2026-01-01, "
        "uplink: {switch: SW1, port: 2}}\n"
        + camera("D1", "SW1", 3, "R2").replace("contract: cam-rent, ", "")
        + camera("D2", "SW1", 4, "R2").replace("contract: cam-rent, ", "")
        + "sets:\n"
        + "  - {id: S1, name: 幸福里1栋, host: DH1, cameras: [D1, D2], contract: door-rent}\n"
    )
)
DEVICES = ["SW1", "C1", "DH1", "D1", "D2"]


def fen(amount: Fraction) -> str:
    exact = Decimal(amount.numerator) / Decimal(amount.denominator)
    return str(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def recorded(folder: Path, district: District) -> list[str]:
    """Replay the district into a ledger as the collector would (each contract's tickets
    under its own policy); the sla command's arguments over it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inventory.yaml").write_text(DISTRICT, encoding="utf-8")
    policies = folder / "policies"
    policies.mkdir()
    (policies / "cam.yaml").write_text(CAMERA_POLICY, encoding="utf-8")
    (policies / "door.yaml").write_text(DOOR_POLICY, encoding="utf-8")
    book = PolicyBook.load([policies / "cam.yaml", policies])
    inventory = load_config(folder / "inventory.yaml", Inventory)
    ledger = Ledger(ledger_in(folder))
    replay(
        inventory, book, district.observations(), sorted(district.acks, key=lambda a: a.at), ledger
    )
    ledger.close()
    return [
        "sla",
        *("--ledger", ledger_in(folder)),
        *("--inventory", str(folder / "inventory.yaml")),
    ]


def report(command: list[str], *more: str) -> dict[str, Any]:
    out = Path(command[4]).parent / "report.json"  # beside the inventory
    assert main([*command, *more, "-o", str(out)]) == 0
    found: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    return found


def by_key(built: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {group["key"]: group for group in built["groups"]}


def two_contracts(tmp_path: Path) -> list[str]:
    # The rented camera C1 is down 100–103 (acknowledged at 100.2); the door host DH1 is
    # down 200–203 and nobody acknowledges it.
    district = District(DEVICES, down={"C1": [(100, 103)], "DH1": [(200, 203)]})
    district.ack("C1", 100.2)
    command = recorded(tmp_path, district)
    policies = tmp_path / "policies"
    return [*command, "--policy", str(policies / "cam.yaml"), "--policy", str(policies)]


def test_each_contract_is_judged_and_settled_under_the_policy_it_names(tmp_path: Path) -> None:
    built = report(two_contracts(tmp_path), "--period", "2026-Q3")
    groups = by_key(built)
    assert [(p["id"], p["contracts"]) for p in built["policies"]] == [
        ("cam-quarter", ["cam-rent"]),
        ("door-quarter", ["door-rent"]),
    ]
    camera, door = groups["cam-rent"], groups["door-rent"]
    assert (camera["policy"], camera["name"]) == ("cam-quarter", "摄像机租赁")
    assert (door["policy"], door["unit"], door["name"]) == ("door-quarter", "set", "视频门禁租赁")

    # Cameras, pro rata at 628.00 with 90 % prepaid: 3 unit-months, 3 h down of 2,208.
    online = Fraction(HOURS - 3, HOURS)
    base = 3 * Fraction(628)
    assert camera["online_rate"] == rate(online)
    assert camera["settlement"]["base"] == fen(base) == "1884.00"
    assert camera["settlement"]["due"] == fen(base * online) == "1881.44"
    assert camera["settlement"]["prepaid"] == fen(base * Fraction(9, 10)) == "1695.60"
    assert camera["settlement"]["balance"] == "185.84"
    # Door-access sets, all or nothing at 350.00 a set, nothing prepaid: the set was down
    # 3 h, 99.86 % ≥ 93 %, so the whole rent is due.
    assert door["online_rate"] == rate(online)
    assert door["targets"]["online_rate"] == {"target": 0.93, "at_least": True, "met": True}
    assert {k: door["settlement"][k] for k in ("rule", "base", "due", "prepaid", "balance")} == {
        "rule": "full_above_target",
        "base": "1050.00",
        "due": "1050.00",
        "prepaid": "0.00",
        "balance": "1050.00",
    }
    # Deadlines are the contract's: the camera's 3 h repair is inside its 4 h; the door
    # host's 3 h is past the door contract's 2 h, and its unanswered response is late.
    assert (camera["repaired_in_time"], camera["responded_in_time"]) == (1, 1)
    assert (door["late"], door["responded_in_time"], door["tickets"]) == (1, 0, 1)
    assert door["response_timeliness_rate"] == 0.0
    assert door["targets"]["response_timeliness_rate"]["met"] is False
    deadlines = {t["device_ids"][0]: t for t in built["tickets"]}
    assert deadlines["DH1"]["policy"] == "door-quarter"
    assert deadlines["DH1"]["repair_deadline"] == at(202)
    assert deadlines["C1"]["repair_deadline"] == at(104)
    # Money adds up across contracts; rates do not.
    assert built["total"] == {
        "currency": "CNY",
        "base": "2934.00",
        "due": "2931.44",
        "prepaid": "1695.60",
        "balance": "1235.84",
        "provisional": False,
    }


def test_one_policy_imposed_on_every_contract_is_named_in_the_report(tmp_path: Path) -> None:
    command = recorded(tmp_path, District(DEVICES, down={"DH1": [(200, 203)]}))
    built = report(
        command, "--impose", str(tmp_path / "policies" / "cam.yaml"), "--period", "2026-Q3"
    )
    assert [(p["id"], p["imposed"]) for p in built["policies"]] == [("cam-quarter", True)]
    door = by_key(built)["door-rent"]
    # The camera policy's price and rule: 3 × 628.00 pro rata, 90 % prepaid.
    base = 3 * Fraction(628)
    assert door["settlement"]["due"] == fen(base * Fraction(HOURS - 3, HOURS)) == "1881.44"
    assert door["settlement"]["prepaid"] == "1695.60"


def test_a_contract_naming_a_policy_not_given_is_refused(tmp_path: Path, capsys: Any) -> None:
    command = recorded(tmp_path, District(DEVICES))
    policy = str(tmp_path / "policies" / "cam.yaml")
    assert main([*command, "--policy", policy, "--period", "2026-Q3"]) == 2
    error = capsys.readouterr().err
    assert "contracts[1].policy: 合同 door-rent 指定的考核策略未加载" in error


def test_a_quarter_in_progress_is_measured_to_the_last_observation(tmp_path: Path) -> None:
    # Asked for the quarter when the ledger had seen up to hour 1000: C1 went down at hour
    # 999 and was still down at the last observation.
    silent = {device: [(1000.5, HOURS + 1.0)] for device in DEVICES}
    district = District(DEVICES, down={"C1": [(999, HOURS)]}, silent=silent)
    command = two_contracts_over(tmp_path, district)
    built = report(command, "--period", "2026-Q3")
    assert built["period"]["in_progress"] is True
    assert built["period"]["end"] == at(1000)
    assert built["period"]["scheduled_end"] == at(HOURS)
    camera = by_key(built)["cam-rent"]
    # Measured over 1,000 h, 1 h of it down: not 1,209 h down of 2,208.
    online = Fraction(999, 1000)
    assert camera["online_rate"] == rate(online)
    # Its repair deadline (hour 1003) is still ahead: pending, not late. The response
    # deadline (999.5) has passed unanswered.
    assert (camera["tickets"], camera["pending"], camera["late"]) == (1, 1, 0)
    assert camera["responded_in_time"] == 0
    # Rent so far: July whole, and 256 of August's 744 hours, settled provisionally.
    base = Fraction(628) * (1 + Fraction(256, 744))
    settlement = camera["settlement"]
    assert settlement["provisional"] is True
    assert settlement["base"] == fen(base) == "844.09"
    assert settlement["due"] == fen(base * online) == "843.24"
    assert settlement["prepaid"] == fen(base * Fraction(9, 10)) == "759.68"
    assert built["total"]["provisional"] is True
    (ticket,) = built["tickets"]
    assert ticket["pending"] is True


def two_contracts_over(tmp_path: Path, district: District) -> list[str]:
    command = recorded(tmp_path, district)
    policies = tmp_path / "policies"
    return [*command, "--policy", str(policies / "cam.yaml"), "--policy", str(policies)]


def test_contracts_by_police_station_with_names_aligned_and_a_ticket_list(
    tmp_path: Path, capsys: Any
) -> None:
    command = two_contracts(tmp_path)
    built = report(command, "--period", "2026-Q3", "--group-by", "contract,station")
    assert [(g["keys"], g["name"]) for g in built["groups"]] == [
        ({"contract": "-", "station": "城关派出所"}, "-/城关派出所"),
        ({"contract": "cam-rent", "station": "城关派出所"}, "摄像机租赁/城关派出所"),
        ({"contract": "door-rent", "station": "新城派出所"}, "视频门禁租赁/新城派出所"),
    ]
    tickets = tmp_path / "tickets.csv"
    assert (
        main([*command, "--period", "2026-Q3", "--format", "table", "--tickets", str(tickets)]) == 0
    )
    lines = capsys.readouterr().out.splitlines()
    groups = lines[2:-1]  # after the heading and the column names, before the total
    assert [row.split()[0] for row in groups] == ["无合同（不计费）", "摄像机租赁", "视频门禁租赁"]
    # A Chinese character takes two columns: the online rate ends at the same column in
    # every row (a 32-column name, 7 for units, 10 for the rate).
    assert {wcswidth(row[: row.index("%") + 1]) for row in groups} == {49}
    listed = list(csv.DictReader(io.StringIO(tickets.read_text(encoding="utf-8"))))
    assert sorted(
        (row["device_ids"], row["policy"], row["repaired_in_time"]) for row in listed
    ) == [
        ("C1", "cam-quarter", "true"),
        ("DH1", "door-quarter", "false"),
    ]
