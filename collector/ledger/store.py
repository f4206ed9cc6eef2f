"""When the ledger's store cannot take a commit, and what the collector does meanwhile.

Four things stop a commit without anything being wrong with the data: another process
holds the file's write lock (``BEGIN EXCLUSIVE`` in a reader's shell, a backup tool), the
disk is full, it fails to write, or (a ledger on PostgreSQL) the server cannot be
reached. None of them is a reason to stop: the commit is retried with backoff, the MQTT
input it came from stays unacknowledged (the agents keep their batches), and it resumes
by itself once the store takes writes again. Anything else an ``OperationalError`` says
(a corrupt file, a missing table) is a bug and still raises.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

log = logging.getLogger(__name__)

# How long one attempt waits for another process's write lock. Short, because it waits
# inside the event loop: the retry's backoff (``HeldCommits``) does the long waiting.
BUSY_TIMEOUT_S = 0.1

LOCKED, DISK_FULL, IO_ERROR, UNREACHABLE = "locked", "disk_full", "io_error", "unreachable"
_SQLITE = {
    sqlite3.SQLITE_BUSY: LOCKED,
    sqlite3.SQLITE_LOCKED: LOCKED,
    sqlite3.SQLITE_FULL: DISK_FULL,
    sqlite3.SQLITE_IOERR: IO_ERROR,
}
_OS = {errno.ENOSPC: DISK_FULL, errno.EDQUOT: DISK_FULL, errno.EIO: IO_ERROR}
# What a commit to the ledger (or its spool) may raise: ``unavailable`` sorts them.
STORE_ERRORS = (sqlite3.OperationalError, psycopg.OperationalError, OSError)


def _iso(moment: float | None) -> str | None:
    return None if moment is None else datetime.fromtimestamp(moment, UTC).isoformat()


class StoreUnavailableError(Exception):
    """The ledger (or the spool beside it) could not take a commit; nothing was kept.
    ``reason`` is ``locked``, ``disk_full``, ``io_error`` or ``unreachable``."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


def unavailable(exc: BaseException) -> StoreUnavailableError | None:
    """The store failure ``exc`` is, or None for any other error."""
    if isinstance(exc, StoreUnavailableError):
        return exc
    reason: str | None = None
    if isinstance(exc, sqlite3.OperationalError):
        reason = _SQLITE.get(exc.sqlite_errorcode & 0xFF)
    elif isinstance(exc, psycopg.OperationalError):  # the connection, not the statement
        reason = UNREACHABLE
    elif isinstance(exc, OSError) and exc.errno is not None:
        reason = _OS.get(exc.errno)
    if reason is None:
        return None
    return StoreUnavailableError(reason, f"{type(exc).__name__}: {exc}")


@dataclass
class StoreHealth:
    """Whether commits go through; since when, and why, they do not (``/healthz``, the
    wall, the alert)."""

    blocked_since: float | None = None
    reason: str | None = None
    detail: str | None = None
    attempts: int = 0
    held: int = 0  # messages taken in but not acknowledged while blocked
    outages: int = 0
    # Told at the start and at the end of each outage (``status()`` then).
    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)

    def blocked(self, failure: StoreUnavailableError, held: int) -> bool:
        """Record a failed attempt; True on the first of an outage."""
        first = self.blocked_since is None
        if first:
            self.blocked_since = time.time()
            self.outages += 1
            log.error(
                "ledger store unavailable (%s): holding %d messages unacknowledged, retrying",
                failure.detail, held,
            )  # fmt: skip
        self.reason, self.detail = failure.reason, failure.detail
        self.attempts += 1
        self.held = held
        if first:
            self._tell()
        return first

    def cleared(self) -> float | None:
        """The store took a commit again: the outage's start, if there was one."""
        since = self.blocked_since
        if since is None:
            return None
        log.warning(
            "ledger store takes commits again after %.1f s (%d attempts)",
            time.time() - since, self.attempts,
        )  # fmt: skip
        ended = self.status() | {"ok": True, "cleared_at": _iso(time.time())}
        self.blocked_since, self.reason, self.detail = None, None, None
        self.attempts, self.held = 0, 0
        self._tell(ended)
        return since

    def _tell(self, event: dict[str, Any] | None = None) -> None:
        for listener in self.listeners:
            listener(event or self.status())

    def status(self) -> dict[str, Any]:
        return {
            "ok": self.blocked_since is None,
            "blocked_since": _iso(self.blocked_since),
            "reason": self.reason,
            "detail": self.detail,
            "attempts": self.attempts,
            "held_messages": self.held,
            "outages": self.outages,
        }
