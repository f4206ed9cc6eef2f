"""An RTSP client checks that a simulated camera's live video is there (RFC 2326)."""

from __future__ import annotations

import asyncio
import hashlib
import re

import pytest

from simulator.devices import Fault
from simulator.fleet_runner import FaultSpec, Fleet
from tests.conftest import PASSWORD


async def rtsp(fleet: Fleet, device_id: str, method: str, extra: str = "") -> tuple[str, str]:
    spec = fleet.by_id[device_id].spec
    assert spec.rtsp is not None
    uri = f"rtsp://{spec.address}:{spec.rtsp.port}/{device_id}/main"
    reader, writer = await asyncio.open_connection(spec.address, spec.rtsp.port)
    try:
        writer.write(f"{method} {uri} RTSP/1.0\r\nCSeq: 2\r\n{extra}\r\n".encode())
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 1.0)).decode()
        length = re.search(r"Content-Length: (\d+)", head)
        body = await reader.readexactly(int(length.group(1))) if length else b""
        return head, body.decode()
    finally:
        writer.close()


def digest(method: str, uri: str, nonce: str, password: str) -> str:
    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    response = md5(f"{md5(f'admin:IP Camera:{password}')}:{nonce}:{md5(f'{method}:{uri}')}")
    return (
        f'Authorization: Digest username="admin", realm="IP Camera", nonce="{nonce}", '
        f'uri="{uri}", response="{response}"\r\n'
    )


async def describe_with_auth(fleet: Fleet, device_id: str, password: str) -> tuple[str, str]:
    spec = fleet.by_id[device_id].spec
    assert spec.rtsp is not None
    uri = f"rtsp://{spec.address}:{spec.rtsp.port}/{device_id}/main"
    reader, writer = await asyncio.open_connection(spec.address, spec.rtsp.port)
    try:
        writer.write(f"DESCRIBE {uri} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode())
        challenge = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 1.0)).decode()
        assert challenge.startswith("RTSP/1.0 401")
        found = re.search(r'nonce="([^"]+)"', challenge)
        assert found is not None
        auth = digest("DESCRIBE", uri, found.group(1), password)
        writer.write(f"DESCRIBE {uri} RTSP/1.0\r\nCSeq: 2\r\n{auth}\r\n".encode())
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 1.0)).decode()
        length = re.search(r"Content-Length: (\d+)", head)
        body = await reader.readexactly(int(length.group(1))) if length else b""
        return head, body.decode()
    finally:
        writer.close()


async def test_options_lists_describe(fleet: Fleet) -> None:
    head, _ = await rtsp(fleet, "CAM000001", "OPTIONS")
    assert head.startswith("RTSP/1.0 200 OK")
    assert "CSeq: 2" in head
    assert "DESCRIBE" in head


async def test_describe_needs_digest_auth_and_returns_an_sdp(fleet: Fleet) -> None:
    head, sdp = await describe_with_auth(fleet, "CAM000002", PASSWORD)
    assert head.startswith("RTSP/1.0 200 OK")
    assert "application/sdp" in head
    assert sdp.startswith("v=0\r\n")
    assert re.search(r"a=rtpmap:96 H26[45]/90000", sdp)

    head, _ = await describe_with_auth(fleet, "CAM000002", "wrong")
    assert head.startswith("RTSP/1.0 401")


async def test_stream_unavailable_refuses_or_stalls(fleet: Fleet) -> None:
    await fleet.inject("CAM000003", FaultSpec(Fault.STREAM_UNAVAILABLE, "refused"))
    head, _ = await rtsp(fleet, "CAM000003", "OPTIONS")
    assert head.startswith("RTSP/1.0 503")

    await fleet.inject("CAM000003", FaultSpec(Fault.STREAM_UNAVAILABLE, "silent"))
    with pytest.raises(asyncio.TimeoutError):
        await rtsp(fleet, "CAM000003", "OPTIONS")

    await fleet.clear("CAM000003", Fault.STREAM_UNAVAILABLE)
    head, _ = await rtsp(fleet, "CAM000003", "OPTIONS")
    assert head.startswith("RTSP/1.0 200")


async def test_the_sdp_announces_the_codec_of_the_cameras_onvif_profile(fleet: Fleet) -> None:
    # Uniview's captured firmware encodes H.265, the Hikvision-style one H.264.
    for vendor, codec in (("Uniview", "H265/90000"), ("Hikvision", "H264/90000")):
        device_id = next(d.id for d in fleet.devices if d.spec.vendor == vendor)
        head, sdp = await describe_with_auth(fleet, device_id, PASSWORD)
        assert head.startswith("RTSP/1.0 200"), head
        assert f"a=rtpmap:96 {codec}" in sdp
