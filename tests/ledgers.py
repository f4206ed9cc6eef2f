"""Where a test's ledger lives: the backend the run was asked for (``--ledger-backend``).

By default a test's ledger is the file ``ledger.sqlite`` in its folder. Run with
``--ledger-backend postgres``, the same tests put it in a database of its own on a real
PostgreSQL (Debian's, one cluster per test process, started at first use): the suites
that read or write a ledger run unchanged on both backends. A test that is about the
SQLite file itself (a damaged file, a full disk) is marked ``sqlite_only``.
"""

from __future__ import annotations

import hashlib
from contextlib import closing
from pathlib import Path
from typing import Any

from collector.ledger.backend import Connection, connect, target
from simulator.local_servers import Postgres

BACKENDS = ("sqlite", "postgres")
FILE_NAME = "ledger.sqlite"

backend = "sqlite"  # set once by tests/conftest.py from the command line
_server: Postgres | None = None
_databases: dict[Path, str] = {}


def postgres_server() -> Postgres:
    """This test process's PostgreSQL cluster, started at first use."""
    global _server
    if _server is None:
        server = Postgres()
        server.start()
        _server = server
    return _server


def remove_postgres_server() -> None:
    global _server
    if _server is not None:
        _server.remove()
        _server = None


def database_for(name: str) -> str:
    """The DSN (without a password) of an empty database of its own, named after ``name``
    (a test's id, a folder)."""
    digest = hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()
    return postgres_server().create_database(("t_" + digest)[:40])


def ledger_in(folder: Path) -> str:
    """The ledger of the test folder ``folder``: a file in it, or its own database."""
    if backend == "sqlite":
        return str(folder / FILE_NAME)
    folder = folder.resolve()
    if folder not in _databases:
        _databases[folder] = database_for(str(folder))
    return _databases[folder]


def ledger_setting(folder: Path) -> Any:
    """``ledger_in(folder)`` as a collector's settings name it (a path, or a mapping)."""
    where = ledger_in(folder)
    return where if backend == "sqlite" else {"postgres": where}


def open_ledger(where: str | Path) -> closing[Connection]:
    """A connection to a ledger for a test to read or edit it directly (as a second
    reader, or as an editor with the database's rights), closed at the block's end."""
    return closing(connect(target(str(where))))
