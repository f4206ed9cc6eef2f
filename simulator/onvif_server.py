"""Simulated ONVIF cameras over HTTP (SOAP 1.2), many per process, one listener per camera.

The camera is chosen by the address and port the request arrived on, exactly like a
real network where each camera has its own IP. WS-Security UsernameToken is verified
for real (PasswordDigest = Base64(SHA-1(nonce + created + password)), or PasswordText);
a wrong password gets the ``ter:NotAuthorized`` fault a real camera sends.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime
from urllib.request import parse_http_list, parse_keqv_list

from aiohttp import web
from lxml import etree

from simulator.devices import (
    LAN_ADDRESS,
    MEDIA_PORT,
    VIEWER,
    DownMode,
    Fault,
    HostileMode,
    Quirk,
    SimDevice,
)
from simulator.onvif_replies import (
    ACTION_NOT_SUPPORTED,
    MEDIA1_NS,
    MEDIA2_NS,
    NO_PROFILE,
    NOT_AUTHORIZED,
    OPERATION_PROHIBITED,
    Personality,
    as_soap11,
    clock_values,
    gbk_names_declared_utf8,
    in_gb2312,
    iso,
    local_time_only,
    media_moved,
)

log = logging.getLogger(__name__)

SOAP_CONTENT_TYPE = "application/soap+xml; charset=utf-8"
MAX_REQUEST_BYTES = 256 * 1024
# Operations a camera answers without credentials (ONVIF Core's PRE_AUTH class).
PRE_AUTH = {"GetSystemDateAndTime", "GetCapabilities", "GetServices", "GetHostname"}
_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST_REALM = "IP Camera"
# Connections the kernel queues per camera before the simulator accepts them. A camera's
# own HTTP server keeps a short queue; a long one (512 × 1,600 cameras) held thousands of
# connections whose clients had already given up (CLOSE_WAIT) on a busy machine.
LISTEN_BACKLOG = 16
KEEPALIVE_S = 75.0
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>
<tds:GetSystemDateAndTimeResponse xmlns:tds="http://www.onvif.org/ver10/device/wsdl">&lol9;
</tds:GetSystemDateAndTimeResponse></s:Body></s:Envelope>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE s:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>
<tds:GetDeviceInformationResponse xmlns:tds="http://www.onvif.org/ver10/device/wsdl">
<tds:Manufacturer>&xxe;</tds:Manufacturer></tds:GetDeviceInformationResponse></s:Body></s:Envelope>"""


class SoapRequest:
    """The parts of a SOAP request a camera looks at: operation and UsernameToken."""

    def __init__(self, body: bytes) -> None:
        root = etree.fromstring(body, _PARSER)
        soap_body = next((e for e in root if etree.QName(e).localname == "Body"), None)
        first = next(iter(soap_body), None) if soap_body is not None else None
        if first is None or not isinstance(first.tag, str):
            raise ValueError("no operation in the SOAP body")
        self.operation = etree.QName(first).localname
        self.namespace = etree.QName(first).namespace or ""
        token = root.find(f".//{{{_WSSE}}}UsernameToken")
        self.username = self.password = self.password_type = self.nonce = self.created = None
        if token is not None:
            self.username = token.findtext(f"{{{_WSSE}}}Username")
            password = token.find(f"{{{_WSSE}}}Password")
            if password is not None:
                self.password = password.text or ""
                self.password_type = password.get("Type", "")
            self.nonce = token.findtext(f"{{{_WSSE}}}Nonce")
            self.created = token.findtext(f"{{{_WSU}}}Created")
        self.typed = any(
            isinstance(e.tag, str) and etree.QName(e).localname == "Type" for e in first
        )
        self.profile_token = next(
            (
                (e.text or "").strip()
                for e in first.iter()
                if isinstance(e.tag, str) and etree.QName(e).localname == "ProfileToken"
            ),
            None,
        )

    def fresh(self, camera_time: float, window_s: float) -> bool:
        """A token created within ``window_s`` of the camera's clock (replay protection)."""
        if self.created is None:
            return True
        try:
            created = datetime.fromisoformat(self.created).timestamp()
        except ValueError:
            return False
        return abs(created - camera_time) <= window_s

    def authenticates(self, username: str | None, password: str | None) -> bool:
        if username is None or password is None:
            return True
        if self.username != username or self.password is None:
            return False
        if (self.password_type or "").endswith("#PasswordText"):
            return hmac.compare_digest(self.password, password)
        try:
            nonce = base64.b64decode(self.nonce or "", validate=True)
        except ValueError:
            return False
        digest = hashlib.sha1(nonce + (self.created or "").encode() + password.encode())  # nosec B324  # noqa: S324 - the WS-Security spec mandates SHA-1
        expected = base64.b64encode(digest.digest()).decode()
        return hmac.compare_digest(self.password, expected)


