"""The spool and the InfluxDB writer against a real server (VictoriaMetrics' v2 write API)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from agent.wire import Health, Reason, Status
from collector.pipeline.lines import millis, status_line, status_prefix, unknown_device_tags
from collector.timeseries.influx import InfluxWriter
from collector.timeseries.spool import OPEN_SEGMENT, Spool
from simulator.local_servers import VictoriaMetrics, free_port
from tests import reliability
from tests.collector.conftest import at, influx_settings
from tests.conftest import wait_for
from tests.reliability import Stopwatch


def statuses(devices: int, minutes: int) -> list[str]:
    lines = []
    for minute in range(minutes):
        for device in range(devices):
            down = (device + minute) % 7 == 0
            status = Status(
                device_id=f"CAM{device:03d}",
                observed_at=at(minute),
                health=Health.DOWN if down else Health.UP,
                reason=Reason.TIMEOUT if down else Reason.OK,
                metrics={"rtt_ms": float(device + minute)},
            )
            tags = unknown_device_tags(status.device_id, "edge-1")
            lines.append(status_line(status_prefix(tags, status.health, status.reason), status))
    return lines


@pytest.fixture
def spools() -> Iterator[Callable[..., Spool]]:
    opened: list[Spool] = []

    def open_spool(folder: Path, max_bytes: int = 1 << 30, segment_lines: int = 5000) -> Spool:
        opened.append(Spool(folder, max_bytes=max_bytes, segment_lines=segment_lines))
        return opened[-1]

    yield open_spool
    for spool in opened:
        spool.close()


@pytest.fixture
async def running() -> AsyncIterator[Callable[[InfluxWriter], Awaitable[None]]]:
    tasks: list[asyncio.Task[None]] = []

    async def start(writer: InfluxWriter) -> None:
        tasks.append(asyncio.create_task(writer.run()))

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def rtt_samples(server: VictoriaMetrics) -> dict[tuple[str, int], float]:
    stored = {}
    for series in server.export('{__name__="device_status_rtt_ms"}'):
        for stamp, value in zip(series["timestamps"], series["values"], strict=True):
            stored[(series["metric"]["device"], stamp)] = value
    return stored


def expected_rtts(devices: int, minutes: int) -> dict[tuple[str, int], float]:
    return {
        (f"CAM{device:03d}", millis(at(minute))): float(device + minute)
        for minute in range(minutes)
        for device in range(devices)
    }


async def test_every_spooled_point_is_stored_and_leaves_the_spool(
    tmp_path: Path,
    spools: Callable[..., Spool],
    victoria: VictoriaMetrics,
    running: Callable[[InfluxWriter], Awaitable[None]],
) -> None:
    spool = spools(tmp_path / "spool", segment_lines=100)
    spool.append(statuses(devices=20, minutes=30))
    spool.seal()
    writer = InfluxWriter(influx_settings(victoria.url, tmp_path), spool)
    await running(writer)
    await wait_for(lambda: not spool.sealed())
    assert writer.written_segments == 6
    assert rtt_samples(victoria) == expected_rtts(20, 30)
    down = victoria.export('{__name__="device_status_health_code", reason="timeout"}')
    assert sum(len(series["values"]) for series in down) == sum(
        1 for d in range(20) for m in range(30) if (d + m) % 7 == 0
    )


async def test_an_influx_outage_loses_no_point(
    tmp_path: Path,
    spools: Callable[..., Spool],
    victoria: VictoriaMetrics,
    running: Callable[[InfluxWriter], Awaitable[None]],
) -> None:
    spool = spools(tmp_path / "spool", segment_lines=50)
    writer = InfluxWriter(
        influx_settings(victoria.url, tmp_path), spool, retry_s=0.1, max_retry_s=0.3
    )
    await running(writer)
    lines = statuses(devices=10, minutes=60)
    spool.append(lines[:200])
    await wait_for(lambda: writer.written_segments == 4)

    victoria.stop()
    spool.append(lines[200:])  # the collector keeps ingesting while the server is down
    await wait_for(lambda: writer.failures >= 2)
    assert len(spool.sealed()) >= 7

    victoria.start()
    back = Stopwatch()
    await wait_for(lambda: not spool.sealed())
    recovered_s = back.seconds()
    stored = rtt_samples(victoria)
    assert stored == expected_rtts(10, 60)
    reliability.record(
        "timeseries-outage",
        unit="points",
        sent=len(expected_rtts(10, 60)),
        arrived=len(stored),
        recovered_s=recovered_s,
    )


async def test_a_segment_the_server_will_never_take_is_moved_aside_with_its_reason(
    tmp_path: Path, spools: Callable[..., Spool], running: Callable[[InfluxWriter], Awaitable[None]]
) -> None:
    # VictoriaMetrics answers 204 even to malformed line protocol, so it cannot produce
    # this case: a stand-in HTTP server answers like InfluxDB does to a bad line (400).
    received: list[bytes] = []

    async def write(request: web.Request) -> web.Response:
        body = await request.read()
        received.append(body)
        if len(received) == 1:
            return web.json_response({"code": "invalid", "message": "unable to parse"}, status=400)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/api/v2/write", write)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        spool = spools(tmp_path / "spool", segment_lines=10)
        spool.append(statuses(devices=10, minutes=2))
        writer = InfluxWriter(influx_settings(f"http://127.0.0.1:{port}", tmp_path), spool)
        await running(writer)
        await wait_for(lambda: not spool.sealed())
    finally:
        await runner.cleanup()
    assert (writer.rejected_segments, writer.written_segments) == (1, 1)
    reason = (spool.rejected / "000000000000.lp.reason").read_text(encoding="utf-8")
    assert "HTTP 400" in reason
    assert "unable to parse" in reason
    assert (spool.rejected / "000000000000.lp").read_text(encoding="utf-8").count("\n") == 10


def test_a_crash_mid_line_leaves_only_whole_lines_to_send(
    tmp_path: Path, spools: Callable[..., Spool]
) -> None:
    folder = tmp_path / "spool"
    folder.mkdir()
    lines = statuses(devices=3, minutes=1)
    (folder / OPEN_SEGMENT).write_text("\n".join(lines) + "\n" + lines[0][:20], encoding="utf-8")
    spool = spools(folder)
    [segment] = spool.sealed()
    assert segment.read_text(encoding="utf-8").splitlines() == lines


def test_a_full_spool_drops_its_oldest_segment_and_counts_it(
    tmp_path: Path, spools: Callable[..., Spool]
) -> None:
    spool = spools(tmp_path / "spool", max_bytes=1 << 20, segment_lines=1000)
    lines = statuses(devices=100, minutes=130)  # ~1.3 MB of line protocol
    spool.append(lines)
    spool.seal()
    assert spool.dropped_segments >= 1
    kept = "".join(path.read_text(encoding="utf-8") for path in spool.sealed()).splitlines()
    assert kept == lines[-len(kept) :]
    assert sum(path.stat().st_size for path in spool.sealed()) <= 1 << 20
