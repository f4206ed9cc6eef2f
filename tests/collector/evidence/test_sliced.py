"""A bundle sized by its period: August's holds August's rows from the midnight snapshot
before it, and `evidence verify` checks them and recomputes August's figures from them."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from collector.cli import main
from tests.collector.evidence.conftest import Quarter
from tests.collector.evidence.test_export import forge, members, verify
from tests.ledgers import open_ledger


def _snapshot_at(ledger: str, at: str) -> int:
    with open_ledger(ledger) as db:
        (seq,) = db.execute(
            "SELECT seq FROM ledger WHERE kind = 'snapshot' AND at = ?", (at,)
        ).fetchone()
    return int(seq)


def test_a_month_s_bundle_starts_at_its_snapshot_and_verify_recomputes_its_figures(
    quarter: Quarter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = [
        "--ledger", str(quarter.ledger), "--inventory", str(quarter.inventory),
        "--policy", str(quarter.policy), "--period", "2026-08",
    ]  # fmt: skip
    bundle = tmp_path / "august.zip"
    assert main(["evidence", "export", *inputs, "--out", str(bundle)]) == 0
    files = members(bundle)
    ledger = json.loads(files["MANIFEST.json"])["ledger"]
    opening = _snapshot_at(quarter.ledger, "2026-07-31T16:00:00.000Z")  # 1 August, local
    closing = _snapshot_at(quarter.ledger, "2026-08-31T16:00:00.000Z")
    with open_ledger(quarter.ledger) as db:
        (prev,) = db.execute("SELECT hash FROM ledger WHERE seq = ?", (opening - 1,)).fetchone()
        (total,) = db.execute("SELECT COUNT(*) FROM ledger").fetchone()
    assert ledger["first_row"] == opening
    assert ledger["prev"] == prev
    lines = gzip.decompress(files["ledger.tsv.gz"]).decode().splitlines()
    assert lines[0].startswith(f"{opening}\tsnapshot\t2026-07-31T16:00:00.000Z\t")
    last = int(lines[-1].split("\t")[0])
    assert last >= closing  # through the snapshot closing August (to a signed head)
    assert len(lines) == last - opening + 1 < total
    # The figures are the sla command's, which reads the whole ledger file.
    figures = tmp_path / "figures.json"
    sla = ["sla", *inputs, "--group-by", "contract", "--format", "json", "-o", str(figures)]
    assert main(sla) == 0
    assert files["figures.json"] == figures.read_bytes()
    code, said = verify(bundle, capsys)
    assert code == 0, said
    assert f"ledger rows {opening}–{last}" in said
    assert "figures recomputed and equal" in said
    # The snapshot's state changed (C1 said down all August): its hash no longer holds.
    changed = lines[0].replace('["C1","up"', '["C1","down"', 1)
    assert changed != lines[0]
    forged = forge(
        bundle,
        tmp_path / "forged.zip",
        {"ledger.tsv.gz": gzip.compress("\n".join([changed, *lines[1:]]).encode() + b"\n")},
    )
    code, said = verify(forged, capsys)
    assert code == 3
    assert f"ledger.tsv.gz:1: row {opening} was changed" in said
