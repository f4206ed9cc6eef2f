"""The running agent: inventory → probes → scheduler → batches → outbox → broker.

Also the self-monitoring: Prometheus ``/metrics`` (probes by kind and reason, probe
latency, outbox depth, broker connection) and SIGHUP to reload the inventory without
losing any device's schedule or probe memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

from agent.batches import BatchWriter
from agent.clock import ClockWatch
from agent.load import LoadWindow
from agent.outbox import Outbox
from agent.probes.base import Credentials
from agent.probes.onvif_deep import OnvifDeepProbe
from agent.probes.onvif_lean import OnvifLivenessProbe
from agent.probes.onvif_soap import CameraBook
from agent.probes.snmp import SnmpProbe
from agent.probes.snmp_lean import LeanSnmpClient
from agent.probes.tcp import TcpProbe
from agent.profiles import load_profiles
from agent.publisher import Publisher
from agent.scheduler import Load, Plan, Scheduler
from agent.targets import build_targets, resolve_credentials
from agent.wire import AgentLoad, ClockState, Health, Reason, Status
from slawatch import heap
from slawatch.aio import raise_if_cancelled
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.settings import AgentSettings
from slawatch.keys import load_private, load_public

log = logging.getLogger(__name__)

PROFILES_DEFAULT = "profiles"
FLUSH_EVERY_S = 1.0
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass
class ProbeSet:
    onvif: OnvifLivenessProbe
    onvif_deep: OnvifDeepProbe
    snmp: SnmpProbe
    tcp: TcpProbe


def build_plans(
    inventory: Inventory, credentials: dict[str, Credentials], probes: ProbeSet, interval_s: float
) -> list[Plan]:
    plans = []
    for target in build_targets(inventory, credentials):
        device = target.device
        plan = Plan(
            target,
            [],
            interval_s=device.interval.total_seconds() if device.interval else interval_s,
        )
        if device.onvif is not None:
            plan.every_cycle.append(probes.onvif)
            plan.deep_only.append(probes.onvif_deep)
        if device.snmp is not None:
            plan.every_cycle.append(probes.snmp)
        if not plan.every_cycle and device.tcp is not None:
            plan.every_cycle.append(probes.tcp)
        plans.append(plan)
    return plans


def lost_threshold(timeout_s: float) -> float:
    """Loop time lost during a probe that makes its timeout the agent's: a quarter of the
    probe timeout (200 ms at 800 ms). An eighth dropped real timeouts of silent devices
    whenever the machine was merely busy; half let a starved agent's false timeouts
    through at 800 ms (both seen in ``tests/agent``'s runs on a loaded 2-core machine)."""
    return timeout_s / 4


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.probes = Counter(
            "slawatch_agent_probes",
            "Device probes done",
            ["protocol", "health", "reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "slawatch_agent_probe_seconds",
            "Time to probe one device",
            ["protocol"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "slawatch_agent_outbox_batches",
            "Batches waiting for the broker",
            registry=self.registry,
        )
        self.outbox_bytes = Gauge(
            "slawatch_agent_outbox_bytes", "Bytes waiting for the broker", registry=self.registry
        )
        self.unsupported = Counter(
            "slawatch_agent_unsupported_checks",
            "Checks a device answered it does not do (an OID it lacks, an operation it "
            "refuses): a profile or inventory entry that does not fit the device",
            ["protocol", "check"],
            registry=self.registry,
        )
        self.outbox_dropped = Gauge(
            "slawatch_agent_outbox_dropped_batches",
            "Batches dropped because the outbox was full",
            registry=self.registry,
        )
        self.connected = Gauge(
            "slawatch_agent_broker_connected",
            "1 while connected to the broker",
            registry=self.registry,
        )
        self.devices = Gauge("slawatch_agent_devices", "Devices scheduled", registry=self.registry)
        self.acks_refused = Gauge(
            "slawatch_agent_acks_refused",
            "Acks not signed by the collector's key (forged or misconfigured): nothing deleted",
            registry=self.registry,
        )
        self.clock_synchronised = Gauge(
            "slawatch_agent_clock_synchronised",
            "1 while this host's time service says its clock is synchronised",
            registry=self.registry,
        )
        self.loop_lag = Histogram(
            "slawatch_agent_loop_lag_seconds",
            "How late the agent's event loop ran a timer (sampled every 20 ms): the agent's "
            "own slowness, from a busy machine or a CPU quota",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.start_delay = Histogram(
            "slawatch_agent_probe_start_delay_seconds",
            "How late each probe started after it was due",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )

    def watch(self, scheduler: Scheduler) -> None:
        """Export what the scheduler could not do on time, read at scrape time."""
        self.registry.register(_LoadCollector(scheduler))


class _LoadCollector(Collector):
    """The scheduler's own counters, read when scraped (nothing on the probe's hot path)."""

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler

    def collect(self) -> Iterator[Metric]:
        scheduler = self._scheduler
        load = scheduler.load
        yield GaugeMetricFamily(
            "slawatch_agent_overloaded",
            "1 while the agent is behind (a start a quarter-interval late, missed or capped "
            "within the last cycle): deep checks wait, liveness goes first",
            value=1.0 if scheduler.strained() else 0.0,
        )
        yield GaugeMetricFamily(
            "slawatch_agent_offered_probes_per_second",
            "Probes a second the devices' intervals ask for",
            value=scheduler.offered_per_s,
        )
        yield CounterMetricFamily(
            "slawatch_agent_probes_late",
            "Probes started later than the schedule's jitter allows",
            value=load.late,
        )
        yield CounterMetricFamily(
            "slawatch_agent_probes_missed",
            "Device cycles never started: the agent was so far behind that the next was due",
            value=load.missed,
        )
        yield CounterMetricFamily(
            "slawatch_agent_deep_checks_deferred",
            "Deep checks put off to a later cycle while the agent was behind",
            value=load.deep_deferred,
        )
        stalled = CounterMetricFamily(
            "slawatch_agent_stalled_results",
            "Timeouts that overlapped the agent's own stall: the agent's fault, not the "
            "device's; not published (the device is unknown for that cycle)",
            labels=["protocol"],
        )
        for protocol, count in sorted(load.agent_stalled.items()):
            stalled.add_metric([protocol], count)
        yield stalled
        yield CounterMetricFamily(
            "slawatch_agent_loop_stalls",
            "Times the agent's loop ran 100 ms late or more",
            value=scheduler.watch.stalls,
        )
        yield CounterMetricFamily(
            "slawatch_agent_loop_stalled_seconds",
            "Seconds the agent's loop spent stalled",
            value=scheduler.watch.stalled_s,
        )


class Agent:
    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.clock = ClockWatch(trusted=settings.clock == "trusted")
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self.scheduler: Scheduler | None = None
        self._writer: BatchWriter | None = None
        self._load: LoadWindow | None = None
        self._counted: dict[tuple[str, Health, Reason], Counter] = {}
        self._timed: dict[str, Histogram] = {}
        # A device lacking a profile's OID says so every cycle: its series, looked up once.
        self._unsupported: dict[tuple[str, str], Counter] = {}

    def stop(self) -> None:
        self._stop.set()

    def reload(self) -> None:
        self._reload.set()

    def load_inventory(self) -> tuple[Inventory, dict[str, Credentials]]:
        inventory = load_config(self.settings.inventory, Inventory)
        mine = [device for device in inventory.devices if device.site == self.settings.site]
        return inventory.model_copy(update={"devices": mine}), resolve_credentials(inventory)

    @contextlib.asynccontextmanager
    async def probes(self) -> AsyncIterator[ProbeSet]:
        """The probe clients, shared by every device (one UDP socket, one SNMP engine)."""
        poll = self.settings.poll
        timeout_s = poll.timeout.total_seconds()
        profiles_dir = self.settings.profiles or self.settings.inventory.parent / PROFILES_DEFAULT
        profiles = load_profiles(profiles_dir)
        lean = LeanSnmpClient(poll.concurrency.snmp)
        await lean.start()
        engine = SnmpEngine()
        cameras = CameraBook(timeout_s)
        skew_limit_s = poll.clock_skew_limit.total_seconds()
        snmp = SnmpProbe(
            lean, engine, profiles, timeout_s=timeout_s, retries=poll.retries, ticks=time.monotonic
        )
        onvif = OnvifLivenessProbe(timeout_s, skew_limit_s, cameras, self.clock.state)
        try:
            yield ProbeSet(
                onvif=onvif,
                onvif_deep=OnvifDeepProbe(
                    timeout_s, poll.recording_tolerance.total_seconds(), cameras
                ),
                snmp=snmp,
                tcp=TcpProbe(timeout_s),
            )
        finally:
            onvif.close()
            lean.close()
            snmp.close()
            engine.close_dispatcher()
            await cameras.close()

    def scheduler_for(self) -> Scheduler:
        poll = self.settings.poll
        timeout_s = poll.timeout.total_seconds()
        return Scheduler(
            report=self._report,
            concurrency=poll.concurrency.model_dump(),
            deadline_s=timeout_s * (poll.retries + 1) + 1,
            deep_interval_s=poll.deep_interval.total_seconds(),
            jitter=poll.jitter,
            lost_s=lost_threshold(timeout_s),
            load=Load(on_start_delay=self.metrics.start_delay.observe),
            on_lag=self.metrics.loop_lag.observe,
        )

    def _report(self, status: Status, elapsed_s: float, protocol: str) -> None:
        # The labelled series are looked up once each: ``labels()`` takes a lock and
        # builds its key on every call, a few µs a probe.
        key = (protocol, status.health, status.reason)
        counted = self._counted.get(key)
        if counted is None:
            counted = self._counted[key] = self.metrics.probes.labels(
                protocol, status.health.value, status.reason.value
            )
        counted.inc()
        timed = self._timed.get(protocol)
        if timed is None:
            timed = self._timed[protocol] = self.metrics.latency.labels(protocol)
        timed.observe(elapsed_s)
        for check, verdict in status.checks.items():
            if verdict is Reason.UNSUPPORTED:
                label = "port" if check.startswith("port_") else check  # bounded label set
                unsupported = self._unsupported.get((protocol, label))
                if unsupported is None:
                    unsupported = self._unsupported[protocol, label] = (
                        self.metrics.unsupported.labels(protocol, label)
                    )
                unsupported.inc()
        assert self._writer is not None
        self._writer.add(status)

    async def run(self) -> None:
        settings = self.settings
        if settings.broker.password is not None:
            # Read now: the publisher's thread would otherwise fail on it unseen while the
            # probes fill the outbox. LookupError reaches the command line (exit 2).
            settings.broker.password.resolve()
        inventory, credentials = self.load_inventory()
        if settings.key is None or settings.collector_key is None:
            # The collector refuses what the agent did not sign, and an ack the collector's
            # key does not verify would let anyone on the broker empty the outbox.
            raise LookupError(
                f"agent {settings.agent_id}: the settings' key (its own, `slawatch-agent keys "
                "new`) and collector_key (the .pub beside the collector's signing key) are "
                "required to run"
            )
        outbox = Outbox(settings.outbox.dir, settings.outbox.max_bytes)
        publisher = Publisher(
            settings.broker,
            outbox,
            site=settings.site,
            agent_id=settings.agent_id,
            key=load_private(settings.key),
            collector_key=load_public(settings.collector_key),
            clock=self.clock.state,
        )
        poll = settings.poll
        self._writer = BatchWriter(
            outbox,
            site=settings.site,
            agent_id=settings.agent_id,
            on_written=publisher.wake,
            # Two polls of every device, each given its whole deadline.
            settle_s=2 * poll.interval.total_seconds()
            + poll.timeout.total_seconds() * (poll.retries + 1),
            load=self._load_report,
        )
        self.metrics.outbox_depth.set_function(lambda: outbox.depth)
        self.metrics.outbox_bytes.set_function(lambda: outbox.size_bytes)
        self.metrics.outbox_dropped.set_function(lambda: outbox.dropped)
        self.metrics.connected.set_function(lambda: 1 if publisher.connected else 0)
        self.metrics.acks_refused.set_function(lambda: publisher.acks_refused)
        self.metrics.clock_synchronised.set_function(
            lambda: 1 if self.clock.state() is ClockState.SYNCHRONISED else 0
        )
        self.clock.start()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGHUP, self.reload)
        async with self.probes() as probes:
            scheduler = self.scheduler = self.scheduler_for()
            self.metrics.watch(scheduler)
            interval_s = settings.poll.interval.total_seconds()
            self._load = LoadWindow(scheduler, interval_s)
            scheduler.set_plans(build_plans(inventory, credentials, probes, interval_s))
            heap.settle()
            self.metrics.devices.set(scheduler.devices)
            log.warning("agent %s polling %d devices", settings.agent_id, scheduler.devices)
            tasks = [
                asyncio.create_task(scheduler.run(), name="scheduler"),
                asyncio.create_task(self._flush_forever(), name="flush"),
                asyncio.create_task(self._reload_forever(probes), name="reload"),
            ]
            runner = await self._serve_metrics()
            publisher.start()
            try:
                await self._stop.wait()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await scheduler.close()
                self._writer.flush()
                if runner is not None:
                    await runner.cleanup()
                await asyncio.to_thread(publisher.stop)
                self.clock.stop()
                outbox.close()

    def _load_report(self) -> AgentLoad | None:
        """The agent's load over its last cycle, for the next batch (none before polling)."""
        return self._load.report() if self._load is not None else None

    async def _flush_forever(self) -> None:
        assert self._writer is not None
        while True:
            raise_if_cancelled()
            await asyncio.sleep(FLUSH_EVERY_S)
            self._writer.flush()

    async def _reload_forever(self, probes: ProbeSet) -> None:
        while True:
            raise_if_cancelled()
            await self._reload.wait()
            self._reload.clear()
            try:
                inventory, credentials = self.load_inventory()
            except Exception:  # a bad reload keeps the running inventory
                log.exception("inventory reload failed; keeping the current one")
                continue
            assert self.scheduler is not None
            self.scheduler.set_plans(
                build_plans(
                    inventory, credentials, probes, self.settings.poll.interval.total_seconds()
                )
            )
            self.metrics.devices.set(self.scheduler.devices)
            log.warning("inventory reloaded: %d devices", self.scheduler.devices)

    async def _serve_metrics(self) -> web.AppRunner | None:
        if self.settings.metrics_bind is None:
            return None
        host, _, port = self.settings.metrics_bind.rpartition(":")

        async def metrics(request: web.Request) -> web.Response:
            body = generate_latest(self.metrics.registry)
            return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, host, int(port)).start()
        return runner
