"""The database's own failover under two collectors: the active collector killed with -9,
then the PostgreSQL primary lost and its synchronous streaming replica promoted
(``pg_ctl promote``), an agent publishing through mosquitto all along. The collectors
name both servers in one DSN (libpq's ``host=a,b`` with ``target_session_attrs=read-write``).
Every batch arrives once and the ledger is row for row a single collector's replay of
the same input, plus the collector's own record of the outage.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from collector.ledger.backend import target
from simulator.local_servers import Mosquitto, Postgres
from tests.collector.test_crash import MINUTES, progress, start_collector
from tests.collector.test_failover import (
    LEASE_S,
    record_failover,
    same_as_one_collector,
    settled_roles,
    two_collectors,
)
from tests.conftest import wait_for


class Replicated(NamedTuple):
    primary: Postgres
    replica: Postgres
    dsn: str  # both servers', the writable one taken (libpq's multi-host form)


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[Replicated]:
    """A primary and its synchronous streaming replica, their own (the test stops one)."""
    passfile = tmp_path / "pgpass"  # not the primary's, gone with it
    passfile.write_text(f"*:*:*:postgres:{Postgres.PASSWORD}\n", encoding="utf-8")
    passfile.chmod(0o600)
    primary = Postgres()
    primary.start()
    replica: Postgres | None = None
    try:
        primary.create_database("district")
        replica = primary.replica()
        primary.synchronous()
        hosts = f"127.0.0.1:{primary.port},127.0.0.1:{replica.port}"
        yield Replicated(
            primary,
            replica,
            f"postgresql://postgres@{hosts}/district?passfile={passfile}"
            "&target_session_attrs=read-write&connect_timeout=3",
        )
    finally:
        for server in (primary, replica):
            if server is not None:
                server.remove()


# Real seconds timed (leases, a promotion) beside two servers and two collectors.
@pytest.mark.alone
async def test_the_active_killed_then_the_primary_lost_and_its_replica_promoted_loses_nothing(
    tmp_path: Path,
    broker: Mosquitto,
    replicated: Replicated,
    started: list[asyncio.subprocess.Process],
) -> None:
    """Under a steady load: kill -9 of the active collector (restarted as systemd would,
    now the standby), then the database's primary dies (an immediate stop) and its
    synchronous replica is promoted. A commit returned only once the replica had it, so
    whatever was acknowledged is there after the promotion."""
    primary, replica, dsn = replicated
    ledger = target(dsn)
    pair = await two_collectors(tmp_path, broker, dsn, started, synchronous_commit="on")
    active, _, batches, agent, ports = pair
    publishing = asyncio.create_task(agent.publish(*batches, every_s=0.03))
    await wait_for(lambda: progress(ledger) >= 40, seconds=60)
    active.send_signal(signal.SIGKILL)
    await active.wait()
    killed_at, killed = progress(ledger), time.monotonic()
    await wait_for(lambda: progress(ledger) > killed_at, seconds=30)
    failover_s = time.monotonic() - killed
    started.append(await start_collector(tmp_path / "a" / "collector.yaml"))  # the standby now
    await wait_for(lambda: progress(ledger) >= 120, seconds=60)
    primary.remove()  # gone at once, its disk with it
    await asyncio.sleep(LEASE_S)  # the lease lapses while no server takes writes
    replica.promote()
    promoted_at, promoted = progress(ledger), time.monotonic()
    assert promoted_at < MINUTES - 1, "the primary died too late to prove anything"
    await wait_for(lambda: progress(ledger) > promoted_at, seconds=30)
    promotion_s = time.monotonic() - promoted
    await publishing
    await wait_for(lambda: progress(ledger) == MINUTES - 1, seconds=60)
    # One of the two holds the promoted server's lease; the other is its standby, or,
    # had it lost the race for the lease, stopped fenced out (systemd restarts it).
    roles = await settled_roles({started[2]: ports[0], pair.standby: ports[1]})
    assert sorted(roles) in (["active", "standby"], ["active", "fenced out"]), roles
    for process in started:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await process.wait()
    # Row for row a single collector's (besides its record of the store's outage, there
    # when the collector that lived through it kept the lease, not when the other won it).
    same_as_one_collector(tmp_path / "a", dsn, batches)
    print(f"the killed collector's standby took over in {failover_s:.1f} s; roles {roles}")
    record_failover("failover-primary-promoted", batches, dsn, promotion_s)
