"""A columnar copy of the ledger's state and ticket rows, committed in the same transaction.

The SLA engine reads a quarter of ten million state changes: parsing that many JSON bodies
costs about a minute, reading packed columns well under a second. The projection is
derived data only: ``Ledger.verify`` re-derives it from the hash-chained rows and names
the first disagreement, and a ledger written without it (an older version, a copy) is
projected when opened.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from collector.ledger.backend import Connection, Target, bulk, connect
from collector.ledger.canonical import canonical
from collector.ledger.snapshot import KIND as SNAPSHOT

# Chunks below this many rows are merged into the next commit's chunk, so a collector that
# commits a few rows at a time still leaves thousands of chunks a quarter, not millions.
SMALL_CHUNK = 4096
# Bumped whenever the tables below change: an older projection is dropped and derived anew.
VERSION = 3
TABLES = (
    "projection_devices",
    "projection_states",
    "projection_snapshots",
    "projection_tickets",
    "projection_ticket_now",
    "projection_through",
)
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS projection_devices "
    "(idx INTEGER PRIMARY KEY, device_id TEXT NOT NULL UNIQUE)",
    # ``first_row``: how many state rows come before the chunk's first (its ordinal), so
    # a period reads only the chunks from its snapshot on.
    "CREATE TABLE IF NOT EXISTS projection_states (first_seq INTEGER PRIMARY KEY, "
    "rows INTEGER NOT NULL, device BLOB NOT NULL, category BLOB NOT NULL, since BLOB NOT NULL, "
    "first_row INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS projection_states_row ON projection_states (first_row)",
    # Each midnight snapshot's states as columns, and how many state rows precede it.
    "CREATE TABLE IF NOT EXISTS projection_snapshots (seq INTEGER PRIMARY KEY, "
    "at_ms INTEGER NOT NULL UNIQUE, first_row INTEGER NOT NULL, device BLOB NOT NULL, "
    "category BLOB NOT NULL, since BLOB NOT NULL)",
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
    "ticket TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (detected_ms, ticket_id)) "
    "WITHOUT ROWID",
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


def _epoch_ms_all(timestamps: list[str]) -> npt.NDArray[np.int64]:
    """``epoch_ms`` of each, parsed by numpy in C when all are UTC to the millisecond as
    the ledger writes them (126,000 a snapshot: 0.03 s against 0.3 s one by one)."""
    if all(len(t) == 24 and t[-1] == "Z" for t in timestamps):
        parsed = np.array([t[:-1] for t in timestamps], dtype="datetime64[ms]")
        return parsed.astype("<i8")
    return np.array([epoch_ms(t) for t in timestamps], dtype="<i8")


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

    def __init__(self, db: Connection) -> None:
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
        self._snapshots: list[tuple[Any, ...]] = []
        self._rows_before: int | None = None  # state rows before this transaction's

    @property
    def _state_rows(self) -> int:
        """State rows written so far, this transaction's included."""
        if self._rows_before is None:
            last = self._db.execute(
                "SELECT first_row + rows FROM projection_states ORDER BY first_seq DESC LIMIT 1"
            ).fetchone()
            self._rows_before = int(last[0]) if last else 0
        return self._rows_before + len(self._device)

    @cached_property
    def _device_idx(self) -> dict[str, int]:
        """Read when a row first needs it: opening a ledger only to bring its projection up
        to date (the sla command) skips reading every device id (0.2 s at 126,000)."""
        rows = self._db.execute("SELECT idx, device_id FROM projection_devices")
        return {str(device_id): int(idx) for idx, device_id in rows}

    @staticmethod
    def next_seq(db: Connection) -> int:
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
                self._rows_before = self._state_rows  # read now: the chunk's first_row
            self._device.append(idx)
            self._category.append(category(body["state"], body["reason"]))
            self._since.append(epoch_ms(body["since"]))
        elif kind == "ticket":
            ticket = body["ticket"]
            at_ms, detected_ms = epoch_ms(at), epoch_ms(ticket["detected_at"])
            self._tickets.append((seq, ticket["id"], at_ms, detected_ms))
            self._now[ticket["id"]] = (*ticket_columns(ticket, at_ms, detected_ms), seq)
        elif kind == SNAPSHOT:
            devices = body["devices"]
            for device_id, *_ in devices:
                if device_id not in self._device_idx:
                    idx = self._device_idx[device_id] = len(self._device_idx)
                    self._new_devices.append((idx, device_id))
            index = np.array([self._device_idx[d[0]] for d in devices], dtype="<i4")
            codes = np.array([category(d[1], d[2]) for d in devices], dtype="i1")
            since = _epoch_ms_all([d[3] for d in devices])
            self._snapshots.append(
                (
                    seq,
                    epoch_ms(at),
                    self._state_rows,
                    index.tobytes(),
                    codes.tobytes(),
                    since.tobytes(),
                )
            )

    def write(self, db: Connection, next_seq: int) -> None:
        """Inside the ledger's open transaction: the columns of its rows, through ``next_seq``."""
        db.executemany("INSERT INTO projection_devices VALUES (?, ?)", self._new_devices)
        if self._first_seq is not None:
            self._write_states(db, self._first_seq)
        db.executemany("INSERT INTO projection_tickets VALUES (?, ?, ?, ?)", self._tickets)
        db.executemany(
            "INSERT OR REPLACE INTO projection_ticket_now VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            self._now.values(),
        )
        db.executemany(
            "INSERT INTO projection_snapshots VALUES (?, ?, ?, ?, ?, ?)", self._snapshots
        )
        db.execute(
            "INSERT INTO projection_through VALUES (0, ?, ?) "
            "ON CONFLICT (one) DO UPDATE SET next_seq = excluded.next_seq",
            (next_seq, VERSION),
        )
        self._rows_before = self._state_rows
        self.clear()

    def discard(self) -> None:
        """The transaction rolled back: forget its rows, and the device ids it introduced."""
        for _, device_id in self._new_devices:
            del self._device_idx[device_id]
        self._rows_before = None
        self.clear()

    def clear(self) -> None:
        self._new_devices = []
        self._first_seq = None
        self._device, self._category, self._since, self._tickets = [], [], [], []
        self._now = {}
        self._snapshots = []

    def _write_states(self, db: Connection, first_seq: int) -> None:
        device = np.array(self._device, dtype="<i4")
        category_ = np.array(self._category, dtype="i1")
        since = np.array(self._since, dtype="<i8")
        last = db.execute(
            "SELECT first_seq, rows, device, category, since, first_row FROM projection_states "
            "ORDER BY first_seq DESC LIMIT 1"
        ).fetchone()
        assert self._rows_before is not None  # read when the first state row was added
        first_row = self._rows_before
        if last is not None and last[1] < SMALL_CHUNK:
            first_seq, first_row = last[0], last[5]
            device = np.concatenate([np.frombuffer(last[2], "<i4"), device])
            category_ = np.concatenate([np.frombuffer(last[3], "i1"), category_])
            since = np.concatenate([np.frombuffer(last[4], "<i8"), since])
        db.execute(
            "INSERT OR REPLACE INTO projection_states VALUES (?, ?, ?, ?, ?, ?)",
            (
                first_seq,
                len(device),
                device.tobytes(),
                category_.tobytes(),
                since.tobytes(),
                first_row,
            ),
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
def reading(ledger: Target) -> Iterator[Connection]:
    """A read-only connection to a ledger, for readers beside its writer."""
    db = connect(ledger, read_only=True)
    try:
        yield db
    finally:
        db.close()


def observed_through(db: Connection) -> int | None:
    """The ledger's watermark (epoch ms): the latest observation time it took in. A ledger
    of an earlier version did not record it: its last row's time stands in."""
    row = db.execute("SELECT through_ms FROM observed").fetchone()
    if row is not None:
        return int(row[0])
    last = db.execute("SELECT at FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
    return epoch_ms(last[0]) if last is not None else None


@dataclass(frozen=True, slots=True)
class Bounds:
    """The rows a period is read from: from the midnight snapshot at or before its start
    (``first_seq``; genesis when none) to the row before the first snapshot at or after
    its end (``through_seq``; the head when none). Rows appended after that closing
    snapshot are the next day's business: a closed period's figures do not move."""

    first_seq: int
    through_seq: int | None
    snapshot_seq: int | None  # the opening snapshot's row
    first_row: int  # state rows before the opening snapshot (their ordinal)
    end_row: int | None  # state rows before the closing snapshot


def period_bounds(db: Connection, start_ms: int, end_ms: int) -> Bounds:
    """Found through projection_snapshots (a row a day): two index lookups."""
    opening = db.execute(
        "SELECT seq, first_row FROM projection_snapshots WHERE at_ms <= ? "
        "ORDER BY at_ms DESC LIMIT 1",
        (start_ms,),
    ).fetchone()
    closing = db.execute(
        "SELECT seq, first_row FROM projection_snapshots WHERE at_ms >= ? ORDER BY at_ms LIMIT 1",
        (max(start_ms + 1, end_ms),),
    ).fetchone()
    return Bounds(
        first_seq=int(opening[0]) if opening else 0,
        through_seq=int(closing[0]) - 1 if closing else None,
        snapshot_seq=int(opening[0]) if opening else None,
        first_row=int(opening[1]) if opening else 0,
        end_row=int(closing[1]) if closing else None,
    )


def read_states(db: Connection, bounds: Bounds | None = None) -> StateColumns:
    """The state rows as columns: all of them, or those ``bounds`` names, after the
    opening snapshot's states (one row per device, in force at its midnight)."""
    device_ids = [
        str(device_id)
        for (device_id,) in db.execute("SELECT device_id FROM projection_devices ORDER BY idx")
    ]
    if bounds is None:
        chunks = list(
            bulk(db, "SELECT device, category, since FROM projection_states ORDER BY first_seq")
        )
        return StateColumns(
            device_ids=device_ids,
            device=_joined(chunks, 0, "<i4").astype(np.int32, copy=False),
            category=_joined(chunks, 1, "i1").astype(np.int8, copy=False),
            since=_joined(chunks, 2, "<i8").astype(np.int64, copy=False),
        )
    end_row = (1 << 62) if bounds.end_row is None else bounds.end_row
    found = list(
        bulk(
            db,
            "SELECT device, category, since, first_row, rows FROM projection_states "
            "WHERE first_row < ? AND first_row + rows > ? ORDER BY first_seq",
            (end_row, bounds.first_row),
        )
    )
    chunks = []
    for device, category_, since, first_row, rows in found:
        cut = slice(max(0, bounds.first_row - first_row), min(rows, end_row - first_row))
        chunks.append(
            (
                np.frombuffer(device, "<i4")[cut],
                np.frombuffer(category_, "i1")[cut],
                np.frombuffer(since, "<i8")[cut],
            )
        )
    if bounds.snapshot_seq is not None:
        [opening] = bulk(
            db,
            "SELECT device, category, since FROM projection_snapshots WHERE seq = ?",
            (bounds.snapshot_seq,),
        )
        chunks.insert(
            0,
            (
                np.frombuffer(opening[0], "<i4"),
                np.frombuffer(opening[1], "i1"),
                np.frombuffer(opening[2], "<i8"),
            ),
        )
    return StateColumns(
        device_ids=device_ids,
        device=_concatenated([chunk[0] for chunk in chunks], np.int32),
        category=_concatenated([chunk[1] for chunk in chunks], np.int8),
        since=_concatenated([chunk[2] for chunk in chunks], np.int64),
    )


def _concatenated(parts: list[npt.NDArray[Any]], dtype: type[Any]) -> npt.NDArray[Any]:
    if not parts:
        return np.zeros(0, dtype=dtype)
    return np.concatenate(parts).astype(dtype, copy=False)


def _joined(chunks: list[tuple[bytes, bytes, bytes]], column: int, dtype: str) -> npt.NDArray[Any]:
    if not chunks:
        return np.zeros(0, dtype=dtype)
    return np.concatenate([np.frombuffer(chunk[column], dtype) for chunk in chunks])


_TICKET_NOW = (
    "SELECT detected_ms, ticket_id, at_ms, acknowledged_ms, resolved_ms, response_deadline_ms, "
    "repair_deadline_ms, merged, devices, ticket, seq FROM projection_ticket_now "
    "WHERE detected_ms >= ? AND detected_ms < ? ORDER BY detected_ms, ticket_id"
)
# The tickets of [start, end) changed after the end (or after ``through_seq``): each one's
# last ledger row by then (none: first written after the period closed).
_TICKET_THEN = (
    "SELECT now.ticket_id, ledger.at, ledger.body FROM projection_ticket_now AS now "
    "JOIN ledger ON ledger.seq = (SELECT MAX(seq) FROM projection_tickets "
    "WHERE ticket_id = now.ticket_id AND at_ms <= ? AND seq <= ?) "
    "WHERE now.detected_ms >= ? AND now.detected_ms < ? AND (now.at_ms > ? OR now.seq > ?)"
)


def tickets_as_of(
    db: Connection, start_ms: int, end_ms: int, batch: int, through_seq: int | None = None
) -> Iterator[list[tuple[Any, ...]]]:
    """Tickets detected in [start, end) as they stood at ``end_ms`` (projection_ticket_now
    rows without their seq), in detection order, ``batch`` rows at a time: a quarter's
    450,000 at once took a gigabyte of fresh memory, 220,000 page faults. With
    ``through_seq`` (the period's Bounds), rows after it do not count. Those changed
    since are read first (a few): the rest is one stream (``bulk``)."""
    last = (1 << 62) if through_seq is None else through_seq
    then = {
        str(ticket_id): (str(at), str(body))
        for ticket_id, at, body in db.execute(
            _TICKET_THEN, (end_ms, last, start_ms, end_ms, end_ms, last)
        ).fetchall()
    }
    rows = bulk(db, _TICKET_NOW, (start_ms, end_ms))
    while chunk := list(itertools.islice(rows, batch)):
        kept: list[tuple[Any, ...]] = []
        for row in chunk:
            if row[2] <= end_ms and row[10] <= last:
                kept.append(row[:10])
            elif (found := then.get(row[1])) is not None:
                at, body = found
                kept.append(ticket_columns(json.loads(body)["ticket"], epoch_ms(at), row[0]))
        if kept:
            yield kept


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
