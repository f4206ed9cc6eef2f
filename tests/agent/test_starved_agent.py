"""A starved agent is not a dead fleet: starved of CPU, it says so and calls no device down.

The agent runs as its own process (``slawatch-agent run``) pinned to one core with
``taskset``, at the lowest priority, beside busy processes pinned to the same core:
it gets a sliver of that core, far less than its probes need. The simulated fleet
(every device healthy) and the broker run in this process, pinned to the other core,
so they answer at once. Before this agent knew its own lag, the same set-up published
hundreds of ``down/timeout`` statuses for healthy cameras in 15 s. Its batches carry
its load report to the collector, overloaded while starved.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from agent.wire import Batch, Health
from simulator.fleet_runner import Fleet
from simulator.local_servers import Mosquitto, free_port
from slawatch.config.inventory import Inventory
from tests.agent.test_agent_run import collect, settings_on_disk
from tests.conftest import wait_for

AGENT_CORE, FLEET_CORE = 0, 1
HOGS = 4
STARVED_S = 12.0
AGENT = str(Path(sys.executable).with_name("slawatch-agent"))
HOG = "while True: pass"

pytestmark = [
    pytest.mark.skipif(
        len(os.sched_getaffinity(0)) < 2 or not {AGENT_CORE, FLEET_CORE} <= os.sched_getaffinity(0),
        reason="needs two cores: one to starve the agent on, one for the devices",
    ),
    # Its hogs would starve the tests beside it, and theirs would slow its devices.
    pytest.mark.alone,
]


@contextlib.contextmanager
def pinned(core: int) -> Iterator[None]:
    """This thread (the fleet's and broker client's event loop) on ``core`` only."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def pin(*command: str) -> list[str]:
    return ["taskset", "-c", str(AGENT_CORE), *command]


def counter(exposition: str, name: str) -> float:
    """The sum of a metric's samples (every label set) in a Prometheus exposition."""
    pattern = rf"^{name}(?:\{{[^}}]*\}})? (\S+)$"
    return sum(float(value) for value in re.findall(pattern, exposition, re.MULTILINE))


async def scrape(port: int) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as reply,
    ):
        return await reply.text()


async def test_a_starved_agent_calls_no_healthy_device_down_and_shows_its_overload(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    metrics_port = free_port()
    config = settings_on_disk(
        tmp_path,
        f"broker: {{port: {broker.port}}}\nmetrics_bind: 127.0.0.1:{metrics_port}\n"
        # 2 s timeouts: at 800 ms the simulator itself, on a shared machine's other core,
        # sometimes answers too late even with no agent starved (a real slow device).
        "poll: {interval: 3s, timeout: 2s, retries: 0, deep_interval: 6s}",
    )
    batches: list[Batch] = []
    hogs: list[asyncio.subprocess.Process] = []
    with pinned(FLEET_CORE):
        fleet = Fleet(inventory, time.time)  # the cameras' clocks run: none is skewed
        await fleet.start()
        listener = asyncio.create_task(collect(broker.port, batches))
        agent = await asyncio.create_subprocess_exec(
            *pin(AGENT, "run", "--config", str(config)), cwd=tmp_path
        )
        try:
            # Up and publishing; an agent that exits at start (bad settings) fails here.
            await wait_for(lambda: len(batches) >= 3 or agent.returncode is not None, 30)
            assert agent.returncode is None, f"the agent exited with {agent.returncode}"
            # The agent's loop at the lowest priority (the publisher's thread keeps its own).
            os.setpriority(os.PRIO_PROCESS, agent.pid, 19)
            for _ in range(HOGS):
                hogs.append(await asyncio.create_subprocess_exec(*pin(sys.executable, "-c", HOG)))
            await asyncio.sleep(STARVED_S)
            starved = await scrape(metrics_port)
            for hog in hogs:
                hog.kill()
            published = sum(len(batch.statuses) for batch in batches)
            # Fed again: every device reported again, and up.
            await asyncio.sleep(4)
            recovered = [s for batch in batches for s in batch.statuses][published:]
        finally:
            for hog in hogs:
                with contextlib.suppress(ProcessLookupError):
                    hog.kill()
                await hog.wait()
            agent.terminate()
            await asyncio.wait_for(agent.wait(), 30)
            listener.cancel()
            await fleet.close()

    statuses = [status for batch in batches for status in batch.statuses]
    assert statuses
    wrong = [(s.device_id, s.health, s.reason) for s in statuses if s.health is not Health.UP]
    assert wrong == [], sorted(set(wrong))
    assert {s.device_id for s in recovered} == {device.id for device in inventory.devices}
    # The overload is visible: its loop stalled, and what it could not judge or start in
    # time is counted (timeouts that were its own, cycles missed or late).
    assert counter(starved, "slawatch_agent_loop_stalls_total") > 0, starved
    own = counter(starved, "slawatch_agent_stalled_results_total")
    behind = counter(starved, "slawatch_agent_probes_missed_total") + counter(
        starved, "slawatch_agent_probes_late_total"
    )
    assert own + behind > 0, starved
    assert counter(starved, "slawatch_agent_loop_lag_seconds_sum") > 0
    # And the collector is told, in the signed batches themselves (its wall and /metrics
    # show it: tests/collector/web/console/test_wall.py): overloaded, with what it lost.
    reports = [batch.load for batch in batches if batch.load is not None]
    assert any(
        load.overloaded and load.stalled_results + load.missed + load.late > 0 for load in reports
    ), reports
