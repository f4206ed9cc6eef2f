"""Where a ledger lives: a SQLite file (the default) or a PostgreSQL database.

The ledger's code speaks SQLite's SQL through DB-API connections. A PostgreSQL ledger is
reached through ``PostgresConnection``, which takes the same statements and rewrites the
few SQLite words PostgreSQL spells otherwise (placeholders, ``INSERT OR REPLACE``, two-
argument ``MAX``, ``BLOB``, ``PRAGMA table_info``): one set of statements, two engines,
and so one chain, hashed from the same text. Text columns are declared ``COLLATE "C"``,
so rows sort bytewise as in SQLite whatever the database's locale.

The DSN names no password (it would show in settings, process lists and logs): libpq's
own ``PGPASSFILE``/``PGPASSWORD``, or ``SLAWATCH_LEDGER_PASSWORD_FILE`` naming a file that
holds only the password (a container's secret), supply it.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psycopg
from psycopg.adapt import Dumper
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from psycopg.sql import SQL, Identifier

from slawatch.config.settings import LedgerDatabase

PASSWORD_FILE_ENV = "SLAWATCH_LEDGER_PASSWORD_FILE"  # nosec B105  # noqa: S105 - a name
SCHEMES = ("postgresql://", "postgres://")
IDLE_IN_TRANSACTION_S = 15


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ..., /) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the ledger's code uses of a DB-API connection (sqlite3's, or the adapter's)."""

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...

    def close(self) -> None: ...


class BackendError(ValueError):
    """A ledger address that cannot be used as given (a password in the DSN, say)."""


class LedgerUnreachableError(ConnectionError):
    """The PostgreSQL server did not take the connection (down, refused, bad password)."""


@dataclass(frozen=True, slots=True)
class Postgres:
    """A PostgreSQL ledger: its DSN (without a password); the password when the settings
    name one (never shown), and how durable a commit must be before it returns."""

    dsn: str
    password: str | None = field(default=None, repr=False, compare=False)
    synchronous_commit: str | None = None

    def __post_init__(self) -> None:
        try:
            fields = conninfo_to_dict(self.dsn)
        except psycopg.ProgrammingError as exc:
            raise BackendError(f"ledger DSN: {exc}") from None
        if "password" in fields:
            raise BackendError(
                "ledger DSN: holds a password; give it in a file "
                f"(${PASSWORD_FILE_ENV} or libpq's PGPASSFILE) or in $PGPASSWORD instead"
            )

    def __str__(self) -> str:
        return self.dsn


Target = Path | Postgres


def target(text: str | Target) -> Target:
    """A ledger's address as written on a command line or in settings."""
    if not isinstance(text, str):
        return text
    if text.startswith(SCHEMES):
        return Postgres(text)
    return Path(text)


def from_settings(ledger: Path | LedgerDatabase) -> Target:
    """The collector settings' ledger (its password read now)."""
    if isinstance(ledger, Path):
        return ledger
    password = None if ledger.password is None else ledger.password.resolve()
    return Postgres(
        ledger.postgres,
        None if password is None else password.get_secret_value(),
        ledger.synchronous_commit,
    )


def child_environment(where: Target) -> dict[str, str]:
    """This process's environment for a child that opens the same ledger: with the
    password the settings named, in libpq's variable (a child's own, never logged)."""
    if isinstance(where, Postgres) and where.password is not None:
        return {**os.environ, "PGPASSWORD": where.password}
    return dict(os.environ)


def is_sqlite(where: Target) -> bool:
    return isinstance(where, Path)


def begin_snapshot(where: Target) -> str:
    """The statement beginning a read that sees the ledger as of one moment, whatever
    another process commits meanwhile."""
    return "BEGIN" if is_sqlite(where) else "BEGIN ISOLATION LEVEL REPEATABLE READ"


