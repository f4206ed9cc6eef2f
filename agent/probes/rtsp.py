"""RTSP DESCRIBE (RFC 2326) of a camera's stream URI: is real-time video available now?

Why our own client: the one asyncio RTSP client on PyPI, aiortsp 1.4.0, answers Digest
the RFC 2069 way only (no ``qop``, no ``cnonce``), so cameras that challenge with
``qop="auth"`` refuse it; it also takes the first Digest offer among several and never
falls back to Basic. A DESCRIBE is one request and one reply, so it is written here
against the RFCs: every ``WWW-Authenticate`` header of a 401 is read (Hikvision sends
Digest then Basic), Digest is preferred (SHA-256 over MD5, RFC 7616, with ``qop=auth``
when offered), Basic is used when it is all the camera offers.
Redirects (301, 302, 303, 307) are followed, at most ``MAX_REDIRECTS``, as ffprobe
follows them; each is reported with its Location. Credentials embedded in the URI
(``rtsp://viewer:viewpw@…``) are used when the inventory gives none.
``tests/agent/probes/test_rtsp.py`` checks it against GStreamer's RTSP server with
ffprobe as the reference client.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit
from urllib.request import parse_http_list, parse_keqv_list

from slawatch.messages import Said

MAX_REPLY_BYTES = 64 * 1024
MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307})

_DIGESTS: dict[str, Callable[[bytes], hashlib._Hash]] = {
    "MD5": hashlib.md5,
    "MD5-SESS": hashlib.md5,
    "SHA-256": hashlib.sha256,
    "SHA-256-SESS": hashlib.sha256,
}


class StreamUnavailableError(Exception):
    """The stream answered, but did not offer video (refused, not found, no video track)."""


class RtspAuthError(Exception):
    """The stream refused our credentials (or offered no scheme we can answer)."""


@dataclass(frozen=True, slots=True)
class Challenge:
    scheme: str  # "digest" or "basic", lower case
    fields: dict[str, str]

    @property
    def algorithm(self) -> str:
        return self.fields.get("algorithm", "MD5").upper()


@dataclass(frozen=True, slots=True)
class Described:
    """A stream that answered DESCRIBE with video: its SDP and how we got in."""

    sdp: str
    auth: str  # "none", "basic" or "digest"
    redirects: tuple[str, ...] = ()  # "RTSP 302 Location: rtsp://…", in the order followed
    from_uri: bool = False  # the credentials that opened it were the URI's own


def parse_challenges(values: list[str]) -> list[Challenge]:
    """Every challenge of every ``WWW-Authenticate`` header, in the order sent."""
    challenges = []
    for value in values:
        scheme, _, rest = value.strip().partition(" ")
        fields = parse_keqv_list(parse_http_list(rest)) if "=" in rest else {}
        challenges.append(Challenge(scheme.lower(), {k.lower(): v for k, v in fields.items()}))
    return challenges


def choose(challenges: list[Challenge]) -> Challenge | None:
    """Digest before Basic; among Digests the strongest hash we know."""
    digests = [c for c in challenges if c.scheme == "digest" and c.algorithm in _DIGESTS]
    if digests:
        return max(digests, key=lambda c: c.algorithm.startswith("SHA-256"))
    return next((c for c in challenges if c.scheme == "basic"), None)


def authorization(
    challenge: Challenge,
    method: str,
    uri: str,
    username: str,
    password: str,
    *,
    cnonce: str | None = None,
) -> str:
    """The ``Authorization`` value answering ``challenge`` (RFC 7617 Basic, RFC 7616 Digest)."""
    if challenge.scheme == "basic":
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        return f"Basic {token}"
    fields = challenge.fields
    algorithm = challenge.algorithm

    def h(text: str) -> str:
        return _DIGESTS[algorithm](text.encode()).hexdigest()

    realm, nonce = fields.get("realm", ""), fields.get("nonce", "")
    ha1 = h(f"{username}:{realm}:{password}")
    cnonce = cnonce or os.urandom(8).hex()
    if algorithm.endswith("-SESS"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}")
    offered = [q.strip() for q in fields.get("qop", "").split(",")]
    parts = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    if "auth" in offered:
        nc = "00000001"
        response = h(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        parts += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    else:
        response = h(f"{ha1}:{nonce}:{ha2}")
    parts.append(f'response="{response}"')
    if "algorithm" in fields:
        parts.append(f"algorithm={fields['algorithm']}")
    if "opaque" in fields:
        parts.append(f'opaque="{fields["opaque"]}"')
    return "Digest " + ", ".join(parts)


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: str
) -> tuple[int, dict[str, list[str]], bytes]:
    writer.write(request.encode())
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_REPLY_BYTES:
        raise StreamUnavailableError(Said("why.too_large"))
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("RTSP/1.") or not parts[1].isdigit():
        raise StreamUnavailableError(Said("why.not_rtsp", line=repr(lines[0][:80])))
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers.setdefault(name.strip().lower(), []).append(value.strip())
    length_text = headers.get("content-length", ["0"])[-1]
    length = int(length_text) if length_text.isdigit() else 0
    if length > MAX_REPLY_BYTES:
        raise StreamUnavailableError(Said("why.sdp_too_large"))
    body = await reader.readexactly(length) if length else b""
    return int(parts[1]), headers, body


def without_userinfo(uri: str) -> tuple[str, str | None, str | None]:
    """The URI without ``user:pass@`` (cameras embed it) and the credentials it carried."""
    parts = urlsplit(uri)
    if parts.username is None:
        return uri, None, None
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc += f":{parts.port}"
    user = unquote(parts.username)
    password = unquote(parts.password) if parts.password is not None else None
    return urlunsplit(parts._replace(netloc=netloc)), user, password


def masked(uri: str) -> str:
    """The URI as it may be shown: a password in it replaced by ``***``."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


