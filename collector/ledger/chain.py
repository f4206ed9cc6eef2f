"""The ledger: an append-only, hash-chained record of state changes and ticket events.

Each row carries the SHA-256 of the previous row, so an evaluator can prove that nothing
was changed, inserted or removed afterwards (``verify``). SQLite in WAL mode; rows are
written in transactions that also record, per agent, the last batch ``seq`` taken in
(and the companion tables' writes, ``stage``):
the consumer acknowledges an MQTT message only after that commit, so a crash loses no
acknowledged input and a redelivered batch is recognised and skipped.
The same statements run on PostgreSQL (collector/ledger/backend.py): one chain, two engines.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from collector.ledger.backend import (
    Connection,
    Target,
    begin_snapshot,
    connect,
    is_sqlite,
    pipelined,
    target,
)
from collector.ledger.canonical import canonical
from collector.ledger.projection import Projection, ProjectionMismatchError, compare, read_states
from collector.ledger.snapshot import KIND as SNAPSHOT
from collector.ledger.snapshot import Standing
from collector.ledger.store import BUSY_TIMEOUT_S, STORE_ERRORS, unavailable
from slawatch.epoch import epoch_ms

GENESIS = "0" * 64
LONG_WAIT_S = 60.0


class LedgerCorruptError(ValueError):
    """The chain does not verify at ``seq``: a row was altered, removed or inserted."""

    def __init__(self, seq: int, message: str) -> None:
        self.seq = seq
        super().__init__(f"ledger row {seq}: {message}")


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    kind: str
    at: str
    body: dict[str, Any]
    prev: str
    hash: str


def row_hash(seq: int, kind: str, at: str, body_json: str, prev: str) -> str:
    return hashlib.sha256(f"{seq}\n{kind}\n{at}\n{body_json}\n{prev}".encode()).hexdigest()


class Ledger:
    def __init__(
        self, where: Target | str, fence: Callable[[Connection], None] | None = None
    ) -> None:
        """``fence``: run first in each transaction (collector/ledger/lease.py); raising
        rolls it back."""
        self.where = target(where)
        self._fence = fence
        self._db = connect(self.where)
        # Until ``wait_briefly``: another process's write lock is waited out here (a
        # command, a collector starting: nothing else waits on this thread meanwhile).
        self._db.execute(f"PRAGMA busy_timeout = {int(LONG_WAIT_S * 1000)}")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS ledger (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
            "at TEXT NOT NULL, body TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL)"
        )
        # Exemptions requested in the console are found by this
        # (collector/pipeline/exemptions.py; kind maintenance: windows of older ledgers).
        self._db.execute("DROP INDEX IF EXISTS ledger_maintenance")
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS ledger_exemptions ON ledger (seq) "
            "WHERE kind IN ('maintenance', 'exemption')"
        )
        # The index by time: a period's reads start at the midnight snapshot before it.
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS ledger_snapshot ON ledger (at) WHERE kind = 'snapshot'"
        )
        # How far the observations went (the watermark): a report of a period in progress
        # is measured up to here, however quiet the fleet was (no rows) since.
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS observed (one INTEGER PRIMARY KEY CHECK (one = 0), "
            "through_ms INTEGER NOT NULL)"
        )
        self.observed_through: datetime | None = None
        self._observed_written: datetime | None = None
        last = self._db.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        self._next_seq, self._last_hash = (int(last[0]) + 1, str(last[1])) if last else (0, GENESIS)
        self._pending: list[tuple[int, str, str, str, str, str]] = []
        self._staged: list[tuple[str, tuple[Any, ...]]] = []
        self._in_transaction = False
        self._verifying = False
        # Read from the file when a snapshot is first due (then kept up by append).
        self._standing: Standing | None = None
        Projection(self._db)  # its tables (a projection of an older version dropped)
        self._catch_up_projection()
        self._projection = Projection(self._db)

    def wait_briefly(self) -> None:
        """From now on a write lock held elsewhere fails a commit after ``BUSY_TIMEOUT_S``
        (StoreUnavailableError, retried by the caller) rather than holding the thread: the
        live collector's event loop serves ``/healthz`` and the alerts meanwhile."""
        self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")

    @property
    def connection(self) -> Connection:
        """For companion tables (checkpoint, alert delivery): one file, one commit."""
        return self._db

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Rows appended inside are committed together (or not at all).

        The write lock is taken first: StoreUnavailableError when another process holds
        it (or the disk fails) means nothing inside ran. Any failure after that rolls the
        file back; the caller sets its memory back (``Collector.take``)."""
        self._begin()
        self._in_transaction = True
        next_seq, last_hash = self._next_seq, self._last_hash
        try:
            if self._fence is not None:
                self._fence(self._db)
            yield
            self._db.executemany("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?)", self._pending)
            self._projection.write(self._db, self._next_seq)
            observed = self.observed_through
            with pipelined(self._db):  # the journal's, receipts' writes: no answer needed
                for statement, parameters in self._staged:
                    self._db.execute(statement, parameters)
                if observed is not None and observed != self._observed_written:
                    self._db.execute(
                        "INSERT INTO observed VALUES (0, ?) ON CONFLICT (one) "
                        "DO UPDATE SET through_ms = MAX(observed.through_ms, excluded.through_ms)",
                        (epoch_ms(observed),),
                    )
            self._db.execute("COMMIT")
            self._observed_written = observed
        except BaseException:
            self._rollback()
            self._next_seq, self._last_hash = next_seq, last_hash
            self.observed_through = self._observed_written
            self._projection.discard()
            self._standing = None
            raise
        finally:
            self._pending.clear()
            self._staged.clear()
            self._in_transaction = False

    def _begin(self) -> None:
        if self._db.in_transaction:  # a rollback that itself failed (a full disk)
            self._rollback()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except STORE_ERRORS as exc:
            failure = unavailable(exc)
            if failure is None:
                raise
            raise failure from exc

    def _rollback(self) -> None:
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except STORE_ERRORS as exc:
                if unavailable(exc) is None:
                    raise

    def stage(self, statement: str, parameters: tuple[Any, ...] = ()) -> None:
        """A companion table's write, committed with the transaction's rows."""
        assert self._in_transaction, "stage inside ledger.transaction()"
        self._staged.append((statement, parameters))

    def append(self, kind: str, at: str, body: dict[str, Any]) -> None:
        body_json = canonical(body)
        seq = self._next_seq
        digest = row_hash(seq, kind, at, body_json, self._last_hash)
        if self._verifying:
            stored = self._db.execute("SELECT hash FROM ledger WHERE seq = ?", (seq,)).fetchone()
            if stored is None or stored[0] != digest:
                raise LedgerCorruptError(seq, "differs from what its recorded inputs produce")
        else:
            assert self._in_transaction, "append inside ledger.transaction()"
            self._pending.append((seq, kind, at, body_json, self._last_hash, digest))
            self._projection.add(seq, kind, at, body)
        if self._standing is not None and kind != SNAPSHOT:  # a snapshot is the standing's own
            self._standing.add(kind, body, at)
        self._next_seq, self._last_hash = seq + 1, digest

    def snapshot(self, at: str) -> None:
        """Append the midnight snapshot ``at`` (collector/ledger/snapshot.py): where the rows
        before it leave every device and ticket."""
        if self._standing is None:
            # The rows committed before this transaction (or before the row being
            # re-derived), then the transaction's own.
            first = self._pending[0][0] if self._pending else self._next_seq
            self._standing = Standing.before(self._db, first)
            for _, kind, row_at, body, _, _ in self._pending:
                self._standing.add(kind, json.loads(body), row_at)
        self.append(SNAPSHOT, at, self._standing.body(at))

    @contextmanager
    def verifying(self, seq: int, prev: str) -> Iterator[None]:
        """Re-derive the rows from ``seq`` on (after ``prev``) and check them against the file.

        Restoring after a crash re-runs recorded inputs from the last checkpoint: the rows
        they produce must be exactly the rows already committed, ending at the head.
        """
        head = self._next_seq, self._last_hash
        self._next_seq, self._last_hash, self._verifying = seq, prev, True
        self._standing = None
        try:
            yield
            if (self._next_seq, self._last_hash) != head:
                raise LedgerCorruptError(self._next_seq, "recorded inputs end before the head")
        finally:
            self._next_seq, self._last_hash = head
            self._verifying = False
            self._standing = None

    def follow(self) -> int:
        """The head read again: rows another process appended (what a standby collector
        shows); the next row's number."""
        last = self._db.execute("SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        self._next_seq, self._last_hash = (int(last[0]) + 1, str(last[1])) if last else (0, GENESIS)
        self._standing = None
        return self._next_seq

    @contextmanager
    def snapshot_read(self) -> Iterator[None]:
        """Reads inside see one state of the ledger, whatever another process commits."""
        self._db.execute(begin_snapshot(self.where))
        try:
            yield
        finally:
            self._db.execute("ROLLBACK")

    def rows(self, kinds: tuple[str, ...] = ()) -> Iterator[Row]:
        query = "SELECT seq, kind, at, body, prev, hash FROM ledger"
        if kinds:
            query += f" WHERE kind IN ({', '.join('?' * len(kinds))})"
        for seq, kind, at, body, prev, digest in self._db.execute(query + " ORDER BY seq", kinds):
            yield Row(int(seq), str(kind), str(at), json.loads(body), str(prev), str(digest))

    def rows_from(self, seq: int) -> Iterator[Row]:
        """The rows from ``seq`` on (the latest commit's, for live listeners)."""
        query = "SELECT seq, kind, at, body, prev, hash FROM ledger WHERE seq >= ? ORDER BY seq"
        for number, kind, at, body, prev, digest in self._db.execute(query, (seq,)):
            yield Row(int(number), str(kind), str(at), json.loads(body), str(prev), str(digest))

    def _catch_up_projection(self) -> None:
        """Project the rows the stored projection lacks (a ledger written before it, or
        copied without it), in commits of 100,000 rows.

        A collector's commit projects its own rows, so on a live ledger there is nothing
        to do and no lock is taken. Otherwise each chunk is read under the write lock, from
        where the projection stands then, by a projection loaded under it: rows a collector
        committed between this reader's first look and its lock (an sla worker, an export,
        a standby opening the ledger) are never projected twice."""
        query = "SELECT seq, kind, at, body FROM ledger WHERE seq >= ? ORDER BY seq LIMIT 100000"
        db = self._db
        while True:
            (head,) = db.execute("SELECT COALESCE(MAX(seq), -1) FROM ledger").fetchone()
            if Projection.next_seq(db) > int(head):
                return
            db.execute("BEGIN IMMEDIATE")  # SQLite: the write lock
            try:
                if not is_sqlite(self.where):  # PostgreSQL: after a commit in flight
                    db.execute("LOCK TABLE projection_through IN EXCLUSIVE MODE")
                projection = Projection(db)
                rows = db.execute(query, (Projection.next_seq(db),)).fetchall()
                for row_seq, kind, at, body in rows:
                    projection.add(int(row_seq), str(kind), str(at), json.loads(body))
                if rows:
                    projection.write(db, int(rows[-1][0]) + 1)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _project_from(self, seq: int, projection: Projection, db: Connection) -> None:
        """Project the rows from ``seq`` on into ``db``, in commits of 100,000 rows."""
        query = "SELECT seq, kind, at, body FROM ledger WHERE seq >= ? ORDER BY seq LIMIT 100000"
        while rows := self._db.execute(query, (seq,)).fetchall():
            seq = int(rows[-1][0]) + 1
            for row_seq, kind, at, body in rows:
                projection.add(int(row_seq), str(kind), str(at), json.loads(body))
            db.execute("BEGIN IMMEDIATE")
            projection.write(db, seq)
            db.execute("COMMIT")

    def verify_projection(self) -> None:
        """Re-derive the SLA projection from the rows; ProjectionMismatchError if it differs."""
        derived = sqlite3.connect(":memory:", isolation_level=None)
        try:
            self._project_from(0, Projection(derived), derived)
            compare(read_states(self._db), read_states(derived))
            for query in (
                "SELECT * FROM projection_tickets ORDER BY seq",
                "SELECT * FROM projection_ticket_now ORDER BY ticket_id",
                "SELECT * FROM projection_snapshots ORDER BY seq",
            ):
                if self._db.execute(query).fetchall() != derived.execute(query).fetchall():
                    raise ProjectionMismatchError(
                        "ticket or snapshot rows differ from the ledger's"
                    )
        finally:
            derived.close()

    def verify(self) -> int:
        """Walk the chain; return the number of rows, or raise LedgerCorruptError."""
        expected_prev, expected_seq = GENESIS, 0
        cursor = self._db.execute("SELECT seq, kind, at, body, prev, hash FROM ledger ORDER BY seq")
        for seq, kind, at, body, prev, digest in cursor:
            if seq != expected_seq:
                raise LedgerCorruptError(expected_seq, f"missing (next row is {seq})")
            if prev != expected_prev:
                raise LedgerCorruptError(seq, "does not follow the previous row")
            if row_hash(seq, kind, at, body, prev) != digest:
                raise LedgerCorruptError(seq, "content does not match its hash")
            expected_prev, expected_seq = digest, seq + 1
        return expected_seq

    @property
    def head(self) -> str:
        return self._last_hash

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def close(self) -> None:
        self._db.close()
