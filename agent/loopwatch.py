"""The agent's own lag: how late its event loop runs, and when it was too late to judge.

A starved agent (a busy machine, a CPU quota) cannot read its sockets while it waits
for a core, and on uvloop a timer that falls due during such a stall fires before the
replies that arrived meanwhile are read: every device in flight times out at once and
the agent blames them. This watch is a timer that re-arms itself every ``period_s``;
how late it fires is the loop's lag. A lag of ``stall_s`` or more is remembered as a
stall, and a timeout that overlaps one is the agent's, not the device's.

A chain of ``call_later`` callbacks, not a task: about 50 wake-ups a second cost well
under a thousandth of a core.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

PERIOD_S = 0.02
KEEP_S = 120.0  # longer than any probe runs (deep checks: 4 × timeout × tries)


class LoopWatch:
    def __init__(
        self,
        stall_s: float,
        *,
        period_s: float = PERIOD_S,
        on_lag: Callable[[float], None] | None = None,
    ) -> None:
        self.stall_s = stall_s
        self._period_s = period_s
        self._on_lag = on_lag
        self._stalls: deque[tuple[float, float]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._due = 0.0
        self.stalls = 0
        self.stalled_s = 0.0
        self.max_lag_s = 0.0  # the worst lag since ``take_max_lag`` was last called

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._due = loop.time() + self._period_s
        self._timer = loop.call_at(self._due, self._tick, loop)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        lag = max(0.0, now - self._due)
        if lag > self.max_lag_s:
            self.max_lag_s = lag
        if self._on_lag is not None:
            self._on_lag(lag)
        if lag >= self.stall_s:
            # The loop last ran when this timer was armed, a period before it was due.
            self._stalls.append((self._due - self._period_s, now))
            self.stalls += 1
            self.stalled_s += lag
        while self._stalls and self._stalls[0][1] < now - KEEP_S:
            self._stalls.popleft()
        self._due = now + self._period_s
        self._timer = loop.call_at(self._due, self._tick, loop)

    def take_max_lag(self) -> float:
        worst, self.max_lag_s = self.max_lag_s, 0.0
        return worst

    def stalled_between(self, start: float, end: float) -> bool:
        """Whether the loop stalled at any moment between ``start`` and ``end`` (loop time)."""
        return any(s_end > start and s_start < end for s_start, s_end in reversed(self._stalls))
