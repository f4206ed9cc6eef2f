"""The ledger proves itself: any edit, insertion or deletion breaks the chain at that row."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from collector.cli import main
from collector.ledger.backend import connect, target
from collector.ledger.chain import Ledger, LedgerCorruptError
from collector.ledger.projection import Category, read_states


def state(device_id: str, at: str, name: str = "down") -> dict[str, str]:
    return {
        "device_id": device_id,
        "state": name,
        "reason": "timeout" if name == "down" else "ok",
        "since": at,
        "confirmed_at": at,
        "previous": "up",
    }


def filled(path: Path | str, rows: int = 5) -> Ledger:
    ledger = Ledger(path)
    with ledger.transaction():
        for n in range(rows):
            at = f"2026-07-01T00:0{n}:00.000Z"
            ledger.append("state", at, state(f"CAM{n}", at))
    return ledger


def test_rows_survive_a_reopen_and_the_chain_continues(ledger_at: str) -> None:
    filled(ledger_at).close()
    ledger = filled(ledger_at, rows=2)
    assert ledger.verify() == 7
    assert [row.seq for row in ledger.rows()] == list(range(7))
    ledger.verify_projection()
    ledger.close()


def test_a_failed_transaction_leaves_no_trace(ledger_at: str) -> None:
    ledger = filled(ledger_at)
    head = ledger.head

    def crash_before_commit() -> None:
        with ledger.transaction():
            at = "2026-07-02T00:00:00.000Z"
            ledger.append("state", at, state("X", at))
            ledger.stage("CREATE TABLE staged_in_a_failed_commit (x)")
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        crash_before_commit()
    assert (ledger.verify(), ledger.head) == (5, head)
    tables = {r[0] for r in ledger.connection.execute("SELECT name FROM sqlite_master")}
    assert "ledger" in tables
    assert "staged_in_a_failed_commit" not in tables
    ledger.close()


@pytest.mark.parametrize(
    ("tamper", "bad_row"),
    [
        ("UPDATE ledger SET body = replace(body, 'CAM2', 'CAM9') WHERE seq = 2", 2),
        ("DELETE FROM ledger WHERE seq = 3", 3),
        ("UPDATE ledger SET at = '2026-07-01T00:00:00.000Z' WHERE seq = 4", 4),
    ],
)
def test_tampering_is_found_at_the_row_that_was_touched(
    ledger_at: str, tamper: str, bad_row: int, capsys: pytest.CaptureFixture[str]
) -> None:
    filled(ledger_at).close()
    with closing(connect(target(ledger_at))) as db:  # an editor with the database's rights
        db.execute(tamper)
    ledger = Ledger(ledger_at)
    with pytest.raises(LedgerCorruptError) as caught:
        ledger.verify()
    ledger.close()
    assert caught.value.seq == bad_row
    assert main(["ledger", "verify", ledger_at]) == 3
    assert f"ledger row {bad_row}" in capsys.readouterr().err


def test_verify_on_an_intact_ledger_names_its_head(
    ledger_at: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = filled(ledger_at)
    head = ledger.head
    ledger.close()
    assert main(["ledger", "verify", ledger_at]) == 0
    assert f"5 rows, chain intact, SLA projection matches, head {head}" in capsys.readouterr().out


def test_a_ledger_without_its_projection_is_projected_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    filled(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE projection_states")
        db.execute("DROP TABLE projection_through")
    ledger = Ledger(path)
    ledger.verify_projection()
    columns = read_states(ledger.connection)
    assert [columns.device_ids[i] for i in columns.device] == [f"CAM{n}" for n in range(5)]
    assert columns.category.tolist() == [Category.DOWN] * 5
    assert columns.since[1] - columns.since[0] == 60_000


def test_an_edited_projection_is_caught_by_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "l.sqlite"
    ledger = filled(path)
    with ledger.transaction():
        at = "2026-07-01T00:09:00.000Z"
        ledger.append("state", at, state("CAM1", at, "up"))
    ledger.close()
    with sqlite3.connect(path) as db:  # a figure bought by editing the copy, not the rows
        db.execute("UPDATE projection_states SET category = zeroblob(rows)")
    assert main(["ledger", "verify", str(path)]) == 3
    assert "state row #0 of the projection differs" in capsys.readouterr().err