def _after(words: str, redirects: list[str]) -> str:
    """What went wrong, and after which redirects (their Locations)."""
    if not redirects:
        return words
    return Said("why.after_redirects", why=words, redirects=tuple(redirects))


async def describe(
    uri: str, username: str | None, password: str | None, timeout_s: float
) -> Described:
    """DESCRIBE ``uri``, following redirects; raise StreamUnavailableError, RtspAuthError,
    TimeoutError or OSError."""
    redirects: list[str] = []
    embedded: tuple[str | None, str | None] = (None, None)
    async with asyncio.timeout(timeout_s):
        for _ in range(MAX_REDIRECTS + 1):
            uri, user, secret = without_userinfo(uri)
            if user is not None:
                embedded = (user, secret)
            user = username or embedded[0]
            secret = password if password is not None else embedded[1]
            from_uri = not username and user is not None
            try:
                status, headers, body, used = await _describe_once(uri, user, secret)
            except StreamUnavailableError as exc:
                if redirects:
                    raise StreamUnavailableError(_after(exc.args[0], redirects)) from exc
                raise
            if status not in _REDIRECTS:
                break
            location = headers.get("location", [""])[-1]
            if not location:
                raise StreamUnavailableError(Said("why.no_location", status=status))
            uri = urljoin(uri, location)
            redirects.append(f"RTSP {status} Location: {masked(uri)}")
        else:
            raise StreamUnavailableError(
                Said("why.too_many_redirects", count=MAX_REDIRECTS, redirects=tuple(redirects))
            )
    sdp = body.decode("utf-8", errors="replace")
    if status == 401:
        refused = Said("why.rtsp_refused", scheme=used) if used != "none" else "RTSP 401"
        raise RtspAuthError(_after(refused, redirects))
    if status != 200:
        raise StreamUnavailableError(_after(f"RTSP {status}", redirects))
    if "m=video" not in sdp:
        raise StreamUnavailableError(_after(Said("why.no_video"), redirects))
    return Described(sdp, used, tuple(redirects), from_uri and used != "none")


async def _describe_once(
    uri: str, username: str | None, password: str | None
) -> tuple[int, dict[str, list[str]], bytes, str]:
    """One DESCRIBE on a fresh connection, answering a 401 once: status, headers, body
    and the scheme used ("none", "basic" or "digest")."""
    parts = urlsplit(uri)
    if parts.scheme != "rtsp" or not parts.hostname:
        raise StreamUnavailableError(Said("why.not_rtsp_uri", uri=repr(uri[:80])))
    used = "none"
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 554)
    try:
        request = f"DESCRIBE {uri} RTSP/1.0\r\nAccept: application/sdp\r\n"
        status, headers, body = await _exchange(reader, writer, f"{request}CSeq: 1\r\n\r\n")
        challenge = choose(parse_challenges(headers.get("www-authenticate", [])))
        if status == 401 and challenge is not None and username and password is not None:
            used = challenge.scheme
            auth = authorization(challenge, "DESCRIBE", uri, username, password)
            status, headers, body = await _exchange(
                reader, writer, f"{request}CSeq: 2\r\nAuthorization: {auth}\r\n\r\n"
            )
    finally:
        writer.close()
    return status, headers, body, used