def exists(where: Target) -> bool:
    """Whether a ledger is there (a PostgreSQL database is asked for its ledger table)."""
    if isinstance(where, Path):
        return where.exists()
    with PostgresConnection(where) as db:
        found = db.execute("SELECT to_regclass('ledger') IS NOT NULL").fetchone()
    return bool(found[0])


def pipelined(db: Connection) -> AbstractContextManager[None]:
    """Writes that need no answer one by one: PostgreSQL's pipeline mode (a round trip
    for all, not each); SQLite, in this process, runs them as they come."""
    return db.pipeline() if isinstance(db, PostgresConnection) else nullcontext()


def bulk(db: Connection, query: str, parameters: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
    """``query``'s rows as a stream, for a period's bulk reads (its states' columns, its
    tickets): PostgreSQL sends them by binary COPY (``copy_out``), SQLite as its cursor
    steps. Consume it whole before the next statement on ``db``."""
    if isinstance(db, PostgresConnection):
        return db.copy_out(query, parameters)
    return iter(db.execute(query, parameters))


def connect(where: Target, read_only: bool = False) -> Connection:
    """A connection in autocommit mode: transactions are opened with ``BEGIN``."""
    if isinstance(where, Postgres):
        return PostgresConnection(where, read_only)
    return connect_file(where, read_only)


def connect_file(path: Path, read_only: bool = False) -> sqlite3.Connection:
    """A SQLite ledger file's connection (read-only: beside its writer, never creating it)."""
    if read_only:
        return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return sqlite3.connect(path, isolation_level=None)


class _BoolAsInt(Dumper):
    """SQLite keeps booleans as 0/1 in INTEGER columns; so does the PostgreSQL ledger."""

    oid = psycopg.postgres.types["int8"].oid

    def dump(self, obj: bool) -> bytes:
        return b"1" if obj else b"0"


class PostgresConnection:
    """A psycopg connection that takes the ledger's SQLite statements."""

    def __init__(self, where: Postgres, read_only: bool = False, name: str = "ledger") -> None:
        """``name``: what ``pg_stat_activity`` shows it as (slawatch-ledger, -lease)."""
        extra: dict[str, Any] = {"application_name": f"slawatch-{name}"}
        password_file = os.environ.get(PASSWORD_FILE_ENV)
        if where.password is not None:
            extra["password"] = where.password
        elif password_file:
            extra["password"] = Path(password_file).read_text(encoding="utf-8").strip()
        # A writer paused mid-transaction (SIGSTOP, a frozen VM) holds its locks, the
        # lease's among them: the server ends that transaction (collector/ledger/lease.py).
        options = [f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_S}s"]
        if read_only:
            options = []
        if where.synchronous_commit is not None:
            options.append(f"-c synchronous_commit={where.synchronous_commit}")
        extra["options"] = " ".join(options)
        # Read-only once connected, not in the startup options: libpq's
        # ``target_session_attrs=read-write`` (a DSN naming a primary and its replica)
        # would take such a session for a replica's and refuse every server.
        self._where, self._extra, self._read_only = where, extra, read_only
        try:
            self._db = self._connect()
        except psycopg.OperationalError as exc:
            raise LedgerUnreachableError(f"{where}: {str(exc).strip()}") from None
        self._statements: dict[str, str] = {}

    def _connect(self) -> psycopg.Connection[Any]:
        db = psycopg.connect(self._where.dsn, autocommit=True, **self._extra)
        db.adapters.register_dumper(bool, _BoolAsInt)
        if self._read_only:
            db.execute("SET default_transaction_read_only = on")
        return db

    def _open(self) -> psycopg.Connection[Any]:
        """The connection, made anew when the server dropped it (a restart, a failover):
        psycopg.OperationalError while it cannot be (the store is unavailable)."""
        if self._db.closed:
            self._db = self._connect()
        return self._db

    def __enter__(self) -> PostgresConnection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def in_transaction(self) -> bool:
        """A lost connection's transaction is gone with it (the server rolled it back)."""
        return not self._db.closed and self._db.info.transaction_status != TransactionStatus.IDLE

    @property
    def raw(self) -> psycopg.Connection[Any]:
        """The psycopg connection itself (COPY, advisory locks)."""
        return self._db

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        return self._open().execute(self._translated(sql), parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor:
        """A plain ``INSERT INTO t VALUES (?, …)`` goes by COPY (the same rows, in the
        same transaction, for a tenth of the client's CPU of an INSERT a row: measured
        25 against 2.4 µs a ledger row); any other statement row by row."""
        cursor = self._open().cursor()
        rows = iter(parameters)
        first = next(rows, None)
        if first is None:  # nothing to send: no round trip (most commits add no ticket)
            return cursor
        plain = _PLAIN_INSERT.fullmatch(sql)
        if plain is None:
            cursor.executemany(self._translated(sql), itertools.chain((first,), rows))
            return cursor
        with cursor.copy(SQL("COPY {} FROM STDIN").format(Identifier(plain[1]))) as copy:
            copy.write_row(first)
            for row in rows:
                copy.write_row(row)
        return cursor

    def copy_out(self, sql: str, parameters: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """``sql``'s rows by ``COPY (…) TO STDOUT`` in binary: streamed, so a quarter's
        tickets are never one result in memory, and BYTEA as bytes, not hex text (the
        projection's columns: a quarter's states in a fifth of the time). Binary COPY
        carries no column types: a ``LIMIT 0`` of the same query names them."""
        db = self._open()
        query = self._translated(sql)
        described = db.execute(f"SELECT * FROM ({query}) AS q LIMIT 0", parameters).description  # nosec B608  # noqa: S608 - the ledger's own statements
        assert described is not None
        with db.cursor().copy(f"COPY ({query}) TO STDOUT (FORMAT BINARY)", parameters) as copy:
            copy.set_types([column.type_code for column in described])
            yield from copy.rows()

    @contextmanager
    def pipeline(self) -> Iterator[None]:
        """Statements inside are sent without waiting for each one's answer, all answered
        at the end (PostgreSQL's pipeline mode: one round trip for a commit's many writes);
        the first error raises there, and the transaction is rolled back as any."""
        with self._open().pipeline():
            yield

    def _translated(self, sql: str) -> str:
        """``sql`` as PostgreSQL takes it (INSERT OR REPLACE: on the table's primary key)."""
        known = self._statements.get(sql)
        if known is not None:
            return known
        found = _INSERT_OR.match(sql)
        if found is None:
            return _plain(sql)
        keys, others = _columns(self._db, found[2])
        if found[1] == "IGNORE" or not others:
            action = "DO NOTHING"
        else:
            action = "DO UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in others)  # nosec B608
        rest = sql[found.end() :] + f" ON CONFLICT ({', '.join(keys)}) {action}"
        translated = _plain(f"INSERT INTO {found[2]}{rest}")
        if keys:  # the table exists (else the statement fails as SQLite's would)
            self._statements[sql] = translated
        return translated

    def close(self) -> None:
        self._db.close()


def tables(db: Connection) -> list[str]:
    """The tables of ``db``'s ledger, by name."""
    if isinstance(db, PostgresConnection):
        query = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'table'"
    return sorted(str(name) for (name,) in db.execute(query))


def table_schema(db: Connection, table: str) -> str:
    """``CREATE TABLE IF NOT EXISTS`` for ``table`` in SQLite's words (either engine takes it)."""
    if not isinstance(db, PostgresConnection):
        found = db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
        return re.sub(r"^CREATE TABLE (IF NOT EXISTS )?", "CREATE TABLE IF NOT EXISTS ", found[0])
    columns = db.raw.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_attribute a "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        (table,),
    ).fetchall()
    keys, _ = _columns(db.raw, table)
    declared = [
        f"{name} {_SQLITE_TYPES.get(kind, 'TEXT')}{' NOT NULL' if not_null else ''}"
        for name, kind, not_null in columns
    ]
    if keys:
        declared.append(f"PRIMARY KEY ({', '.join(keys)})")
    return f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(declared)})"


