"""Simulated RTSP streams (RFC 2326): OPTIONS and DESCRIBE with an SDP, as cameras answer.

Enough of RTSP to tell "the camera's video is available now": a DESCRIBE that returns
the SDP of the camera's main profile (H.264 or H.265, as its ONVIF profile says).
Authentication as real cameras do it: Digest (RFC 2617, no qop) by default; quirks give
Basic only, Hikvision's two challenges (Digest, then Basic) or RFC 7616 Digest with
``qop="auth"`` and SHA-256. ``stream_unavailable`` makes it refuse (503) or stall.
``rtsp_redirect`` answers a DESCRIBE with 302 and the stream's new path (``/moved/…``);
``rtsp_credentials_in_uri`` takes the viewer account the camera puts in its stream URI.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import os
import zlib
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit, urlunsplit

from simulator.devices import VIEWER, DownMode, Fault, Quirk, SimDevice
from simulator.onvif_server import digest_matches

log = logging.getLogger(__name__)

REALM = "IP Camera"
MAX_REQUEST_BYTES = 16 * 1024


# Parameter sets as a 1080p camera announces them (H.264 High profile, H.265 Main).
_H264_FMTP = (
    "a=fmtp:96 packetization-mode=1;profile-level-id=640028;"
    "sprop-parameter-sets=Z2QAKKwbGoB4AiflwFuAgICgAAB9AAAOpgI=,aO44sA=="
)
_H265_FMTP = (
    "a=fmtp:96 sprop-vps=QAEMAf//AWAAAAMAkAAAAwAAAwB4mZgJ;"
    "sprop-sps=QgEBAWAAAAMAkAAAAwAAAwB4oAPAgBDllmZpJMrgEAAAAwAQAAADAeCA"
)


def sdp_for(device: SimDevice, codec_name: str) -> str:
    """An SDP like cameras send, for the codec of the camera's main profile."""
    h265 = codec_name == "H265"
    codec = "H265/90000" if h265 else "H264/90000"
    fmtp = _H265_FMTP if h265 else _H264_FMTP
    return (
        "v=0\r\n"
        f"o=- {zlib.crc32(device.id.encode())} 1 IN IP4 {device.spec.address}\r\n"
        "s=Media Presentation\r\n"
        f"c=IN IP4 {device.spec.address}\r\n"
        "t=0 0\r\n"
        "a=control:*\r\n"
        "m=video 0 RTP/AVP 96\r\n"
        f"a=rtpmap:96 {codec}\r\n"
        f"{fmtp}\r\n"
        "a=control:trackID=1\r\n"
    )


class RtspProtocol(asyncio.Protocol):
    def __init__(self, server: RtspServer) -> None:
        self._server = server
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._nonce = os.urandom(8).hex()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio's.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > MAX_REQUEST_BYTES:
            self._close()
            return
        while b"\r\n\r\n" in self._buffer:
            head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
            self._respond(head.decode("latin-1"))

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _respond(self, head: str) -> None:
        assert self._transport is not None
        sockname = self._transport.get_extra_info("sockname")
        device = self._server.device_at(sockname[0], sockname[1])
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        cseq = headers.get("cseq", "0")
        self._server.requests += 1
        if device is None or len(parts) != 3 or not parts[2].startswith("RTSP/1."):
            self._send(400, "Bad Request", cseq)
            return
        method, uri = parts[0], parts[1]
        mode = device.reachable_mode()
        if mode is not None:
            if mode is DownMode.REFUSED:
                self._transport.abort()
            return  # silent or slow: the client times out
        moved = urlsplit(uri)
        if (
            method == "DESCRIBE"
            and Quirk.RTSP_REDIRECT in device.quirks
            and not moved.path.startswith("/moved/")
        ):
            location = urlunsplit(moved._replace(path="/moved" + moved.path))
            self._send(302, "Moved Temporarily", cseq, {"Location": location})
            return
        if Fault.STREAM_UNAVAILABLE in device.faults:
            if device.stream_mode is DownMode.REFUSED:
                self._send(503, "Service Unavailable", cseq)
            return
        if method == "OPTIONS":
            self._send(200, "OK", cseq, {"Public": "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN"})
            return
        if method != "DESCRIBE":
            self._send(405, "Method Not Allowed", cseq, {"Allow": "OPTIONS, DESCRIBE"})
            return
        viewer = Quirk.RTSP_CREDENTIALS_IN_URI in device.quirks
        if (device.password is not None or viewer) and not self._authorized(
            device, method, headers
        ):
            self._send(401, "Unauthorized", cseq, challenges=self._challenges(device))
            return
        self._send(
            200,
            "OK",
            cseq,
            {"Content-Base": uri.rstrip("/") + "/", "Content-Type": "application/sdp"},
            sdp_for(device, self._server.codec_of(device)).encode(),
        )

    def _challenges(self, device: SimDevice) -> list[str]:
        digest = f'Digest realm="{REALM}", nonce="{self._nonce}"'
        basic = f'Basic realm="{REALM}"'
        if Quirk.RTSP_BASIC_ONLY in device.quirks:
            return [basic]
        if Quirk.RTSP_DIGEST_AND_BASIC in device.quirks:
            return [f'{digest}, stale="FALSE"', basic]
        if Quirk.RTSP_DIGEST_QOP in device.quirks:
            return [f'{digest}, qop="auth", algorithm=SHA-256']
        return [digest]

    def _authorized(self, device: SimDevice, method: str, headers: dict[str, str]) -> bool:
        accounts = []
        if device.password is not None:
            password = device.password
            if Fault.WRONG_CREDENTIALS in device.faults:
                password += "-changed-on-site"
            accounts.append((device.username or "", password))
        if Quirk.RTSP_CREDENTIALS_IN_URI in device.quirks:
            accounts.append(VIEWER)
        return any(
            self._authorized_as(device, method, headers, username, password)
            for username, password in accounts
        )

    def _authorized_as(
        self,
        device: SimDevice,
        method: str,
        headers: dict[str, str],
        username: str,
        password: str,
    ) -> bool:
        header = headers.get("authorization", "")
        offered = self._challenges(device)
        if header.startswith("Basic ") and any(c.startswith("Basic") for c in offered):
            expected = base64.b64encode(f"{username}:{password}".encode()).decode()
            return hmac.compare_digest(header[6:].strip(), expected)
        if not any(c.startswith("Digest") for c in offered):
            return False
        return digest_matches(header, method, password, username, self._nonce)

    def _send(
        self,
        code: int,
        reason: str,
        cseq: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        challenges: list[str] | None = None,
    ) -> None:
        assert self._transport is not None
        lines = [f"RTSP/1.0 {code} {reason}", f"CSeq: {cseq}", "Server: slawatch-sim"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        lines += [f"WWW-Authenticate: {challenge}" for challenge in challenges or []]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        self._transport.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


class RtspServer:
    """One RTSP listener per camera address; the socket the request came in on picks the camera."""

    def __init__(self, codec_of: Callable[[SimDevice], str]) -> None:
        self.codec_of = codec_of
        self._by_socket: dict[tuple[str, int], SimDevice] = {}
        self._listeners: list[asyncio.Server] = []
        self.requests = 0

    def device_at(self, host: str, port: int) -> SimDevice | None:
        return self._by_socket.get((host, port))

    async def attach(self, device: SimDevice, port: int) -> None:
        self._by_socket[(device.spec.address, port)] = device
        loop = asyncio.get_running_loop()
        self._listeners.append(
            await loop.create_server(
                lambda: RtspProtocol(self), device.spec.address, port, reuse_address=True
            )
        )

    async def close(self) -> None:
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()
