"""Two collectors of one district on one PostgreSQL ledger (a real server), an agent
publishing through mosquitto: the active one is killed (``kill -9``) or paused past its
lease (SIGSTOP); the standby takes over. Every batch arrives once, and the ledger is row
for row what a single collector fed the same input writes (``replay``): nothing lost,
no ticket doubled, the chain intact (so the quarter's figures are the same), and a
resumed old leader appended nothing. (The database's own failover: test_promotion.py.)
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from agent.wire import Batch, Observation, observations_of
from collector.alerting.routing import STORE_RECOVERED
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


def same_as_one_collector(folder: Path, dsn: str, batches: list[Batch]) -> int:
    """The live ledger holds what a replay of ``batches`` writes, row for row, besides
    the collector's own record of outages of its store (``store_recovered`` alerts, no
    replay has them): how many of those it holds."""
    inventory = load_config(folder / "district.yaml", Inventory)
    policy = load_config(REPO / "config" / "policies" / "pingshan-door-access.yaml", Policy)
    observations: list[Observation] = [o for b in batches for o in observations_of(b)]
    expected = Ledger(folder / "replayed.sqlite")
    replay(inventory, PolicyBook.only(policy), observations, [], expected)
    live = Ledger(dsn)
    try:
        rows = [(r.kind, r.at, r.body) for r in live.rows()]
        outages = [r for r in rows if r[0] == "alert" and r[2]["alert"] == STORE_RECOVERED]
        assert [r for r in rows if r not in outages] == [
            (r.kind, r.at, r.body) for r in expected.rows()
        ]
        assert live.verify() == expected.verify() + len(outages)
        opened = [
            r.body["ticket"]["id"] for r in live.rows(("ticket",)) if r.body["event"] == "opened"
        ]
        assert len(opened) == len(set(opened)) >= 3
        return len(outages)
    finally:
        live.close()
        expected.close()


class Pair(NamedTuple):
    active: asyncio.subprocess.Process
    standby: asyncio.subprocess.Process
    batches: list[Batch]
    agent: FakeAgent
    ports: tuple[int, int]  # their APIs'


def record_failover(scenario: str, batches: list[Batch], dsn: str, taken_over_s: float) -> None:
    """Every batch arrived, and how long the district went without an active collector:
    docs/reliability.md's row (the 30 s the issue asks is read there, not asserted: a
    busy machine stretches real seconds; the waits above bound it)."""
    print(f"{scenario}: taken over in {taken_over_s:.1f} s")
    reliability.record(
        scenario,
        unit="batches",
        sent=len(batches),
        arrived=progress(target(dsn)) + 1,
        recovered_s=taken_over_s,
    )


async def two_collectors(
    folder: Path,
    broker: Mosquitto,
    dsn: str,
    started: list[asyncio.subprocess.Process],
    console: dict[str, Any] | None = None,
    **database: Any,
) -> Pair:
    """Two collectors of the district (their own folders, as on two servers), one ledger
    (``database``: more of the ledger's settings; ``console``: that section, both's)."""
    ledger = {"postgres": dsn, "lease": f"{LEASE_S}s", **database}
    ports = free_port(), free_port()
    for name in "ab":
        (folder / name).mkdir()
    first, second = (
        write_settings(folder / name, broker.port, ledger=ledger, api_port=port, console=console)
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


async def settled_roles(collectors: dict[asyncio.subprocess.Process, int]) -> list[str]:
    """What each collector (its API's port) is once one of them is active: a collector
    that exited fenced out (5) is "fenced out"."""
    deadline = time.monotonic() + 30
    while True:
        roles = []
        for process, port in collectors.items():
            if process.returncode is not None:
                assert process.returncode == EXIT_FENCED
                roles.append("fenced out")
                continue
            with contextlib.suppress(httpx.HTTPError):
                roles.append((await role(port))[1])
        if roles.count("active") == 1 and len(roles) == len(collectors):
            return roles
        assert time.monotonic() < deadline, f"no collector became the active one: {roles}"
        await asyncio.sleep(0.1)


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
    async with httpx.AsyncClient(headers={"authorization": f"Bearer {API_TOKEN}"}) as http:
        # The standby's API is read-only: reads served, a change refused saying why.
        tickets = await http.get(f"http://127.0.0.1:{ports[1]}/tickets")
        refused = await http.post(
            f"http://127.0.0.1:{ports[1]}/tickets/T-1/ack", json={"by": "duty"}
        )
    assert tickets.status_code == 200
    assert refused.status_code == 503
    assert "standby collector, read-only: nothing was done" in refused.json()["detail"]
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
    assert same_as_one_collector(tmp_path / "a", postgres, batches) == 0
    record_failover("failover-kill-9", batches, postgres, failover_s)


# Real seconds timed (a lease, the server's idle-transaction limit): neighbours stretched
# the standby's takeover past the wait.
@pytest.mark.alone
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
    assert same_as_one_collector(tmp_path / "a", postgres, batches) == 0
    record_failover("failover-paused-past-lease", batches, postgres, taken_over_s)
