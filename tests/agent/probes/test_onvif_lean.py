"""Per-cycle camera liveness over the lean ONVIF path, and proof it reads what the library reads."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from onvif import ONVIFCamera

from agent.probes.base import Target
from agent.probes.camera_clock import camera_clock
from agent.probes.onvif_lean import REQUEST, OnvifLivenessProbe, _plain_utc, device_clock
from agent.probes.onvif_soap import BadReplyError, CameraBook, parse_reply
from agent.wire import ClockState, Health, Reason
from simulator.devices import Fault
from simulator.fleet_runner import FaultSpec, Fleet
from simulator.local_servers import free_port
from tests.conftest import SHARED_TESTDATA, FakeClock


@pytest.fixture
def probe(cameras: CameraBook) -> OnvifLivenessProbe:
    return OnvifLivenessProbe(timeout_s=0.5, clock_skew_limit_s=10, cameras=cameras)


async def test_a_live_camera_is_up_with_its_clock_offset(
    probe: OnvifLivenessProbe, targets: dict[str, Target], clock: FakeClock
) -> None:
    clock.now = time.time()  # the fleet's clock stood still while the fleet started
    result = await probe.probe(targets["CAM000001"], deep=False)
    assert result.health is Health.UP
    rtt_s = result.metrics["rtt_ms"] / 1000
    assert rtt_s > 0
    # The camera reports whole seconds and we compare with the request's midpoint: the
    # offset of an exact clock lies within one second of truncation plus half the round trip.
    assert -1 - rtt_s / 2 - 0.01 <= result.metrics["clock_offset_s"] <= rtt_s / 2 + 0.01


async def test_a_skewed_clock_is_degraded_not_down(
    probe: OnvifLivenessProbe, targets: dict[str, Target], fleet: Fleet, clock: FakeClock
) -> None:
    await fleet.inject("CAM000002", FaultSpec(Fault.CLOCK_SKEW, seconds=600))
    clock.now = time.time()
    result = await probe.probe(targets["CAM000002"], deep=False)
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.CLOCK_SKEW)
    assert 598 <= result.metrics["clock_offset_s"] <= 602


@pytest.mark.parametrize("state", [ClockState.UNKNOWN, ClockState.UNSYNCHRONISED])
async def test_a_camera_clock_is_not_judged_against_an_agent_clock_nobody_vouches_for(
    cameras: CameraBook,
    targets: dict[str, Target],
    fleet: Fleet,
    clock: FakeClock,
    state: ClockState,
) -> None:
    """The agent's own clock may be the wrong one: the skewed camera is not blamed, and
    its check says why it was not judged."""
    probe = OnvifLivenessProbe(0.5, 10, cameras, agent_clock=lambda: state)
    await fleet.inject("CAM000002", FaultSpec(Fault.CLOCK_SKEW, seconds=600))
    clock.now = time.time()
    result = await probe.probe(targets["CAM000002"], deep=False)
    assert (result.health, result.reason) == (Health.UP, Reason.OK)
    assert result.checks["clock"] is Reason.AGENT_CLOCK_UNKNOWN
    assert "clock_offset_s" not in result.metrics


@pytest.mark.parametrize(
    ("fault", "mode", "reason"),
    [
        (Fault.DOWN, "silent", Reason.TIMEOUT),
        (Fault.DOWN, "refused", Reason.REFUSED),
        (Fault.DOWN, "slow", Reason.TIMEOUT),
        (Fault.GARBAGE, None, Reason.BAD_RESPONSE),
        (Fault.TRUNCATED, None, Reason.BAD_RESPONSE),
        (Fault.HOSTILE, "billion_laughs", Reason.BAD_RESPONSE),
        (Fault.HOSTILE, "external_entity", Reason.BAD_RESPONSE),
        (Fault.HOSTILE, "oversize", Reason.BAD_RESPONSE),
        (Fault.HOSTILE, "endless_chunked", Reason.BAD_RESPONSE),
    ],
)
async def test_every_camera_failure_is_a_reason_never_an_exception(
    probe: OnvifLivenessProbe,
    targets: dict[str, Target],
    fleet: Fleet,
    fault: Fault,
    mode: str | None,
    reason: Reason,
) -> None:
    await fleet.inject("CAM000003", FaultSpec(fault, mode, seconds=5.0))
    result = await probe.probe(targets["CAM000003"], deep=False)
    assert (result.health, result.reason) == (Health.DOWN, reason)


async def test_a_camera_behind_a_dead_link_times_out(
    probe: OnvifLivenessProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    await fleet.inject("link:L0001", FaultSpec(Fault.DOWN))
    result = await probe.probe(targets["CAM000004"], deep=False)
    assert result.reason is Reason.TIMEOUT


CAPTURES = sorted(SHARED_TESTDATA.glob("onvif/*_GetSystemDateAndTime.xml"))
CAPTURE_BYTES = {capture.stem: capture.read_bytes() for capture in CAPTURES}


@pytest.fixture
async def capture_server() -> AsyncIterator[tuple[int, dict[str, bytes]]]:
    """Serves one real camera's captured reply, whatever is asked: a stand-in for that camera."""
    serving: dict[str, bytes] = {}

    async def reply(request: web.Request) -> web.Response:
        return web.Response(body=serving["body"], content_type="application/soap+xml")

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", reply)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield port, serving
    await runner.cleanup()


