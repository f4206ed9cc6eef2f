"""Readers of a live ledger: an sla worker, an export or a standby opens the ledger a
collector is writing. Each commit of the collector projects its own rows; a reader
opening the ledger between two of them must not project those rows again (the console's
figures would count them twice, for good: the projection is kept)."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta

from collector.ledger.chain import Ledger
from tests.collector.ledger.test_ledger import state


def _write(where: str, commits: int) -> None:
    """A collector's commits: one state row each, as fast as the ledger takes them."""
    ledger = Ledger(where)
    start = datetime(2026, 7, 1, tzinfo=UTC)
    for n in range(commits):
        at = (
            (start + timedelta(seconds=n)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        )
        with ledger.transaction():
            ledger.append("state", at, state(f"CAM{n % 50}", at, "down" if n % 2 else "up"))
    ledger.close()


def test_readers_opening_a_ledger_between_commits_project_nothing_twice(ledger_at: str) -> None:
    Ledger(ledger_at).close()
    writer = multiprocessing.get_context("spawn").Process(target=_write, args=(ledger_at, 1000))
    writer.start()
    opened = 0
    while writer.is_alive() or opened < 50:
        Ledger(ledger_at).close()
        opened += 1
    writer.join()
    assert writer.exitcode == 0
    ledger = Ledger(ledger_at)
    assert ledger.verify() == 1000
    ledger.verify_projection()  # ProjectionMismatchError when a reader projected twice
    ledger.close()
    print(f"{opened} readers opened the ledger while it was written")
