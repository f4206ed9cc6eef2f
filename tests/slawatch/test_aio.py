"""A stop request reaches every forever-loop, even one a library swallowed; slots are fair;
many deadlines share one timer and none fires early."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from slawatch.aio import Deadlines, Slots, raise_if_cancelled, wait_event


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


async def test_slots_hold_the_limit_serve_in_order_and_skip_a_cancelled_waiter() -> None:
    slots = Slots(2)
    holding = 0
    most = 0
    order: list[int] = []

    async def user(n: int) -> None:
        nonlocal holding, most
        async with slots:
            holding += 1
            most = max(most, holding)
            order.append(n)
            await asyncio.sleep(0.01)
            holding -= 1

    tasks = [asyncio.create_task(user(n)) for n in range(8)]
    await asyncio.sleep(0)  # all started: two hold a slot, six wait in order
    tasks[4].cancel()  # a waiter cancelled before its turn gives its turn away
    await asyncio.gather(*tasks, return_exceptions=True)
    assert most == 2
    assert order == [0, 1, 2, 3, 5, 6, 7]
    async with slots, slots:  # both slots are free again
        assert holding == 0


async def test_a_slot_handed_to_a_waiter_cancelled_meanwhile_goes_to_the_next() -> None:
    slots = Slots(1)
    await slots.acquire()
    first = asyncio.create_task(slots.acquire())
    second = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    slots.release()  # handed to ``first``...
    first.cancel()  # ...which is cancelled before it runs: the slot passes to ``second``
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, 1)


async def test_callback_holders_take_their_turn_among_awaiting_ones() -> None:
    """``acquire_then``: a holder that is a callback (a probe without a task) waits in the
    same queue, in order, and one that releases at once does not nest the next."""
    slots = Slots(1)
    order: list[str] = []
    depth = 0

    def quick(name: str) -> None:
        nonlocal depth
        depth += 1
        order.append(f"{name}@{depth}")
        slots.release()  # ends at once: the next holder starts from the loop, not here
        depth -= 1

    async def awaiting(name: str) -> None:
        await slots.acquire()
        order.append(name)
        slots.release()

    await slots.acquire()
    slots.acquire_then(lambda: quick("a"))
    task = asyncio.create_task(awaiting("b"))
    await asyncio.sleep(0)
    for name in "cde":
        slots.acquire_then(lambda name=name: quick(name))  # type: ignore[misc]
    assert order == []  # all wait behind the holder
    slots.release()
    await asyncio.wait_for(task, 1)
    for _ in range(10):
        await asyncio.sleep(0)
    assert order == ["a@1", "b", "c@1", "d@1", "e@1"]
    assert slots.try_acquire()  # the slot is free again, and only one
    assert not slots.try_acquire()


async def test_deadlines_fire_in_order_never_early_each_once() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(resolution_s=0.01)
    fired: list[tuple[str, float]] = []
    due: dict[str, float] = {}
    for name, delay in [("late", 0.12), ("soon", 0.03), ("sooner", 0.01), ("same", 0.03)]:
        due[name] = loop.time() + delay
        deadlines.call_later(delay, lambda n: fired.append((n, loop.time())), name)
    await asyncio.sleep(0.2)
    assert [name for name, _ in fired] == ["sooner", "soon", "same", "late"]
    assert all(moment >= due[name] for name, moment in fired)
    # Dropped on close: nothing left runs.
    deadlines.call_later(0.01, lambda n: fired.append((n, 0.0)), "closed")
    deadlines.close()
    await asyncio.sleep(0.05)
    assert len(fired) == 4
