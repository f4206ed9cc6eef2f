"""The online rate day by day (the report's trend chart): each day's value is that day's
own figure, under the policy's method and unknown-time rule."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from collector.ledger.backend import Target, target
from collector.ledger.chain import Ledger
from collector.pipeline.replay import replay
from collector.sla.exposure import ledger_states
from collector.sla.period import parse_period
from collector.sla.report import Report
from collector.sla.tickets import period_tickets
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from tests.collector.sla.conftest import INVENTORY, POLICY, District, camera, write
from tests.ledgers import ledger_in

ZONE = ZoneInfo("Asia/Shanghai")


def reports(folder: Path, policy_text: str) -> tuple[PolicyBook, Inventory, Target]:
    inventory_text = INVENTORY + "".join(
        camera(f"C{n}", "SW1" if n < 4 else "SW2", n, "R1" if n < 4 else "R2") for n in range(1, 7)
    )
    inventory_file, policy_file = write(folder, inventory_text, policy_text)
    inventory = load_config(inventory_file, Inventory)
    policies = PolicyBook.only(load_config(policy_file, Policy))
    district = District(
        [f"C{n}" for n in range(1, 7)] + ["SW1", "SW2"],
        # Hour 0 is 08:00 local on 1 July: these cross local midnights, one spans days.
        down={"C1": [(10, 20)], "C2": [(40, 100)], "C5": [(15.5, 16.5)]},
        silent={"C4": [(60, 75)]},
    )
    ledger = Ledger(ledger_in(folder))
    replay(inventory, policies, district.observations(), [], ledger)
    ledger.close()
    return policies, inventory, target(ledger_in(folder))


def report(
    policies: PolicyBook, inventory: Inventory, ledger: Target, period: str, folder: Path
) -> Report:
    span = parse_period(period, ZONE)
    return Report(
        inventory,
        policies,
        span,
        lambda: ledger_states(ledger),
        lambda: period_tickets(ledger, span.start_ms, span.end_ms, folder / period),
    )


@pytest.mark.parametrize(
    "policy_text",
    [
        POLICY,
        POLICY.replace("unknown: exclude", "unknown: down"),
        POLICY.replace("unknown: exclude", "unknown: exclude\nmethod: snapshot"),
    ],
    ids=["time-weighted", "unknown-counts-down", "inspections"],
)
def test_each_day_of_the_trend_is_that_days_own_figure(tmp_path: Path, policy_text: str) -> None:
    policies, inventory, ledger = reports(tmp_path, policy_text)
    trend = report(policies, inventory, ledger, "2026-07", tmp_path).daily(("contract",))
    cameras = next(t for t in trend if t["key"] == "cam-rent")
    assert len(cameras["days"]) == 31
    for offset in range(8):
        day = date(2026, 7, 1) + timedelta(days=offset)
        own = report(policies, inventory, ledger, day.isoformat(), tmp_path).build(("contract",))
        figure = next(g for g in own["groups"] if g["key"] == "cam-rent")["online_rate"]
        assert cameras["days"][offset] == day.isoformat()
        assert cameras["online_rate"][offset] == figure, day
    assert min(rate for rate in cameras["online_rate"][:8] if rate is not None) < 1
