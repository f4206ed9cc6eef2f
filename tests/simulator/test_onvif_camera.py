"""An ONVIF client talks to simulated cameras the way it would to real ones."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from datetime import UTC, datetime

import aiohttp
import pytest
from lxml import etree

from simulator.devices import Fault
from simulator.fleet_runner import FaultSpec, Fleet
from tests.conftest import PASSWORD, FakeClock

DEVICE_NS = "http://www.onvif.org/ver10/device/wsdl"
MEDIA_NS = "http://www.onvif.org/ver10/media/wsdl"
SEARCH_NS = "http://www.onvif.org/ver10/search/wsdl"
SAFE = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def envelope(operation: str, namespace: str, password: str | None = None, inner: str = "") -> bytes:
    """A SOAP 1.2 request with a WS-Security UsernameToken digest computed per the spec."""
    header = ""
    if password is not None:
        nonce = os.urandom(16)
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        digest = base64.b64encode(
            hashlib.sha1(nonce + created.encode() + password.encode()).digest()
        ).decode()
        header = (
            '<s:Header><Security xmlns="http://docs.oasis-open.org/wss/2004/01/'
            'oasis-200401-wss-wssecurity-secext-1.0.xsd"><UsernameToken>'
            "<Username>admin</Username>"
            '<Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-'
            f'token-profile-1.0#PasswordDigest">{digest}</Password>'
            f"<Nonce>{base64.b64encode(nonce).decode()}</Nonce>"
            '<Created xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-'
            f'utility-1.0.xsd">{created}</Created></UsernameToken></Security></s:Header>'
        )
    return (
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
        f'{header}<s:Body><{operation} xmlns="{namespace}">{inner}</{operation}></s:Body>'
        "</s:Envelope>"
    ).encode()


async def call(fleet: Fleet, device_id: str, body: bytes, wait_s: float = 3.0) -> tuple[int, bytes]:
    spec = fleet.by_id[device_id].spec
    assert spec.onvif is not None
    url = f"http://{spec.address}:{spec.onvif.port}/onvif/device_service"
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=wait_s)) as session,
        session.post(url, data=body, headers={"Content-Type": "application/soap+xml"}) as reply,
    ):
        return reply.status, await reply.read()


def text_of(document: bytes, localname: str) -> str:
    root = etree.fromstring(document, SAFE)
    found = next((e for e in root.iter() if etree.QName(e).localname == localname), None)
    assert found is not None, f"no {localname} in reply"
    return str(found.text)


async def test_device_time_is_served_without_credentials_and_follows_clock_skew(
    fleet: Fleet, clock: FakeClock
) -> None:
    status, reply = await call(fleet, "CAM000001", envelope("GetSystemDateAndTime", DEVICE_NS))
    assert status == 200
    expected = datetime.fromtimestamp(clock.now, UTC)
    assert int(text_of(reply, "Year")) == expected.year
    assert int(text_of(reply, "Hour")) == expected.hour

    await fleet.inject("CAM000001", FaultSpec(Fault.CLOCK_SKEW, seconds=7200))
    _, reply = await call(fleet, "CAM000001", envelope("GetSystemDateAndTime", DEVICE_NS))
    assert int(text_of(reply, "Hour")) == (expected.hour + 2) % 24


async def test_device_information_needs_the_right_password(fleet: Fleet) -> None:
    status, reply = await call(
        fleet, "CAM000002", envelope("GetDeviceInformation", DEVICE_NS, PASSWORD)
    )
    assert status == 200
    assert text_of(reply, "SerialNumber").startswith("SIM")
    assert text_of(reply, "Model")

    status, reply = await call(
        fleet, "CAM000002", envelope("GetDeviceInformation", DEVICE_NS, "not-it")
    )
    assert status == 401
    assert text_of(reply, "Value").endswith("Sender")
    assert b"ter:NotAuthorized" in reply

    status, _ = await call(fleet, "CAM000002", envelope("GetDeviceInformation", DEVICE_NS))
    assert status == 401


async def test_cameras_keep_their_vendors_namespace_prefixes(fleet: Fleet) -> None:
    prefixes = set()
    for device in fleet.devices:
        if device.spec.onvif is None:
            continue
        _, reply = await call(fleet, device.id, envelope("GetSystemDateAndTime", DEVICE_NS))
        prefixes.add(etree.fromstring(reply, SAFE).prefix)
    assert len(prefixes) >= 2, prefixes  # e.g. "s" (IPNC/Hikvision) and "SOAP-ENV" (gSOAP)


async def test_stream_uri_points_at_the_cameras_own_rtsp_service(fleet: Fleet) -> None:
    _, reply = await call(fleet, "CAM000003", envelope("GetProfiles", MEDIA_NS, PASSWORD))
    profile = next(e for e in etree.fromstring(reply, SAFE).iter() if e.get("token"))
    setup = (
        '<StreamSetup><Stream xmlns="http://www.onvif.org/ver10/schema">RTP-Unicast</Stream>'
        "</StreamSetup>"
    )
    inner = f"{setup}<ProfileToken>{profile.get('token')}</ProfileToken>"
    _, reply = await call(fleet, "CAM000003", envelope("GetStreamUri", MEDIA_NS, PASSWORD, inner))
    spec = fleet.by_id["CAM000003"].spec
    assert spec.rtsp is not None
    assert text_of(reply, "Uri") == f"rtsp://{spec.address}:{spec.rtsp.port}/CAM000003/main"
    # A token the camera does not have is refused, as real firmware does (ter:NoProfile).
    inner = f"{setup}<ProfileToken>NoSuchProfile</ProfileToken>"
    status, reply = await call(
        fleet, "CAM000003", envelope("GetStreamUri", MEDIA_NS, PASSWORD, inner)
    )
    assert status == 400
    assert text_of(reply, "Text") == "Profile token does not exist."
    _, reply = await call(fleet, "CAM000003", envelope("GetNetworkInterfaces", DEVICE_NS, PASSWORD))
    assert text_of(reply, "Address") == spec.address


async def test_recording_summary_reaches_now_until_a_recording_gap(
    fleet: Fleet, clock: FakeClock
) -> None:
    request = envelope("GetRecordingSummary", SEARCH_NS, PASSWORD)
    _, reply = await call(fleet, "CAM000004", request)
    until = datetime.strptime(text_of(reply, "DataUntil"), "%Y-%m-%dT%H:%M:%SZ")
    assert until.replace(tzinfo=UTC).timestamp() == int(clock.now)

    await fleet.inject("CAM000004", FaultSpec(Fault.RECORDING_GAP, seconds=3 * 3600))
    _, reply = await call(fleet, "CAM000004", request)
    until = datetime.strptime(text_of(reply, "DataUntil"), "%Y-%m-%dT%H:%M:%SZ")
    assert until.replace(tzinfo=UTC).timestamp() == int(clock.now) - 3 * 3600


async def test_wrong_credentials_fault_means_the_configured_password_no_longer_works(
    fleet: Fleet,
) -> None:
    await fleet.inject("CAM000005", FaultSpec(Fault.WRONG_CREDENTIALS))
    status, reply = await call(
        fleet, "CAM000005", envelope("GetDeviceInformation", DEVICE_NS, PASSWORD)
    )
    assert status == 401
    assert b"NotAuthorized" in reply
    status, _ = await call(fleet, "CAM000005", envelope("GetSystemDateAndTime", DEVICE_NS))
    assert status == 200  # still online: pre-auth calls keep answering


async def test_a_silent_camera_times_out_and_a_refused_one_resets(fleet: Fleet) -> None:
    request = envelope("GetSystemDateAndTime", DEVICE_NS)
    await fleet.inject("CAM000006", FaultSpec(Fault.DOWN, "silent"))
    with pytest.raises(asyncio.TimeoutError):
        await call(fleet, "CAM000006", request, wait_s=0.5)

    await fleet.inject("CAM000006", FaultSpec(Fault.DOWN, "refused"))
    with pytest.raises(aiohttp.ClientConnectorError):
        await call(fleet, "CAM000006", request)

    await fleet.clear("CAM000006")
    status, _ = await call(fleet, "CAM000006", request)
    assert status == 200


async def test_a_slow_camera_answers_only_after_the_timeout(fleet: Fleet) -> None:
    request = envelope("GetSystemDateAndTime", DEVICE_NS)
    await fleet.inject("CAM000001", FaultSpec(Fault.DOWN, "slow", seconds=1.0))
    with pytest.raises(asyncio.TimeoutError):
        await call(fleet, "CAM000001", request, wait_s=0.3)
    status, _ = await call(fleet, "CAM000001", request, wait_s=3)
    assert status == 200


async def test_garbage_and_truncated_replies_are_not_xml(fleet: Fleet) -> None:
    request = envelope("GetSystemDateAndTime", DEVICE_NS)
    await fleet.inject("CAM000002", FaultSpec(Fault.GARBAGE))
    _, reply = await call(fleet, "CAM000002", request)
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(reply, SAFE)

    await fleet.clear("CAM000002")
    await fleet.inject("CAM000002", FaultSpec(Fault.TRUNCATED))
    status, reply = await call(fleet, "CAM000002", request)
    assert status == 200
    assert reply.startswith(b"<?xml")
    with pytest.raises(etree.XMLSyntaxError):
        etree.fromstring(reply, SAFE)


async def test_hostile_cameras_send_entity_bombs_and_external_entities(fleet: Fleet) -> None:
    request = envelope("GetSystemDateAndTime", DEVICE_NS)
    await fleet.inject("CAM000003", FaultSpec(Fault.HOSTILE, "billion_laughs"))
    _, reply = await call(fleet, "CAM000003", request)
    assert b"<!ENTITY lol9" in reply
    # A safe parser refuses the bomb (libxml2's amplification limit); it never expands it.
    with pytest.raises(etree.XMLSyntaxError, match="amplification"):
        etree.fromstring(reply, SAFE)

    await fleet.inject("CAM000003", FaultSpec(Fault.HOSTILE, "external_entity"))
    _, reply = await call(fleet, "CAM000003", request)
    assert b'SYSTEM "file:///etc/passwd"' in reply
    assert b"root:" not in etree.tostring(etree.fromstring(reply, SAFE))


async def test_hostile_cameras_send_oversize_and_endless_bodies(fleet: Fleet) -> None:
    spec = fleet.by_id["CAM000004"].spec
    assert spec.onvif is not None
    url = f"http://{spec.address}:{spec.onvif.port}/onvif/device_service"
    for mode, limit in (("oversize", 8 << 20), ("endless_chunked", 1 << 20)):
        await fleet.inject("CAM000004", FaultSpec(Fault.HOSTILE, mode))
        received = 0
        async with aiohttp.ClientSession() as session, session.post(url, data=b"<x/>") as reply:
            async for chunk in reply.content.iter_chunked(65536):
                received += len(chunk)
                if received > limit:
                    break
        assert received > limit, mode
