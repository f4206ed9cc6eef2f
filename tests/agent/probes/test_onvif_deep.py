"""The slower camera checks: credentials, live video over RTSP, and recent recordings."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agent.probes.base import Target
from agent.probes.onvif_deep import OnvifDeepProbe
from agent.probes.onvif_soap import CameraBook
from agent.probes.tcp import TcpProbe
from agent.wire import Health, Reason
from simulator.devices import Fault
from simulator.fleet_runner import FaultSpec, Fleet
from slawatch.config.inventory import TcpSettings


@pytest.fixture
def deep(cameras: CameraBook) -> OnvifDeepProbe:
    return OnvifDeepProbe(timeout_s=1.0, recording_tolerance_s=1800, cameras=cameras)


def camera_with_recordings(fleet: Fleet) -> str:
    """The simulated firmware that offers Profile G search (recordings) is the Uniview one."""
    return next(d.id for d in fleet.devices if d.spec.vendor == "Uniview")


async def test_a_healthy_camera_passes_every_deep_check(
    deep: OnvifDeepProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    device_id = camera_with_recordings(fleet)
    result = await deep.probe(targets[device_id], deep=True)
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert result.checks == {
        "credentials": Reason.OK,
        "stream": Reason.OK,
        "recording": Reason.OK,
    }
    assert result.metrics["recording_lag_s"] < 5


async def test_cameras_without_search_service_skip_the_recording_check(
    deep: OnvifDeepProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    hikvision = next(d.id for d in fleet.devices if d.spec.vendor == "Hikvision")
    result = await deep.probe(targets[hikvision], deep=True)
    assert result.health is Health.UP
    assert "recording" not in result.checks


async def test_a_wrong_password_is_auth_failed_which_is_not_offline(
    deep: OnvifDeepProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    await fleet.inject("CAM000002", FaultSpec(Fault.WRONG_CREDENTIALS))
    result = await deep.probe(targets["CAM000002"], deep=True)
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.AUTH_FAILED)


async def test_live_video_unavailable_is_degraded(
    deep: OnvifDeepProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    await fleet.inject("CAM000003", FaultSpec(Fault.STREAM_UNAVAILABLE, "refused"))
    result = await deep.probe(targets["CAM000003"], deep=True)
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.STREAM_UNAVAILABLE)
    assert result.checks["credentials"] is Reason.OK


async def test_a_recording_gap_is_no_recent_recording(
    deep: OnvifDeepProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    device_id = camera_with_recordings(fleet)
    await fleet.inject(device_id, FaultSpec(Fault.RECORDING_GAP, seconds=3 * 3600))
    result = await deep.probe(targets[device_id], deep=True)
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.NO_RECENT_RECORDING)
    assert result.metrics["recording_lag_s"] >= 3 * 3600 - 5


@pytest.mark.parametrize(
    ("fault", "mode", "reason"),
    [
        (Fault.DOWN, "silent", Reason.TIMEOUT),
        (Fault.DOWN, "refused", Reason.REFUSED),
        (Fault.GARBAGE, None, Reason.BAD_RESPONSE),
        (Fault.HOSTILE, "external_entity", Reason.BAD_RESPONSE),
        (Fault.HOSTILE, "oversize", Reason.BAD_RESPONSE),  # 64 MiB: read up to the cap
        (Fault.HOSTILE, "endless_chunked", Reason.BAD_RESPONSE),
    ],
)
async def test_a_dead_or_broken_camera_is_down(
    deep: OnvifDeepProbe,
    targets: dict[str, Target],
    fleet: Fleet,
    fault: Fault,
    mode: str | None,
    reason: Reason,
) -> None:
    await fleet.inject("CAM000004", FaultSpec(fault, mode))
    result = await deep.probe(targets["CAM000004"], deep=True)
    assert (result.health, result.reason) == (Health.DOWN, reason)


async def test_tcp_fallback_sees_an_open_port_and_a_refused_one(
    targets: dict[str, Target], fleet: Fleet
) -> None:
    probe = TcpProbe(timeout_s=0.5)
    camera = targets["CAM000005"]
    onvif = camera.device.onvif
    assert onvif is not None
    reachable = Target(replace(camera.device, tcp=TcpSettings(port=onvif.port)), camera.credentials)
    assert (await probe.probe(reachable, deep=False)).health is Health.UP
    await fleet.inject("CAM000005", FaultSpec(Fault.DOWN, "refused"))
    result = await probe.probe(reachable, deep=False)
    assert (result.health, result.reason) == (Health.DOWN, Reason.REFUSED)
