"""Shared fixtures: the shipped configs, and a small simulated fleet on real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from simulator.fleet import FleetSize, fleet_devices, fleet_sets, inventory_header
from simulator.fleet_runner import Fleet
from simulator.local_servers import Mosquitto, Postgres
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.writer import write_inventory
from tests import ledgers, reliability
from tests.agent_keys import registered

REPO = Path(__file__).resolve().parent.parent
SHARED_TESTDATA = REPO.parent / "shared" / "testdata"
PASSWORD = "cam-Secret-1"
COMMUNITY = "sim-community"
AUTH_KEY = "auth-key-123"
PRIV_KEY = "priv-key-456"
SIZE = FleetSize(cameras=6, door_sets=2, checkpoints=2, switches=2)

# Hypothesis times its input generation and each example against the wall clock: beside
# other test processes on a busy machine, "too slow" says nothing about the code.
settings.register_profile("slawatch", suppress_health_check=[HealthCheck.too_slow], deadline=None)
settings.load_profile("slawatch")


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """Debian's mosquitto on a free loopback port, with persistence (restartable)."""
    server = Mosquitto(tmp_path / "broker")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--ledger-backend",
        choices=ledgers.BACKENDS,
        default="sqlite",
        help="where the tests' ledgers live (tests/ledgers.py; default sqlite)",
    )


def pytest_configure(config: pytest.Config) -> None:
    ledgers.backend = config.getoption("--ledger-backend")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if ledgers.backend == "sqlite":
        return
    skip = pytest.mark.skip(reason="about the SQLite ledger file itself")
    for item in items:
        if item.get_closest_marker("sqlite_only") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def postgres_server() -> Postgres:
    """This test process's PostgreSQL cluster (each test gets its own database)."""
    return ledgers.postgres_server()


@pytest.fixture
def postgres(postgres_server: Postgres, request: pytest.FixtureRequest) -> str:
    """The DSN (without a password) of an empty database of this test's own."""
    return ledgers.database_for(request.node.nodeid)


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


@contextlib.contextmanager
def _turn(folder: Path, alone: bool) -> Iterator[None]:
    """Under pytest-xdist, a test marked ``alone`` runs while no other test does.

    Two locks shared by the run's workers: every test holds ``running`` shared while it
    runs; one marked ``alone`` takes the ``gate`` (so no test starts meanwhile) and then
    ``running`` exclusively (once the tests under way have ended). Without the gate, the
    workers' stream of shared holders could keep the exclusive one waiting for ever.
    """
    with (folder / "gate.lock").open("a") as gate, (folder / "running.lock").open("a") as running:
        fcntl.flock(gate, fcntl.LOCK_EX)
        if alone:
            fcntl.flock(running, fcntl.LOCK_EX)
        else:
            fcntl.flock(running, fcntl.LOCK_SH)
            fcntl.flock(gate, fcntl.LOCK_UN)
        yield  # closing the files releases what is still held


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    if not hasattr(item.config, "workerinput"):  # not an xdist worker: nothing runs beside
        return (yield)
    # Each worker's basetemp is "popen-gwN" in the run's own: the locks live there.
    with _turn(
        Path(item.config.option.basetemp).parent, item.get_closest_marker("alone") is not None
    ):
        return (yield)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A full passing run writes docs/reliability.md from the fault tests' figures; an
    xdist worker hands its figures to the controlling process instead."""
    ledgers.remove_postgres_server()
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["reliability"] = {
            name: dataclasses.asdict(record) for name, record in reliability.RECORDS.items()
        }
    elif exitstatus == 0 and set(reliability.RECORDS) == set(reliability.SCENARIOS):
        reliability.write(REPO / "docs" / "reliability.md")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object | None) -> None:
    """pytest-xdist's hook: a worker finished; take the figures it measured."""
    for name, fields in getattr(node, "workeroutput", {}).get("reliability", {}).items():
        reliability.RECORDS[name] = reliability.Record(**fields)
