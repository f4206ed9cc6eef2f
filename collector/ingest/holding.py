"""Ack gating: a group of messages is acknowledged only once the ledger committed it.

While the ledger's store cannot take a commit (another process holds its write lock, the
disk is full: ``collector.ledger.store``) the group is held in memory and tried again
with backoff, and nothing is acknowledged: no PUBACK, no receipt. The messages behind it
wait in the client's queue, which the broker fills only up to its in-flight window for
a client that does not acknowledge (``max_inflight_messages``, 64 in
``deploy/mosquitto.conf``); the rest stays on the broker, and every batch stays in its
agent's outbox until a receipt covers it. So the memory held is bounded, a crash while
blocked loses nothing, and the ingest resumes by itself when the disk takes writes again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from collector.ledger.store import StoreHealth, StoreUnavailableError

FIRST_BACKOFF_S = 0.05
MAX_BACKOFF_S = 2.0

T = TypeVar("T")
M = TypeVar("M")


async def committed_or_held(
    handle: Callable[[list[M]], T], group: list[M], health: StoreHealth
) -> T:
    """``handle(group)`` once it commits, however long the store is unavailable."""
    backoff = FIRST_BACKOFF_S
    while True:
        try:
            taken = handle(group)
        except StoreUnavailableError as failure:
            health.blocked(failure, held=len(group))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)
            continue
        health.cleared()
        return taken
