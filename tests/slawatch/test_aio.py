"""A stop request reaches every forever-loop, even one a library swallowed."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from slawatch.aio import raise_if_cancelled, wait_event


async def publish_that_swallows_a_cancel() -> None:
    """What Python 3.11's asyncio.wait_for does when the result and the cancel race."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(0.05)


async def deliver_forever() -> None:
    while True:
        raise_if_cancelled()
        await publish_that_swallows_a_cancel()


async def test_a_loop_stops_even_when_a_call_below_it_swallowed_the_cancel() -> None:
    task = asyncio.create_task(deliver_forever())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)


async def test_the_wait_ends_when_the_event_is_set_or_the_time_is_up() -> None:
    event = asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, event.set)
    await asyncio.wait_for(wait_event(event, 60), 5)
    quiet = asyncio.Event()
    await asyncio.wait_for(wait_event(quiet, 0.01), 5)
    assert quiet.is_set()
