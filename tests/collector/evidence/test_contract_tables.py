"""Every contract count in a bundle follows from its CSV files by a filter and a division.

The district of ``tests/collector/sla/test_shared_tickets.py`` (three contracts under three
policies behind one switch) with three faults in the quarter:

- T1, hour 100–118: the switch and everything behind it (one network ticket, all three
  contracts and the switch), acknowledged at 100.75;
- T2, hour 500–502: the camera C1 alone (front-end, cam-quarter: respond in 30 min,
  repair in 4 h), never acknowledged: answered by its repair at 502, late; repaired in 2 h,
  in time;
- T3, hour 700–701: the door host DH1 alone (front-end, door-quarter: 60 min, 4 h),
  acknowledged at 700.5: both in time.

By hand, per contract (tickets, responded in time, repaired in time, late, pending):

| contract | tickets | responded | repaired | late | response rate | repair rate |
|---|---|---|---|---|---|---|
| `-` (switch; site policy cam-quarter) | T1 | 0 | 0 | 1 | 0 ÷ 1 | 0 ÷ 1 |
| cam-rent | T1, T2 | 0 | 1 (T2) | 1 | 0 ÷ 2 | 1 ÷ 2 |
| door-rent | T1, T3 | 2 | 2 | 0 | 2 ÷ 2 | 2 ÷ 2 |
| face-rent | T1 | 0 | 0 | 1 | 0 ÷ 1 | 0 ÷ 1 |

Six rows for three tickets: the shared one counts once in each contract it touches.
"""

from __future__ import annotations

import csv
import io
import subprocess
import zipfile
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from openpyxl import load_workbook

from collector.cli import main
from slawatch.messages import text
from tests.collector.sla.conftest import District
from tests.collector.sla.test_shared_tickets import DEVICES, shared_fault_ledger


def heading(key: str) -> str:
    return text(f"column.{key}", "zh")


def rows(files: dict[str, bytes], name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(files[name].decode("utf-8-sig"))))


def rate(part: int, whole: int) -> str:
    """As the CSV writes a rate: 8 decimals, then the shortest float text."""
    return str(float(round(Fraction(part, whole), 8)))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("three-contracts")
    district = District(
        DEVICES,
        down={
            **{device: [(100, 118)] for device in DEVICES},
            "C1": [(100, 118), (500, 502)],
            "DH1": [(100, 118), (700, 701)],
        },
    )
    district.ack("C1", 100.75)
    district.ack("DH1", 700.5)
    arguments = shared_fault_ledger(folder, district)
    out = folder / "bundle.zip"
    assert main(["evidence", "export", *arguments, "--out", str(out)]) == 0
    assert main(["evidence", "verify", str(out)]) == 0  # verify recomputes the new tables
    with zipfile.ZipFile(out) as bundle:
        return {name: bundle.read(name) for name in bundle.namelist()}


def test_each_contracts_ticket_counts_and_rates_follow_from_the_ticket_contract_rows(
    files: dict[str, bytes],
) -> None:
    contracts = {row[heading("key")]: row for row in rows(files, "contracts.csv")}
    judged = rows(files, "ticket_contracts.csv")
    in_time, late = text("outcome.in_time", "zh"), text("outcome.late", "zh")
    answered_in_time, pending = text("response.in_time", "zh"), text("response.pending", "zh")
    recomputed = {}
    for key, row in contracts.items():
        mine = [r for r in judged if r[heading("contract")] == key]
        tickets = len(mine)
        responded = sum(r[heading("response_outcome")] == answered_in_time for r in mine)
        answered = sum(r[heading("response_outcome")] != pending for r in mine)
        repaired = sum(r[heading("outcome")] == in_time for r in mine)
        lates = sum(r[heading("outcome")] == late for r in mine)
        undecided = sum(r[heading("outcome")] == text("outcome.pending", "zh") for r in mine)
        decided = tickets - undecided
        recomputed[key] = (tickets, lates, rate(responded, answered), rate(repaired, decided))
        assert recomputed[key] == (
            int(row[heading("tickets")]),
            int(row[heading("late")]),
            row[heading("response_timeliness_rate")],
            row[heading("repair_timeliness_rate")],
        ), key
        # The online rate, from the amounts in its own row.
        online, counted = int(row[heading("online")]), int(row[heading("counted")])
        assert row[heading("online_rate")] == rate(online, counted), key
        assert row[heading("measure")] == "毫秒"
    # By hand: the switch (the "-" group) is down T1's 18 h of 2,208.
    assert (contracts["-"][heading("online")], contracts["-"][heading("counted")]) == (
        str(2190 * 3_600_000),
        str(2208 * 3_600_000),
    )
    assert recomputed == {
        "-": (1, 1, "0.0", "0.0"),
        "cam-rent": (2, 1, "0.0", "0.5"),
        "door-rent": (2, 0, "1.0", "1.0"),
        "face-rent": (1, 1, "0.0", "0.0"),
    }
    # Three tickets in the list; six ticket-contract rows (T1 in four groups).
    assert len(rows(files, "tickets.csv")) == 3
    assert len(judged) == 6


