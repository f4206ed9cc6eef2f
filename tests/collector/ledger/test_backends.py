"""One chain on two engines: the same input hashes to the same rows on SQLite and on a real
PostgreSQL (Debian's, started by the test), and a ledger moves between them intact."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from collector.cli import main
from collector.evidence.export import snapshot
from collector.ledger.backend import PASSWORD_FILE_ENV, BackendError, target
from collector.ledger.chain import Ledger
from collector.pipeline.replay import replay
from simulator.local_servers import Postgres
from slawatch.config.check import EXIT_INVALID, check_files
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from tests.collector.sla.conftest import INVENTORY, POLICY, District, camera, write

# Hourly polls over the quarter: outages (tickets), an acknowledgement, a silence, and a
# midnight snapshot a day.
DISTRICT = District(
    ["CAM1", "CAM2", "SW1"],
    down={"CAM1": [(5, 9), (300, 301)], "SW1": [(500, 502)]},
    silent={"CAM2": [(600, 700)]},
)
DISTRICT.ack("CAM1", 6)
Rows = list[tuple[int, str, str, str, str, str]]


def replayed(folder: Path, where: str | Path) -> Rows:
    inventory_file, policy_file = write(
        folder, INVENTORY + camera("CAM1", "SW1", 1) + camera("CAM2", "SW1", 2), POLICY
    )
    ledger = Ledger(where)
    policies = PolicyBook.only(load_config(policy_file, Policy))
    inventory = load_config(inventory_file, Inventory)
    replay(inventory, policies, DISTRICT.observations(), DISTRICT.acks, ledger)
    ledger.close()
    return stored(where)


def stored(where: str | Path) -> Rows:
    ledger = Ledger(where)
    try:
        return [(r.seq, r.kind, r.at, json.dumps(r.body), r.prev, r.hash) for r in ledger.rows()]
    finally:
        ledger.close()


def test_the_same_input_hashes_to_the_same_chain_on_both_engines(
    tmp_path: Path,
    postgres: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    on_file = replayed(tmp_path / "file", tmp_path / "ledger.sqlite")
    on_server = replayed(tmp_path / "server", postgres)
    assert {kind for _, kind, *_ in on_file} >= {"state", "ticket", "snapshot"}
    assert on_server == on_file
    # The password from a file named in the environment (a container's secret), not libpq's.
    secret = tmp_path / "ledger-password"
    secret.write_text(Postgres.PASSWORD + "\n", encoding="utf-8")
    monkeypatch.setenv(PASSWORD_FILE_ENV, str(secret))
    assert main(["ledger", "verify", postgres.split("?")[0]]) == 0
    out = capsys.readouterr().out
    assert (
        f"{len(on_file)} rows, chain intact, SLA projection matches, head {on_file[-1][5]}" in out
    )


def test_a_round_trip_through_postgresql_keeps_every_row_and_hash(
    tmp_path: Path, postgres: str, capsys: pytest.CaptureFixture[str]
) -> None:
    original = replayed(tmp_path, tmp_path / "ledger.sqlite")
    assert main(["ledger", "copy", str(tmp_path / "ledger.sqlite"), postgres]) == 0
    assert f"{len(original)} rows, chain intact, head {original[-1][5]}" in capsys.readouterr().out
    back = tmp_path / "back.sqlite"
    assert main(["ledger", "copy", postgres, str(back)]) == 0
    assert stored(back) == stored(postgres) == original
    # Into a ledger that holds rows: refused, nothing written.
    assert main(["ledger", "copy", str(back), postgres]) == 2
    assert "holds a ledger already" in capsys.readouterr().err
    assert stored(postgres) == original


def test_the_sla_figures_are_the_same_read_from_either_engine(
    tmp_path: Path, postgres: str
) -> None:
    replayed(tmp_path, tmp_path / "ledger.sqlite")
    assert main(["ledger", "copy", str(tmp_path / "ledger.sqlite"), postgres]) == 0
    figures = []
    for where, out in ((tmp_path / "ledger.sqlite", "file.json"), (postgres, "server.json")):
        command = ["sla", "--ledger", str(where), "--inventory", str(tmp_path / "inventory.yaml")]
        command += ["--policy", str(tmp_path / "policy.yaml"), "--period", "2026-Q3"]
        assert main([*command, "--group-by", "device", "-o", str(tmp_path / out)]) == 0
        figures.append(json.loads((tmp_path / out).read_text(encoding="utf-8")))
    assert figures[0] == figures[1]
    assert figures[0]["tickets"], "the quarter's tickets are read from the server too"


def test_settings_naming_a_password_in_the_dsn_are_refused_by_check_config(
    tmp_path: Path,
) -> None:
    settings = tmp_path / "collector.yaml"
    settings.write_text(
        "kind: collector\ninventory: i.yaml\npolicy: p.yaml\nspool: {dir: spool}\n"
        'ledger: {postgres: "postgresql://slawatch:hunter2@db.example/ledger"}\n',
        encoding="utf-8",
    )
    said = io.StringIO()
    assert check_files([settings], {"collector"}, said) == EXIT_INVALID
    assert "collector.yaml:5: ledger.postgres: postgres：DSN 中含有密码" in said.getvalue()
    assert "hunter2" not in said.getvalue()


def test_a_dsn_with_a_password_is_refused_without_echoing_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(BackendError, match="holds a password"):
        target("postgresql://slawatch:hunter2@db.example/ledger")
    with pytest.raises(SystemExit):
        main(["ledger", "verify", "postgresql://slawatch:hunter2@db.example/ledger"])
    said = capsys.readouterr().err
    assert "holds a password" in said
    assert "hunter2" not in said


def test_evidence_is_exported_from_a_file_copied_from_the_server(
    tmp_path: Path, postgres: str
) -> None:
    """What ``evidence export --ledger DSN`` exports from (the rest is the file's export,
    tested in tests/collector/evidence; end to end through PostgreSQL in the notes)."""
    rows = replayed(tmp_path, postgres)
    copy = snapshot(target(postgres), tmp_path)
    assert copy.parent == tmp_path
    assert stored(copy) == rows
    # Its SLA projection is the server's, copied: the same as derived from its rows.
    ledger = Ledger(copy)
    try:
        ledger.verify_projection()
    finally:
        ledger.close()
