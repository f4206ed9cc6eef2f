"""Which of a district's collectors sharing one PostgreSQL ledger is the active one.

A lease row with a term, timed by the server's clock (one clock for every collector): a
collector takes it when it is free or has expired, with a new term, and holds it by
renewing it. Every ledger transaction of the active collector first renews it under its
term (``fence``), in the same transaction: a collector that was paused past its lease
(SIGSTOP, a frozen VM) finds another term there and its transaction rolls back, so it
never appends a row after it lost the lease, and it stops (``LeaseLostError``). The row
lock the fence takes holds a takeover until that transaction ends; the server ends a
transaction left open by a paused process (``idle_in_transaction_session_timeout``).
The term alone fences: a lease renewed late, but before anyone took it, is still held.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket

import psycopg

from collector.ledger.backend import Connection, Postgres, PostgresConnection

TTL_S = 10.0
STANDBY_POLL_S = 1.0
log = logging.getLogger(__name__)
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS lease (one INTEGER PRIMARY KEY CHECK (one = 0), "
    "term INTEGER NOT NULL, holder TEXT NOT NULL, expires_ms INTEGER NOT NULL)"
)
# The server's clock in epoch ms: (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint
_TAKE = (
    "INSERT INTO lease VALUES (0, 1, ?, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint "
    "+ ?) ON CONFLICT (one) DO UPDATE SET term = lease.term + 1, holder = excluded.holder, "
    "expires_ms = excluded.expires_ms "
    "WHERE lease.expires_ms < (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint "
    "RETURNING term"
)
_RENEW = (
    "UPDATE lease SET expires_ms = (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint + ? "
    "WHERE term = ? AND holder = ? RETURNING term"
)


class LeaseLostError(RuntimeError):
    """Another collector holds the ledger now: this one must not write, and stops."""


def holder_name() -> str:
    """This process, unique even for two collectors of one district on one host."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Lease:
    def __init__(self, where: Postgres, holder: str, ttl_s: float = TTL_S) -> None:
        # Its own connection: a renewal never waits behind the ledger's transaction.
        self._db = PostgresConnection(where, name="lease")
        self._db.execute(SCHEMA)
        self.holder = holder
        self.ttl_ms = int(ttl_s * 1000)
        self.term: int | None = None

    def acquire(self) -> bool:
        """Take the lease if it is free or expired (a new term); True when held, False
        too while the server cannot be asked (its failover: the caller asks again)."""
        if self.term is not None:
            return True
        try:
            row = self._db.execute(_TAKE, (self.holder, self.ttl_ms)).fetchone()
        except psycopg.OperationalError as exc:
            log.warning("ledger lease not asked (%s): asking again", str(exc).strip())
            return False
        self.term = None if row is None else int(row[0])
        return self.term is not None

    def fence(self, db: Connection) -> None:
        """Inside a ledger transaction on ``db``: renew the lease under this term, or
        raise LeaseLostError (and the transaction rolls back)."""
        if (
            self.term is None
            or db.execute(_RENEW, (self.ttl_ms, self.term, self.holder)).fetchone() is None
        ):
            raise LeaseLostError(f"the ledger's lease (term {self.term}) is another's now")

    def renew(self) -> None:
        """Between transactions (a quiet fleet): LeaseLostError when it was lost."""
        self.fence(self._db)

    def close(self) -> None:
        self._db.close()


async def keep(lease: Lease) -> None:
    """Renew the lease while the collector runs (a quiet fleet commits nothing for
    minutes); LeaseLostError ends the collector."""
    while True:
        await asyncio.sleep(lease.ttl_ms / 3000)
        try:
            lease.renew()
        except psycopg.OperationalError as exc:  # the server away: again next round
            log.error("ledger lease not renewed (%s): retrying", str(exc).strip())
