"""Poll every device on its own interval, spread evenly, without one device holding up others.

Each device has a fixed phase inside the interval (from its id), plus a little jitter each
cycle, so 100,000 devices at 60 s give a flat ~1,700 probes per second rather than a
burst at the top of each minute. Deep checks are spread the same way over their own,
slower cadence. Every probe is its own task, bounded per protocol by a semaphore and by
an overall deadline, so a silent or hostile device costs at most its own slot for its
own timeout.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agent.probes.base import Probe, ProbeResult, Target, combine
from agent.wire import Health, Reason, Status
from slawatch.aio import raise_if_cancelled, wait_event

log = logging.getLogger(__name__)

Report = Callable[[Status, float, str], None]
TICK_S = 0.005


@dataclass
class Plan:
    """How one device is probed: which probes each cycle, which only on deep cycles."""

    target: Target
    every_cycle: list[Probe]
    deep_only: list[Probe] = field(default_factory=list)
    interval_s: float = 60.0


def _phase(device_id: str, period: float) -> float:
    return (zlib.crc32(device_id.encode()) / 2**32) * period


class Scheduler:
    def __init__(
        self,
        *,
        report: Report,
        concurrency: dict[str, int],
        deadline_s: float,
        deep_interval_s: float,
        jitter: float,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._report = report
        self._slots = {name: asyncio.Semaphore(limit) for name, limit in concurrency.items()}
        self._deadline_s = deadline_s
        self._deep_interval_s = deep_interval_s
        self._jitter = jitter
        self._wall_clock = wall_clock
        self._plans: dict[str, Plan] = {}
        self._due: list[tuple[float, str]] = []
        self._deep_due: dict[str, float] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self.probes_done = 0

    def set_plans(self, plans: list[Plan]) -> None:
        """Install or replace the device list; devices already known keep their schedule."""
        now = asyncio.get_running_loop().time()
        known = set(self._plans)
        self._plans = {plan.target.device.id: plan for plan in plans}
        for device_id, plan in self._plans.items():
            if device_id in known:
                continue
            heapq.heappush(self._due, (now + _phase(device_id, plan.interval_s), device_id))
            self._deep_due[device_id] = now + _phase(device_id[::-1], self._deep_interval_s)
        for gone in known - set(self._plans):
            self._deep_due.pop(gone, None)
        self._wake.set()

    @property
    def devices(self) -> int:
        return len(self._plans)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            raise_if_cancelled()
            now = loop.time()
            while self._due and self._due[0][0] <= now:
                _, device_id = heapq.heappop(self._due)
                plan = self._plans.get(device_id)
                if plan is None:
                    continue  # removed by a reload
                spread = plan.interval_s * self._jitter * (random.random() - 0.5)  # nosec B311  # noqa: S311 - load spreading, not security
                heapq.heappush(self._due, (now + plan.interval_s + spread, device_id))
                deep = self._deep_due.get(device_id, float("inf")) <= now
                if deep:
                    self._deep_due[device_id] = now + self._deep_interval_s
                task = asyncio.create_task(self._probe(plan, deep), name=f"probe {device_id}")
                self._running.add(task)
                task.add_done_callback(self._running.discard)
            self._wake.clear()
            delay = self._due[0][0] - loop.time() if self._due else 3600.0
            if delay > 0:
                # At 100,000 devices a probe falls due every 0.6 ms; a wake-up for each
                # cost more than the probe's own scheduling. Due probes start in ticks.
                await wait_event(self._wake, max(delay, TICK_S))

    async def probe_once(self, plan: Plan, deep: bool) -> tuple[ProbeResult, float]:
        """Run a device's probes now (the ``probe`` command and the scheduler both use this)."""
        probes = plan.every_cycle + (plan.deep_only if deep else [])
        started = time.perf_counter()
        if len(probes) == 1:  # the common case: no gather, no extra tasks
            result = await self._guarded(probes[0], plan.target, deep)
        else:
            results = await asyncio.gather(
                *(self._guarded(probe, plan.target, deep) for probe in probes)
            )
            result = combine(*results)
        return result, time.perf_counter() - started

    async def _guarded(self, probe: Probe, target: Target, deep: bool) -> ProbeResult:
        """Run one probe inside its protocol's concurrency limit, never raising.

        Per-cycle probes enforce their own timeouts (aiohttp's total timeout, the lean SNMP
        timer, pysnmp's timeout and retries); an overall deadline is added only around deep
        checks, whose library calls chain several requests.
        """
        slot = self._slots.get(probe.protocol)
        try:
            if deep:
                async with asyncio.timeout(self._deadline_s * 4):
                    return await self._limited(probe, target, deep, slot)
            return await self._limited(probe, target, deep, slot)
        except TimeoutError:
            return ProbeResult.down(Reason.TIMEOUT, probe.protocol)
        except Exception:  # a bug in a probe must not stop the agent; it is logged loudly
            log.exception("probe %s failed on device %s", probe.protocol, target.device.id)
            return ProbeResult.down(Reason.BAD_RESPONSE, probe.protocol)

    @staticmethod
    async def _limited(
        probe: Probe, target: Target, deep: bool, slot: asyncio.Semaphore | None
    ) -> ProbeResult:
        if slot is None:
            return await probe.probe(target, deep)
        await slot.acquire()  # not ``async with``: two coroutines fewer on every probe
        try:
            return await probe.probe(target, deep)
        finally:
            slot.release()

    async def _probe(self, plan: Plan, deep: bool) -> None:
        result, elapsed = await self.probe_once(plan, deep)
        moment = self._wall_clock()
        # The timestamp is cut to milliseconds here, as the wire requires, so the
        # validator passes it through untouched.
        observed = datetime.fromtimestamp(int(moment * 1000) / 1000, UTC)
        status = Status(
            device_id=plan.target.device.id,
            observed_at=observed,
            health=result.health,
            reason=result.reason,
            checks=result.checks,
            metrics=result.metrics,
        )
        self.probes_done += 1
        if result.health is not Health.UP:
            log.debug("device %s %s (%s)", status.device_id, status.health, status.reason)
        self._report(status, elapsed, plan.every_cycle[0].protocol if plan.every_cycle else "none")

    async def close(self) -> None:
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
