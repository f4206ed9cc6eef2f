"""``kill -9`` of the collector mid-ingest: nothing acknowledged is lost, nothing doubled.

The proof is the strongest one available: after the crash and a restart, the live
ledger is row for row the ledger a replay of the same observations writes.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from pathlib import Path

import psycopg
import pytest

from agent.wire import Observation, observations_of
from collector.ledger.backend import Target, exists, target
from collector.ledger.chain import Ledger
from collector.ledger.projection import reading
from collector.pipeline.replay import replay
from simulator.local_servers import Mosquitto
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from tests import reliability
from tests.collector.live import FakeAgent, write_settings
from tests.collector.test_service import minute_of
from tests.conftest import REPO, wait_for
from tests.reliability import Stopwatch

MINUTES = 240


def down_at(minute: int) -> frozenset[str]:
    """A busy four hours: a flapping camera, a camera out for an hour, a dead link."""
    down = set()
    if minute % 10 in (3, 4):
        down.add("CAM041")
    if 30 <= minute < 90:
        down.add("CAM042")
    if 100 <= minute < 160:
        down |= {f"CAM{n:03d}" for n in range(1, 41)}
    return frozenset(down)


def progress(ledger: Target) -> int:
    if not exists(ledger):
        return -1
    with reading(ledger) as db:
        try:
            row = db.execute("SELECT max(through) FROM receipts").fetchone()
        except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):  # not created yet
            return -1
    return -1 if row is None or row[0] is None else int(row[0])


async def start_collector(settings: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "collector.cli", "run", "-c", str(settings), cwd=REPO
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_kill_9_mid_ingest_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, broker: Mosquitto, backend: str, request: pytest.FixtureRequest
) -> None:
    """On PostgreSQL too: a batch is acknowledged only after its commit returned."""
    ledger_file: Target = tmp_path / "ledger.sqlite"
    if backend == "postgres":
        dsn = request.getfixturevalue("postgres")
        ledger_file = target(dsn)
        settings = write_settings(tmp_path, broker.port, ledger={"postgres": dsn})
    else:
        settings = write_settings(tmp_path, broker.port)
    agent = FakeAgent(broker.port)
    batches = [agent.batch(minute_of(m, down_at(m))) for m in range(MINUTES)]

    collector = await start_collector(settings)
    await wait_for(lambda: exists(ledger_file))
    await asyncio.sleep(1.0)  # subscribed: the persistent session now queues for it
    publishing = asyncio.create_task(agent.publish(*batches))
    await wait_for(lambda: progress(ledger_file) >= 60, seconds=60)
    collector.send_signal(signal.SIGKILL)
    await collector.wait()
    killed_at = progress(ledger_file)
    assert killed_at < MINUTES - 1, "the crash came too late to prove anything"
    await publishing

    collector = await start_collector(settings)
    back = Stopwatch()
    await wait_for(lambda: progress(ledger_file) == MINUTES - 1, seconds=60)
    recovered_s = back.seconds()
    collector.send_signal(signal.SIGTERM)
    assert await collector.wait() == 0

    inventory = load_config(tmp_path / "district.yaml", Inventory)
    policy = load_config(REPO / "config" / "policies" / "pingshan-door-access.yaml", Policy)
    observations: list[Observation] = [o for b in batches for o in observations_of(b)]
    expected = Ledger(tmp_path / "replayed.sqlite")
    replay(inventory, PolicyBook.only(policy), observations, [], expected)
    live = Ledger(ledger_file)
    try:
        assert live.verify() == expected.verify()
        assert [(r.kind, r.at, r.body) for r in live.rows()] == [
            (r.kind, r.at, r.body) for r in expected.rows()
        ]
        assert live.head == expected.head
        live.verify_projection()  # the SLA engine's columns survived the crash with the rows
        opened = [
            r.body["ticket"]["id"] for r in live.rows(("ticket",)) if r.body["event"] == "opened"
        ]
        assert len(opened) == len(set(opened)) >= 3
        reliability.record(
            "collector-kill-9" if backend == "sqlite" else "collector-kill-9-postgresql",
            unit="batches",
            sent=len(batches),
            arrived=progress(ledger_file) + 1,
            recovered_s=recovered_s,
        )
    finally:
        live.close()
        expected.close()
