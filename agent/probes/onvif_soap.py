"""A small ONVIF SOAP client for the deep checks and for cameras that want credentials.

Why not onvif-zeep-async (used here before): real cameras need what it cannot do.
It sends no HTTP Digest on SOAP calls (only on snapshots), so Digest-only cameras and
NVR channels looked ``auth_failed`` with the right password; it rewrites XAddrs for NAT
but not the RTSP stream URI (its own comment says so); and zeep's SOAP 1.2 binding
rejects the SOAP 1.1 replies older firmwares send. The operations a monitor needs are
a handful of fixed requests whose answers are read by element name, so they are built
here; HTTP (keep-alive, Digest per RFC 7616 with ``qop``, MD5 and SHA-256) is aiohttp's,
WS-Security UsernameToken (PasswordDigest) is built per ONVIF Core §5.12.2.

Replies are untrusted: at most ``MAX_REPLY_BYTES`` are read, parsed without entities,
DTDs or network, and read by local name so SOAP 1.1 and 1.2 envelopes both work.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from xml.sax.saxutils import escape  # nosec B406  # escapes the text we send; parses nothing

import aiohttp
from lxml import etree

from agent.probes.rtsp import parse_challenges
from slawatch.messages import Said

MAX_REPLY_BYTES = 256 * 1024
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
DEVICE_NS = "http://www.onvif.org/ver10/device/wsdl"
MEDIA1_NS = "http://www.onvif.org/ver10/media/wsdl"
MEDIA2_NS = "http://www.onvif.org/ver20/media/wsdl"
SEARCH_NS = "http://www.onvif.org/ver10/search/wsdl"
SCHEMA_NS = "http://www.onvif.org/ver10/schema"
_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
_WSS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-"
_PASSWORD_DIGEST = _WSS + "username-token-profile-1.0#PasswordDigest"
_SOAP_BODY = "Body"


class Auth(StrEnum):
    """How a camera accepted our credentials; remembered per camera."""

    WSSE = "ws-security"
    DIGEST = "http-digest"


class SoapFaultError(Exception):
    """The camera answered with a SOAP fault (1.1 or 1.2): codes and text as sent."""

    def __init__(self, codes: list[str], text: str) -> None:
        super().__init__(f"{' '.join(codes)}: {text}".strip())
        self.codes = codes
        self.text = text

    @property
    def not_authorized(self) -> bool:
        names = {code.rpartition(":")[2] for code in self.codes}
        return bool(names & {"NotAuthorized", "FailedAuthentication", "InvalidSecurity"}) or (
            "not authorized" in self.text.lower()
        )

    @property
    def action_not_supported(self) -> bool:
        """The camera does not do this operation (or not in this service version)."""
        names = {code.rpartition(":")[2] for code in self.codes}
        return bool(names & {"ActionNotSupported", "ActionNotImplemented"}) or (
            "not implemented" in self.text.lower()
        )


class HttpStatusError(Exception):
    """An HTTP status other than 200 with no SOAP fault in the body."""

    def __init__(self, status: int, challenges: list[str]) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.challenges = challenges

    @property
    def digest_offered(self) -> bool:
        return any(c.scheme == "digest" for c in parse_challenges(self.challenges))


class BadReplyError(ValueError):
    """The camera answered, but not with SOAP we can read."""


def _localname(element: etree._Element) -> str:
    return etree.QName(element).localname


def find(element: etree._Element, *path: str) -> etree._Element | None:
    """The first descendant chain matching ``path`` by local name (any namespace)."""
    current: etree._Element | None = element
    for name in path:
        if current is None:
            return None
        current = next(
            (e for e in current.iter() if isinstance(e.tag, str) and _localname(e) == name), None
        )
    return current


def text_of(element: etree._Element, *path: str) -> str | None:
    found = find(element, *path)
    return found.text.strip() if found is not None and found.text else None


_DECLARES_ENCODING = re.compile(rb"<\?xml[^>]*encoding=")
_UTF8 = frozenset({"utf-8", "utf8"})


@functools.lru_cache(maxsize=8)
def _parser_for(charset: str) -> etree.XMLParser:
    return etree.XMLParser(
        encoding=charset, resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )


def parse_reply(body: bytes, charset: str | None = None) -> etree._Element:
    """A camera's reply as XML, read as tolerantly as onvif-zeep and npm ``onvif`` read it.

    Real firmware puts a UTF-8 BOM or blank lines before the XML declaration (skipped),
    and Chinese firmware sends GB2312/GBK text with no encoding declaration, naming the
    charset only in the HTTP Content-Type (used then). Raises BadReplyError.
    """
    document = body.lstrip(b"\xef\xbb\xbf \t\r\n")  # a document starts with "<"
    parser = PARSER
    if charset and charset.lower() not in _UTF8 and not _DECLARES_ENCODING.match(document):
        try:
            parser = _parser_for(charset.lower())
        except LookupError as exc:
            raise BadReplyError(Said("why.unknown_charset", charset=charset)) from exc
    try:
        return etree.fromstring(document, parser)
    except etree.XMLSyntaxError as exc:
        raise BadReplyError(Said("why.not_xml", error=str(exc))) from exc


def read_envelope(body: bytes, charset: str | None = None) -> etree._Element:
    """The first element in the SOAP Body (SOAP 1.1 or 1.2); raise SoapFaultError for a fault."""
    root = parse_reply(body, charset)
    soap_body = next(
        (e for e in root if isinstance(e.tag, str) and _localname(e) == _SOAP_BODY), None
    )
    first = (
        next((e for e in soap_body if isinstance(e.tag, str)), None)
        if soap_body is not None
        else None
    )
    if first is None:
        raise BadReplyError(Said("why.no_soap_body"))
    if _localname(first) == "Fault":
        raise _fault(first)
    return first


def _fault(fault: etree._Element) -> SoapFaultError:
    code = find(fault, "Code")
    if code is not None:  # SOAP 1.2: Code/Value, Subcode/Value …
        codes = [
            (e.text or "").strip()
            for e in code.iter()
            if isinstance(e.tag, str) and _localname(e) == "Value"
        ]
        return SoapFaultError(codes, text_of(fault, "Reason", "Text") or "")
    codes = [text_of(fault, "faultcode") or ""]  # SOAP 1.1
    return SoapFaultError(codes, text_of(fault, "faultstring") or "")


def username_token(username: str, password: str, created: float) -> str:
    """A WS-Security UsernameToken with PasswordDigest = B64(SHA-1(nonce + created + pw))."""
    nonce = os.urandom(16)
    stamp = datetime.fromtimestamp(created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    digest = hashlib.sha1(nonce + stamp.encode() + password.encode()).digest()  # nosec B324  # noqa: S324 - mandated by WS-Security
    return (
        f'<wsse:Security s:mustUnderstand="1" xmlns:wsse="{_WSSE}" xmlns:wsu="{_WSU}">'
        f"<wsse:UsernameToken><wsse:Username>{escape(username)}</wsse:Username>"
        f'<wsse:Password Type="{_PASSWORD_DIGEST}">'
        f"{base64.b64encode(digest).decode()}</wsse:Password>"
        f'<wsse:Nonce EncodingType="http://docs.oasis-open.org/wss/2004/01/'
        f'oasis-200401-wss-soap-message-security-1.0#Base64Binary">'
        f"{base64.b64encode(nonce).decode()}</wsse:Nonce>"
        f"<wsu:Created>{stamp}</wsu:Created></wsse:UsernameToken></wsse:Security>"
    )


def envelope(namespace: str, operation: str, inner: str, security: str = "") -> bytes:
    header = f"<s:Header>{security}</s:Header>" if security else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        f'xmlns:tt="{SCHEMA_NS}">{header}<s:Body>'
        f'<{operation} xmlns="{namespace}">{inner}</{operation}>'
        "</s:Body></s:Envelope>"
    ).encode()


@dataclass
class CameraMemory:
    """What one camera taught us, shared by its liveness and deep probes."""

    auth: Auth | None = None
    time_needs_auth: bool = False
    clock_offset_s: float = 0.0
    notes: dict[str, str] = field(default_factory=dict)


class CameraBook:
    """Per-camera memory for the whole agent (a few dozen bytes a camera), and the HTTP
    session the SOAP calls share (its pool keeps connections alive between calls)."""

    def __init__(self, timeout_s: float) -> None:
        self._cameras: dict[str, CameraMemory] = {}
        self._timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        """Made on first use, inside the running loop; cameras' TLS certificates are
        self-signed, so they are not verified (the address comes from the inventory)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=False, limit=0, keepalive_timeout=30),
                timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                trust_env=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def client(self, device_id: str, username: str | None, password: str | None) -> OnvifClient:
        return OnvifClient(self.session(), self.of(device_id), username, password)

    def of(self, device_id: str) -> CameraMemory:
        memory = self._cameras.get(device_id)
        if memory is None:
            memory = self._cameras[device_id] = CameraMemory()
        return memory


