"""asyncio helpers shared by the agent and the collector."""

from __future__ import annotations

import asyncio


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
