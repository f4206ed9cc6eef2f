"""Working cameras that behave like real firmware are never counted offline.

Each scenario is a behaviour seen on real cameras, which the simulator replays (its
replies are real cameras' captures; the quirks are the ways real firmware differs):
Digest-only SOAP, credentials demanded for the clock (Vivotek's captured fault), a
camera clock that is off while tokens are checked for replay, SOAP 1.1 replies, a fault
on GetDeviceInformation ("Too weak password."), Media2 and Media1, and port forwarding.
"""

from __future__ import annotations

import time

import pytest

from agent.probes.base import Target
from agent.probes.onvif_deep import OnvifDeepProbe
from agent.probes.onvif_lean import OnvifLivenessProbe
from agent.probes.onvif_soap import Auth, CameraBook
from agent.wire import Health, Reason
from simulator.devices import LAN_ADDRESS, Fault, Quirk
from simulator.fleet_runner import FaultSpec, Fleet
from tests.conftest import FakeClock


@pytest.fixture
def deep(cameras: CameraBook) -> OnvifDeepProbe:
    return OnvifDeepProbe(timeout_s=1.0, recording_tolerance_s=1800, cameras=cameras)


@pytest.fixture
def liveness(cameras: CameraBook) -> OnvifLivenessProbe:
    return OnvifLivenessProbe(timeout_s=1.0, clock_skew_limit_s=10, cameras=cameras)


@pytest.fixture(autouse=True)
def wall_clock(clock: FakeClock) -> None:
    clock.now = time.time()  # tokens are stamped from the wall clock


def camera_of(fleet: Fleet, vendor: str) -> str:
    return next(d.id for d in fleet.devices if d.spec.vendor == vendor)


@pytest.mark.parametrize("quirk", [Quirk.ONVIF_DIGEST_ONLY, Quirk.ONVIF_DIGEST_SHA256])
async def test_a_digest_only_camera_passes_with_the_right_password(
    deep: OnvifDeepProbe,
    cameras: CameraBook,
    targets: dict[str, Target],
    fleet: Fleet,
    quirk: Quirk,
) -> None:
    fleet.give("CAM000001", quirk)
    result = await deep.probe(targets["CAM000001"], deep=True)
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert result.checks["credentials"] is Reason.OK
    assert result.notes["onvif_auth"] == "http-digest"
    assert cameras.of("CAM000001").auth is Auth.DIGEST  # remembered: next time straight to Digest

    await fleet.inject("CAM000001", FaultSpec(Fault.WRONG_CREDENTIALS))
    result = await deep.probe(targets["CAM000001"], deep=True)
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.AUTH_FAILED)


async def test_a_ws_security_camera_is_remembered_as_one(
    deep: OnvifDeepProbe, cameras: CameraBook, targets: dict[str, Target]
) -> None:
    result = await deep.probe(targets["CAM000001"], deep=True)
    assert result.health is Health.UP
    assert cameras.of("CAM000001").auth is Auth.WSSE


async def test_a_camera_that_wants_credentials_for_its_clock_is_alive(
    liveness: OnvifLivenessProbe,
    deep: OnvifDeepProbe,
    cameras: CameraBook,
    targets: dict[str, Target],
    fleet: Fleet,
) -> None:
    fleet.give("CAM000003", Quirk.ONVIF_AUTH_ON_TIME)  # answers Vivotek's captured fault
    result = await liveness.probe(targets["CAM000003"], deep=False)
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert abs(result.metrics["clock_offset_s"]) < 2
    assert cameras.of("CAM000003").time_needs_auth
    assert (await deep.probe(targets["CAM000003"], deep=True)).health is Health.UP

    # From then on it is asked with a token of the lean path's own, one request a poll,
    # the connection kept between polls that come close together.
    for _ in range(3):
        asked = fleet.cameras.requests
        result = await liveness.probe(targets["CAM000003"], deep=False)
        assert (result.health, result.reason) == (Health.UP, Reason.OK), result
        assert fleet.cameras.requests == asked + 1
    assert cameras.of("CAM000003").auth is Auth.WSSE
    # A kept connection the camera resets is not the camera's failure; a refusal is.
    await fleet.inject("CAM000003", FaultSpec(Fault.DOWN, "refused"))
    result = await liveness.probe(targets["CAM000003"], deep=False)
    assert (result.health, result.reason) == (Health.DOWN, Reason.REFUSED), result
    await fleet.clear("CAM000003")
    assert (await liveness.probe(targets["CAM000003"], deep=False)).health is Health.UP
    liveness.close()

    # Even with the wrong password it has answered: degraded (auth_failed), never down.
    await fleet.inject("CAM000003", FaultSpec(Fault.WRONG_CREDENTIALS))
    result = await liveness.probe(targets["CAM000003"], deep=False)
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.AUTH_FAILED)
    assert result.checks["liveness"] is Reason.OK


