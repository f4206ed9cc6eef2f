"""``/metrics`` in Prometheus' text format: alert deliveries by sink and outcome, the
collector's own counters, and what it holds now (ledger rows, open tickets by class,
spool backlog, lag behind the watermark, each agent's silence), read at scrape time
(nothing to keep in step). ``deploy/grafana/slawatch.json`` charts them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector as MetricSource

if TYPE_CHECKING:
    from agent.wire import AgentLoad
    from collector.service import Collector
    from collector.web.console.live import EventHub


def active_metric(active: bool, term: int | None) -> Metric:
    """Which of a district's collectors is the active one (a standby says 0)."""
    found = GaugeMetricFamily(
        "slawatch_collector_active",
        "1 on the active collector, 0 on a standby; the ledger lease's term when shared",
        labels=["lease_term"],
    )
    found.add_metric(["" if term is None else str(term)], 1.0 if active else 0.0)
    return found


class _Scrape(MetricSource):
    def __init__(self, collector: Collector, hub: EventHub | None) -> None:
        self._collector = collector
        self._hub = hub

    def collect(self) -> Iterator[Metric]:
        lease = self._collector.lease
        yield active_metric(not self._collector.standby, None if lease is None else lease.term)
        notifier = self._collector.notifier
        attempts = CounterMetricFamily(
            "slawatch_alert_deliveries",
            "Alert delivery attempts by sink (receiver/channel) and outcome",
            labels=["sink", "outcome"],
        )
        for sink, count in notifier.delivered.items():
            attempts.add_metric([sink, "delivered"], count)
            attempts.add_metric([sink, "refused"], notifier.skipped[sink])
            attempts.add_metric([sink, "unreachable"], notifier.unreachable[sink])
        yield attempts
        failing = GaugeMetricFamily(
            "slawatch_alert_sink_failing_seconds",
            "How long each alert sink has been failing (unreachable or refusing alerts), "
            "from the outage's start as stored in the ledger's file",
            labels=["sink"],
        )
        now = time.time()
        for sink, since in notifier.failing().items():
            failing.add_metric([sink], now - since)
        yield failing
        unreached = GaugeMetricFamily(
            "slawatch_alert_receiver_unreached",
            "1 for each receiver whose alerts reach no one: a channel failing past "
            "failing_after, and no channel of it nor of its fallbacks working",
            labels=["receiver"],
        )
        for receiver in self._collector.alerts_status()["reaching_no_one"]:
            unreached.add_metric([receiver], 1.0)
        yield unreached
        counters = self._collector.counters
        for name in (
            "batches", "statuses", "duplicates", "dead_letters", "clock_refused", "unsigned",
            "offline_refused", "conflicts", "clock_held_batches", "clock_held_statuses",
        ):  # fmt: skip
            yield CounterMetricFamily(
                f"slawatch_collector_{name}",
                f"Collector {name.replace('_', ' ')}",
                value=getattr(counters, name),
            )
        receipts = self._collector.receipts
        for name, meaning in (
            ("gaps_opened", "Gaps seen in an agent's batch sequence"),
            ("gaps_filled", "Gaps closed: the missing batches arrived or were declared lost"),
            ("batches_lost", "Batches an agent dropped before the collector had them"),
        ):
            yield CounterMetricFamily(
                f"slawatch_collector_{name}", meaning, value=getattr(receipts, name)
            )
        open_gaps = GaugeMetricFamily(
            "slawatch_collector_batches_awaited",
            "Batches missing from an agent's sequence, awaited from its outbox",
            labels=["sequence"],
        )
        for key, awaited in receipts.awaited().items():
            open_gaps.add_metric([key], awaited)
        yield open_gaps
        yield from self._state()

    def _state(self) -> Iterator[Metric]:
        """What the collector holds now: ledger, tickets, spool, how far behind it is."""
        collector = self._collector
        yield GaugeMetricFamily(
            "slawatch_collector_ledger_rows", "Rows in the ledger", value=collector.ledger.next_seq
        )
        tickets = GaugeMetricFamily(
            "slawatch_collector_open_tickets", "Open fault tickets by class", labels=["class"]
        )
        by_class = {"front_end": 0, "network": 0}
        for ticket in collector.pipeline.faults.open_tickets():
            if ticket.merged_into is None:
                by_class[ticket.fault_class] = by_class.get(ticket.fault_class, 0) + 1
        for fault_class, count in sorted(by_class.items()):
            tickets.add_metric([fault_class], count)
        yield tickets
        sealed = collector.spool.sealed()
        yield GaugeMetricFamily(
            "slawatch_collector_spool_segments",
            "Time-series segments spooled and not yet written to the time-series server",
            value=len(sealed),
        )
        yield GaugeMetricFamily(
            "slawatch_collector_spool_bytes",
            "Bytes of those segments",
            value=sum(segment.stat().st_size for segment in sealed if segment.exists()),
        )
        watermark = collector.pipeline.watermark
        if watermark is not None:
            yield GaugeMetricFamily(
                "slawatch_collector_watermark_lag_seconds",
                "How far the latest observation taken in is behind the collector's clock",
                value=max(0.0, time.time() - watermark.timestamp()),
            )
        blocked = collector.store.blocked_since
        yield GaugeMetricFamily(
            "slawatch_collector_store_blocked_seconds",
            "How long the ledger's disk has taken no commit (locked, full); 0 when it does",
            value=0.0 if blocked is None else time.time() - blocked,
        )
        yield GaugeMetricFamily(
            "slawatch_collector_store_held_messages",
            "MQTT messages held unacknowledged until the ledger's disk takes a commit",
            value=collector.store.held,
        )
        heard = GaugeMetricFamily(
            "slawatch_agent_silent_seconds",
            "Seconds since each agent's last batch arrived",
            labels=["agent"],
        )
        now = time.time()
        for agent_id, moment in sorted(collector.agent_heard.items()):
            heard.add_metric([agent_id], now - moment.timestamp())
        yield heard
        offsets = GaugeMetricFamily(
            "slawatch_agent_clock_offset_seconds",
            "Each agent's clock minus the collector's, estimated from its batches' send times",
            labels=["agent"],
        )
        off = GaugeMetricFamily(
            "slawatch_agent_clock_off",
            "1 while an agent's clock is off beyond the tolerance (its devices unknown)",
            labels=["agent"],
        )
        for agent_id, reading in collector.clocks.readings().items():
            offsets.add_metric([agent_id], reading.offset.total_seconds())
            off.add_metric([agent_id], 1.0 if agent_id in collector.clocks_off else 0.0)
        yield offsets
        yield off
        unsigned = GaugeMetricFamily(
            "slawatch_agent_unsigned_allowed",
            "1 for each agent heard unsigned (its site's allow_unsigned_agents, migration only)",
            labels=["agent"],
        )
        for agent_id in sorted(collector.unsigned_agents):
            unsigned.add_metric([agent_id], 1.0)
        yield unsigned
        yield from _agent_loads(collector)
        if self._hub is not None:
            yield GaugeMetricFamily(
                "slawatch_console_event_streams",
                "Browsers holding the console's live updates open",
                value=self._hub.clients,
            )