_TABLE_INFO = (  # what SQLite's PRAGMA table_info(name) lists first: (cid, name)
    "SELECT attnum - 1, attname FROM pg_attribute WHERE attrelid = to_regclass('{}') "
    "AND attnum > 0 AND NOT attisdropped"
)
_SQLITE_MASTER = (
    "(SELECT 'table'::text AS type, tablename::text AS name FROM pg_tables "
    "WHERE schemaname = current_schema()) AS sqlite_master"
)
_SQLITE_TYPES = {"bigint": "INTEGER", "bytea": "BLOB", "double precision": "REAL", "text": "TEXT"}


def continue_numbering(db: Connection, table: str) -> None:
    """After rows were copied in with their keys: a row inserted without one is numbered
    after them (SQLite's rowid does so by itself)."""
    if not isinstance(db, PostgresConnection):
        return
    for (column,) in db.raw.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name = %s AND is_identity = 'YES'",
        (table,),
    ).fetchall():
        query = SQL(
            "SELECT setval(pg_get_serial_sequence(%s, %s), "
            "(SELECT COALESCE(MAX({}), 0) + 1 FROM {}), false)"
        ).format(Identifier(column), Identifier(table))
        db.raw.execute(query, (table, column))


def _columns(db: psycopg.Connection[Any], table: str) -> tuple[list[str], list[str]]:
    rows = db.execute(
        "SELECT a.attname, COALESCE(a.attnum = ANY(i.indkey), false) FROM pg_attribute a "
        "LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum",
        (table,),
    ).fetchall()
    return [str(n) for n, key in rows if key], [str(n) for n, key in rows if not key]


