"""Two collectors of one district on one PostgreSQL ledger (a real server), an agent
publishing through mosquitto: the active one is killed (``kill -9``) or paused past its
lease (SIGSTOP); the standby takes over. Every batch arrives once, and the ledger is row
for row what a single collector fed the same input writes (``replay``): nothing lost,
no ticket doubled, the chain intact, and a resumed old leader appended nothing.
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from agent.wire import Batch, Observation, observations_of
from collector.ledger.backend import target
from collector.ledger.chain import Ledger
from collector.pipeline.replay import replay
from simulator.local_servers import Mosquitto
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from tests.collector.live import FakeAgent, write_settings
from tests.collector.test_crash import MINUTES, down_at, progress, start_collector
from tests.collector.test_service import minute_of
from tests.conftest import REPO, wait_for

LEASE_S = 2
EXIT_FENCED = 5


def same_as_one_collector(folder: Path, dsn: str, batches: list[Batch]) -> None:
    inventory = load_config(folder / "district.yaml", Inventory)
    policy = load_config(REPO / "config" / "policies" / "pingshan-door-access.yaml", Policy)
    observations: list[Observation] = [o for b in batches for o in observations_of(b)]
    expected = Ledger(folder / "replayed.sqlite")
    replay(inventory, PolicyBook.only(policy), observations, [], expected)
    live = Ledger(dsn)
    try:
        assert live.verify() == expected.verify()
        assert [(r.kind, r.at, r.body) for r in live.rows()] == [
            (r.kind, r.at, r.body) for r in expected.rows()
        ]
        opened = [
            r.body["ticket"]["id"] for r in live.rows(("ticket",)) if r.body["event"] == "opened"
        ]
        assert len(opened) == len(set(opened)) >= 3
    finally:
        live.close()
        expected.close()


async def two_collectors(
    folder: Path, broker: Mosquitto, dsn: str
) -> tuple[asyncio.subprocess.Process, asyncio.subprocess.Process, list[Batch], FakeAgent]:
    ledger = {"postgres": dsn, "lease": f"{LEASE_S}s"}
    settings = write_settings(folder, broker.port, ledger=ledger)
    agent = FakeAgent(broker.port)
    batches = [agent.batch(minute_of(m, down_at(m))) for m in range(MINUTES)]
    active = await start_collector(settings)
    await wait_for(lambda: _has_receipts(dsn), seconds=60)
    standby = await start_collector(settings)
    await wait_for(lambda: _lease_holders(dsn) == 2, seconds=60)  # the standby waits
    return active, standby, batches, agent


def _lease_holders(dsn: str) -> int:
    """Connections to the lease: the active collector's and the standby's."""
    ledger = Ledger(dsn)
    try:
        found = ledger.connection.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'slawatch-lease' "
            "AND datname = current_database()"
        ).fetchone()
        return int(found[0])
    finally:
        ledger.close()


def _has_receipts(dsn: str) -> bool:
    ledger = Ledger(dsn)
    try:
        found = ledger.connection.execute("SELECT to_regclass('receipts') IS NOT NULL").fetchone()
        return bool(found[0])
    finally:
        ledger.close()


async def test_kill_9_of_the_active_collector_the_standby_takes_over_losing_nothing(
    tmp_path: Path, broker: Mosquitto, postgres: str
) -> None:
    active, standby, batches, agent = await two_collectors(tmp_path, broker, postgres)
    publishing = asyncio.create_task(agent.publish(*batches))
    await wait_for(lambda: progress(target(postgres)) >= 60, seconds=60)
    active.send_signal(signal.SIGKILL)
    await active.wait()
    killed_at, killed = progress(target(postgres)), time.monotonic()
    assert killed_at < MINUTES - 1, "the crash came too late to prove anything"
    await wait_for(lambda: progress(target(postgres)) > killed_at, seconds=30)
    failover_s = time.monotonic() - killed
    await publishing
    await wait_for(lambda: progress(target(postgres)) == MINUTES - 1, seconds=60)
    standby.send_signal(signal.SIGTERM)
    assert await standby.wait() == 0
    same_as_one_collector(tmp_path, postgres, batches)
    print(f"failover_s={failover_s:.1f}")
    assert failover_s <= 30


async def test_an_active_collector_paused_past_its_lease_appends_nothing_when_resumed(
    tmp_path: Path, broker: Mosquitto, postgres: str
) -> None:
    active, standby, batches, agent = await two_collectors(tmp_path, broker, postgres)
    publishing = asyncio.create_task(agent.publish(*batches))
    await wait_for(lambda: progress(target(postgres)) >= 60, seconds=60)
    active.send_signal(signal.SIGSTOP)
    paused_at = progress(target(postgres))
    await wait_for(lambda: progress(target(postgres)) > paused_at, seconds=30)  # taken over
    active.send_signal(signal.SIGCONT)
    assert await asyncio.wait_for(active.wait(), 30) == EXIT_FENCED
    await publishing
    await wait_for(lambda: progress(target(postgres)) == MINUTES - 1, seconds=60)
    standby.send_signal(signal.SIGTERM)
    assert await standby.wait() == 0
    same_as_one_collector(tmp_path, postgres, batches)
