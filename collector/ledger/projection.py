"""A columnar copy of the ledger's state and ticket rows, committed in the same transaction.

The SLA engine reads a quarter of ten million state changes: parsing that many JSON bodies
costs about a minute, reading packed columns well under a second. The projection is
derived data only: ``Ledger.verify`` re-derives it from the hash-chained rows and names
the first disagreement, and a ledger written without it (an older version, a copy) is
projected when opened.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from collector.ledger.canonical import canonical

# Chunks below this many rows are merged into the next commit's chunk, so a collector that
# commits a few rows at a time still leaves thousands of chunks a quarter, not millions.
SMALL_CHUNK = 4096
# Bumped whenever the tables below change: an older projection is dropped and derived anew.
VERSION = 2
TABLES = (
    "projection_devices",
    "projection_states",
    "projection_tickets",
    "projection_ticket_now",
    "projection_through",
)
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS projection_devices "
    "(idx INTEGER PRIMARY KEY, device_id TEXT NOT NULL UNIQUE)",
    "CREATE TABLE IF NOT EXISTS projection_states (first_seq INTEGER PRIMARY KEY, "
    "rows INTEGER NOT NULL, device BLOB NOT NULL, category BLOB NOT NULL, since BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS projection_tickets (seq INTEGER PRIMARY KEY, "
    "ticket_id TEXT NOT NULL, at_ms INTEGER NOT NULL, detected_ms INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS projection_tickets_ticket ON projection_tickets (ticket_id, seq)",
    # Each ticket as its latest row left it, with its times as numbers: a quarter's tickets
    # are read from here; only those changed after the period's end go back to their rows.
    # Keyed by detection time first: a period's tickets are one range scan.
    "CREATE TABLE IF NOT EXISTS projection_ticket_now (detected_ms INTEGER NOT NULL, "
    "ticket_id TEXT NOT NULL, at_ms INTEGER NOT NULL, acknowledged_ms INTEGER, "
    "resolved_ms INTEGER, response_deadline_ms INTEGER NOT NULL, "
    "repair_deadline_ms INTEGER NOT NULL, merged INTEGER NOT NULL, devices TEXT NOT NULL, "
    "ticket TEXT NOT NULL, PRIMARY KEY (detected_ms, ticket_id)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS projection_through (one INTEGER PRIMARY KEY CHECK (one = 0), "
    "next_seq INTEGER NOT NULL, version INTEGER NOT NULL)",
)


class Category(IntEnum):
    """What a state row means for the figures. Codes are on disk: append, never renumber."""

    UNKNOWN = 0
    UP = 1
    DEGRADED = 2  # online, not intact, video fine
    NO_STREAM = 3  # degraded: real-time video unavailable
    NO_RECORDING = 4  # degraded: recorded video unavailable
    DOWN = 5


_DEGRADED_BY_REASON = {"stream_unavailable": Category.NO_STREAM}
_DEGRADED_BY_REASON["no_recent_recording"] = Category.NO_RECORDING
_BY_STATE = {"unknown": Category.UNKNOWN, "up": Category.UP, "down": Category.DOWN}


def category(state: str, reason: str) -> Category:
    if state == "degraded":
        return _DEGRADED_BY_REASON.get(reason, Category.DEGRADED)
    return _BY_STATE[state]


def epoch_ms(timestamp: str) -> int:
    """Milliseconds since the epoch of a ledger timestamp (``2026-07-01T02:00:00.250Z``)."""
    return int(datetime.fromisoformat(timestamp).timestamp() * 1000 + 0.5)


@dataclass(frozen=True, slots=True)
class StateColumns:
    """Every state row, in ledger order: device index, category, start in epoch ms."""

    device_ids: list[str]
    device: npt.NDArray[np.int32]
    category: npt.NDArray[np.int8]
    since: npt.NDArray[np.int64]


class ProjectionMismatchError(ValueError):
    """The projection disagrees with the rows it was derived from."""


class Projection:
    """Collects the columns of rows appended in a transaction; written by its commit."""

    def __init__(self, db: sqlite3.Connection) -> None:
        columns = {row[1] for row in db.execute("PRAGMA table_info(projection_through)")}
        outdated = (
            "version" not in columns
            or db.execute(
                "SELECT COUNT(*) FROM projection_through WHERE version != ?", (VERSION,)
            ).fetchone()[0]
        )
        if columns and outdated:
            for table in TABLES:
                db.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in SCHEMA:
            db.execute(statement)
        self._db = db
        self._new_devices: list[tuple[int, str]] = []
        self._first_seq: int | None = None
        self._device: list[int] = []
        self._category: list[int] = []
        self._since: list[int] = []
        self._tickets: list[tuple[int, str, int, int]] = []
        self._now: dict[str, tuple[Any, ...]] = {}

    @cached_property
    def _device_idx(self) -> dict[str, int]:
        """Read when a row first needs it: opening a ledger only to bring its projection up
        to date (the sla command) skips reading every device id (0.2 s at 126,000)."""
        rows = self._db.execute("SELECT idx, device_id FROM projection_devices")
        return {str(device_id): int(idx) for idx, device_id in rows}

    @staticmethod
    def next_seq(db: sqlite3.Connection) -> int:
        row = db.execute("SELECT next_seq FROM projection_through").fetchone()
        return int(row[0]) if row else 0

    def add(self, seq: int, kind: str, at: str, body: Mapping[str, Any]) -> None:
        if kind == "state":
            device_id = body["device_id"]
            idx = self._device_idx.get(device_id)
            if idx is None:
                idx = self._device_idx[device_id] = len(self._device_idx)
                self._new_devices.append((idx, device_id))
            if self._first_seq is None:
                self._first_seq = seq
            self._device.append(idx)
            self._category.append(category(body["state"], body["reason"]))
            self._since.append(epoch_ms(body["since"]))
        elif kind == "ticket":
            ticket = body["ticket"]
            at_ms, detected_ms = epoch_ms(at), epoch_ms(ticket["detected_at"])
            self._tickets.append((seq, ticket["id"], at_ms, detected_ms))
            self._now[ticket["id"]] = ticket_columns(ticket, at_ms, detected_ms)

    def write(self, db: sqlite3.Connection, next_seq: int) -> None:
        """Inside the ledger's open transaction: the columns of its rows, through ``next_seq``."""
        db.executemany("INSERT INTO projection_devices VALUES (?, ?)", self._new_devices)
        if self._first_seq is not None:
            self._write_states(db, self._first_seq)
        db.executemany("INSERT INTO projection_tickets VALUES (?, ?, ?, ?)", self._tickets)
        db.executemany(
            "INSERT OR REPLACE INTO projection_ticket_now VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            self._now.values(),
        )
        db.execute(
            "INSERT INTO projection_through VALUES (0, ?, ?) "
            "ON CONFLICT (one) DO UPDATE SET next_seq = excluded.next_seq",
            (next_seq, VERSION),
        )
        self.clear()

    def discard(self) -> None:
        """The transaction rolled back: forget its rows, and the device ids it introduced."""
        for _, device_id in self._new_devices:
            del self._device_idx[device_id]
        self.clear()

    def clear(self) -> None:
        self._new_devices = []
        self._first_seq = None
        self._device, self._category, self._since, self._tickets = [], [], [], []
        self._now = {}

    def _write_states(self, db: sqlite3.Connection, first_seq: int) -> None:
        device = np.array(self._device, dtype="<i4")
        category_ = np.array(self._category, dtype="i1")
        since = np.array(self._since, dtype="<i8")
        last = db.execute(
            "SELECT first_seq, rows, device, category, since FROM projection_states "
            "ORDER BY first_seq DESC LIMIT 1"
        ).fetchone()
        if last is not None and last[1] < SMALL_CHUNK:
            first_seq = last[0]
            device = np.concatenate([np.frombuffer(last[2], "<i4"), device])
            category_ = np.concatenate([np.frombuffer(last[3], "i1"), category_])
            since = np.concatenate([np.frombuffer(last[4], "<i8"), since])
        db.execute(
            "INSERT OR REPLACE INTO projection_states VALUES (?, ?, ?, ?, ?)",
            (first_seq, len(device), device.tobytes(), category_.tobytes(), since.tobytes()),
        )


