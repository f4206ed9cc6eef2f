"""Poll every device on its own interval, spread evenly, without one device holding up others.

Each device has a fixed phase inside the interval (from its id), plus a little jitter each
cycle, so 100,000 devices at 60 s give a flat ~1,700 probes per second rather than a
burst at the top of each minute. Deep checks are spread the same way over their own,
slower cadence. Every probe holds a slot of its protocol, bounded by its timeout (and
deep checks by an overall deadline), so a silent or hostile device costs at most its
own slot for its own timeout. A probe that can (``QuickProbe``: a cycle's SNMPv2c GET)
runs without a task of its own, on callbacks; the others each run in a task.

The agent also watches itself (``loopwatch.py``): how late its loop runs and how late
each probe starts. A starved agent is not a dead fleet: a timeout that overlaps the
agent's own stall is not published (the device is unknown that cycle, and the count
shows on ``/metrics``), deep checks wait while the agent is behind, a backlog is
started at a capped rate rather than all at once, and a cycle that could not start
before the next was due is counted as missed, never silently skipped.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
import zlib
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agent.loopwatch import LoopWatch
from agent.probes.base import Finish, Probe, ProbeResult, Target, combine
from agent.wire import Health, Reason, Status, agent_status
from slawatch.aio import Slots, raise_if_cancelled, wait_event

log = logging.getLogger(__name__)

Report = Callable[[Status, float, str], None]
TICK_S = 0.02  # the schedule's buckets: devices due within one start together
CATCH_UP = 1.5  # a backlog is started at this multiple of the planned rate
BURST_S = 0.5  # at most this many seconds' worth of probes start at once
MIN_BURST = 20.0
MIN_LATE_S = 0.05  # a start later than this and than the jitter allows is late
STRAIN_BEHIND = 0.25  # a start this fraction of its interval late: deep checks wait


@dataclass
class Plan:
    """How one device is probed: which probes each cycle, which only on deep cycles."""

    target: Target
    every_cycle: list[Probe]
    deep_only: list[Probe] = field(default_factory=list)
    interval_s: float = 60.0


def _phase(device_id: str, period: float) -> float:
    return (zlib.crc32(device_id.encode()) / 2**32) * period


@dataclass(slots=True)
class Load:
    """What the agent could not do on time, counted (read by ``/metrics``).

    ``late``: probes started later than the schedule's own jitter allows; ``missed``: a
    device's cycles never started because the next was due first; ``deep_deferred``:
    deep checks put off while the agent was behind (liveness goes first);
    ``agent_stalled``: results that were the agent's own stall, not the device's (per
    protocol), not published: the device is unknown for that cycle.
    """

    late: int = 0
    missed: int = 0
    deep_deferred: int = 0
    agent_stalled: dict[str, int] = field(default_factory=dict)
    on_start_delay: Callable[[float], None] | None = None


# Verdicts a stalled agent can reach on a healthy device: it did not read the answer (or
# send the request) in time. SNMPv3's auth_failed is among them: an authPriv request
# that times out while engine discovery answers reads as a refused key. Refusals, bad
# answers and alarms are the device's whatever the agent's lag.
_TIMED = frozenset(
    {Reason.TIMEOUT, Reason.SNMP_SILENT, Reason.STREAM_UNAVAILABLE, Reason.AUTH_FAILED}
)


def timed_verdict(result: ProbeResult) -> bool:
    """A failing result that rests on a timer: one a stall of the agent can cause."""
    if result.health is Health.UP:
        return False
    return result.reason in _TIMED or any(reason in _TIMED for reason in result.checks.values())


class Scheduler:
    def __init__(
        self,
        *,
        report: Report,
        concurrency: dict[str, int],
        deadline_s: float,
        deep_interval_s: float,
        jitter: float,
        lost_s: float = 0.5,
        load: Load | None = None,
        on_lag: Callable[[float], None] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._report = report
        self._slots = {name: Slots(limit) for name, limit in concurrency.items()}
        # Probes started but not finished (most waiting for a slot): past this many the
        # scheduler stops starting more, and what falls due waits, counted late.
        self._max_running = 2 * sum(concurrency.values())
        self._deadline_s = deadline_s
        self._deep_interval_s = deep_interval_s
        self._jitter = jitter
        self._wall_clock = wall_clock
        self._plans: dict[str, Plan] = {}
        # The schedule, bucketed by the TICK_S tick each device falls due in (a timer
        # wheel): a device is added to its tick's list, and only a tick new to the
        # schedule goes on the heap, so the heap holds ticks, not devices.
        self._buckets: dict[int, list[tuple[float, str]]] = {}
        self._ticks: list[int] = []
        self._deep_due: dict[str, float] = {}
        self._running: set[asyncio.Task[None]] = set()
        self._quick = 0  # probes started without a task, not yet done
        self._closed = False
        self._wake = asyncio.Event()
        self._rate = 0.0  # probes a second the plans ask for
        self._longest_s = 60.0
        self._strained_until = 0.0
        self.load = load if load is not None else Load()
        self._on_ticks = False  # waiting for the loop watch's next tick
        self.watch = LoopWatch(on_lag=on_lag, on_tick=self._watch_ticked)
        # Loop time lost while a probe ran past which its timed verdict is the agent's.
        self._lost_s = lost_s
        self.probes_done = 0

    def set_plans(self, plans: list[Plan]) -> None:
        """Install or replace the device list; devices already known keep their schedule."""
        now = asyncio.get_running_loop().time()
        known = set(self._plans)
        self._plans = {plan.target.device.id: plan for plan in plans}
        for device_id, plan in self._plans.items():
            if device_id in known:
                continue
            self._push(now + _phase(device_id, plan.interval_s), device_id)
            self._deep_due[device_id] = now + _phase(device_id[::-1], self._deep_interval_s)
        for gone in known - set(self._plans):
            self._deep_due.pop(gone, None)
        self._rate = sum(1 / plan.interval_s for plan in self._plans.values())
        self._longest_s = max((plan.interval_s for plan in plans), default=60.0)
        self._wake.set()

    def _push(self, when: float, device_id: str) -> None:
        tick = int(when / TICK_S)
        bucket = self._buckets.get(tick)
        if bucket is None:
            self._buckets[tick] = [(when, device_id)]
            heapq.heappush(self._ticks, tick)
        else:
            bucket.append((when, device_id))

    @property
    def devices(self) -> int:
        return len(self._plans)

    @property
    def offered_per_s(self) -> float:
        """Probes a second the plans ask for."""
        return self._rate

    def strained(self) -> bool:
        """Behind within the last cycle: a probe started a quarter of its interval late,
        a cycle missed, or the backlog's start capped. Deep checks wait meanwhile."""
        return asyncio.get_running_loop().time() < self._strained_until

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        self.watch.start()
        try:
            await self._run(loop)
        finally:
            self.watch.stop()

    async def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        last = loop.time()
        allowance = float("inf")  # clamped to the burst on the first turn
        ticks, buckets, plans = self._ticks, self._buckets, self._plans
        while True:
            raise_if_cancelled()
            now = loop.time()
            # After a stall every probe of the stall falls due at once: started together
            # they would stall the agent again. The backlog is started at CATCH_UP times
            # the planned rate, so it spreads over the next moments instead.
            rate = self._rate * CATCH_UP
            allowance = min(allowance + (now - last) * rate, max(rate * BURST_S, MIN_BURST))
            last = now
            capped = False
            # A tick's devices start together, up to TICK_S before the moment each is due.
            while ticks and ticks[0] * TICK_S <= now:
                tick = heapq.heappop(ticks)
                bucket = buckets.pop(tick)
                for at, (when, device_id) in enumerate(bucket):
                    if allowance < 1 or len(self._running) + self._quick >= self._max_running:
                        capped = True
                        buckets[tick] = bucket[at:]  # the rest waits, counted late
                        heapq.heappush(ticks, tick)
                        break
                    plan = plans.get(device_id)
                    if plan is None:
                        continue  # removed by a reload
                    allowance -= 1
                    self._start(plan, device_id, when, now)
                if capped:
                    break
            if capped:
                self._strained_until = now + self._longest_s
            self._wake.clear()
            delay = ticks[0] * TICK_S - loop.time() if ticks else 3600.0
            if delay > self.watch.period_s:
                await wait_event(self._wake, delay)
            elif delay > 0 or capped:
                # At 100,000 devices a probe falls due every 0.6 ms, and each wake-up of
                # the process costs more than a probe's scheduling: what falls due within
                # the loop watch's period (20 ms) starts on its next tick, one wake-up
                # for both.
                self._on_ticks = True
                try:
                    await self._wake.wait()
                finally:
                    self._on_ticks = False

    def _watch_ticked(self) -> None:
        if self._on_ticks:
            self._wake.set()

    def _start(self, plan: Plan, device_id: str, when: float, now: float) -> None:
        interval = plan.interval_s
        late = max(0.0, now - when)  # a tick's devices start up to TICK_S early
        if late >= interval:
            skipped = int(late // interval)
            self.load.missed += skipped
            when += skipped * interval
            log.debug("device %s: %d cycles missed, %.1f s behind", device_id, skipped, late)
        if late > max(interval * self._jitter / 2, MIN_LATE_S):
            self.load.late += 1
            if late > interval * STRAIN_BEHIND:
                self._strained_until = max(self._strained_until, now + interval)
        if self.load.on_start_delay is not None:
            self.load.on_start_delay(late)
        # From the time it was due, not from now: a late start does not shift the
        # device's phase, so a cycle takes its interval, not interval plus lateness.
        spread = interval * self._jitter * (random.random() - 0.5)  # nosec B311  # noqa: S311 - load spreading, not security
        self._push(when + interval + spread, device_id)
        deep = self._deep_due.get(device_id, float("inf")) <= now
        if deep and self.strained():
            deep = False  # liveness first: the deep check runs on a later cycle
            self.load.deep_deferred += 1
        elif deep:
            self._deep_due[device_id] = now + self._deep_interval_s
        probes = plan.every_cycle
        if not deep and len(probes) == 1:
            start = getattr(probes[0], "start", None)
            if start is not None:
                self._start_quick(plan, probes[0], start)
                return
        self._spawn(self._probe(plan, deep))

    def _spawn(self, probing: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(probing)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    def _start_quick(
        self, plan: Plan, probe: Probe, start: Callable[[Target, Callable[[Finish], None]], bool]
    ) -> None:
        """Start a cycle's single probe without a task (``QuickProbe``), once its protocol
        has a slot free: without a task and its coroutines an SNMP probe costs a fifth less
        CPU (a measured hot path). A probe that cannot start so runs in a task."""
        lost_before = self.watch.lost_s
        began = time.perf_counter()
        slot = self._slots.get(probe.protocol)
        self._quick += 1

        def done(finish: Finish) -> None:
            if isinstance(finish, ProbeResult | Exception):
                self._quick -= 1
                if slot is not None:
                    slot.release()
                if isinstance(finish, Exception):
                    finish = self._bug(probe, plan.target, finish)
                if not self._closed:
                    elapsed = time.perf_counter() - began
                    self._finish(plan, probe.protocol, finish, elapsed, lost_before)
            elif self._closed:
                self._quick -= 1
                if slot is not None:
                    slot.release()
                finish.close()
            else:  # the rest of the check, in a task that holds the slot until it ends
                self._quick -= 1
                self._spawn(self._resume(plan, probe, finish, began, lost_before))

        def begin() -> None:  # with the slot held
            try:
                if self._closed or not start(plan.target, done):
                    done(probe.probe(plan.target, False))
            except Exception as exc:  # noqa: BLE001 - a bug in a probe: logged by ``_bug``
                done(exc)

        if slot is None:
            begin()
        else:
            slot.acquire_then(begin)

    async def _resume(
        self,
        plan: Plan,
        probe: Probe,
        rest: Coroutine[Any, Any, ProbeResult],
        began: float,
        lost_before: float,
    ) -> None:
        result = await self._guarded(probe, plan.target, False, rest)
        self._finish(plan, probe.protocol, result, time.perf_counter() - began, lost_before)

    @staticmethod
    def _bug(probe: Probe, target: Target, exc: Exception) -> ProbeResult:
        """A bug in a probe must not stop the agent; it is logged loudly."""
        log.error("probe %s failed on device %s", probe.protocol, target.device.id, exc_info=exc)
        return ProbeResult.down(Reason.BAD_RESPONSE, probe.protocol)

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

    async def _guarded(
        self,
        probe: Probe,
        target: Target,
        deep: bool,
        begun: Coroutine[Any, Any, ProbeResult] | None = None,
    ) -> ProbeResult:
        """Run one probe inside its protocol's concurrency limit, never raising.

        Per-cycle probes enforce their own timeouts (aiohttp's total timeout, the lean SNMP
        timer, pysnmp's timeout and retries); an overall deadline is added only around deep
        checks, whose library calls chain several requests. One coroutine, not a chain of
        them: every level is paid again each time the probe resumes. ``begun``: the rest
        of a probe started without a task, whose slot is already held.
        """
        slot = self._slots.get(probe.protocol)
        if slot is not None and begun is None:
            await slot.acquire()  # not ``async with``: two coroutines fewer on every probe
        try:
            if begun is not None:
                return await begun
            if deep:
                async with asyncio.timeout(self._deadline_s * 4):
                    return await probe.probe(target, deep)
            return await probe.probe(target, deep)
        except TimeoutError:
            return ProbeResult.down(Reason.TIMEOUT, probe.protocol)
        except Exception as exc:  # noqa: BLE001 - a bug in a probe: logged by ``_bug``
            return self._bug(probe, target, exc)
        finally:
            if slot is not None:
                slot.release()

    async def _probe(self, plan: Plan, deep: bool) -> None:
        lost_before = self.watch.lost_s
        every_cycle = plan.every_cycle
        if deep or len(every_cycle) != 1:
            result, elapsed = await self.probe_once(plan, deep)
        else:  # the common case, without probe_once's coroutine
            started = time.perf_counter()
            result = await self._guarded(every_cycle[0], plan.target, False)
            elapsed = time.perf_counter() - started
        protocol = every_cycle[0].protocol if every_cycle else "none"
        self._finish(plan, protocol, result, elapsed, lost_before)

    def _finish(
        self, plan: Plan, protocol: str, result: ProbeResult, elapsed: float, lost_before: float
    ) -> None:
        """Publish a probe's result, unless it was the agent's own stall."""
        if timed_verdict(result) and self.watch.lost_s - lost_before >= self._lost_s:
            # The agent stalled while this probe waited on a timer: the verdict is the
            # agent's, so the device is unknown this cycle (nothing published), counted.
            stalled = self.load.agent_stalled
            stalled[protocol] = stalled.get(protocol, 0) + 1
            log.debug("device %s: %s while the agent stalled", plan.target.device.id, result.reason)
            return
        moment = self._wall_clock()
        # The timestamp is cut to milliseconds here, as the wire requires, so the
        # validator passes it through untouched.
        observed = datetime.fromtimestamp(int(moment * 1000) / 1000, UTC)
        status = agent_status(
            plan.target.device.id,
            observed,
            result.health,
            result.reason,
            result.checks,
            result.metrics,
        )
        self.probes_done += 1
        if result.health is not Health.UP:
            log.debug("device %s %s (%s)", status.device_id, status.health, status.reason)
        self._report(status, elapsed, protocol)

    async def close(self) -> None:
        self._closed = True  # a probe started without a task that ends later is dropped
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