def test_the_real_captures_are_there() -> None:
    assert len(CAPTURES) >= 5, f"expected real captures under {SHARED_TESTDATA}"


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.stem for c in CAPTURES])
def test_the_quick_reading_is_the_trees_and_stands_aside_when_unsure(capture: Path) -> None:
    """Every real camera's reply is read without building its tree, to the same time the
    tree gives; a reply that is cut short, or holds a DTD or a comment, goes to lxml."""
    body = CAPTURE_BYTES[capture.stem]
    tree = camera_clock(parse_reply(body))
    assert _plain_utc(body) == tree
    assert device_clock(body) == tree
    with pytest.raises(BadReplyError):
        device_clock(body[: len(body) // 2])
    start = body.index(b"UTCDateTime>") + len(b"UTCDateTime>")
    commented = body[:start] + b"<!-- set by NTP -->" + body[start:]
    assert _plain_utc(commented) is None
    assert device_clock(commented) == tree


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.stem for c in CAPTURES])
async def test_lean_and_library_read_the_same_time_from_real_cameras(
    capture: Path, capture_server: tuple[int, dict[str, bytes]]
) -> None:
    port, serving = capture_server
    serving["body"] = CAPTURE_BYTES[capture.stem]
    lean = device_clock(serving["body"]).readings[0]

    camera = ONVIFCamera("127.0.0.1", port, None, None, no_cache=True)
    try:
        devicemgmt = await camera.create_devicemgmt_service()
        reply = await devicemgmt.authless_GetSystemDateAndTime()
    finally:
        await camera.close()
    utc = reply.UTCDateTime
    library = (
        utc.Date.Year,
        utc.Date.Month,
        utc.Date.Day,
        utc.Time.Hour,
        utc.Time.Minute,
        utc.Time.Second,
    )
    assert library == (lean.year, lean.month, lean.day, lean.hour, lean.minute, lean.second)


async def test_lean_and_library_agree_over_the_simulated_fleet(
    fleet: Fleet, targets: dict[str, Target]
) -> None:
    for target in targets.values():
        onvif = target.device.onvif
        if onvif is None:
            continue
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://{target.device.address}:{onvif.port}{onvif.path}",
                data=REQUEST,
            ) as response,
        ):
            lean = device_clock(await response.read()).readings[0]
        camera = ONVIFCamera(target.device.address, onvif.port, None, None, no_cache=True)
        try:
            reply = await (await camera.create_devicemgmt_service()).authless_GetSystemDateAndTime()
        finally:
            await camera.close()
        assert reply.UTCDateTime.Date.Year == lean.year
        assert (reply.UTCDateTime.Time.Hour, reply.UTCDateTime.Time.Minute) == (
            lean.hour,
            lean.minute,
        )
