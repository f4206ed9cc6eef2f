"""Moving a ledger between backends: ``slawatch-collector ledger copy SRC DST``.

A district moving from its SQLite file to PostgreSQL (or an evaluator taking a PostgreSQL
ledger home as a file) copies the rows as stored, with the companion tables (signed heads,
the collector's checkpoint, receipts, alert delivery) so a collector resumes on the copy.
The SLA projection is derived data: the copy projects its own rows when first opened. The
copy is then walked (``Ledger.verify``) and must end at the source's head, or it fails.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from collector.ledger.backend import (
    Connection,
    PostgresConnection,
    Target,
    begin_snapshot,
    connect,
    continue_numbering,
    exists,
    table_schema,
    tables,
)
from collector.ledger.chain import GENESIS, Ledger
from collector.ledger.projection import TABLES as PROJECTION

BATCH = 10_000


class CopyError(ValueError):
    """The copy cannot be made (no source, a destination that already holds rows)."""


@dataclass(frozen=True, slots=True)
class Copied:
    rows: int
    head: str
    tables: tuple[str, ...]  # the companion tables copied with the rows


def copy_ledger(source: Target, destination: Target, projection: bool = False) -> Copied:
    """Copy ``source``'s rows and companion tables into the empty ``destination``, then
    verify the copy's chain up to the source's head. ``projection``: the source's SLA
    projection copied too, of the same snapshot, not derived anew from every row (an
    export's snapshot, as SQLite's backup copies its file whole: deriving a quarter's
    took two thirds of the copy's time)."""
    if not exists(source):
        raise CopyError(f"{source}: no such ledger")
    Ledger(destination).close()  # the schema (the destination's own projection tables)
    with closing(connect(destination)) as into:
        if into.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]:
            raise CopyError(f"{destination}: holds a ledger already; copy into an empty one")
        with closing(connect(source, read_only=True)) as src:
            # One snapshot of a ledger that may be live: all tables as of one moment.
            src.execute(begin_snapshot(source))
            skipped = ("ledger",) if projection else ("ledger", *PROJECTION)
            companions = [t for t in tables(src) if t not in skipped]
            into.execute("BEGIN IMMEDIATE")
            head = _copy(src, into, "ledger", "ORDER BY seq")
            for table in companions:
                into.execute(table_schema(src, table))
                _copy(src, into, table, "")
                continue_numbering(into, table)
            into.execute("COMMIT")
            src.execute("COMMIT")
    copy = Ledger(destination)  # projects the rows (those the copied projection lacks)
    try:
        rows = copy.verify()
        if copy.head != head:
            raise CopyError(f"{destination}: the copy ends at {copy.head}, the source at {head}")
    finally:
        copy.close()
    return Copied(rows, head, tuple(companions))


def _copy(src: Connection, into: Connection, table: str, order: str) -> str:
    """Copy ``table``'s rows; the last row's hash when it is the ledger."""
    last: Sequence[Any] | None = None
    # The tables' own names, as listed by the source database.
    query = f"SELECT * FROM {table} {order}"  # nosec B608  # noqa: S608
    for batch in _batches(src, query):
        marks = ", ".join("?" * len(batch[0]))  # into PostgreSQL: by COPY (backend.py)
        into.executemany(f"INSERT INTO {table} VALUES ({marks})", batch)  # nosec B608  # noqa: S608
        last = batch[-1]
    return str(last[5]) if table == "ledger" and last is not None else GENESIS


def _batches(db: Connection, query: str) -> Iterator[list[Any]]:
    """``query``'s rows in batches; from PostgreSQL through a server-side cursor, so a
    quarter's rows are not held in memory at once."""
    if isinstance(db, PostgresConnection):
        with db.raw.cursor(name="ledger_copy") as named:
            named.execute(query.encode())
            while batch := named.fetchmany(BATCH):
                yield batch
        return
    cursor = db.execute(query)
    while batch := cursor.fetchmany(BATCH):
        yield batch
