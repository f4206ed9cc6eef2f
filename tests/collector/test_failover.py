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
from collections.abc import AsyncIterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from agent.wire import Batch, Observation, observations_of
from collector.ledger.backend import IDLE_IN_TRANSACTION_S, target
from collector.ledger.chain import Ledger
from collector.pipeline.replay import replay
from simulator.local_servers import Mosquitto, free_port
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from tests import reliability
from tests.collector.live import API_TOKEN, FakeAgent, until_serving, write_settings
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


class Pair(NamedTuple):
    active: asyncio.subprocess.Process
    standby: asyncio.subprocess.Process
    batches: list[Batch]
    agent: FakeAgent
    ports: tuple[int, int]  # their APIs'


@pytest.fixture
async def started() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """The collectors a test starts: any still running at its end is killed."""
    processes: list[asyncio.subprocess.Process] = []
    yield processes
    for process in processes:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def two_collectors(
    folder: Path, broker: Mosquitto, dsn: str, started: list[asyncio.subprocess.Process]
) -> Pair:
    """Two collectors of the district (their own folders, as on two servers), one ledger."""
    ledger = {"postgres": dsn, "lease": f"{LEASE_S}s"}
    ports = free_port(), free_port()
    for name in "ab":
        (folder / name).mkdir()
    first, second = (
        write_settings(folder / name, broker.port, ledger=ledger, api_port=port)
        for name, port in zip("ab", ports, strict=True)
    )
    agent = FakeAgent(broker.port)
    batches = [agent.batch(minute_of(m, down_at(m))) for m in range(MINUTES)]
    active = await start_collector(first)
    started.append(active)
    await wait_for(lambda: _has_receipts(dsn), seconds=60)
    standby = await start_collector(second)
    started.append(standby)
    await wait_for(lambda: _lease_holders(dsn) == 2, seconds=60)  # the standby waits
    return Pair(active, standby, batches, agent, ports)


async def role(port: int) -> tuple[int, str, str]:
    """What /healthz and /metrics of the collector on ``port`` say it is."""
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {API_TOKEN}"}) as http:
        health = await http.get(f"http://127.0.0.1:{port}/healthz")
        metrics = await http.get(f"http://127.0.0.1:{port}/metrics")
    gauge = next(
        line for line in metrics.text.splitlines() if line.startswith("slawatch_collector_active")
    )
    return health.status_code, health.json()["role"], gauge


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
    tmp_path: Path, broker: Mosquitto, postgres: str, started: list[asyncio.subprocess.Process]
) -> None:
    pair = await two_collectors(tmp_path, broker, postgres, started)
    active, standby, batches, agent, ports = pair
    await until_serving(f"http://127.0.0.1:{ports[0]}")
    await until_serving(f"http://127.0.0.1:{ports[1]}")
    assert await role(ports[0]) == (200, "active", 'slawatch_collector_active{lease_term="1"} 1.0')
    assert await role(ports[1]) == (503, "standby", 'slawatch_collector_active{lease_term=""} 0.0')
    async with httpx.AsyncClient() as http:  # the console's address: says it is the standby
        page = await http.get(f"http://127.0.0.1:{ports[1]}/console/")
    assert page.status_code == 503
    assert "备用采集服务" in page.text
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
    assert await role(ports[1]) == (200, "active", 'slawatch_collector_active{lease_term="2"} 1.0')
    standby.send_signal(signal.SIGTERM)
    assert await standby.wait() == 0
    same_as_one_collector(tmp_path / "a", postgres, batches)
    print(f"failover_s={failover_s:.1f}")
    assert failover_s <= 30
    reliability.record(
        "failover-kill-9",
        unit="batches",
        sent=len(batches),
        arrived=progress(target(postgres)) + 1,
        recovered_s=failover_s,
    )


async def test_an_active_collector_paused_past_its_lease_appends_nothing_when_resumed(
    tmp_path: Path, broker: Mosquitto, postgres: str, started: list[asyncio.subprocess.Process]
) -> None:
    active, standby, batches, agent, _ = await two_collectors(tmp_path, broker, postgres, started)
    publishing = asyncio.create_task(agent.publish(*batches))
    await wait_for(lambda: progress(target(postgres)) >= 60, seconds=60)
    active.send_signal(signal.SIGSTOP)
    paused_at, paused = progress(target(postgres)), time.monotonic()
    await wait_for(lambda: progress(target(postgres)) > paused_at, seconds=30)  # taken over
    taken_over_s = time.monotonic() - paused
    # Paused long enough that the server ended a transaction it held open (its commit
    # then fails as a lost connection, and it must still stop, not restore over the rows
    # the new leader wrote).
    await asyncio.sleep(max(0.0, IDLE_IN_TRANSACTION_S + 1 - (time.monotonic() - paused)))
    active.send_signal(signal.SIGCONT)
    assert await asyncio.wait_for(active.wait(), 30) == EXIT_FENCED
    await publishing
    await wait_for(lambda: progress(target(postgres)) == MINUTES - 1, seconds=60)
    standby.send_signal(signal.SIGTERM)
    assert await standby.wait() == 0
    same_as_one_collector(tmp_path / "a", postgres, batches)
    reliability.record(
        "failover-paused-past-lease",
        unit="batches",
        sent=len(batches),
        arrived=progress(target(postgres)) + 1,
        recovered_s=taken_over_s,
    )
