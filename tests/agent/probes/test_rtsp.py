"""The RTSP check opens what ffprobe opens: GStreamer's RTSP server, and cameras' auth quirks.

GStreamer's RTSP server (Debian's gst-rtsp-server, a real third-party server) serves one
stream with no authentication, with Basic and with Digest; ffprobe is the reference client.
In front of it, a redirect as a load-balancing NVR or a moved stream answers (301/302
with a Location); GStreamer's server sends none itself, so that one reply is the test's.
The simulator replays what real cameras send that GStreamer does not: Hikvision's two
challenges (Digest, then Basic), Basic only, and RFC 7616 Digest (qop="auth", SHA-256).
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from agent.probes.rtsp import (
    RtspAuthError,
    StreamUnavailableError,
    authorization,
    choose,
    describe,
    parse_challenges,
)
from simulator.devices import Quirk
from simulator.fleet_runner import Fleet
from simulator.local_servers import free_port
from tests.conftest import PASSWORD
from tests.reference_clients import ffprobe_opens

GST_SERVER = Path(__file__).resolve().parents[2] / "thirdparty" / "gst_rtsp_server.py"
USER, SECRET = "operator", "Str0ng-rtsp"


def _three_free_ports() -> int:
    """A port whose two successors are free too (the server takes PORT..PORT+2)."""
    while True:
        port = free_port()
        try:
            for offset in (1, 2):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return port


@pytest.fixture(scope="module")
def gstreamer() -> Iterator[int]:
    port = _three_free_ports()
    with subprocess.Popen(
        ["/usr/bin/python3", str(GST_SERVER), str(port), USER, SECRET],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        assert server.stdout is not None
        assert server.stderr is not None
        try:
            line = server.stdout.readline()
            assert line.strip() == "ready", server.stderr.read()
            yield port
        finally:
            server.terminate()
            server.wait(10)


@pytest.mark.parametrize(("offset", "scheme"), [(0, "none"), (1, "basic"), (2, "digest")])
async def test_the_check_opens_what_ffprobe_opens_on_gstreamers_server(
    gstreamer: int, offset: int, scheme: str
) -> None:
    uri = f"rtsp://127.0.0.1:{gstreamer + offset}/stream"
    assert await asyncio.to_thread(
        ffprobe_opens, f"rtsp://{USER}:{SECRET}@127.0.0.1:{gstreamer + offset}/stream"
    )
    described = await describe(uri, USER, SECRET, timeout_s=10)
    assert "m=video" in described.sdp
    assert "H264/90000" in described.sdp
    assert described.auth == scheme


@pytest.mark.parametrize("offset", [1, 2])
async def test_a_wrong_password_fails_for_both_clients(gstreamer: int, offset: int) -> None:
    uri = f"rtsp://127.0.0.1:{gstreamer + offset}/stream"
    assert not await asyncio.to_thread(
        ffprobe_opens, f"rtsp://{USER}:wrong@127.0.0.1:{gstreamer + offset}/stream"
    )
    with pytest.raises(RtspAuthError):
        await describe(uri, USER, "wrong", timeout_s=10)


async def test_credentials_embedded_in_the_uri_are_used(gstreamer: int) -> None:
    """A stream URI as a camera gives it, ``user:pass@`` in it, and no inventory
    credentials: ffprobe opens it as given, and so does the check."""
    uri = f"rtsp://{USER}:{SECRET}@127.0.0.1:{gstreamer + 2}/stream"
    assert await asyncio.to_thread(ffprobe_opens, uri)
    described = await describe(uri, None, None, 10)
    assert "H264/90000" in described.sdp
    assert (described.auth, described.from_uri) == ("digest", True)


def _uri(fleet: Fleet, device_id: str) -> str:
    spec = fleet.by_id[device_id].spec
    assert spec.rtsp is not None
    return f"rtsp://{spec.address}:{spec.rtsp.port}/{device_id}/main"


@pytest.mark.parametrize(
    ("quirk", "scheme"),
    [
        (Quirk.RTSP_DIGEST_AND_BASIC, "digest"),  # both headers read, Digest preferred
        (Quirk.RTSP_BASIC_ONLY, "basic"),
        (Quirk.RTSP_DIGEST_QOP, "digest"),
    ],
)
async def test_cameras_auth_quirks_are_answered(fleet: Fleet, quirk: Quirk, scheme: str) -> None:
    fleet.give("CAM000002", quirk)
    described = await describe(_uri(fleet, "CAM000002"), "admin", PASSWORD, timeout_s=2)
    assert described.auth == scheme
    with pytest.raises(RtspAuthError):
        await describe(_uri(fleet, "CAM000002"), "admin", "wrong", timeout_s=2)


def test_several_challenges_are_read_whole_and_digest_wins() -> None:
    # As a Hikvision camera sends them, in two headers.
    challenges = parse_challenges(
        [
            'Digest realm="IP Camera(C2486)", nonce="4e6a4d", stale="FALSE"',
            'Basic realm="IP Camera(C2486)"',
        ]
    )
    assert [c.scheme for c in challenges] == ["digest", "basic"]
    chosen = choose(list(reversed(challenges)))
    assert chosen is not None
    assert chosen.scheme == "digest"
    assert chosen.fields["realm"] == "IP Camera(C2486)"


def test_digest_with_qop_matches_rfc_7616s_worked_example() -> None:
    # RFC 7616 §3.9.1, the SHA-256 example (HTTP GET of /dir/index.html).
    challenge = parse_challenges(
        [
            'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
            'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
            'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
        ]
    )[0]
    header = authorization(
        challenge,
        "GET",
        "/dir/index.html",
        "Mufasa",
        "Circle of Life",
        cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
    )
    assert 'response="753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"' in header
    assert "qop=auth" in header
    assert "nc=00000001" in header


Redirector = Callable[[int, str], Awaitable[str]]


@pytest.fixture
async def redirector() -> AsyncIterator[Redirector]:
    """An RTSP front that answers every request with ``status`` and a Location (the only
    part of these tests that is not third-party; ``{self}`` in it is the front's own URI);
    returns the URI to open."""
    servers: list[asyncio.Server] = []

    async def front(status: int, location: str) -> str:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while head := await reader.readuntil(b"\r\n\r\n"):
                    lines = head.decode().split("\r\n")
                    cseq = next(
                        (x[5:].strip() for x in lines if x.lower().startswith("cseq:")), "0"
                    )
                    to = location.replace("{self}", own)
                    reply = f"RTSP/1.0 {status} Moved\r\nCSeq: {cseq}\r\nLocation: {to}\r\n"
                    writer.write(reply.encode() + b"\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        servers.append(server)
        own = f"rtsp://127.0.0.1:{server.sockets[0].getsockname()[1]}/camera1"
        return own

    yield front
    for server in servers:
        server.close()


@pytest.mark.parametrize("status", [301, 302])
async def test_a_redirect_to_gstreamers_stream_is_followed_as_ffprobe_follows_it(
    gstreamer: int, redirector: Redirector, status: int
) -> None:
    target = f"rtsp://127.0.0.1:{gstreamer + 2}/stream"  # Digest-protected
    uri = await redirector(status, target)
    reference = await asyncio.to_thread(
        ffprobe_opens, uri.replace("rtsp://", f"rtsp://{USER}:{SECRET}@")
    )
    described = await describe(uri, USER, SECRET, timeout_s=10)
    assert reference  # ffprobe follows the redirect and reads h264
    assert "H264/90000" in described.sdp
    assert described.auth == "digest"
    assert described.redirects == (f"RTSP {status} Location: {target}",)


async def test_redirects_are_bounded(redirector: Redirector) -> None:
    looping = await redirector(302, "{self}")  # back to itself, again and again
    with pytest.raises(StreamUnavailableError, match="more than 3 redirects"):
        await describe(looping, None, None, timeout_s=5)
