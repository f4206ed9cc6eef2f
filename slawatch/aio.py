"""asyncio helpers shared by the agent and the collector."""

from __future__ import annotations

import asyncio
import heapq
import math
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def raise_if_cancelled() -> None:
    """Stop a forever-loop whose cancellation was swallowed below it.

    On Python 3.11, ``asyncio.wait_for`` (which aiomqtt awaits every publish and
    subscribe with) drops a cancel that races the awaited result (CPython gh-86296, fixed
    in 3.12): the task stays "cancelling" but runs on. A collector ignored SIGTERM that
    way; every loop that runs until cancelled checks here once per turn.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def wait_event(event: asyncio.Event, seconds: float) -> None:
    """Wait until ``event`` is set or ``seconds`` pass (then the event is set too)."""
    timer = asyncio.get_running_loop().call_later(seconds, event.set)
    try:
        await event.wait()
    finally:
        timer.cancel()


class Slots:
    """At most ``limit`` holders at once; the others wait their turn, first come first served.

    ``asyncio.Semaphore`` on Python 3.11 scans its waiters on every ``acquire`` (its
    ``locked()``) and every release: with a few thousand probes waiting for a slot, the
    scans cost more than the probes. Here both are O(1): a release hands its slot to the
    first waiter still waiting, and a cancelled waiter is skipped when its turn comes.
    """

    __slots__ = ("_free", "_waiters")

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._waiters: deque[asyncio.Future[None] | Callable[[], None]] = deque()

    async def acquire(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        turn = asyncio.get_running_loop().create_future()
        self._waiters.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # handed a slot just as it was cancelled: pass it on
            raise

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody waits for one (False: none taken)."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    def acquire_then(self, take: Callable[[], None]) -> None:
        """Call ``take`` holding a slot: now if one is free, else soon after one is handed
        to it (in turn with those awaiting ``acquire``). For a holder that is a callback,
        not a task (the scheduler's probes that run without one). ``take`` must not raise."""
        if self.try_acquire():
            take()
        else:
            self._waiters.append(take)

    def release(self) -> None:
        waiters = self._waiters
        while waiters:
            turn = waiters.popleft()
            if not isinstance(turn, asyncio.Future):
                # On the loop, not here: a holder that ends at once (and releases) would
                # otherwise start the next inside this call, as deep as the queue is long.
                asyncio.get_running_loop().call_soon(turn)
                return
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *_: object) -> None:
        self.release()


class Deadlines:
    """Many timeouts on one loop timer (a timer wheel).

    Each callback goes in the bucket of the ``resolution_s`` tick it falls due in, and one
    loop timer, armed for the earliest tick, runs a whole bucket at once. A lean SNMP GET
    made and cancelled a timer handle of its own, a few µs a request at thousands a
    second; here a request costs an append. Nothing is cancelled: a callback runs when
    due (never early, at most one tick late) and finds for itself that its request was
    answered meanwhile.
    """

    __slots__ = ("_armed", "_buckets", "_resolution_s", "_ticks", "_timer")

    def __init__(self, resolution_s: float = 0.01) -> None:
        self._resolution_s = resolution_s
        self._buckets: dict[int, list[tuple[Callable[[Any], None], Any]]] = {}
        self._ticks: list[int] = []  # a heap of the ticks that have a bucket
        self._timer: asyncio.TimerHandle | None = None
        self._armed = 0  # the tick the timer is armed for

    def call_later(self, delay_s: float, callback: Callable[[T], None], arg: T) -> None:
        """Run ``callback(arg)`` once ``delay_s`` seconds have passed."""
        loop = asyncio.get_running_loop()
        tick = math.ceil((loop.time() + delay_s) / self._resolution_s)
        bucket = self._buckets.get(tick)
        if bucket is not None:
            bucket.append((callback, arg))
            return
        self._buckets[tick] = [(callback, arg)]
        heapq.heappush(self._ticks, tick)
        if self._timer is None or tick < self._armed:
            self._arm(loop, tick)

    def close(self) -> None:
        """Drop whatever is pending, unrun."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._buckets.clear()
        self._ticks.clear()

    def _arm(self, loop: asyncio.AbstractEventLoop, tick: int) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._armed = tick
        self._timer = loop.call_at(tick * self._resolution_s, self._fire, loop)

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        ticks, buckets = self._ticks, self._buckets
        now = loop.time()
        while ticks and ticks[0] * self._resolution_s <= now:
            for callback, arg in buckets.pop(heapq.heappop(ticks)):
                callback(arg)
        if ticks and self._timer is None:  # a callback may have armed it already
            self._arm(loop, ticks[0])
