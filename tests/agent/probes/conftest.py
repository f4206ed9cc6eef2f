"""Probe fixtures: targets from the simulated fleet's inventory, and shared clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

from agent.probes.base import Target
from agent.probes.onvif_soap import CameraBook
from agent.probes.snmp import SnmpProbe
from agent.probes.snmp_lean import LeanSnmpClient
from agent.profiles import load_profiles
from agent.targets import build_targets, resolve_credentials
from simulator.fleet_runner import Fleet
from tests.conftest import REPO, FakeClock


@pytest.fixture
def targets(fleet: Fleet) -> dict[str, Target]:
    inventory = fleet.inventory
    return {t.device.id: t for t in build_targets(inventory, resolve_credentials(inventory))}


@pytest.fixture
async def lean() -> AsyncIterator[LeanSnmpClient]:
    client = LeanSnmpClient()
    await client.start()
    yield client
    client.close()


@pytest.fixture
def snmp_engine() -> Iterator[SnmpEngine]:
    # pysnmp binds its engine to the running event loop: one per test (each has its loop).
    engine = SnmpEngine()
    yield engine
    engine.close_dispatcher()


@pytest.fixture
def snmp_probe(
    lean: LeanSnmpClient, snmp_engine: SnmpEngine, clock: FakeClock
) -> Iterator[SnmpProbe]:
    profiles = load_profiles(REPO / "config" / "profiles")
    probe = SnmpProbe(lean, snmp_engine, profiles, timeout_s=0.5, retries=0, clock=clock)
    yield probe
    probe.close()


@pytest.fixture
async def cameras() -> AsyncIterator[CameraBook]:
    """What the agent remembers per camera (auth that worked, clock offset), and its pool."""
    book = CameraBook(timeout_s=1.0)
    yield book
    await book.close()
