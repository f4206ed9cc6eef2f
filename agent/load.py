"""The agent's own load over its last cycle, carried by every batch to the collector.

``/metrics`` has the agent's counters since it started, but the duty room watches the
collector's wall, which never scrapes the agent. So each batch says what the agent could
not do on time within its last cycle (the poll interval): results that were its own
stall, probes started late, cycles missed, its loop's longest lag. The wall then says
"agent overloaded: N results discarded, devices unknown" instead of letting a starved
agent read as a dead fleet (``wire.AgentLoad``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from agent.scheduler import Scheduler
from agent.wire import AgentLoad


@dataclass(frozen=True, slots=True)
class _Mark:
    """The scheduler's counters when a report was taken."""

    at: float  # monotonic seconds
    stalled: int
    late: int
    missed: int
    deep_deferred: int
    peak_s: float  # the loop's longest lag since the mark before


class LoadWindow:
    """Differences of the scheduler's counters over the last ``window_s``, one mark a
    report (a report a second keeps about ``window_s`` marks)."""

    def __init__(
        self,
        scheduler: Scheduler,
        window_s: float,
        *,
        wall_clock: Callable[[], float] = time.time,
        ticks: Callable[[], float] = time.monotonic,
    ) -> None:
        self._scheduler = scheduler
        self._window_s = window_s
        self._wall_clock = wall_clock
        self._ticks = ticks
        self._marks: deque[_Mark] = deque([_Mark(ticks(), 0, 0, 0, 0, 0.0)])

    def report(self) -> AgentLoad:
        scheduler = self._scheduler
        load = scheduler.load
        now = self._ticks()
        marks = self._marks
        marks.append(
            _Mark(
                now,
                sum(load.agent_stalled.values()),
                load.late,
                load.missed,
                load.deep_deferred,
                scheduler.watch.take_peak(),
            )
        )
        # The oldest mark kept is the last one at or before the window's start.
        while len(marks) > 2 and marks[1].at <= now - self._window_s:
            marks.popleft()
        first, last = marks[0], marks[-1]
        stalled, missed = last.stalled - first.stalled, last.missed - first.missed
        moment = self._wall_clock()
        return AgentLoad(
            at=datetime.fromtimestamp(int(moment * 1000) / 1000, UTC),
            window_s=self._window_s,
            overloaded=bool(stalled or missed or scheduler.strained()),
            stalled_results=stalled,
            late=last.late - first.late,
            missed=missed,
            deep_deferred=last.deep_deferred - first.deep_deferred,
            lag_max_s=round(max(mark.peak_s for mark in list(marks)[1:]), 3),
        )