def test_a_shared_ticket_lists_each_contracts_own_deadlines_and_its_member_devices(
    files: dict[str, bytes],
) -> None:
    shared = [r for r in rows(files, "ticket_contracts.csv") if r[heading("id")].endswith("-L2")]
    deadlines = {
        r[heading("contract")]: (r[heading("response_deadline")], r[heading("repair_deadline")])
        for r in shared
    }
    # Detected at hour 100 = 2026-07-05 04:00 local (Q3 starts 07-01 00:00 +08:00).
    assert deadlines == {
        "-": ("2026-07-05 04:30:00", "2026-07-05 16:00:00"),
        "cam-rent": ("2026-07-05 04:30:00", "2026-07-05 16:00:00"),
        "door-rent": ("2026-07-05 05:00:00", "2026-07-06 04:00:00"),
        "face-rent": ("2026-07-05 04:15:00", "2026-07-05 10:00:00"),
    }
    # Its member devices (tickets.csv) and the contract each is billed under (devices.csv):
    # the door set's host and cameras under the set's, the switch under none.
    (listed,) = [
        r for r in rows(files, "tickets.csv") if r[heading("id")] == shared[0][heading("id")]
    ]
    billed = {r[heading("key")]: r[heading("contract")] for r in rows(files, "devices.csv")}
    members = {device: billed[device] for device in listed[heading("devices")].split()}
    assert members == {
        "SW2": "",
        "C1": "cam-rent",
        "F1": "face-rent",
        "DH1": "door-rent",
        "D1": "door-rent",
        "D2": "door-rent",
    }
    # So the contracts the shared ticket counts in are its members' contracts.
    assert {billed or "-" for billed in members.values()} == set(deadlines)


def test_regions_are_per_contract_and_the_workbook_closes_the_contracts_with_a_total(
    files: dict[str, bytes],
) -> None:
    regions = [(r[heading("contract")], r[heading("region")]) for r in rows(files, "regions.csv")]
    assert regions == [("-", "R1"), ("cam-rent", "R1"), ("door-rent", "R1"), ("face-rent", "R1")]
    sheet = load_workbook(io.BytesIO(files["figures.xlsx"]))["合同汇总"]
    header = [cell.value for cell in sheet[1]]
    last = [cell.value for cell in sheet[sheet.max_row]]
    assert last[0] == "合计"
    listed = rows(files, "contracts.csv")
    for column in ("base", "prepaid", "due", "balance"):
        at = header.index(heading(column))
        exact = sum(Decimal(r[heading(column)] or "0") for r in listed)
        assert Decimal(str(last[at])).quantize(Decimal("0.01")) == exact, column
    assert last[header.index(heading("tickets"))] is None  # shared tickets do not add up


def test_the_report_explains_each_contracts_settlement_in_cny_with_the_balance_direction(
    files: dict[str, bytes], tmp_path: Path
) -> None:
    """Each contract is down 18 h (T1) of Q3's 2,208 h, the door set 1 h more (T3), the
    camera C1 2 h more (T2); by hand:

    - cam-rent, pro rata at 628.00, 90 % prepaid: online 2188 ÷ 2208; base 3 × 628 =
      1,884.00; due 1884 × 2188 ÷ 2208 = 1866.934… → 1,866.93; prepaid 1,695.60;
      balance +171.33: 补.
    - door-rent, in full at or above 90 % (the default target), nothing prepaid: online
      2189 ÷ 2208 = 99.139 % ≥ 90 %: due = base = 3 × 350 = 1,050.00; 补 1,050.00.
    - face-rent, pro rata at 850.00, 90 % prepaid: online 2190 ÷ 2208; base 2,550.00;
      due 2550 × 2190 ÷ 2208 = 2529.211… → 2,529.21; prepaid 2,295.00; 补 234.21.
    """
    contracts = {row[heading("key")]: row for row in rows(files, "contracts.csv")}
    money = {
        key: tuple(row[heading(name)] for name in ("base", "due", "prepaid", "balance"))
        for key, row in contracts.items()
    }
    assert money == {
        "-": ("", "", "", ""),
        "cam-rent": ("1884.00", "1866.93", "1695.60", "171.33"),
        "door-rent": ("1050.00", "1050.00", "0.00", "1050.00"),
        "face-rent": ("2550.00", "2529.21", "2295.00", "234.21"),
    }
    # Headings carry the currency and the balance's sign.
    assert heading("due") == "应付（CNY）"
    assert "正数补付乙方，负数退还甲方" in heading("balance")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(files["report.pdf"])
    said = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout.replace("\n", "")
    for line in (
        "应付 = 基数 CNY 1,884.00 × 在线率 99.094% = CNY 1,866.93",
        "已预付 = 基数 × 90% = CNY 1,695.60",
        "退补金额 = 应付 − 已预付 = CNY 171.33：补，由甲方补付乙方",
        "在线率 99.139% 达到目标 90.000%，全额结算：应付 = 基数 = CNY 1,050.00",
        "补 CNY 1,050.00",
        "正数为“补”，由甲方补付乙方；负数为“退”，由乙方退还甲方",
    ):
        assert line in said, line
