"""``/metrics`` in Prometheus' text format: alert deliveries by sink and outcome, and the
collector's own counters, read at scrape time (nothing to keep in step)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector as MetricSource

if TYPE_CHECKING:
    from collector.service import Collector


class _Scrape(MetricSource):
    def __init__(self, collector: Collector) -> None:
        self._collector = collector

    def collect(self) -> Iterator[Metric]:
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
            "How long each unreachable alert sink has been failing",
            labels=["sink"],
        )
        now = time.time()
        for sink, since in notifier.failing().items():
            failing.add_metric([sink], now - since)
        yield failing
        counters = self._collector.counters
        for name in ("batches", "statuses", "duplicates", "dead_letters", "clock_refused"):
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
        for key, gaps in receipts.open_gaps().items():
            open_gaps.add_metric([key], sum(last - first + 1 for first, last in gaps))
        yield open_gaps


def exposition(collector: Collector) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape(collector))
    return generate_latest(registry)
