"""asyncio helpers shared by the agent and the collector."""

from __future__ import annotations

import asyncio
from collections import deque


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
        self._waiters: deque[asyncio.Future[None]] = deque()

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

    def release(self) -> None:
        waiters = self._waiters
        while waiters:
            turn = waiters.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *_: object) -> None:
        self.release()
