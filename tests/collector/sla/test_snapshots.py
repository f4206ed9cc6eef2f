"""The midnight snapshot: where it goes, what it holds, and a day's figures read from it.

A camera down from 23:00 on 1 July to 02:00 on 2 July (local) crosses the snapshot of
2 July's midnight: each day's figures must count their own part of the outage, read
from the snapshot before the day, and equal the figures read from genesis.
"""

from __future__ import annotations

import json
from pathlib import Path
from zoneinfo import ZoneInfo

from collector.ledger.backend import Target, connect, target
from collector.ledger.chain import GENESIS, Ledger
from collector.ledger.projection import period_bounds, read_states, reading
from collector.pipeline.pipeline import Pipeline
from collector.sla.period import parse_period
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from tests.collector.sla.conftest import (
    INVENTORY,
    District,
    camera,
    group,
    ms,
    quarter_report,
)
from tests.ledgers import ledger_in

CAMERAS = ["C1", "C2"]
INVENTORY_TEXT = INVENTORY + camera("C1", "SW1", 1) + camera("C2", "SW1", 2)


def district() -> District:
    # Hour 0 is 1 July 00:00 local: C1 is down from 23:00 to 02:00 the next day.
    return District([*CAMERAS, "SW1", "SW2"], down={"C1": [(23, 26)]})


def test_each_day_counts_its_own_part_of_an_outage_across_midnight(tmp_path: Path) -> None:
    first = quarter_report(tmp_path / "a", district(), INVENTORY_TEXT, period="2026-07-01")
    second = quarter_report(tmp_path / "b", district(), INVENTORY_TEXT, period="2026-07-02")
    third = quarter_report(tmp_path / "c", district(), INVENTORY_TEXT, period="2026-07-03")
    assert group(first, "C1")["exposure"]["down"] == ms(1)
    assert group(second, "C1")["exposure"]["down"] == ms(2)
    assert group(third, "C1")["exposure"]["down"] == 0
    assert group(second, "C1")["online_rate"] == round(22 / 24, 8)
    assert group(second, "C2")["exposure"]["watched"] == ms(24)
    assert group(second, "C2")["online_rate"] == 1.0


def _ledger(tmp_path: Path) -> tuple[Target, Inventory, PolicyBook]:
    quarter_report(tmp_path, district(), INVENTORY_TEXT, period="2026-07-02")
    inventory_file, policy_file = tmp_path / "inventory.yaml", tmp_path / "policy.yaml"
    inventory = load_config(inventory_file, Inventory)
    return target(ledger_in(tmp_path)), inventory, PolicyBook.only(load_config(policy_file, Policy))


def test_the_snapshot_holds_the_state_at_midnight_and_a_day_reads_from_it(
    tmp_path: Path,
) -> None:
    ledger, _, _ = _ledger(tmp_path)
    db = connect(ledger)
    rows = db.execute(
        "SELECT seq, at, body FROM ledger WHERE kind = 'snapshot' ORDER BY seq"
    ).fetchall()
    # A midnight for every day of the quarter after the first observation's, and the
    # one the last poll (the next quarter's first moment) crosses.
    assert len(rows) == 92
    seq, at, body = next(row for row in rows if row[1] == "2026-07-01T16:00:00.000Z")
    snapshot = json.loads(body)
    devices = {device[0]: device[1:] for device in snapshot["devices"]}
    assert devices["C1"] == ["down", "timeout", "2026-07-01T15:00:00.000Z"]
    assert devices["C2"] == ["up", "ok", "2026-06-30T16:00:00.000Z"]
    assert len(snapshot["open_tickets"]) == 1  # C1's, opened at 23:00
    # Taken before the first observation past midnight: every state before it is earlier.
    assert (
        db.execute(
            "SELECT MAX(at) FROM ledger WHERE seq < ? AND kind = 'state'", (seq,)
        ).fetchone()[0]
        < at
    )
    zone = ZoneInfo("Asia/Shanghai")
    day = parse_period("2026-07-02", zone)
    with reading(ledger) as read:
        bounds = period_bounds(read, day.start_ms, day.end_ms)
        sliced, whole = read_states(read, bounds), read_states(read)
    assert bounds.first_seq == seq
    assert bounds.snapshot_seq == seq
    (closing,) = db.execute(
        "SELECT seq FROM ledger WHERE kind = 'snapshot' AND at = '2026-07-02T16:00:00.000Z'"
    ).fetchone()
    assert bounds.through_seq == closing - 1
    # The day's rows and the snapshot's four devices, not the quarter's rows.
    assert len(sliced.device) == 4 + 1  # C1 back up at 02:00, and nothing else moved
    assert len(whole.device) > len(sliced.device)
    db.close()


def test_a_re_run_of_the_inputs_re_derives_the_same_snapshots(tmp_path: Path) -> None:
    """What a restart does: the same observations, in verifying mode, give every row
    again, snapshots included (a different snapshot would raise LedgerCorruptError)."""
    file, inventory, policies = _ledger(tmp_path)
    ledger = Ledger(file)
    pipeline = Pipeline(inventory, policies, ledger)
    observations = list(district().observations())
    with ledger.verifying(0, GENESIS):
        for observation in observations:
            pipeline.observe(observation)
        pipeline.finish(observations[-1].observed_at)
    ledger.close()
