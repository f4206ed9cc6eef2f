"""Exemptions in the evidence, against figures computed by hand: three cameras of one
contract over Q3 2026, an approved window, an approved end of service, an approved
ticket exclusion and a pending window; each approved one's effect is the contract's
figures and money with and without it, and ``evidence verify`` recomputes them.

Hours count from Q3's start (2026-07-01 00:00 +08:00); the quarter has 2,208 hours;
July and August have 31 days, September 30; the rent is 628.00 CNY a camera-month,
pro rata, 90 % prepaid (tests/collector/sla/conftest.py).

- C1 is down hours 100–102; the window 99–103 (approved) covers it: 4 h out of C1's
  counted time, no down time left. Without it: 2,208 h counted, 2,206 online.
- C2 is down from hour 2,000 (2026-09-22 08:00) to the end; it was demolished and its
  service ends 2026-09-23 (hour 2,016, approved, asked for on 2026-09-30: back-dated):
  2,016 h counted, 16 down, and 22 of September's 30 days rented. Without it: 2,208 h
  counted, 208 down, the whole quarter rented.
- C3 is down hours 500–503 (a ticket, not acknowledged: its response is late); the grid
  cut the power (approved): the ticket leaves the counts and its 3 h the counted time.
  Without it: 2,208 h counted, 2,205 online, and one more late response.
- A pending window over C2 for hours 10–20 counts in nothing.
"""

from __future__ import annotations

import csv
import io
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from collector.cli import main
from collector.ledger.chain import Ledger
from collector.pipeline.replay import replay
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from tests.collector.evidence.test_export import members, verify
from tests.collector.sla.conftest import INVENTORY, POLICY, District, camera, hour, write
from tests.ledgers import ledger_in

PRICE = Fraction(628)


def fen(amount: Fraction) -> Decimal:
    return (Decimal(amount.numerator) / Decimal(amount.denominator)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )


def rate(part: int, whole: int) -> str:
    return str(round(part / whole, 8))


