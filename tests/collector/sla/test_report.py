"""An evaluator's quarter, hour by hour: every figure checked against arithmetic done by hand.

Each scenario replays a quarter of hourly polls through the real pipeline into a ledger
and computes the report from it (conftest.py explains the hour arithmetic).
"""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction
from pathlib import Path

import pytest

from agent.wire import Reason, format_timestamp
from collector.cli import main
from tests.collector.sla.conftest import (
    HOURS,
    INVENTORY,
    POLICY,
    District,
    camera,
    group,
    hour,
    ms,
    quarter_report,
)
from tests.language import english_words
from tests.ledgers import ledger_in


def at(h: float) -> str:
    return format_timestamp(hour(h))


def rate(fraction: Fraction) -> float:
    return float(round(fraction, 8))


def test_a_device_entering_service_mid_quarter_counts_from_its_first_day(tmp_path: Path) -> None:
    inventory = INVENTORY + camera("C1", "SW1", 1, start="2026-08-01")
    # Down 100–110 (July: before its service, not counted) and 800–810 (August).
    district = District(["C1"], down={"C1": [(100, 110), (800, 810)]})
    report = quarter_report(tmp_path, district, inventory)
    c1 = group(report, "C1")
    # 1 August 00:00 local is hour 31 × 24 = 744: counted 2208 − 744 = 1464 h, 10 h down.
    assert c1["exposure"]["watched"] == ms(1464)
    assert c1["exposure"]["down"] == ms(10)
    assert c1["online_rate"] == rate(Fraction(1454, 1464))
    assert c1["coverage"] == 1.0
    # Only the August fault is the contractor's: one ticket, repaired in 10 h > 4 h.
    assert (c1["tickets"], c1["late"], c1["repaired_in_time"]) == (1, 1, 0)
    # Rent: August and September, 2 unit-months at 628.00 = 1256.00; due at the measured
    # rate 1256 × 1454 / 1464 = 1247.4207… → 1247.42; prepaid 1256 × 0.90 = 1130.40;
    # balance 1247.42 − 1130.40 = 117.02 topped up to the contractor.
    assert c1["settlement"] == {
        "rule": "pro_rata",
        "currency": "CNY",
        "unit_months": "2.0000",
        "rate": rate(Fraction(1454, 1464)),
        "base": "1256.00",
        "due": "1247.42",
        "prepaid": "1130.40",
        "balance": "117.02",
        "direction": "top_up",
        "paid_on": "online_rate",
        "reported_only": ["repair_timeliness_rate"],
        "provisional": False,
    }


def test_a_fault_before_a_device_entered_service_leaves_the_ticket_list(tmp_path: Path) -> None:
    inventory = INVENTORY + camera("C1", "SW1", 1, start="2026-08-01") + camera("C2", "SW1", 2)
    district = District(
        ["C1", "C2"], down={"C1": [(100, 110), (800, 810)], "C2": [(50, 52), (300, 302)]}
    )
    report = quarter_report(tmp_path, district, inventory, group_by="all")
    # C1's July fault (hour 100) was nobody's to repair: the list closes up around it.
    assert [(t["device_ids"], t["detected_at"]) for t in report["tickets"]] == [
        (["C2"], at(50)),
        (["C2"], at(300)),
        (["C1"], at(800)),
    ]
    assert group(report, "all")["tickets"] == 3


def test_time_under_announced_maintenance_is_not_counted(tmp_path: Path) -> None:
    policy = POLICY + (
        "maintenance_windows:\n"
        "  - {start: '2026-07-13T20:00:00+08:00', end: '2026-07-14T06:00:00+08:00', "
        "reason: 光缆迁改, devices: [C2]}\n"
    )
    # The window is hours 308–318 (12 days 20 h after the start); C2 is down 313–323.
    district = District(["C2"], down={"C2": [(313, 323)]})
    c2 = group(quarter_report(tmp_path, district, INVENTORY + camera("C2", "SW1", 2), policy), "C2")
    # 10 h of maintenance leave 2198 h counted; 5 of the 10 down hours fall inside it.
    assert c2["exposure"]["maintenance"] == ms(10)
    assert c2["exposure"]["down"] == ms(5)
    assert c2["online_rate"] == rate(Fraction(2198 - 5, 2198))


