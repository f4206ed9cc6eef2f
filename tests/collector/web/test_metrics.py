"""The collector watches itself: /metrics has what an operator graphs, and the shipped
Grafana dashboard asks only for metrics the collector serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from simulator.local_servers import Mosquitto, free_port
from tests.collector.live import (
    API_TOKEN,
    FakeAgent,
    load_collector,
    running,
    write_settings,
)
from tests.collector.test_service import minute_of
from tests.conftest import REPO, wait_for

DASHBOARD = REPO / "deploy" / "grafana" / "slawatch.json"


async def test_metrics_show_state_backlog_and_lag_and_the_dashboard_reads_only_those(
    tmp_path: Path, broker: Mosquitto
) -> None:
    api_port = free_port()
    agent = FakeAgent(broker.port)
    async with running(
        load_collector(write_settings(tmp_path, broker.port, api_port=api_port))
    ) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(
            agent.batch(minute_of(0)), agent.batch(minute_of(1, frozenset({"CAM001"})))
        )
        await agent.publish(agent.batch(minute_of(2, frozenset({"CAM001"}))))
        await wait_for(lambda: collector.counters.batches == 3)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{api_port}",
            headers={"authorization": f"Bearer {API_TOKEN}"},
        ) as api:
            text = (await api.get("/metrics")).text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in families.values()
        for sample in family.samples
    }
    assert samples[("slawatch_collector_ledger_rows", ())] == collector.ledger.next_seq
    assert samples[("slawatch_collector_open_tickets", (("class", "front_end"),))] == 1
    assert samples[("slawatch_collector_open_tickets", (("class", "network"),))] == 0
    assert ("slawatch_agent_silent_seconds", (("agent", "edge-1"),)) in samples
    assert samples[("slawatch_collector_watermark_lag_seconds", ())] > 0  # 2026-07-01 observations
    assert ("slawatch_collector_spool_segments", ()) in samples

    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    asked = {
        name.removesuffix("_total")
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\bslawatch_[a-z_]+", target.get("expr", ""))
    }
    assert asked, "the dashboard asks for no slawatch metric"
    assert asked <= set(families), asked - set(families)
    flux = [t["query"] for p in dashboard["panels"] for t in p["targets"] if "query" in t]
    written = 'r._measurement == "device_state"'  # the measurement of collector/pipeline/lines.py
    assert all(written in query for query in flux)
