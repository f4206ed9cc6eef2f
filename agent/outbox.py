"""The durable outbox: every batch is on disk before it is published, and leaves when the
collector confirms it has it (its retained ``ack``), not when the broker does.

SQLite in WAL mode: an append is one small transaction (well under a millisecond), so it
runs inline on the event loop. ``synchronous=NORMAL`` survives a crash or ``kill -9`` of
the agent (only a power cut can lose the last transactions). The batch sequence number
is allocated here, inside the same transaction that stores the batch, so ``seq`` keeps
increasing across restarts and a replayed batch carries the number it was first given.

The outbox draws its ``epoch`` once, when it is created: a reinstalled agent (a new
outbox) is a new sequence for the collector, not a run of stale duplicates.

A broker's PUBACK only marks a batch sent; a batch sent but not confirmed by the collector
is sent again after ``resend_after`` on the monotonic clock (the broker may have lost it:
killed before it saved its queue, while the collector was down). The collector drops the
duplicates.

The probes (event loop thread) append and the publisher (its own thread) reads, marks and
confirms, so every method holds one lock; each critical section is one short SQLite
statement or transaction.

When the outbox reaches ``max_bytes`` the *oldest* batches are dropped, counted, logged at
ERROR and named in the next batch (``lost``), so the collector records the loss instead
of waiting for them: during a very long outage the recent state matters most.

It also remembers, for the batches this process wrote, how far the wall clock stood from
the monotonic one while their statuses were observed: a batch sent after the wall clock
moved otherwise than the monotonic one was observed on a clock that has since been set
(``clock_stepped``).
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# How far the wall clock may drift from the monotonic one before it counts as set.
STEP_S = 1.0


def clock_base() -> float:
    """The wall clock minus the monotonic one: constant until the wall clock is set."""
    return time.time() - time.monotonic()


@dataclass(frozen=True, slots=True)
class Pending:
    seq: int
    topic: str
    payload: bytes


class Outbox:
    def __init__(self, folder: Path, max_bytes: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            folder / "outbox.sqlite", isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS batches ("
            "seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, sent REAL)"
        )
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(batches)")}
        if "sent" not in columns:  # an outbox from before collector confirmations
            self._db.execute("ALTER TABLE batches ADD COLUMN sent REAL")
        # The batches still to send, and those sent but unconfirmed, without scanning the
        # whole outbox (it holds an hour of batches while a collector is away).
        self._db.execute("CREATE INDEX IF NOT EXISTS unsent ON batches (seq) WHERE sent IS NULL")
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS by_sent ON batches (sent) WHERE sent IS NOT NULL"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS lost (first INTEGER PRIMARY KEY, last INTEGER NOT NULL)"
        )
        self.epoch = self._epoch()
        self._max_bytes = max_bytes
        self.dropped = 0
        row = self._db.execute(
            "SELECT COALESCE(SUM(LENGTH(payload)), 0), COUNT(*) FROM batches"
        ).fetchone()
        self._bytes, self._count = int(row[0]), int(row[1])
        self._bases: dict[int, tuple[float, float]] = {}  # seq: least and most wall − monotonic
        self._sent: dict[int, float] = {}  # seq: when this process last sent it (monotonic)

    def _epoch(self) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
        if row is not None:
            return str(row[0])
        epoch = f"{int(time.time()):x}-{os.urandom(4).hex()}"
        self._db.execute("INSERT INTO meta VALUES ('epoch', ?)", (epoch,))
        return epoch

    def append(
        self,
        topic: str,
        build: Callable[[int], bytes],
        bases: tuple[float, float] | None = None,
    ) -> int:
        """Store the batch ``build(seq)`` under the next sequence number; return that number.
        ``bases``: the least and most wall − monotonic clock while it was observed."""
        with self._lock:
            seq = self._append(topic, build)
            if bases is not None:
                self._bases[seq] = bases
            return seq

    def _append(self, topic: str, build: Callable[[int], bytes]) -> int:
        with self._transaction():
            row = self._db.execute("SELECT value FROM meta WHERE key = 'last_seq'").fetchone()
            seq = (int(row[0]) if row else -1) + 1
            payload = build(seq)
            self._db.execute(
                "INSERT INTO batches (seq, topic, payload) VALUES (?, ?, ?)", (seq, topic, payload)
            )
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('last_seq', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (seq,),
            )
        self._bytes += len(payload)
        self._count += 1
        if self._bytes > self._max_bytes:
            self._drop_oldest()
        return seq

    def pending(self, limit: int = 100, resend_after: float = 60.0) -> list[Pending]:
        """The oldest batches never sent, or sent ``resend_after`` seconds ago and still not
        confirmed by the collector, in order. The wait is on the monotonic clock: a wall
        clock set back an hour delays no resend; one sent by an earlier process is due."""
        with self._lock:
            # Unconfirmed ones first (they are the oldest), then the never sent, in order.
            due_by = time.monotonic() - resend_after
            sent = [
                (self._sent.get(seq, -math.inf), seq)
                for (seq,) in self._db.execute("SELECT seq FROM batches WHERE sent IS NOT NULL")
            ]
            due = [seq for at, seq in sorted(sent) if at < due_by][:limit]
            rows = [
                self._db.execute(
                    "SELECT seq, topic, payload FROM batches WHERE seq = ?", (seq,)
                ).fetchone()
                for seq in due
            ]
            rows += self._db.execute(
                "SELECT seq, topic, payload FROM batches WHERE sent IS NULL ORDER BY seq LIMIT ?",
                (limit - len(rows),),
            ).fetchall()
        return [Pending(int(seq), str(topic), bytes(payload)) for seq, topic, payload in rows]

    def mark_sent(self, seqs: list[int]) -> None:
        """The broker has them (PUBACK): resend only if the collector never confirms."""
        with self._lock:
            now, ticks = time.time(), time.monotonic()
            self._sent.update((seq, ticks) for seq in seqs)
            self._db.executemany(
                "UPDATE batches SET sent = ? WHERE seq = ?", [(now, s) for s in seqs]
            )

    def confirm(self, epoch: str | None, through: int, above: list[int]) -> int:
        """The collector has every batch up to ``through`` and those in ``above``: delete
        them. An ack for another epoch (a previous install) confirms nothing here."""
        if epoch != self.epoch:
            return 0
        with self._lock, self._transaction():
            doomed = self._db.execute(
                "SELECT seq, LENGTH(payload) FROM batches WHERE seq <= ?", (through,)
            ).fetchall()
            for seq in above:
                row = self._db.execute(
                    "SELECT seq, LENGTH(payload) FROM batches WHERE seq = ?", (seq,)
                ).fetchone()
                if row is not None:
                    doomed.append(row)
            self._db.executemany("DELETE FROM batches WHERE seq = ?", [(s,) for s, _ in doomed])
            self._db.execute("DELETE FROM lost WHERE last <= ?", (through,))
            for seq, _ in doomed:
                self._bases.pop(seq, None)
                self._sent.pop(seq, None)
        self._bytes -= sum(int(size) for _, size in doomed)
        self._count -= len(doomed)
        return len(doomed)

    def next_connection(self) -> int:
        """A number for a new broker connection, larger than every earlier one's."""
        with self._lock, self._transaction():
            row = self._db.execute("SELECT value FROM meta WHERE key = 'connection'").fetchone()
            number = (int(row[0]) if row else -1) + 1
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES ('connection', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (number,),
            )
        return number

    def clock_stepped(self, seq: int) -> bool:
        """Whether this host's clock was set since batch ``seq`` was closed (by this
        process: of a batch from before a restart, nobody can tell)."""
        with self._lock:
            bases = self._bases.get(seq)
        if bases is None:
            return False
        now = clock_base()
        return max(abs(now - bases[0]), abs(now - bases[1])) > STEP_S

    def lost_ranges(self) -> list[tuple[int, int]]:
        """Batches dropped before the collector confirmed them (named in every batch until
        the collector's ack passes them)."""
        with self._lock:
            rows = self._db.execute("SELECT first, last FROM lost ORDER BY first LIMIT 64")
            return [(int(first), int(last)) for first, last in rows.fetchall()]

    @property
    def depth(self) -> int:
        return self._count

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _drop_oldest(self) -> None:
        dropped: list[int] = []
        while self._bytes > self._max_bytes and self._count > 1:
            seq, size = self._db.execute(
                "SELECT seq, LENGTH(payload) FROM batches ORDER BY seq LIMIT 1"
            ).fetchone()
            self._db.execute("DELETE FROM batches WHERE seq = ?", (seq,))
            self._sent.pop(int(seq), None)
            self._bytes -= int(size)
            self._count -= 1
            dropped.append(int(seq))
        if not dropped:
            return
        extended = self._db.execute(
            "UPDATE lost SET last = ? WHERE last = ?", (dropped[-1], dropped[0] - 1)
        ).rowcount
        if not extended:
            self._db.execute("INSERT INTO lost VALUES (?, ?)", (dropped[0], dropped[-1]))
        self.dropped += len(dropped)
        log.error(
            "outbox full (%d bytes): dropped the %d oldest batches (seq %d-%d), %d dropped "
            "so far; the collector is told in the next batch",
            self._max_bytes,
            len(dropped),
            dropped[0],
            dropped[-1],
            self.dropped,
        )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