def test_unknown_time_is_excluded_or_counted_down_as_the_policy_says(tmp_path: Path) -> None:
    # The agent saw C3 at hour 500 and next at hour 524: unknown from 502 to 524 (22 h).
    district = District(["C3"], silent={"C3": [(500, 524)]})
    inventory = INVENTORY + camera("C3", "SW1", 3)
    excluded = group(quarter_report(tmp_path / "x", district, inventory), "C3")
    assert excluded["exposure"]["unknown"] == ms(22)
    assert excluded["online_rate"] == 1.0
    assert excluded["coverage"] == rate(Fraction(2208 - 22, 2208))
    as_down = POLICY.replace("unknown: exclude", "unknown: down")
    counted = group(quarter_report(tmp_path / "d", district, inventory, as_down), "C3")
    assert counted["online_rate"] == rate(Fraction(2208 - 22, 2208))
    assert counted["coverage"] == excluded["coverage"]


DOOR_SET = (
    "  - {id: DH1, name: 门禁主机1, kind: door_host, site: d1, address: 10.0.2.1, region: R2, "
    "snmp: {profile: door-host-generic}, service_start: 2026-01-01, "
    "uplink: {switch: SW2, port: 1}}\n"
    + camera("D1", "SW2", 2, "R2").replace("contract: cam-rent, ", "")
    + camera("D2", "SW2", 3, "R2").replace("contract: cam-rent, ", "")
    + "sets:\n  - {id: S1, name: 幸福里1栋, host: DH1, cameras: [D1, D2], contract: door-rent}\n"
)


def test_a_door_access_set_is_up_while_its_host_and_enough_cameras_are(tmp_path: Path) -> None:
    # D1 down 100–110, D2 down 105–109, the host DH1 down 200–203.
    district = District(
        ["DH1", "D1", "D2"], down={"D1": [(100, 110)], "D2": [(105, 109)], "DH1": [(200, 203)]}
    )
    one = quarter_report(tmp_path / "1", district, INVENTORY + DOOR_SET, group_by="contract")
    # min_cameras 1: down while both cameras are (105–109, 4 h) and while the host is (3 h).
    rent = group(one, "door-rent")
    assert (rent["unit"], rent["units"]) == ("set", 1)
    assert rent["exposure"]["down"] == ms(4 + 3)
    assert rent["online_rate"] == rate(Fraction(2208 - 7, 2208))
    # Rent by the set: 3 months × 350.00 = 1050.00; due 1050 × 2201 / 2208 = 1046.6712…
    # → 1046.67; prepaid 945.00; top-up 101.67.
    assert {k: rent["settlement"][k] for k in ("base", "due", "prepaid", "balance")} == {
        "base": "1050.00",
        "due": "1046.67",
        "prepaid": "945.00",
        "balance": "101.67",
    }
    strict = POLICY + "door_access: {min_cameras: 2}\n"
    two = quarter_report(tmp_path / "2", district, INVENTORY + DOOR_SET, strict, "set")
    # min_cameras 2: down while either camera is (100–110, 10 h) and while the host is (3 h).
    assert group(two, "S1")["online_rate"] == rate(Fraction(2208 - 13, 2208))


