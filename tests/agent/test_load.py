"""The load report a batch carries: what the agent lost over its last cycle only."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from agent.batches import BatchWriter
from agent.load import LoadWindow
from agent.outbox import Outbox
from agent.scheduler import Scheduler
from agent.wire import AgentLoad, ClockState, decode_batch, stamp
from tests.conftest import FakeClock


async def test_the_report_counts_the_last_cycle_only_and_says_when_the_agent_is_behind() -> None:
    scheduler = Scheduler(
        report=lambda *_: None, concurrency={"snmp": 4}, deadline_s=1, deep_interval_s=60, jitter=0
    )
    ticks = FakeClock()
    window = LoadWindow(scheduler, 10.0, ticks=ticks, wall_clock=ticks)
    calm = window.report()
    assert (calm.overloaded, calm.stalled_results, calm.late, calm.missed) == (False, 0, 0, 0)

    ticks.advance(1)
    scheduler.load.agent_stalled["onvif"] = 5  # five verdicts were the agent's own stall
    scheduler.load.late += 3
    busy = window.report()
    assert (busy.overloaded, busy.stalled_results, busy.late, busy.missed) == (True, 5, 3, 0)
    assert busy.window_s == 10.0

    for _ in range(10):  # a cycle later, nothing new: the losses are out of the window
        ticks.advance(1)
        window.report()
    ticks.advance(1)
    later = window.report()
    assert (later.overloaded, later.stalled_results, later.late) == (False, 0, 0)
    assert later.at > busy.at


def test_an_overloaded_agent_with_no_status_still_sends_its_load(tmp_path: Path) -> None:
    """Every result its own stall: a batch of its load alone, so the wall says overloaded,
    not silent; a calm agent with nothing to say sends nothing."""
    outbox = Outbox(tmp_path / "outbox", 1 << 20)
    at = datetime.now(UTC)
    report = AgentLoad(
        at=at, window_s=3, overloaded=True, stalled_results=4, late=0, missed=0, lag_max_s=0.4
    )
    reports: list[AgentLoad] = [report.model_copy(update={"overloaded": False}), report]
    writer = BatchWriter(
        outbox,
        site="s1",
        agent_id="edge-1",
        on_written=lambda: None,
        load=reports.pop,
        load_alone_every_s=0,
    )
    writer.flush()  # overloaded, nothing observed
    writer.flush()  # calm, nothing observed
    sent = [decode_batch(stamp(item.payload, at, ClockState.UNKNOWN)) for item in outbox.pending()]
    outbox.close()
    assert [(batch.statuses, batch.load) for batch in sent] == [([], report)]
