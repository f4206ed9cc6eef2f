"""Server-Sent Events: each committed ledger row the console shows, to every browser.

Each client has a bounded queue; one that falls behind loses its oldest events and is
told to reload (``resync``), so a stalled browser never holds the collector's memory or
its ingest.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from typing import Any

from collector.ledger.chain import Row

QUEUE = 512
LIVE_KINDS = ("state", "ticket", "alert")


class EventHub:
    def __init__(self) -> None:
        # ``None`` in a queue ends that stream (the server is stopping).
        self._clients: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._closed = False

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

    async def stream(self) -> AsyncIterator[str]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE)
        if self._closed:
            queue.put_nowait(None)  # opened as the server stops
        self._clients.add(queue)
        try:
            yield "retry: 3000\n\n"
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), 15.0)
                except TimeoutError:
                    yield ": keep-alive\n\n"  # proxies close idle streams
                    continue
                if event is None:
                    return
                yield f"event: {event['type']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
        finally:
            self._clients.discard(queue)


def _summary(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    if kind == "state":
        return {k: body.get(k) for k in ("device_id", "state", "reason", "since")}
    ticket = body.get("ticket", {})
    keys = ("id", "fault_class", "reason", "device_ids", "acknowledged_by", "resolved_at")
    return {"event": body.get("event") or body.get("alert"), **{k: ticket.get(k) for k in keys}}