def ticket_district() -> tuple[District, str]:
    cameras = [f"C{n}" for n in range(1, 5)]  # behind SW1 on L1 (backup fibre)
    far = [f"C{n}" for n in range(5, 9)]  # behind SW2 on L2 (no backup fibre)
    inventory = INVENTORY + "".join(camera(c, "SW1", n) for n, c in enumerate(cameras, 1))
    inventory += "".join(camera(c, "SW2", n, "R2") for n, c in enumerate(far, 5))
    district = District(["SW1", "SW2", *cameras, *far])
    # L1 dies 1000–1003: one network ticket, 4 h deadline (backup fibre), repaired in 3 h.
    for device in ["SW1", *cameras]:
        district.down[device] = [(1000, 1003)]
    # L2 dies 1100–1120: one network ticket, 24 h deadline (no backup), repaired in 20 h.
    for device in ["SW2", "C5", "C6", "C7"]:
        district.down[device] = [(1100, 1120)]
    # C8 alone 1200–1205: a front-end fault, 5 h > 4 h: late.
    district.down["C8"] = [(1200, 1205)]
    # C1 1500–1502 acknowledged after 45 min (late response); C2 1600–1602 after 20 min.
    district.down["C1"].append((1500, 1502))
    district.ack("C1", 1500.75)
    district.down["C2"] = [(1000, 1003), (1600, 1602)]
    district.ack("C2", 1600 + 1 / 3)
    # At the quarter's end: C4 down since 2200 (deadline 2204 passed: late), C3 since 2206
    # (deadline 2210 still ahead: pending), C2 down 2207–2209, repaired only after the end
    # (pending: what happened after the period does not count in it).
    district.down["C4"].append((2200, 2300))
    district.down["C3"] = [(1000, 1003), (2206, 2300)]
    district.down["C2"].append((2207, 2209))
    district.extra_polls += [("C2", 2208), ("C2", 2209)]
    return district, inventory


def test_tickets_are_judged_by_their_class_deadline_as_they_stood_at_the_end(
    tmp_path: Path,
) -> None:
    district, inventory = ticket_district()
    report = quarter_report(tmp_path, district, inventory, group_by="all")
    tickets = {t["id"]: t for t in report["tickets"]}
    network = sorted(
        (t for t in tickets.values() if t["fault_class"] == "network"), key=lambda t: t["link"]
    )
    assert [(t["link"], t["backup_fiber"]) for t in network] == [("L1", True), ("L2", False)]
    l1, l2 = network
    assert sorted(l1["device_ids"]) == ["C1", "C2", "C3", "C4", "SW1"]
    assert (l1["repair_s"], l1["repaired_in_time"]) == (3 * 3600, True)
    assert l1["repair_deadline"] == "2026-08-11T12:00:00.000Z"  # hour 1000 + 4 h
    assert (l2["repair_s"], l2["repaired_in_time"]) == (20 * 3600, True)  # 24 h deadline
    assert l2["repair_deadline"] == "2026-08-16T12:00:00.000Z"  # hour 1100 + 24 h
    by_device = {t["device_ids"][0]: t for t in tickets.values() if t["fault_class"] != "network"}
    assert by_device["C8"]["repaired_in_time"] is False  # 5 h against 4 h
    late_ack = next(t for t in tickets.values() if t["detected_at"] == at(1500))
    assert (late_ack["response_s"], late_ack["responded_in_time"]) == (45 * 60, False)
    prompt = next(t for t in tickets.values() if t["detected_at"] == at(1600))
    assert (prompt["response_s"], prompt["responded_in_time"]) == (20 * 60, True)
    open_at_end = sorted(
        (t["device_ids"][0], t["repaired_in_time"], t["pending"], t["resolved_at"])
        for t in tickets.values()
        if t["detected_at"] >= at(2200)
    )
    assert open_at_end == [
        ("C2", None, True, None),
        ("C3", None, True, None),
        ("C4", False, False, None),
    ]
    everyone = group(report, "all")
    # 8 tickets: in time L1, L2, C1@1500, C2@1600; late C8, C4; pending C3, C2@2207.
    assert (everyone["tickets"], everyone["pending"], everyone["late"]) == (8, 2, 2)
    assert everyone["repaired_in_time"] == 4
    assert everyone["repair_timeliness_rate"] == rate(Fraction(4, 8 - 2))
    assert everyone["targets"]["repair_timeliness_rate"]["met"] is False  # 0.667 < 0.97
    # What cost the most: C4 open 4 h past its deadline at the end (2204 → 2208), C8 1 h.
    assert [(w["id"], w["overrun_s"]) for w in everyone["worst_tickets"]] == [
        (by_device["C4"]["id"], 4 * 3600.0),
        (by_device["C8"]["id"], 3600.0),
    ]


