"""A standby collector: while another holds the ledger's lease, this one serves the
console and API read-only over the ledger as the active one last committed it
(``Collector.catch_up``, every 5 s, less often when that costs more than a fifth of a
core; it holds the event loop meanwhile), with a banner saying so; ``/healthz`` answers
503 ``role: standby`` and ``/metrics`` ``slawatch_collector_active 0``. Every change is
refused (collector/web/api.py). The moment it holds the lease it stops serving and lets
go of the view; the collector then starts as a restart would.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from collector.ledger.chain import LedgerCorruptError
from collector.ledger.lease import STANDBY_POLL_S, Lease
from collector.ledger.store import STORE_ERRORS

if TYPE_CHECKING:
    from collector.service import Collector

CATCH_UP_S = 5.0
log = logging.getLogger(__name__)


async def serve_until_active(view: Collector | None, lease: Lease) -> None:
    """Wait for the lease (polled off the event loop), serving ``view`` meanwhile (a
    collector built with ``standby=True``; None when the settings serve no API)."""
    parts = [] if view is None else [asyncio.create_task(part()) for part in view.beside]
    if view is not None:
        parts.append(asyncio.create_task(_follow(view)))
    try:
        # Polled: the lease lapses in the server's table, nothing here could set an Event.
        while True:
            if await asyncio.to_thread(lease.acquire):
                return
            await asyncio.sleep(STANDBY_POLL_S)
    finally:
        for part in parts:
            part.cancel()
        await asyncio.gather(*parts, return_exceptions=True)
        if view is not None:
            view.release()


async def _follow(view: Collector) -> None:
    """The view kept up with the active collector's commits (on the loop: the console's
    reads of the pipeline are there too)."""
    pause = CATCH_UP_S
    while True:
        await asyncio.sleep(pause)
        started = time.monotonic()
        try:
            view.catch_up()
        except (*STORE_ERRORS, LedgerCorruptError) as exc:  # a failover; a commit mid-read
            log.warning("standby view not brought up to date (%s): again in %g s", exc, pause)
        # A big fleet's journal takes a while to re-run: a fifth of a core on it at most.
        pause = max(CATCH_UP_S, 4 * (time.monotonic() - started))
