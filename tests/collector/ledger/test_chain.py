"""The whole chain, as deployed: simulated devices → agent → mosquitto → collector → the
time-series server and the ledger → the SLA report, checked against figures worked out by
hand from the fault the test caused.

The link behind every simulated device is cut for a measured stretch of wall time. Each
device is polled every second; the outage starts at the first failed poll after the cut
and ends at the first good one after the repair, so each device's downtime is the cut's
length within one poll either side, and its online rate is 1 − downtime / covered time.
Every status the agent published reaches both stores: counted in the time series.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from simulator.devices import Fault
from simulator.fleet_runner import FaultSpec, Fleet
from simulator.local_servers import Mosquitto, VictoriaMetrics
from slawatch.config.inventory import Inventory
from tests.collector.live import (
    field_agent,
    field_collector,
    field_policy,
    load_collector,
    running,
)
from tests.conftest import REPO, wait_for
from tests.ledgers import ledger_in

POLL_S = 1.0


@pytest.mark.alone  # real seconds timed: neighbours would slow its devices or agent
async def test_a_cut_link_shows_in_the_sla_as_the_downtime_it_caused(
    tmp_path: Path,
    inventory: Inventory,
    fleet: Fleet,
    broker: Mosquitto,
    victoria: VictoriaMetrics,
) -> None:
    policy = field_policy(tmp_path, debounce={"down_after": 2, "up_after": 1, "stale_after": "10s"})
    (tmp_path / "influx-token").write_text("token\n", encoding="utf-8")
    settings_file = field_collector(
        tmp_path,
        broker.port,
        policy,
        influx={
            "url": victoria.url,
            "org": "bureau",
            "bucket": "slawatch",
            "token": {"file": str(tmp_path / "influx-token")},
            "batch_lines": 50,
        },
    )
    agent = field_agent(tmp_path, broker.port, POLL_S)
    link = inventory.links[0].id
    cameras = [d.id for d in inventory.devices if d.kind.value == "camera" and d.onvif]
    async with running(load_collector(settings_file)) as collector:
        async with agent:
            await wait_for(lambda: collector.pipeline.watermark is not None, 20)
            start = datetime.now(UTC)
            await asyncio.sleep(6)
            cut_at = time.time()
            await fleet.inject(f"link:{link}", FaultSpec(Fault.DOWN))
            await asyncio.sleep(8)
            await fleet.clear(f"link:{link}")
            cut_s = time.time() - cut_at
            await asyncio.sleep(6)
            end = datetime.now(UTC)
            await agent.stop()
        taken = collector.counters.statuses

        def points() -> int:
            stored = victoria.export('{__name__="device_status_health_code"}')
            return sum(len(series["values"]) for series in stored)

        # Every status the collector took reaches the time series (the spool seals its
        # open segment after a second, the writer sends it).
        await wait_for(lambda: points() == taken > 0, 30)

    zone = ZoneInfo("Asia/Shanghai")
    period = (
        f"{start.astimezone(zone).isoformat(timespec='seconds')}/"
        f"{end.astimezone(zone).isoformat(timespec='seconds')}"
    )
    report = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "collector.cli",
            "sla",
            "--ledger",
            ledger_in(tmp_path),
            "--inventory",
            str(tmp_path / "inventory.yaml"),
            "--impose",
            str(policy),
            "--period",
            period,
            "--group-by",
            "device",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    groups = {g["key"]: g for g in json.loads(report.stdout)["groups"]}
    covered_s = (end - start).total_seconds()
    for camera in cameras:
        online = groups[camera]["online_rate"]
        worked = 1 - cut_s / covered_s
        # Downtime is the cut within a poll either side (first failed and first good poll),
        # and the covered time may lose up to a poll at each end of the period; one poll
        # more for a busy machine's late one (still far from no downtime or twice the cut).
        slack = 4 * POLL_S / covered_s
        assert abs(online - worked) <= slack, (camera, online, worked, cut_s, covered_s)