_PRAGMA_TABLE_INFO = re.compile(r"PRAGMA table_info\((\w+)\)")
_INSERT_OR = re.compile(r"INSERT OR (REPLACE|IGNORE) INTO (\w+)")
_PLAIN_INSERT = re.compile(r"INSERT INTO (\w+) VALUES \((?:\?, )*\?\)")
_GREATEST = re.compile(r"\bMAX\(([^(),]+),([^(),]+)\)")
_COMMA_GREATEST = "GREATEST(\\1,\\2)"


@functools.lru_cache(maxsize=512)
def _plain(sql: str) -> str:
    if found := _PRAGMA_TABLE_INFO.fullmatch(sql.strip()):  # a table name (\w+)
        return _TABLE_INFO.format(found[1])
    if sql.startswith("PRAGMA"):
        return "SELECT 1 WHERE false"  # busy_timeout, journal_mode: SQLite's own settings
    if sql in ("BEGIN IMMEDIATE", "BEGIN EXCLUSIVE", "BEGIN DEFERRED"):
        return "BEGIN"  # PostgreSQL's own locks order the writers
    if sql.startswith("CREATE TABLE"):
        # SQLite's rowid: a row inserted without its key is numbered after the last.
        sql = re.sub(
            r"\bINTEGER PRIMARY KEY(?! CHECK)",
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            sql,
        )
        sql = re.sub(r"\bINTEGER\b", "BIGINT", sql)
        sql = re.sub(r"\bBLOB\b", "BYTEA", sql)
        sql = re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql)  # SQLite's REAL has 8 bytes
        sql = re.sub(r"\bTEXT\b", 'TEXT COLLATE "C"', sql)
        sql = sql.replace(" WITHOUT ROWID", "")
    sql = _GREATEST.sub(_COMMA_GREATEST, sql)
    sql = sql.replace("FROM sqlite_master", f"FROM {_SQLITE_MASTER}")
    return sql.replace("%", "%%").replace("?", "%s")
