"""Live streams end cleanly when the server stops: each gets what was queued, then its end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from collector.web.console.live import EventHub


async def test_closing_the_hub_ends_every_open_stream_after_its_queued_events() -> None:
    hub = EventHub()
    streams = [hub.stream(f"reader-{n}", lambda: True) for n in range(3)]
    for stream in streams:
        assert await anext(stream) == "retry: 3000\n\n"
    hub.publish({"type": "state", "device_id": "CAM000001", "state": "down"})
    hub.close()
    for stream in streams:
        # Within a second, not at the next 15 s keep-alive: the response completes.
        chunks = await asyncio.wait_for(_rest(stream), 1.0)
        assert len(chunks) == 1
        head, data = chunks[0].splitlines()[:2]
        assert head == "event: state"
        assert json.loads(data.removeprefix("data: "))["device_id"] == "CAM000001"
    assert hub.clients == 0


async def test_a_stream_opened_as_the_server_stops_ends_at_once() -> None:
    hub = EventHub()
    hub.close()
    stream = hub.stream("zhang", lambda: True)
    assert await anext(stream) == "retry: 3000\n\n"
    assert await asyncio.wait_for(_rest(stream), 1.0) == []


async def _rest(stream: AsyncIterator[str]) -> list[str]:
    return [chunk async for chunk in stream]
