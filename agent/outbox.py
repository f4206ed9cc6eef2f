"""The durable outbox: every batch is on disk before it is published, and leaves after PUBACK.

SQLite in WAL mode: an append is one small transaction (well under a millisecond), so it
runs inline on the event loop. ``synchronous=NORMAL`` survives a crash or ``kill -9`` of
the agent (only a power cut can lose the last transactions). The batch sequence number
is allocated here, inside the same transaction that stores the batch, so ``seq`` keeps
increasing across restarts and a replayed batch carries the number it was first given.

The probes (event loop thread) append and the publisher (its own thread) reads and
acknowledges, so every method holds one lock; each critical section is one short SQLite
statement or transaction.

When the outbox reaches ``max_bytes`` the *oldest* batches are dropped, counted and
logged at ERROR: during a very long broker outage the recent state matters most, and the
collector sees the hole as a gap in ``seq``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


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
            "seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL)"
        )
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER)")
        self._max_bytes = max_bytes
        self.dropped = 0
        row = self._db.execute(
            "SELECT COALESCE(SUM(LENGTH(payload)), 0), COUNT(*) FROM batches"
        ).fetchone()
        self._bytes, self._count = int(row[0]), int(row[1])

    def append(self, topic: str, build: Callable[[int], bytes]) -> int:
        """Store the batch ``build(seq)`` under the next sequence number; return that number."""
        with self._lock:
            return self._append(topic, build)

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

    def pending(self, limit: int = 100) -> list[Pending]:
        """The oldest batches not yet acknowledged by the broker, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, topic, payload FROM batches ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [Pending(int(seq), str(topic), bytes(payload)) for seq, topic, payload in rows]

    def acknowledge(self, seq: int) -> None:
        with self._lock:
            row = self._db.execute(
                "SELECT LENGTH(payload) FROM batches WHERE seq = ?", (seq,)
            ).fetchone()
            if row is None:
                return
            self._db.execute("DELETE FROM batches WHERE seq = ?", (seq,))
            self._bytes -= int(row[0])
            self._count -= 1

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
        dropped = 0
        while self._bytes > self._max_bytes and self._count > 1:
            oldest = self.pending(1)[0]
            self.acknowledge(oldest.seq)
            dropped += 1
        self.dropped += dropped
        log.error(
            "outbox full (%d bytes): dropped the %d oldest batches, %d dropped so far",
            self._max_bytes,
            dropped,
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