def test_a_degraded_stream_costs_realtime_video_not_the_online_rate(tmp_path: Path) -> None:
    district = District(["C1"], degraded={"C1": [(10, 20, Reason.STREAM_UNAVAILABLE)]})
    c1 = group(quarter_report(tmp_path, district, INVENTORY + camera("C1", "SW1", 1)), "C1")
    assert c1["online_rate"] == 1.0
    assert c1["intact_rate"] == rate(Fraction(2208 - 10, 2208))
    assert c1["realtime_video_availability"] == rate(Fraction(2208 - 10, 2208))
    assert c1["historical_video_availability"] == 1.0
    assert c1["tickets"] == 1  # a lost stream is a fault to repair


def test_the_snapshot_method_samples_fixed_times_of_day(tmp_path: Path) -> None:
    # 10:00 on 1 July is hour 10: C1 is down 9–11, so one of 92 × 2 = 184 inspections fails.
    policy = POLICY.replace("unknown: exclude", "unknown: exclude\nmethod: snapshot")
    district = District(["C1"], down={"C1": [(9, 11)]})
    c1 = group(quarter_report(tmp_path, district, INVENTORY + camera("C1", "SW1", 1), policy), "C1")
    assert c1["exposure"]["measure"] == "inspections"
    assert (c1["exposure"]["watched"], c1["exposure"]["down"]) == (184, 1)
    assert c1["online_rate"] == rate(Fraction(183, 184))


def test_a_poor_quarter_is_refunded(tmp_path: Path) -> None:
    district = District(["C1"], down={"C1": [(400, 800)]})
    c1 = group(quarter_report(tmp_path, district, INVENTORY + camera("C1", "SW1", 1)), "C1")
    # 400 h down: rate 1808 / 2208 = 0.8188…; base 3 × 628.00 = 1884.00;
    # due 1884 × 1808 / 2208 = 1542.6956… → 1542.70; prepaid 1695.60; refund 152.90.
    assert c1["online_rate"] == rate(Fraction(1808, 2208))
    assert c1["targets"]["online_rate"] == {"target": 0.9, "at_least": True, "met": False}
    settlement = c1["settlement"]
    assert (settlement["due"], settlement["prepaid"], settlement["balance"]) == (
        "1542.70",
        "1695.60",
        "-152.90",
    )
    assert c1["worst_units"] == [
        {"id": "C1", "lost": ms(400), "online_rate": rate(Fraction(1808, 2208))}
    ]


def test_full_rent_when_the_target_is_met_else_rent_at_the_rate(tmp_path: Path) -> None:
    policy = POLICY.replace("rule: pro_rata", "rule: full_above_target").replace(
        'prepay_rate: "0.90"', 'prepay_rate: "0"'
    )
    inventory = INVENTORY + camera("C1", "SW1", 1) + camera("C2", "SW1", 2)
    # C1 down 100 h (rate 2108/2208 = 95.5% ≥ 90%: full rent), C2 down 400 h (81.9%).
    district = District(["C1", "C2"], down={"C1": [(0, 100)], "C2": [(400, 800)]})
    report = quarter_report(tmp_path, district, inventory, policy)
    assert group(report, "C1")["settlement"]["due"] == "1884.00"
    assert group(report, "C2")["settlement"]["due"] == "1542.70"  # 1884 × 1808 / 2208
    assert group(report, "C2")["settlement"]["balance"] == "1542.70"  # nothing prepaid


