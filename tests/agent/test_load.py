"""The load report a batch carries: what the agent lost over its last cycle only."""

from __future__ import annotations

from agent.load import LoadWindow
from agent.scheduler import Scheduler
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
