"""Server-Sent Events: each committed ledger row the console shows, to every browser.

Each client has a bounded queue; one that falls behind loses its oldest events and is
told to reload (``resync``), so a stalled browser never holds the collector's memory or
its ingest. A stream ends as soon as its reader may no longer read (logged out, session
timed out or ended by an admin, token withdrawn), and a reader holds a few at most, the
console a few hundred: each costs every committed row a queue put on the ingest's loop.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from collector.ledger.chain import Row

QUEUE = 512
STREAMS_PER_READER = 8  # a wall, the faults, the map, a device or two: tabs of one person
STREAMS = 256
LIVE_KINDS = ("state", "ticket", "alert")


class EventHub:
    def __init__(self) -> None:
        # ``None`` in a queue ends that stream (the server is stopping).
        self._clients: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._readers: Counter[str] = Counter()
        self._closed = False

    def admits(self, reader: str) -> bool:
        """Whether ``reader`` may open one more stream."""
        return self._readers[reader] < STREAMS_PER_READER and len(self._clients) < STREAMS

    @property
    def clients(self) -> int:
        return len(self._clients)

    def publish_rows(self, rows: Iterable[Row]) -> None:
        if not self._clients:
            return
        for row in rows:
            self.publish({"type": row.kind, "at": row.at, **_summary(row.kind, row.body)})

    def publish(self, event: dict[str, Any]) -> None:
        if self._closed:
            return  # each queue ends with its end-of-stream mark; nothing goes after it
        for queue in self._clients:
            if queue.full():
                queue.get_nowait()
                queue.put_nowait({"type": "resync"})
            else:
                queue.put_nowait(event)

    def close(self) -> None:
        """End every stream, now and to come: the server is stopping. A stream cancelled
        mid-response instead is logged by uvicorn as an error with its traceback, one per
        open browser."""
        self._closed = True
        for queue in self._clients:
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(None)

    async def stream(self, reader: str, still_reads: Callable[[], bool]) -> AsyncIterator[str]:
        """Events for ``reader`` while ``still_reads()`` (asked before each is sent)."""
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE)
        if self._closed:
            queue.put_nowait(None)  # opened as the server stops
        self._clients.add(queue)
        self._readers[reader] += 1
        try:
            yield "retry: 3000\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), 15.0)
                except TimeoutError:
                    if not still_reads():
                        return
                    yield ": keep-alive\n\n"  # proxies close idle streams
                    continue
                if event is None or not still_reads():
                    return
                yield f"event: {event['type']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
        finally:
            self._clients.discard(queue)
            self._readers[reader] -= 1
            if not self._readers[reader]:
                del self._readers[reader]


def _summary(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    if kind == "state":
        return {k: body.get(k) for k in ("device_id", "state", "reason", "since")}
    ticket = body.get("ticket", {})
    keys = ("id", "fault_class", "reason", "device_ids", "acknowledged_by", "resolved_at")
    return {"event": body.get("event") or body.get("alert"), **{k: ticket.get(k) for k in keys}}