# Each agent's own load as it last reported it, over its last cycle: an overloaded
# agent's devices are unknown, not down (alert on ``slawatch_agent_load_overloaded``).
_AGENT_LOAD: tuple[tuple[str, str, Callable[[AgentLoad], float]], ...] = (
    (
        "slawatch_agent_load_overloaded",
        "1 while an agent reports it is behind (its own stall, missed or late cycles)",
        lambda load: 1.0 if load.overloaded else 0.0,
    ),
    (
        "slawatch_agent_load_stalled_results",
        "Results an agent discarded over its last cycle as its own stall (devices unknown)",
        lambda load: load.stalled_results,
    ),
    (
        "slawatch_agent_load_late_probes",
        "Probes an agent started late over its last cycle",
        lambda load: load.late,
    ),
    (
        "slawatch_agent_load_missed_cycles",
        "Device cycles an agent never started over its last cycle",
        lambda load: load.missed,
    ),
    (
        "slawatch_agent_load_loop_lag_max_seconds",
        "The longest lag of an agent's event loop over its last cycle",
        lambda load: load.lag_max_s,
    ),
)


def _agent_loads(collector: Collector) -> Iterator[Metric]:
    loads = sorted(collector.agent_load.items())
    for name, documentation, value in _AGENT_LOAD:
        family = GaugeMetricFamily(name, documentation, labels=["agent"])
        for agent_id, load in loads:
            family.add_metric([agent_id], value(load))
        yield family


def exposition(collector: Collector, hub: EventHub | None) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(collector, hub))
    return generate_latest(registry)
