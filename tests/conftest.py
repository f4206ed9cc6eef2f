"""Shared fixtures: the shipped configs, and a small simulated fleet on real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

from simulator.fleet import FleetSize, fleet_devices, fleet_sets, inventory_header
from simulator.fleet_runner import Fleet
from simulator.local_servers import Mosquitto, Postgres
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.writer import write_inventory
from tests import reliability
from tests.agent_keys import registered

REPO = Path(__file__).resolve().parent.parent
SHARED_TESTDATA = REPO.parent / "shared" / "testdata"
PASSWORD = "cam-Secret-1"
COMMUNITY = "sim-community"
AUTH_KEY = "auth-key-123"
PRIV_KEY = "priv-key-456"
SIZE = FleetSize(cameras=6, door_sets=2, checkpoints=2, switches=2)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """Debian's mosquitto on a free loopback port, with persistence (restartable)."""
    server = Mosquitto(tmp_path / "broker")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """One throwaway PostgreSQL cluster per test process (each test gets its own database)."""
    server = Postgres()
    server.start()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def postgres(postgres_server: Postgres, request: pytest.FixtureRequest) -> str:
    """The DSN (without a password) of an empty database of this test's own."""
    name = "t_" + hashlib.sha1(request.node.nodeid.encode(), usedforsecurity=False).hexdigest()
    return postgres_server.create_database(name[:40])


async def wait_for(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    """Poll state another task or process changes, until it holds or ``seconds`` pass."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def in_background(coroutine: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run ``coroutine`` as a task while the block runs; cancel it after (its errors surface)."""
    task = asyncio.ensure_future(coroutine)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class FakeClock:
    """Wall-clock seconds that a test advances by hand."""

    def __init__(self, start: float | None = None) -> None:
        start = time.time() if start is None else start
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def secrets_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment is the simulator's input (secret references), not code under test.
    monkeypatch.setenv("SLAWATCH_CAMERA_PASSWORD", PASSWORD)
    monkeypatch.setenv("SLAWATCH_SNMP_COMMUNITY", COMMUNITY)
    monkeypatch.setenv("SLAWATCH_SNMP_AUTH_KEY", AUTH_KEY)
    monkeypatch.setenv("SLAWATCH_SNMP_PRIV_KEY", PRIV_KEY)


@pytest.fixture
def inventory(tmp_path: Path, secrets_in_env: None) -> Inventory:
    file = tmp_path / "inventory.yaml"
    # edge-t: the test agent that reports for the fleet (tests/collector/live.py).
    header = inventory_header(SIZE, **registered("edge-t"))
    write_inventory(file, header, fleet_devices(SIZE), fleet_sets(SIZE))
    return load_config(file, Inventory)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def fleet(inventory: Inventory, clock: FakeClock) -> AsyncIterator[Fleet]:
    served = Fleet(inventory, clock)
    await served.start()
    try:
        yield served
    finally:
        await served.close()


@pytest.fixture
def demo_inventory_text() -> str:
    return (REPO / "config" / "demo" / "inventory.yaml").read_text(encoding="utf-8")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A full passing run writes docs/reliability.md from the fault tests' figures."""
    if exitstatus == 0 and set(reliability.RECORDS) == set(reliability.SCENARIOS):
        reliability.write(REPO / "docs" / "reliability.md")
