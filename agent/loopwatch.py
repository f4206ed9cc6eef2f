"""The agent's own lag: how late its event loop runs, and when it was too late to judge.

A starved agent (a busy machine, a CPU quota) cannot read its sockets while it waits
for a core, and on uvloop a timer that falls due during such a stall fires before the
replies that arrived meanwhile are read: every device in flight times out at once and
the agent blames them. This watch is a timer that re-arms itself every ``period_s``;
how late it fires is the loop's lag. What a lag exceeds a wake-up's jitter by is time
the loop lost (``lost_s``, added up): the scheduler reads the sum when a probe starts
and when its verdict comes, and a timeout for which the loop lost a quarter of the probe
timeout or more (one long stall, or many short ones of a loop with more work than CPU)
is the agent's, not the device's. Each single lag of ``stall_s`` or more is also counted
as a stall.

The jitter is not lost: a loop that wakes a few milliseconds late on a busy machine
reads a reply a few milliseconds late, in time. Summed over a 1.5 s window's 75 ticks,
those few milliseconds made a quarter of the window on a machine merely busy with other
processes (CI's test workers and a browser), and real timeouts were dropped as the
agent's.

A chain of ``call_at`` callbacks, not a task: about 50 wake-ups a second cost well
under a thousandth of a core.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

PERIOD_S = 0.02
STALL_S = 0.1  # a single lag this long is counted as a stall
JITTER_S = 0.01  # a wake-up this late loses nothing: a waiting reply is read in time


class LoopWatch:
    def __init__(
        self,
        *,
        stall_s: float = STALL_S,
        period_s: float = PERIOD_S,
        on_lag: Callable[[float], None] | None = None,
        on_tick: Callable[[], None] | None = None,
    ) -> None:
        self.stall_s = stall_s
        self.period_s = period_s
        self._on_lag = on_lag
        # Run on every tick: the scheduler starts what fell due on this timer rather than
        # a timer of its own (each wake-up of the process costs more than its work).
        self._on_tick = on_tick
        self._timer: asyncio.TimerHandle | None = None
        self._due = 0.0
        self.stalls = 0
        self.stalled_s = 0.0
        # Lags beyond the jitter added up: what a probe's window lost is the difference
        # across it.
        self.lost_s = 0.0
        # The longest single lag since the load report last took it (``take_peak``).
        self._peak_s = 0.0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._due = loop.time() + self.period_s
        self._timer = loop.call_at(self._due, self._tick, loop)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def take_peak(self) -> float:
        """The longest lag since the last call (and start again from nothing)."""
        peak, self._peak_s = self._peak_s, 0.0
        return peak

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        lag = max(0.0, now - self._due)
        if lag > JITTER_S:
            self.lost_s += lag - JITTER_S
        if lag > self._peak_s:
            self._peak_s = lag
        if self._on_lag is not None:
            self._on_lag(lag)
        if lag >= self.stall_s:
            self.stalls += 1
            self.stalled_s += lag
        self._due = now + self.period_s
        self._timer = loop.call_at(self._due, self._tick, loop)
        if self._on_tick is not None:
            self._on_tick()