def _optional_ms(timestamp: str | None) -> int | None:
    return None if timestamp is None else epoch_ms(timestamp)


def ticket_columns(ticket: dict[str, Any], at_ms: int, detected_ms: int) -> tuple[Any, ...]:
    """A row of projection_ticket_now: the ticket's times in epoch ms, and its canonical JSON."""
    return (
        detected_ms,
        ticket["id"],
        at_ms,
        _optional_ms(ticket["acknowledged_at"]),
        _optional_ms(ticket["resolved_at"]),
        epoch_ms(ticket["response_deadline"]),
        epoch_ms(ticket["repair_deadline"]),
        ticket["merged_into"] is not None,
        " ".join(ticket["device_ids"]),
        canonical(ticket),
    )


@contextmanager
def reading(ledger: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection to a ledger file, for readers beside its writer."""
    db = sqlite3.connect(f"{ledger.resolve().as_uri()}?mode=ro", uri=True)
    try:
        yield db
    finally:
        db.close()


def observed_through(db: sqlite3.Connection) -> int | None:
    """The ledger's watermark (epoch ms): the latest observation time it took in. A ledger
    of an earlier version did not record it: its last row's time stands in."""
    row = db.execute("SELECT through_ms FROM observed").fetchone()
    if row is not None:
        return int(row[0])
    last = db.execute("SELECT at FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
    return epoch_ms(last[0]) if last is not None else None


def read_states(db: sqlite3.Connection) -> StateColumns:
    device_ids = [
        str(device_id)
        for (device_id,) in db.execute("SELECT device_id FROM projection_devices ORDER BY idx")
    ]
    chunks = db.execute(
        "SELECT device, category, since FROM projection_states ORDER BY first_seq"
    ).fetchall()
    return StateColumns(
        device_ids=device_ids,
        device=_joined(chunks, 0, "<i4").astype(np.int32, copy=False),
        category=_joined(chunks, 1, "i1").astype(np.int8, copy=False),
        since=_joined(chunks, 2, "<i8").astype(np.int64, copy=False),
    )


def _joined(chunks: list[tuple[bytes, bytes, bytes]], column: int, dtype: str) -> npt.NDArray[Any]:
    if not chunks:
        return np.zeros(0, dtype=dtype)
    return np.concatenate([np.frombuffer(chunk[column], dtype) for chunk in chunks])


def tickets_as_of(
    db: sqlite3.Connection, start_ms: int, end_ms: int, batch: int
) -> Iterator[list[tuple[Any, ...]]]:
    """Tickets detected in [start, end) as they stood at ``end_ms`` (projection_ticket_now
    rows), in detection order, ``batch`` rows at a time: a quarter's 450,000 at once took a
    gigabyte of fresh memory, 220,000 page faults."""
    cursor = db.execute(
        "SELECT * FROM projection_ticket_now WHERE detected_ms >= ? AND detected_ms < ?",
        (start_ms, end_ms),
    )
    while rows := cursor.fetchmany(batch):
        for n, row in enumerate(rows):
            if row[2] > end_ms:  # changed after the period: take its last row before the end
                (at, body) = db.execute(
                    "SELECT ledger.at, ledger.body FROM ledger WHERE seq = (SELECT MAX(seq) "
                    "FROM projection_tickets WHERE ticket_id = ? AND at_ms <= ?)",
                    (row[1], end_ms),
                ).fetchone()
                rows[n] = ticket_columns(json.loads(body)["ticket"], epoch_ms(at), row[0])
        yield rows


def compare(stored: StateColumns, derived: StateColumns) -> None:
    """Raise ProjectionMismatchError naming the first state row the two disagree on."""
    stored_ids = np.array(stored.device_ids, dtype=object)[stored.device]
    derived_ids = np.array(derived.device_ids, dtype=object)[derived.device]
    if len(stored_ids) != len(derived_ids):
        raise ProjectionMismatchError(
            f"projection holds {len(stored_ids)} state rows, the ledger {len(derived_ids)}"
        )
    differs = (
        (stored_ids != derived_ids)
        | (stored.category != derived.category)
        | (stored.since != derived.since)
    )
    if differs.any():
        first = int(np.argmax(differs))
        raise ProjectionMismatchError(f"state row #{first} of the projection differs from the rows")