async def test_a_camera_whose_clock_is_off_is_clock_skew_not_auth_failed(
    liveness: OnvifLivenessProbe,
    deep: OnvifDeepProbe,
    targets: dict[str, Target],
    fleet: Fleet,
) -> None:
    # The camera rejects tokens created more than 5 min from its own clock (replay
    # protection); its clock is an hour ahead.
    await fleet.inject("CAM000002", FaultSpec(Fault.CLOCK_SKEW, seconds=3600))
    fleet.by_id["CAM000002"].token_window_s = 300
    live = await liveness.probe(targets["CAM000002"], deep=False)
    assert (live.health, live.reason) == (Health.DEGRADED, Reason.CLOCK_SKEW)
    result = await deep.probe(targets["CAM000002"], deep=True)
    assert result.checks["credentials"] is Reason.OK, result  # token stamped in its time
    assert result.reason is not Reason.AUTH_FAILED


async def test_soap_1_1_replies_are_read(
    liveness: OnvifLivenessProbe,
    deep: OnvifDeepProbe,
    targets: dict[str, Target],
    fleet: Fleet,
) -> None:
    fleet.give("CAM000004", Quirk.ONVIF_SOAP11)
    live = await liveness.probe(targets["CAM000004"], deep=False)
    assert (live.health, live.reason) == (Health.UP, Reason.OK), live
    result = await deep.probe(targets["CAM000004"], deep=True)
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    await fleet.inject("CAM000004", FaultSpec(Fault.WRONG_CREDENTIALS))
    result = await deep.probe(targets["CAM000004"], deep=True)
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.AUTH_FAILED)


async def test_a_fault_on_device_information_is_not_offline(
    deep: OnvifDeepProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    fleet.give("CAM000005", Quirk.ONVIF_DEVICE_INFO_PROHIBITED)  # the captured fault
    result = await deep.probe(targets["CAM000005"], deep=True)
    assert result.health is Health.UP, result
    assert result.checks["device_info"] is Reason.UNSUPPORTED
    assert result.checks["stream"] is Reason.OK
    assert "Too weak password." in result.notes["device_info"]


@pytest.mark.parametrize(
    ("vendor", "quirk", "media"),
    [
        ("Hikvision", None, "Media2"),  # offers Media2: used
        ("Dahua", None, "Media1"),  # Media1 only
        ("Hikvision", Quirk.ONVIF_MEDIA2_BROKEN, "Media1"),  # lists Media2, faults it
        ("Hikvision", Quirk.ONVIF_MEDIA2_ONLY, "Media2"),
    ],
)
async def test_media2_is_used_where_offered_and_media1_otherwise(
    deep: OnvifDeepProbe,
    targets: dict[str, Target],
    fleet: Fleet,
    vendor: str,
    quirk: Quirk | None,
    media: str,
) -> None:
    device_id = camera_of(fleet, vendor)
    if quirk is not None:
        fleet.give(device_id, quirk)
    result = await deep.probe(targets[device_id], deep=True)
    assert result.checks["stream"] is Reason.OK, result
    assert result.notes["media"] == media


async def test_a_camera_behind_port_forwarding_is_reached_at_the_inventorys_address(
    deep: OnvifDeepProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    device_id = camera_of(fleet, "Uniview")  # offers Media2 and recording search
    fleet.give(device_id, Quirk.NAT)
    result = await deep.probe(targets[device_id], deep=True)
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert set(result.checks) >= {"credentials", "stream", "recording"}
    assert LAN_ADDRESS in result.notes["nat"]
