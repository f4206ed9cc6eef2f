"""The scheduler's timetable: every device once an interval, spread out, and what it could
not start in time counted, never silently skipped.

The devices here are a probe that notes when it was asked and answers at once: the
scheduler is what is under test, and its own loop is real (a stall is a real
``time.sleep`` on it).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from datetime import date

from agent.probes.base import Credentials, ProbeResult, Target
from agent.scheduler import Plan, Scheduler
from agent.wire import Reason, Status
from slawatch.config.inventory import Device, DeviceKind, SnmpSettings

DEVICES = 200
INTERVAL_S = 0.5


class Noted:
    """A device that answers at once; the probe notes when each device was asked."""

    protocol = "snmp"

    def __init__(self) -> None:
        self.asked: list[tuple[str, float]] = []

    async def probe(self, target: Target, deep: bool) -> ProbeResult:
        self.asked.append((target.device.id, asyncio.get_running_loop().time()))
        return ProbeResult.up({"liveness": Reason.OK})


def plans(probe: Noted) -> list[Plan]:
    return [
        Plan(
            Target(
                Device(
                    id=f"HOST{n:04d}",
                    name="host",
                    kind=DeviceKind.CHECKPOINT,
                    site="s1",
                    address="127.0.0.1",
                    region="R1",
                    service_start=date(2026, 1, 1),
                    snmp=SnmpSettings(profile="checkpoint-generic"),
                ),
                Credentials(),
            ),
            [probe],
            interval_s=INTERVAL_S,
        )
        for n in range(DEVICES)
    ]


async def run_for(scheduler: Scheduler, seconds: float, stall_s: float = 0.0) -> None:
    running = asyncio.create_task(scheduler.run())
    await asyncio.sleep(seconds / 2)
    time.sleep(stall_s)  # noqa: ASYNC251 - the agent's own loop stalls (a starved process)
    await asyncio.sleep(seconds / 2)
    running.cancel()
    await scheduler.close()


async def test_every_device_is_polled_once_an_interval_spread_over_it() -> None:
    probe = Noted()
    reported: list[Status] = []
    lags: list[float] = []  # the loop's own lateness on a busy machine widens the bounds
    scheduler = Scheduler(
        report=lambda status, _, __: reported.append(status),
        concurrency={"snmp": 50},
        deadline_s=1.0,
        deep_interval_s=3600,
        jitter=0.1,
        on_lag=lags.append,
    )
    scheduler.set_plans(plans(probe))
    await run_for(scheduler, 4 * INTERVAL_S)
    times: dict[str, list[float]] = {}
    for device, moment in probe.asked:
        times.setdefault(device, []).append(moment)
    assert len(times) == DEVICES
    lag = 2 * max(lags) + 0.02
    for moments in times.values():
        assert len(moments) >= 3
        # One a cycle: the interval, give or take its jitter (±5 %), a tick (5 ms), and
        # the loop's lag.
        gaps = [b - a for a, b in itertools.pairwise(moments)]
        assert all(0.9 * INTERVAL_S - lag < gap < 1.1 * INTERVAL_S + lag for gap in gaps), gaps
    assert len(reported) == len(probe.asked)
    # Spread: after the first cycle, no tenth of the interval starts more than twice its
    # share (and what a lag held back).
    first = min(moment for _, moment in probe.asked) + INTERVAL_S
    slices = Counter(int((t - first) / (INTERVAL_S / 10)) for _, t in probe.asked if t >= first)
    assert max(slices.values()) <= 2 * DEVICES / 10 + lag * DEVICES / INTERVAL_S
    assert scheduler.load.missed == 0
    if max(lags) < 0.03:  # a start is late past 50 ms: only a lagging loop makes one here
        assert scheduler.load.late == 0
    assert not scheduler.strained()


async def test_a_stalled_agent_counts_the_cycles_it_missed() -> None:
    probe = Noted()
    scheduler = Scheduler(
        report=lambda *_: None,
        concurrency={"snmp": 50},
        deadline_s=1.0,
        deep_interval_s=3600,
        jitter=0.1,
    )
    scheduler.set_plans(plans(probe))
    await run_for(scheduler, 2 * INTERVAL_S, stall_s=3 * INTERVAL_S)
    # Every device fell due during the stall, two cycles or more behind: counted, and the
    # scheduler says it is behind (deep checks wait).
    assert scheduler.load.missed >= DEVICES
    assert scheduler.load.late >= DEVICES / 2
    assert scheduler.strained()
