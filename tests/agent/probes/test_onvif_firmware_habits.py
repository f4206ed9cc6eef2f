"""Real firmware's habits, each replayed by the simulator (a ``Quirk``), each judged by the
agent beside a reference client's result on the same camera: where npm ``onvif`` or
onvif-zeep-async reads what a check needs, the agent calls the camera up (issue 29).

The agent's verdict is what ``slawatch-agent probe`` shows: liveness (the lean path)
and the deep checks, combined; and every check that is not ``ok`` carries a note.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from agent.probes.base import Credentials, ProbeResult, Target, combine
from agent.probes.onvif_deep import OnvifDeepProbe
from agent.probes.onvif_lean import OnvifLivenessProbe
from agent.probes.onvif_soap import CameraBook
from agent.wire import Health, Reason
from simulator.devices import MEDIA_PORT, VIEWER, Fault, Quirk
from simulator.fleet_runner import FaultSpec, Fleet
from tests.conftest import PASSWORD, FakeClock
from tests.reference_clients import npm_onvif, onvif_zeep

CAMERA = "CAM000001"


Verdict = Callable[[Target], Awaitable[ProbeResult]]


@pytest.fixture
def verdict(clock: FakeClock, cameras: CameraBook) -> Verdict:
    async def judge(target: Target) -> ProbeResult:
        clock.now = time.time()  # the cameras' clock is the wall clock when asked
        live = await OnvifLivenessProbe(1.0, 10, cameras).probe(target, deep=False)
        deep = await OnvifDeepProbe(1.0, 1800, cameras).probe(target, deep=True)
        return combine(live, deep)

    return judge


async def reference(fleet: Fleet, client: str, password: str = PASSWORD) -> dict[str, Any]:
    spec = fleet.by_id[CAMERA].spec
    assert spec.onvif is not None
    read = npm_onvif if client == "npm" else onvif_zeep
    return await read(spec.address, spec.onvif.port, "admin", password)


def explained(result: ProbeResult) -> None:
    """Every check that is not ``ok`` says what was wrong."""
    for check, reason in result.checks.items():
        if reason is not Reason.OK:
            assert result.notes.get(check), (check, result)


async def test_local_time_and_tz_without_utc_is_alive_and_its_clock_judged(
    fleet: Fleet, targets: dict[str, Target], verdict: Verdict
) -> None:
    fleet.give(CAMERA, Quirk.ONVIF_LOCAL_TIME_ONLY)
    result = await verdict(targets[CAMERA])
    npm = await reference(fleet, "npm")
    assert npm["ok"] is True, npm  # connects, reads device info and the stream URI
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert result.checks["clock"] is Reason.OK
    assert abs(result.metrics["clock_offset_s"]) < 2  # local time less UTC+8 is our time
    assert "TZ CST-8:00:00 (UTC+8)" in result.notes["clock"]

    # A clock really off is still seen through the local time.
    await fleet.inject(CAMERA, FaultSpec(Fault.CLOCK_SKEW, seconds=900))
    result = await verdict(targets[CAMERA])
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.CLOCK_SKEW), result
    assert 898 <= result.metrics["clock_offset_s"] <= 902


async def test_device_information_the_agent_cannot_parse_leaves_the_camera_up(
    fleet: Fleet, targets: dict[str, Target], verdict: Verdict
) -> None:
    fleet.give(CAMERA, Quirk.ONVIF_DEVICE_INFO_GBK)  # GBK bytes under a UTF-8 declaration
    npm, zeep = await reference(fleet, "npm"), await reference(fleet, "zeep")
    result = await verdict(targets[CAMERA])
    assert npm["ok"] is True, npm
    assert zeep["ok"] is True, zeep
    assert npm["uri"] == zeep["uri"]
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert result.checks["device_info"] is Reason.UNSUPPORTED
    assert result.checks["stream"] is Reason.OK
    assert "GetDeviceInformation: not XML: Invalid bytes" in result.notes["device_info"]
    explained(result)


async def test_the_media_service_on_its_own_port_is_called_there(
    fleet: Fleet, targets: dict[str, Target], verdict: Verdict
) -> None:
    fleet.give(CAMERA, Quirk.ONVIF_MEDIA_OWN_PORT)  # device on its port, media on 8080
    zeep = await reference(fleet, "zeep")
    result = await verdict(targets[CAMERA])
    assert zeep["ok"] is True, zeep
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert result.checks["stream"] is Reason.OK
    address = fleet.by_id[CAMERA].spec.address
    assert result.notes["media_service"].startswith(f"http://{address}:{MEDIA_PORT}/")
    assert "nat" not in result.notes  # the same address: nothing rewritten

    # Behind NAT the advertised address is rewritten, and the note says so and why.
    fleet.give(CAMERA, Quirk.NAT)
    fleet.take_away(CAMERA, Quirk.ONVIF_MEDIA_OWN_PORT)
    result = await verdict(targets[CAMERA])
    assert result.health is Health.UP, result
    assert "NAT: the advertised address is not the inventory's" in result.notes["nat"]
    assert "192.168.1.64:554" in result.notes["stream_uri"]


async def test_embedded_stream_credentials_are_kept_and_used_without_inventory_ones(
    fleet: Fleet, targets: dict[str, Target], verdict: Verdict
) -> None:
    camera = fleet.by_id[CAMERA]
    camera.username = camera.password = None  # a camera without accounts but its viewer's
    fleet.give(CAMERA, Quirk.RTSP_CREDENTIALS_IN_URI)
    fleet.give(CAMERA, Quirk.NAT)  # the rewrite must keep user:pass@
    target = dataclasses.replace(targets[CAMERA], credentials=Credentials())
    npm = await reference(fleet, "npm")
    result = await verdict(target)
    assert npm["ok"] is True, npm
    assert npm["uri"].startswith(f"rtsp://{VIEWER[0]}:{VIEWER[1]}@")
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert result.checks["stream"] is Reason.OK
    assert result.notes["rtsp_auth"] == "digest (credentials from the stream URI)"
    assert "credentials" not in result.checks  # none in the inventory: nothing to judge
    assert result.notes["onvif_auth"] == "none (no credentials in the inventory)"
    assert VIEWER[1] not in " ".join(result.notes.values())  # never shown


async def test_rtsp_redirects_are_followed_and_said(
    fleet: Fleet, targets: dict[str, Target], verdict: Verdict
) -> None:
    fleet.give(CAMERA, Quirk.RTSP_REDIRECT)
    result = await verdict(targets[CAMERA])
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert result.notes["rtsp_redirect"].startswith("RTSP 302 Location: rtsp://")
    assert "/moved/" in result.notes["rtsp_redirect"]
    moved = result.notes["rtsp_redirect"].removeprefix("RTSP 302 Location: ")

    await fleet.inject(CAMERA, FaultSpec(Fault.STREAM_UNAVAILABLE, "refused"))
    result = await verdict(targets[CAMERA])
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.STREAM_UNAVAILABLE)
    assert result.notes["stream"].endswith("RTSP 503, after RTSP 302 Location: " + moved)
    explained(result)


@pytest.mark.parametrize(
    ("quirk", "client"),
    [
        (Quirk.ONVIF_CHARSET_GB2312, "zeep"),  # GB2312, the charset only in Content-Type
        (Quirk.ONVIF_BOM, "npm"),  # a BOM and a blank line before <?xml
        (Quirk.ONVIF_HTTP10, "npm"),  # HTTP/1.0, no Content-Length, ended by the close
        (Quirk.ONVIF_BARE_LF, "zeep"),  # header lines ended by LF (npm's parser refuses)
        (Quirk.ONVIF_SOAP11, "npm"),  # text/xml, SOAP 1.1 envelopes
    ],
)
async def test_http_and_charset_habits_that_reference_clients_accept(
    fleet: Fleet, targets: dict[str, Target], verdict: Verdict, quirk: Quirk, client: str
) -> None:
    fleet.give(CAMERA, quirk)
    read = await reference(fleet, client)
    result = await verdict(targets[CAMERA])
    assert read["ok"] is True, read
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert set(result.checks.values()) == {Reason.OK}, result
    if quirk is Quirk.ONVIF_CHARSET_GB2312:
        assert result.notes["device"].startswith("海康威视 网络摄像机")  # read in its charset

    # The same camera with the wrong password: the reference refuses, the agent says so.
    await fleet.inject(CAMERA, FaultSpec(Fault.WRONG_CREDENTIALS))
    read = await reference(fleet, client)
    result = await verdict(targets[CAMERA])
    assert read["ok"] is False
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.AUTH_FAILED), result


@pytest.mark.parametrize(("fault", "mode"), [(Fault.GARBAGE, None), (Fault.TRUNCATED, None)])
async def test_a_camera_that_answers_nonsense_is_down_and_says_what_was_wrong(
    fleet: Fleet, targets: dict[str, Target], verdict: Verdict, fault: Fault, mode: str | None
) -> None:
    await fleet.inject(CAMERA, FaultSpec(fault, mode))
    result = await verdict(targets[CAMERA])
    assert (result.health, result.reason) == (Health.DOWN, Reason.BAD_RESPONSE), result
    assert result.notes["liveness"].startswith("not XML: "), result