def rows_of(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def request(ledger: Ledger, at: float, body: dict[str, object]) -> None:
    base: dict[str, object] = {"event": "announced", "end": None, "reason": "",
                               "cause": None, "regions": [], "links": [], "ticket": None,
                               "by": "张工"}  # fmt: skip
    with ledger.transaction():
        ledger.append("exemption", hour(at).isoformat(), base | body)


def approve(ledger: Ledger, at: float, exemption_id: str) -> None:
    body = {"event": "approved", "id": exemption_id, "by": "赵科长", "party": "bureau",
            "note": "已核实"}  # fmt: skip
    with ledger.transaction():
        ledger.append("exemption", hour(at).isoformat(), body)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("exempted")
    inventory_text = INVENTORY + "".join(
        camera(c, "SW1", n) for n, c in enumerate(["C1", "C2", "C3"], 1)
    )
    inventory_file, policy_file = write(folder, inventory_text, POLICY)
    district = District(
        ["C1", "C2", "C3", "SW1", "SW2"],
        down={"C1": [(100, 102)], "C2": [(2000, 2209)], "C3": [(500, 503)]},
    )
    district.ack("C1", 100.2)
    ledger = Ledger(ledger_in(folder))
    replay(
        load_config(inventory_file, Inventory),
        PolicyBook.only(load_config(policy_file, Policy)),
        district.observations(),
        district.acks,
        ledger,
    )
    (c3_ticket,) = {
        row.body["ticket"]["id"]
        for row in ledger.rows(("ticket",))
        if row.body["ticket"]["device_ids"][0] == "C3"
    }
    request(ledger, 99.5, {"id": "win1", "what": "maintenance", "start": hour(99).isoformat(),
            "end": hour(103).isoformat(), "reason": "光缆割接", "devices": ["C1"]})  # fmt: skip
    approve(ledger, 99.6, "win1")
    request(ledger, 2184, {"id": "end1", "what": "service_end", "start": hour(2016).isoformat(),
            "reason": "旧城改造", "cause": "demolition", "devices": ["C2"]})  # fmt: skip
    approve(ledger, 2190, "end1")
    request(ledger, 600, {"id": "tkt1", "what": "ticket", "start": hour(500).isoformat(),
            "end": hour(503).isoformat(), "reason": "供电局停电通知", "cause": "grid_power",
            "devices": ["C3"], "ticket": c3_ticket})  # fmt: skip
    approve(ledger, 601, "tkt1")
    request(ledger, 30, {"id": "win2", "what": "maintenance", "start": hour(10).isoformat(),
            "end": hour(20).isoformat(), "reason": "补报", "devices": ["C2"]})  # fmt: skip
    ledger.close()
    out = folder / "bundle.zip"
    command = [
        "evidence", "export", "--ledger", ledger_in(folder),
        "--inventory", str(inventory_file), "--policy", str(policy_file),
        "--period", "2026-Q3", "--out", str(out),
    ]  # fmt: skip
    assert main(command) == 0
    return out


def test_every_exemption_is_listed_with_who_asked_and_who_decided(bundle: Path) -> None:
    listed = {row["豁免编号"]: row for row in rows_of(members(bundle)["exemptions.csv"])}
    assert set(listed) == {"win1", "end1", "tkt1", "win2"}
    assert listed["end1"]["豁免类别"] == "设备停止服务"
    assert listed["end1"]["原因类别"] == "拆迁"
    assert listed["end1"]["开始"] == "2026-09-23 00:00:00"
    assert listed["end1"]["补报"] == "补报"  # asked for on 2026-09-30, from the 23rd
    assert listed["end1"]["申请人"] == "张工"
    assert listed["end1"]["审批人"] == "赵科长"
    assert listed["tkt1"]["原因类别"] == "供电部门停电"
    assert listed["tkt1"]["补报"] == ""  # a ticket is excluded after the fact by nature
    assert listed["win2"]["审批状态"] == "待甲方审批"
    assert listed["win2"]["审批人"] == ""
    assert listed["win1"]["范围"] == "C1"
    assert listed["win1"]["结束"] == "2026-07-05 07:00:00"  # hour 103


def test_each_approved_exemption_shows_what_it_changed_computed_by_hand(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = members(bundle)
    effects = {row["豁免编号"]: row for row in rows_of(files["exemption_effects.csv"])}
    assert set(effects) == {"win1", "end1", "tkt1"}  # the pending one changes nothing
    rented: Fraction = 2 * 3 + 2 + Fraction(22, 30)  # C2 rented to 22 September
    base: Fraction = PRICE * rented
    counted, online = 2204 + 2016 + 2205, 2204 + 2000 + 2205
    due = fen(base * Fraction(online, counted))
    for row in effects.values():
        assert row["合同"] == "cam-rent"
        assert row["在线率"] == rate(online, counted)
        assert Decimal(row["应付（CNY）"]) == due
    without = {
        "win1": (base, 2208 + 2016 + 2205, 2206 + 2000 + 2205),
        "end1": (PRICE * 9, 2204 + 2208 + 2205, 2204 + 2000 + 2205),
        "tkt1": (base, 2204 + 2016 + 2208, 2204 + 2000 + 2205),
    }
    for exemption_id, (rent, whole, part) in without.items():
        row = effects[exemption_id]
        assert row["无此豁免：在线率"] == rate(part, whole), exemption_id
        due_without = fen(rent * Fraction(part, whole))
        assert Decimal(row["无此豁免：应付（CNY）"]) == due_without, exemption_id
        assert Decimal(row["应付金额变化（CNY）"]) == due - due_without, exemption_id
    # C1 answered in time, C2 never did (C3's is excluded): 1 of 2; without it, 1 of 3.
    tickets = effects["tkt1"]
    assert (tickets["工单数"], tickets["无此豁免：工单数"]) == ("2", "3")
    assert tickets["响应及时率"] == "0.5"
    assert tickets["无此豁免：响应及时率"] == rate(1, 3)
    assert effects["win1"]["工单数"] == effects["win1"]["无此豁免：工单数"] == "2"
    code, said = verify(bundle, capsys)
    assert code == 0, said
    html = files["report.html"].decode()
    assert "已批准豁免的影响" in html
    assert "tkt1" in html