class OnvifClient:
    """Calls on one camera: WS-Security first, HTTP Digest when the camera asks for it.

    The token is stamped in the camera's time (our clock plus the offset measured from
    GetSystemDateAndTime), as onvif-zeep-async's ``adjust_time`` does, so a camera whose
    clock is off does not reject it as a replay.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        memory: CameraMemory,
        username: str | None,
        password: str | None,
    ) -> None:
        self._session = session
        self._memory = memory
        self._username = username
        self._password = password
        self._digest: aiohttp.DigestAuthMiddleware | None = None

    async def call_anonymous(
        self, url: str, namespace: str, operation: str, inner: str = ""
    ) -> etree._Element:
        return await self._post(url, namespace, operation, inner, security="", digest=False)

    async def call(
        self, url: str, namespace: str, operation: str, inner: str = ""
    ) -> etree._Element:
        """Call with credentials, in the way this camera accepted them before (if known)."""
        if self._username is None or self._password is None:
            return await self.call_anonymous(url, namespace, operation, inner)
        if self._memory.auth is Auth.DIGEST:
            return await self._post(url, namespace, operation, inner, security="", digest=True)
        refusal: HttpStatusError | SoapFaultError
        try:
            reply = await self._post(
                url, namespace, operation, inner, security=self._token(), digest=False
            )
        except HttpStatusError as exc:
            if exc.status != 401:
                raise
            refusal = exc
        except SoapFaultError as fault:
            if not fault.not_authorized:
                self._memory.auth = Auth.WSSE  # past authentication, refused for another reason
                raise
            refusal = fault
        else:
            self._memory.auth = Auth.WSSE
            return reply
        if isinstance(refusal, HttpStatusError) and not refusal.digest_offered:
            raise refusal
        try:
            reply = await self._post(url, namespace, operation, inner, security="", digest=True)
        except SoapFaultError as second:
            if not second.not_authorized:
                self._memory.auth = Auth.DIGEST
                raise
            raise refusal from None
        except HttpStatusError as second:
            if second.status != 401:
                raise
            raise refusal from None
        self._memory.auth = Auth.DIGEST
        return reply

    def _token(self) -> str:
        assert self._username is not None
        assert self._password is not None
        created = time.time() + self._memory.clock_offset_s
        return username_token(self._username, self._password, created)

    async def _post(
        self, url: str, namespace: str, operation: str, inner: str, *, security: str, digest: bool
    ) -> etree._Element:
        middlewares: tuple[aiohttp.DigestAuthMiddleware, ...] = ()
        if digest:
            assert self._username is not None
            assert self._password is not None
            if self._digest is None:
                self._digest = aiohttp.DigestAuthMiddleware(self._username, self._password)
            middlewares = (self._digest,)
        headers = {
            "Content-Type": (
                f'application/soap+xml; charset=utf-8; action="{namespace}/{operation}"'
            )
        }
        body = envelope(namespace, operation, inner, security)
        async with self._session.post(
            url, data=body, headers=headers, middlewares=middlewares
        ) as response:
            data = await response.content.read(MAX_REPLY_BYTES + 1)
            if len(data) > MAX_REPLY_BYTES:
                raise BadReplyError(Said("why.too_large"))
            status, charset = response.status, response.charset
            challenges = response.headers.getall("WWW-Authenticate", [])
        if status == 200:
            return read_envelope(data, charset)
        try:
            read_envelope(data, charset)  # a fault in the body says more than the status
        except SoapFaultError:
            raise
        except BadReplyError:
            pass
        raise HttpStatusError(status, challenges)
