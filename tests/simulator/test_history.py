"""A fleet's simulated past: a ledger the live collector continues, with real figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collector.cli import main as collector
from collector.ledger.chain import Ledger
from collector.pipeline.checkpoint import Checkpoint
from collector.pipeline.pipeline import Pipeline
from simulator.cli import main as simulator
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from tests.conftest import REPO

POLICIES = [REPO / "config" / "policies" / "xinjian-2020.yaml", REPO / "config" / "policies"]


def test_the_past_verifies_and_the_live_pipeline_starts_on_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    arguments = ["--cameras", "60", "--door-sets", "4", "--checkpoints", "2", "--switches", "6"]
    assert simulator(["fleet", *arguments, "--out", str(tmp_path)]) == 0
    inventory_file, ledger_file = tmp_path / "inventory.yaml", tmp_path / "ledger.sqlite"
    policy_arguments = [argument for path in POLICIES for argument in ("--policy", str(path))]
    history = ["history", "--inventory", str(inventory_file), *policy_arguments]
    assert simulator([*history, "--days", "30", "--ledger", str(ledger_file)]) == 0
    assert simulator([*history, "--days", "30", "--ledger", str(ledger_file)]) == 2  # kept
    assert collector(["ledger", "verify", str(ledger_file)]) == 0
    ledger = Ledger(ledger_file)
    inventory = load_config(inventory_file, Inventory)
    pipeline = Pipeline(inventory, PolicyBook.load(POLICIES), ledger)
    assert Checkpoint(ledger).restore(pipeline) == 0  # a live collector would start here
    assert not any(ticket.open for ticket in pipeline.faults.tickets.values())
    ledger.close()
    capsys.readouterr()
    today = datetime.now(UTC).date()
    span = f"{today - timedelta(days=28)}/{today}"
    sla = ["sla", "--ledger", str(ledger_file), "--inventory", str(inventory_file)]
    assert collector([*sla, *policy_arguments, "--period", span, "--format", "csv"]) == 0
    rows = capsys.readouterr().out.splitlines()
    cameras = next(row for row in rows if row.startswith("cam-rent,"))
    online = float(cameras.split(",")[5])
    assert 0.9 < online < 1.0  # outages happened, the fleet mostly up