def test_a_fleet_rented_at_no_price_has_figures_and_no_settlement(tmp_path: Path) -> None:
    inventory = INVENTORY.replace(', unit_price: "628.00"', "").replace(
        ', unit_price: "350.00"', ""
    ) + camera("C1", "SW1", 1)
    district = District(["C1"], down={"C1": [(0, 100)]})
    report = quarter_report(tmp_path, district, inventory, group_by="contract")
    cam_rent = group(report, "cam-rent")
    assert cam_rent["online_rate"] == rate(Fraction(2108, 2208))
    assert cam_rent["settlement"] is None


def test_hours_beyond_the_quarter_change_nothing_in_it(tmp_path: Path) -> None:
    assert HOURS == 92 * 24
    district = District(["C1"], down={"C1": [(2207, 2210)]})
    district.extra_polls += [("C1", 2208), ("C1", 2209), ("C1", 2210)]
    c1 = group(quarter_report(tmp_path, district, INVENTORY + camera("C1", "SW1", 1)), "C1")
    assert c1["exposure"]["down"] == ms(1)
    assert (c1["tickets"], c1["pending"]) == (1, 1)


def sla_command(folder: Path, period: str) -> list[str]:
    """The command an evaluator types over what ``quarter_report`` wrote into ``folder``."""
    return [
        "sla",
        *("--ledger", ledger_in(folder)),
        *("--inventory", str(folder / "inventory.yaml")),
        *("--policy", str(folder / "policy.yaml")),
        *("--period", period),
    ]


def test_the_command_gives_byte_identical_json_and_a_table_and_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    district, inventory = ticket_district()
    quarter_report(tmp_path, district, inventory)
    common = sla_command(tmp_path, "2026-07-01/2026-10-01")
    for name in ("a.json", "b.json"):
        assert main([*common, "--group-by", "region", "-o", str(tmp_path / name)]) == 0
    first = (tmp_path / "a.json").read_bytes()
    assert first == (tmp_path / "b.json").read_bytes()
    report = json.loads(first)
    assert report["period"]["start"] == "2026-06-30T16:00:00.000Z"
    assert [g["key"] for g in report["groups"]] == ["R1", "R2"]
    assert {t["id"] for t in report["tickets"]} == {
        t["id"] for t in quarter_report(tmp_path / "again", district, inventory)["tickets"]
    }
    assert main([*common, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(row["key"], row["unit"], row["tickets"]) for row in rows] == [
        ("-", "device", "2"),
        ("cam-rent", "device", "8"),
    ]
    assert main([*common, "--format", "table"]) == 0
    table = capsys.readouterr().out
    # Groups by their names, as people call them: the contract's name, not its id.
    assert "摄像机租赁" in table
    assert "未达标：修复及时率" in table
    assert english_words(table) == []  # one language: the catalogue's Chinese
    assert main([*common, "--format", "table", "--lang", "en"]) == 0
    assert "missed: repair timeliness" in capsys.readouterr().out.lower()


def test_tickets_read_a_few_at_a_time_give_the_same_report(tmp_path: Path) -> None:
    district, inventory = ticket_district()
    whole = quarter_report(tmp_path / "whole", district, inventory, group_by="region")
    # Three at a time: batches end inside the list, and the first holds only merged tickets.
    batched = quarter_report(
        tmp_path / "batched", district, inventory, group_by="region", ticket_batch=3
    )
    assert len(whole["tickets"]) > 3
    assert batched == whole


def test_a_period_that_cannot_be_read_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    quarter_report(tmp_path, District(["C1"]), INVENTORY + camera("C1", "SW1", 1))
    assert main(sla_command(tmp_path, "Q3")) == 2
    assert "--period 'Q3': give START/END" in capsys.readouterr().err
