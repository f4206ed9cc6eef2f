"""RTSP DESCRIBE (RFC 2326) of a camera's stream URI: is real-time video available now?

Small enough to write against the RFC directly (no maintained asyncio RTSP client library
exists on PyPI); Digest authentication follows RFC 2617, as cameras implement it.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from urllib.parse import urlsplit

MAX_REPLY_BYTES = 64 * 1024
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class StreamUnavailableError(Exception):
    """The stream answered, but did not offer video (refused, not found, no video track)."""


class RtspAuthError(Exception):
    """The stream refused our credentials."""


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # noqa: S324 - RFC 2617 Digest is MD5


def digest_header(challenge: str, method: str, uri: str, username: str, password: str) -> str:
    fields = dict(_CHALLENGE.findall(challenge))
    realm, nonce = fields.get("realm", ""), fields.get("nonce", "")
    response = _md5(f"{_md5(f'{username}:{realm}:{password}')}:{nonce}:{_md5(f'{method}:{uri}')}")
    return (
        f'Digest username="{username}", realm="{realm}", nonce="{nonce}", '
        f'uri="{uri}", response="{response}"'
    )


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: str
) -> tuple[int, dict[str, str], bytes]:
    writer.write(request.encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_REPLY_BYTES:
        raise StreamUnavailableError("reply too large")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("RTSP/1.") or not parts[1].isdigit():
        raise StreamUnavailableError(f"not an RTSP reply: {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or 0)
    if length > MAX_REPLY_BYTES:
        raise StreamUnavailableError("SDP too large")
    body = await reader.readexactly(length) if length else b""
    return int(parts[1]), headers, body


async def describe(uri: str, username: str | None, password: str | None, timeout_s: float) -> str:
    """Return the SDP; raise StreamUnavailableError, RtspAuthError, TimeoutError or OSError."""
    parts = urlsplit(uri)
    if parts.scheme != "rtsp" or not parts.hostname:
        raise StreamUnavailableError(f"not an rtsp:// URI: {uri[:80]!r}")
    async with asyncio.timeout(timeout_s):
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 554)
        try:
            request = f"DESCRIBE {uri} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n"
            status, headers, body = await _exchange(reader, writer, request + "\r\n")
            challenge = headers.get("www-authenticate", "")
            if status == 401 and challenge.startswith("Digest") and username and password:
                auth = digest_header(challenge, "DESCRIBE", uri, username, password)
                status, headers, body = await _exchange(
                    reader,
                    writer,
                    f"{request.replace('CSeq: 1', 'CSeq: 2')}Authorization: {auth}\r\n\r\n",
                )
        finally:
            writer.close()
    sdp = body.decode("utf-8", errors="replace")
    if status == 401:
        raise RtspAuthError("RTSP 401")
    if status != 200:
        raise StreamUnavailableError(f"RTSP {status}")
    if "m=video" not in sdp:
        raise StreamUnavailableError("no video track in the SDP")
    return sdp