def digest_matches(header: str, method: str, password: str, username: str, nonce: str) -> bool:
    """RFC 7616 Digest (MD5 or SHA-256, with or without qop=auth), checked as a camera does."""
    if not header.startswith("Digest "):
        return False
    fields = parse_keqv_list(parse_http_list(header[7:]))
    algorithm = fields.get("algorithm", "MD5").upper()
    if algorithm not in ("MD5", "SHA-256") or fields.get("nonce") != nonce:
        return False

    def h(text: str) -> str:
        return hashlib.new(algorithm.replace("-", "").lower(), text.encode()).hexdigest()

    ha1 = h(f"{username}:{fields.get('realm', '')}:{password}")
    ha2 = h(f"{method}:{fields.get('uri', '')}")
    if fields.get("qop") == "auth":
        expected = h(f"{ha1}:{nonce}:{fields.get('nc')}:{fields.get('cnonce')}:auth:{ha2}")
    else:
        expected = h(f"{ha1}:{nonce}:{ha2}")
    return fields.get("username") == username and hmac.compare_digest(
        fields.get("response", ""), expected
    )


class CameraServer:
    """Serves every simulated camera; ``attach`` opens one listener per camera address."""

    def __init__(
        self,
        personality_of: Callable[[SimDevice], Personality],
        stream_port: Callable[[SimDevice], int],
    ) -> None:
        self._personality_of = personality_of
        self._stream_port = stream_port
        self._by_socket: dict[tuple[str, int], SimDevice] = {}
        self._listeners: dict[str, asyncio.Server] = {}
        self._media_listeners: list[asyncio.Server] = []
        self._starting: set[asyncio.Task[None]] = set()
        # A handler whose client hung up is cancelled: its answer would go nowhere, and on a
        # busy machine the work for gone clients is what made the simulator fall behind.
        # An idle kept-alive connection is closed after 75 s, as cameras' web servers do.
        self._server = web.Server(
            self._handle, handler_cancellation=True, keepalive_timeout=KEEPALIVE_S
        )
        self._nonce = os.urandom(16).hex()
        self.requests = 0
        self.stopping = False  # set when the simulator stops: requests are hung up on

    async def attach(self, device: SimDevice) -> None:
        assert device.spec.onvif is not None
        key = (device.spec.address, device.spec.onvif.port)
        self._by_socket[key] = device
        await self.listen(device)

    async def listen(self, device: SimDevice) -> None:
        """(Re)open the camera's listener; refused mode closes it so connects get RST."""
        assert device.spec.onvif is not None
        if device.id in self._listeners:
            return
        loop = asyncio.get_running_loop()
        self._listeners[device.id] = await loop.create_server(
            self._server,
            device.spec.address,
            device.spec.onvif.port,
            reuse_address=True,
            backlog=LISTEN_BACKLOG,
        )

    def serve_media_port(self, device: SimDevice) -> None:
        """Listen on the camera's MEDIA_PORT too (``onvif_media_own_port``). The socket is
        bound and listening on return, so a client may connect at once; it is accepted
        as soon as the loop runs the server."""
        key = (device.spec.address, MEDIA_PORT)
        if key in self._by_socket:
            return
        self._by_socket[key] = device
        sock = socket.create_server(key, backlog=LISTEN_BACKLOG)
        sock.setblocking(False)

        async def serve() -> None:
            loop = asyncio.get_running_loop()
            self._media_listeners.append(await loop.create_server(self._server, sock=sock))

        task = asyncio.get_running_loop().create_task(serve())
        self._starting.add(task)
        task.add_done_callback(self._starting.discard)

    def stop_listening(self, device: SimDevice) -> None:
        listener = self._listeners.pop(device.id, None)
        if listener is not None:
            listener.close()

    def stop_listening_all(self) -> None:
        for listener in [*self._listeners.values(), *self._media_listeners]:
            listener.close()
        self._listeners.clear()
        self._media_listeners.clear()

    async def close(self) -> None:
        """No new connections, then at most a second for the requests in progress."""
        self.stop_listening_all()
        await self._server.shutdown(1)

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        if self.stopping and request.transport is not None:
            request.transport.abort()  # stopping: no work for anyone now
            return web.Response(status=503)
        self.requests += 1
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        device = self._by_socket.get((sockname[0], sockname[1])) if sockname else None
        if device is None:
            return web.Response(status=404)
        mode = device.reachable_mode()
        if mode is DownMode.REFUSED and request.transport is not None:
            request.transport.abort()  # a kept-alive connection is reset; new ones are refused
        if mode is DownMode.SILENT or mode is DownMode.REFUSED:
            await asyncio.Event().wait()  # the client times out; cancelled when it hangs up
        if mode is DownMode.SLOW:
            await asyncio.sleep(device.slow_s)
        if Fault.HOSTILE in device.faults:
            return await self._hostile(request, device.hostile_mode)
        if Fault.GARBAGE in device.faults:
            return web.Response(body=os.urandom(512), content_type="application/soap+xml")
        body = await request.content.read(MAX_REQUEST_BYTES + 1)
        if len(body) > MAX_REQUEST_BYTES:
            return web.Response(status=413)
        try:
            soap = SoapRequest(body)
        except (etree.XMLSyntaxError, ValueError):
            return self._fault(device, ACTION_NOT_SUPPORTED.render(**self._values(device)), 400)
        assert device.spec.onvif is not None
        on_media_port = request.transport is not None and (
            request.transport.get_extra_info("sockname")[1] != device.spec.onvif.port
        )
        response = self._answer(
            device, soap, request.headers.get("Authorization", ""), on_media_port
        )
        if {Quirk.ONVIF_HTTP10, Quirk.ONVIF_BARE_LF} & device.quirks and request.transport:
            return _raw(request, response, device.quirks)
        return response

    def _answer(
        self, device: SimDevice, soap: SoapRequest, authorization: str, on_media_port: bool
    ) -> web.Response:
        personality = self._personality_of(device)
        values = self._values(device)
        quirks = device.quirks
        if Quirk.ONVIF_MEDIA_OWN_PORT in quirks and on_media_port != (
            soap.namespace in (MEDIA1_NS, MEDIA2_NS)
        ):
            return web.Response(status=404, text="Not Found")
        needs_auth = soap.operation not in PRE_AUTH or (
            Quirk.ONVIF_AUTH_ON_TIME in quirks and soap.operation == "GetSystemDateAndTime"
        )
        if needs_auth and device.username is not None and device.password is not None:
            refusal = self._refusal(device, soap, authorization, values)
            if refusal is not None:
                return refusal
        if (Quirk.ONVIF_MEDIA2_ONLY in quirks and soap.namespace == MEDIA1_NS) or (
            Quirk.ONVIF_MEDIA2_BROKEN in quirks and soap.namespace == MEDIA2_NS
        ):
            return self._fault(device, ACTION_NOT_SUPPORTED.render(**values), 400)
        if (
            Quirk.ONVIF_DEVICE_INFO_PROHIBITED in quirks
            and soap.operation == "GetDeviceInformation"
        ):
            return self._fault(device, OPERATION_PROHIBITED.render(**values), 400)
        if (
            soap.operation in ("GetStreamUri", "GetSnapshotUri")
            and soap.profile_token not in personality.profile_tokens
        ):
            return self._fault(device, NO_PROFILE.render(**values), 400)
        key = f"media2-{soap.operation}" if soap.namespace == MEDIA2_NS else soap.operation
        if key == "media2-GetProfiles" and soap.typed:
            key = "media2-GetProfiles-typed"
        reply = personality.replies.get(key)
        if reply is None:
            return self._fault(device, ACTION_NOT_SUPPORTED.render(**values), 400)
        body = _habits(reply.render(**values), soap.operation, quirks)
        if Fault.TRUNCATED in device.faults:
            body = body[: len(body) // 2]
        return web.Response(body=body, content_type=_content_type(device), charset=_charset(device))

    def _refusal(
        self, device: SimDevice, soap: SoapRequest, authorization: str, values: dict[str, str]
    ) -> web.Response | None:
        """None when the request carries credentials this camera accepts; else its answer."""
        password = device.password or ""
        if Fault.WRONG_CREDENTIALS in device.faults:
            password += "-changed-on-site"
        username = device.username or ""
        digest_only = {Quirk.ONVIF_DIGEST_ONLY, Quirk.ONVIF_DIGEST_SHA256} & device.quirks
        if digest_only:
            if digest_matches(authorization, "POST", password, username, self._nonce):
                return None
            algorithm = "SHA-256" if Quirk.ONVIF_DIGEST_SHA256 in device.quirks else "MD5"
            challenge = (
                f'Digest realm="{DIGEST_REALM}", qop="auth", nonce="{self._nonce}", '
                f"algorithm={algorithm}"
            )
            return web.Response(status=401, headers={"WWW-Authenticate": challenge})
        # A firmware that keeps only local time cannot tell a token's age: it checks none.
        ageless = Quirk.ONVIF_LOCAL_TIME_ONLY in device.quirks
        if soap.authenticates(username, password) and (
            ageless or soap.fresh(device.now(), device.token_window_s)
        ):
            return None
        return self._fault(device, NOT_AUTHORIZED.render(**values), 401)

    def _values(self, device: SimDevice) -> dict[str, str]:
        assert device.spec.onvif is not None
        address = device.spec.address
        http_port, rtsp_port = device.spec.onvif.port, self._stream_port(device)
        if Quirk.NAT in device.quirks:  # what it advertises: its LAN side, default ports
            address, http_port, rtsp_port = LAN_ADDRESS, 80, 554
        viewer = (
            f"{VIEWER[0]}:{VIEWER[1]}@" if Quirk.RTSP_CREDENTIALS_IN_URI in device.quirks else ""
        )
        now = device.now()
        until = now - (device.gap_s if Fault.RECORDING_GAP in device.faults else 0.0)
        digest = hashlib.sha256(device.id.encode()).hexdigest()
        return clock_values(now) | {
            "serial": f"SIM{digest[:16].upper()}",
            "http_base": f"http://{address}:{http_port}",
            "https_base": f"https://{address}:{http_port}",
            "rtsp_base": f"rtsp://{address}:{rtsp_port}",
            "stream_uri": f"rtsp://{viewer}{address}:{rtsp_port}/{device.id}/main",
            "recording_from": iso(device.boot_time - 30 * 86400),
            "recording_until": iso(until),
            "address": address,
            "mac": ":".join(digest[i : i + 2] for i in range(0, 12, 2)),
        }

    @staticmethod
    def _fault(device: SimDevice, body: bytes, status: int) -> web.Response:
        if Quirk.ONVIF_SOAP11 in device.quirks:
            body = as_soap11(body)
        return web.Response(
            status=status, body=body, content_type=_content_type(device), charset=_charset(device)
        )

    @staticmethod
    async def _hostile(request: web.BaseRequest, mode: HostileMode) -> web.StreamResponse:
        if mode is HostileMode.BILLION_LAUGHS:
            return web.Response(body=BILLION_LAUGHS, content_type="application/soap+xml")
        if mode is HostileMode.EXTERNAL_ENTITY:
            return web.Response(body=EXTERNAL_ENTITY, content_type="application/soap+xml")
        response = web.StreamResponse(headers={"Content-Type": SOAP_CONTENT_TYPE})
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = b"<a>" + b"x" * 65_536 + b"</a>"
        if mode is HostileMode.OVERSIZE:
            for _ in range(1024):  # 64 MiB
                await response.write(chunk)
            await response.write_eof()
            return response
        while True:  # endless: until the client gives up
            await response.write(chunk)
            await asyncio.sleep(0.05)


def _content_type(device: SimDevice) -> str:
    return "text/xml" if Quirk.ONVIF_SOAP11 in device.quirks else "application/soap+xml"


def _charset(device: SimDevice) -> str:
    return "GB2312" if Quirk.ONVIF_CHARSET_GB2312 in device.quirks else "utf-8"


def _habits(body: bytes, operation: str, quirks: set[Quirk]) -> bytes:
    """A reply as the firmware with ``quirks`` words and encodes it."""
    if Quirk.ONVIF_SOAP11 in quirks:
        body = as_soap11(body)
    if Quirk.ONVIF_LOCAL_TIME_ONLY in quirks and operation == "GetSystemDateAndTime":
        body = local_time_only(body)
    if Quirk.ONVIF_MEDIA_OWN_PORT in quirks and operation in ("GetServices", "GetCapabilities"):
        body = media_moved(body, MEDIA_PORT)
    if Quirk.ONVIF_DEVICE_INFO_GBK in quirks and operation == "GetDeviceInformation":
        body = gbk_names_declared_utf8(body)  # its own encoding, whatever else it does
    elif Quirk.ONVIF_CHARSET_GB2312 in quirks:
        body = in_gb2312(body)
    if Quirk.ONVIF_BOM in quirks:
        body = b"\xef\xbb\xbf\r\n" + body
    return body


def _raw(request: web.BaseRequest, response: web.Response, quirks: set[Quirk]) -> web.Response:
    """Write ``response`` as an embedded HTTP server does (HTTP/1.0 ended by the close, or
    header lines ended by a bare LF) straight to the socket, which is then closed; the
    response returned to aiohttp goes nowhere."""
    assert request.transport is not None
    http10 = Quirk.ONVIF_HTTP10 in quirks
    end = "\n" if Quirk.ONVIF_BARE_LF in quirks else "\r\n"
    body = response.body if isinstance(response.body, bytes) else b""
    lines = [
        f"HTTP/{'1.0' if http10 else '1.1'} {response.status} {response.reason}",
        f"Content-Type: {response.headers.get('Content-Type', 'application/soap+xml')}",
        "Connection: close",
    ]
    if not http10:
        lines.append(f"Content-Length: {len(body)}")
    request.transport.write((end.join(lines) + end + end).encode() + body)
    request.transport.close()
    return response
