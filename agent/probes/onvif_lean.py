"""Per-cycle camera liveness: ONVIF GetSystemDateAndTime as a pre-built SOAP POST.

Why not onvif-zeep-async here: it costs ~1.0-1.5 ms of CPU per call plus ~4 ms and ~90 KB
per camera client, so 100,000 cameras every 60 s would need more than the edge server
has. Why not aiohttp either: measured here, a fresh-connection POST through aiohttp's
client costs ~0.8 ms of CPU, and keeping 100,000 idle keep-alive connections is no
option. This one call needs no authentication and its request never changes, so the
request bytes are built once, sent over a bare asyncio connection, and the reply (a
small HTTP response, read as tolerantly as the reference clients read it: HTTP/1.0 or
1.1, Content-Length, chunked or ended by the close, bare-LF line ends, the charset of
its Content-Type) is read here and parsed with lxml (``onvif_soap.parse_reply``).
A camera that wants credentials for it, and TLS cameras, go through the SOAP client
(``onvif_soap.py``); ``tests/agent/probes/test_onvif_lean.py`` proves this path reads the
same time as onvif-zeep-async from the simulator fleet and real cameras' captures.

Replies are untrusted: at most ``MAX_REPLY_BYTES`` are read, and the parser resolves no
entities, loads no DTD and touches no network.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple, cast

from agent.probes.base import ProbeResult, Target, connection_reason, why
from agent.probes.camera_clock import CameraClock, camera_clock
from agent.probes.onvif_deep import device_url, read_camera_clock, reason_of
from agent.probes.onvif_soap import (
    DEVICE_NS,
    Auth,
    BadReplyError,
    CameraBook,
    CameraMemory,
    HttpStatusError,
    SoapFaultError,
    envelope,
    parse_reply,
    read_envelope,
    username_token,
)
from agent.wire import ClockState, Health, Reason
from slawatch.aio import Deadlines
from slawatch.messages import Said

MAX_REPLY_BYTES = 64 * 1024
REQUEST = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
    b'<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/>'
    b"</s:Body></s:Envelope>"
)
_ACTION = (
    b'Content-Type: application/soap+xml; charset=utf-8; action="http://www.onvif.org/ver10/'
    b'device/wsdl/GetSystemDateAndTime"\r\n'
)
_REQUEST_TAIL = _ACTION + b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (
    len(REQUEST),
    REQUEST,
)
# A connection is kept for a camera's next poll only when that comes sooner than this:
# cameras close idle connections after 30-75 s, and a fleet polled every minute would
# otherwise hold a socket per camera for nothing.
KEEP_IDLE_S = 20.0
_TT = "{http://www.onvif.org/ver10/schema}"
_TIME = "GetSystemDateAndTime"
# Charsets in which the reply's markup and digits are the ASCII bytes the fast path reads.
_ASCII_SUPERSETS = frozenset(
    {"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "gb2312", "gbk", "gb18030"}
)
_CLOCK_FIELDS = tuple(
    f"{_TT}{name}" for name in ("Year", "Month", "Day", "Hour", "Minute", "Second")
)


class HttpReply(NamedTuple):
    status: int
    charset: str | None  # from Content-Type, for a document that does not declare one
    body: bytes
    closes: bool = True  # the server ends the connection after this response


# The common reply, read without building its tree: a complete document (it ends with
# the envelope's end tag) with no DTD, comment or CDATA (no ``<!``), whose UTCDateTime
# holds its six fields as plain numbers. lxml spends 30-70 µs on a real camera's reply
# (most of it on the forty namespace declarations firmwares put on the envelope), a
# fifth of a probe; this takes a few µs. Any other reply is parsed by lxml, and
# ``tests/agent/probes/test_onvif_lean.py`` holds both readings equal on every capture.
_PREFIX = rb"(?:[A-Za-z_][\w.-]*:)?"
_UTC_FIELD = re.compile(
    rb"<" + _PREFIX + rb"(Year|Month|Day|Hour|Minute|Second)\s*>\s*([0-9]{1,4})\s*</"
)
_END = re.compile(rb"</" + _PREFIX + rb"Envelope\s*>\s*$")
_UTC = b"UTCDateTime"
_PLAIN_FIELDS = (b"Year", b"Month", b"Day", b"Hour", b"Minute", b"Second")


def _plain_utc(reply: bytes) -> CameraClock | None:
    """The UTCDateTime of a plain reply, or None to let lxml read it."""
    if b"!" in reply and b"<!" in reply:  # memchr first: "<!" alone is a slow search
        return None
    if _END.search(reply, max(0, len(reply) - 64)) is None:
        return None
    start = reply.find(_UTC)
    end = reply.find(_UTC, start + len(_UTC))
    if start < 1 or end < 0 or reply[start - 1] not in b"<:" or reply[end - 1] not in b"/:":
        return None
    values = dict(_UTC_FIELD.findall(reply, start, end))
    if len(values) != len(_PLAIN_FIELDS):
        return None
    year, month, day, hour, minute, second = (int(values[name]) for name in _PLAIN_FIELDS)
    try:
        return CameraClock((datetime(year, month, day, hour, minute, second, tzinfo=UTC),))
    except ValueError as exc:
        raise BadReplyError(Said("why.bad_time", error=str(exc))) from exc


def device_clock(reply: bytes, charset: str | None = None) -> CameraClock:
    """The camera's clock from a GetSystemDateAndTime reply (raises BadReplyError)."""
    if charset is None or charset.lower() in _ASCII_SUPERSETS:
        plain = _plain_utc(reply)
        if plain is not None:
            return plain
    root = parse_reply(reply, charset)
    utc = next(root.iter(f"{_TT}UTCDateTime"), None)
    if utc is None:  # LocalDateTime and TZ only, or prefixes we do not expect
        return camera_clock(root)
    # One pass over the few leaves (Date/Year…, Time/Hour…) instead of six path lookups.
    values = {
        element.tag: element.text
        for element in utc.iter(*_CLOCK_FIELDS)
        if isinstance(element.tag, str)
    }
    try:
        year, month, day, hour, minute, second = (int(values.get(t) or "") for t in _CLOCK_FIELDS)
        return CameraClock((datetime(year, month, day, hour, minute, second, tzinfo=UTC),))
    except ValueError as exc:
        raise BadReplyError(Said("why.bad_time", error=str(exc))) from exc


class _HttpExchange(asyncio.Protocol):
    """HTTP/1.1 requests and their responses on one connection, size-capped: one on a
    fresh connection closed after it, or one after another on a connection kept alive."""

    def __init__(self, request: bytes, done: asyncio.Future[HttpReply]) -> None:
        self._request = request
        self._done = done
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        self.answered = 0.0  # loop time of the last whole response (0: none yet)

    @property
    def reusable(self) -> bool:
        """Open, idle and not closing: the next request may go on it."""
        transport = self._transport
        return self._done.done() and transport is not None and not transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio's.
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(self._request)

    def ask(self, request: bytes, done: asyncio.Future[HttpReply]) -> None:
        """Send the next request on this (kept, idle) connection."""
        assert self._transport is not None
        self._request, self._done = request, done
        self._buffer.clear()
        self._transport.write(request)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) > MAX_REPLY_BYTES:
            self._finish(BadReplyError("reply too large"))
            return
        try:
            parsed = _parse_http(bytes(self._buffer), complete=False)
        except BadReplyError as exc:
            self._finish(exc)
            return
        if parsed is not None:
            self._finish(parsed)

    def eof_received(self) -> bool:
        try:
            parsed = _parse_http(bytes(self._buffer), complete=True)
        except BadReplyError as exc:
            self._finish(exc)
            return False
        self._finish(parsed if parsed is not None else BadReplyError("truncated reply"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self._transport is not None:
            self._transport.close()  # is_closing() from now on: never reused
        if not self._done.done():
            self._done.set_exception(exc or BadReplyError("connection closed before a reply"))

    def abandon(self) -> None:
        """Close the connection and stop waiting (after a timeout or an error)."""
        if self._transport is not None:
            self._transport.abort()
        if not self._done.done():
            self._done.cancel()

    def _finish(self, outcome: HttpReply | BaseException) -> None:
        if isinstance(outcome, BaseException) or outcome.closes:
            if self._transport is not None:
                self._transport.close()
        else:
            self.answered = asyncio.get_running_loop().time()
        self._buffer.clear()
        if self._done.done():
            return
        if isinstance(outcome, BaseException):
            self._done.set_exception(outcome)
        else:
            self._done.set_result(outcome)


def _parse_http(data: bytes, *, complete: bool) -> HttpReply | None:
    """The whole response once it is in ``data``; None while more is due."""
    head_end, blank = data.find(b"\r\n\r\n"), 4
    if head_end < 0:  # embedded servers that end their lines with a bare LF
        head_end, blank = data.find(b"\n\n"), 2
        if head_end < 0:
            return None
    lines = data[:head_end].split(b"\n")
    parts = lines[0].strip().split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise BadReplyError(Said("why.not_http"))
    status = int(parts[1])
    headers: dict[bytes, bytes] = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    charset = _charset(headers.get(b"content-type", b""))
    connection = headers.get(b"connection", b"").lower()
    closes = connection == b"close" or (parts[0] == b"HTTP/1.0" and connection != b"keep-alive")
    body = data[head_end + blank :]
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        chunked = _dechunk(body)
        return None if chunked is None else HttpReply(status, charset, chunked, closes)
    length = headers.get(b"content-length")
    if length is not None:
        if not length.isdigit():
            raise BadReplyError(Said("why.bad_length"))
        if len(body) < int(length):
            return None
        return HttpReply(status, charset, body[: int(length)], closes)
    return HttpReply(status, charset, body) if complete else None


def _charset(content_type: bytes) -> str | None:
    for parameter in content_type.split(b";")[1:]:
        name, _, value = parameter.partition(b"=")
        if name.strip().lower() == b"charset":
            return value.strip().strip(b'"').decode("ascii", errors="replace") or None
    return None


def _dechunk(data: bytes) -> bytes | None:
    body = bytearray()
    at = 0
    while True:
        line_end = data.find(b"\n", at)
        if line_end < 0:
            return None
        try:
            size = int(data[at:line_end].split(b";")[0].strip(), 16)
        except ValueError as exc:
            raise BadReplyError(Said("why.bad_chunk")) from exc
        if size == 0:
            return bytes(body)
        start = line_end + 1
        if len(data) < start + size + 1:
            return None
        body += data[start : start + size]
        at = start + size
        at += 2 if data[at : at + 2] == b"\r\n" else 1


def _refuses_anonymous(reply: HttpReply) -> bool:
    """A 401, or a NotAuthorized fault: the camera wants credentials even for its clock."""
    if reply.status == 401:
        return True
    try:
        read_envelope(reply.body, reply.charset)
    except SoapFaultError as fault:
        return fault.not_authorized
    except BadReplyError:
        return False
    return False


class _Deadline:
    """A lean request's timeout on the probe's timer wheel (``slawatch.aio.Deadlines``),
    as ``asyncio.timeout`` would keep it without a timer handle and two coroutine calls a
    probe: when due, it fails the reply being waited for, or, while the connection is
    still being made, cancels the probe's task (taken back as a TimeoutError)."""

    __slots__ = ("cancelling", "connecting", "done", "fired", "settled", "task")

    def __init__(self, task: asyncio.Task[Any], done: asyncio.Future[HttpReply]) -> None:
        self.task = task
        self.cancelling = task.cancelling()
        self.done = done
        self.connecting = False
        self.fired = False
        self.settled = False


def _expire(deadline: _Deadline) -> None:
    if deadline.settled:
        return
    deadline.fired = True
    if deadline.connecting:
        deadline.task.cancel()
    elif not deadline.done.done():
        deadline.done.set_exception(TimeoutError())


class OnvifLivenessProbe:
    """GetSystemDateAndTime each cycle, anonymously on the lean path.

    A camera that refuses it without credentials (a 401 or a NotAuthorized fault) has
    answered, so it is alive: it is asked through the SOAP client once (which learns how
    it takes credentials), and from then on with a WS-Security token built here, on a
    connection kept between polls that come less than ``KEEP_IDLE_S`` apart. Whatever
    such a request gets other than a readable 200 goes to the SOAP client again (HTTP
    Digest, refusals), and cameras that take HTTP Digest and TLS cameras stay with it.
    """

    protocol = "onvif"

    def __init__(
        self,
        timeout_s: float,
        clock_skew_limit_s: float,
        cameras: CameraBook,
        agent_clock: Callable[[], ClockState] = lambda: ClockState.SYNCHRONISED,
    ) -> None:
        self._timeout_s = timeout_s
        self._skew_limit = clock_skew_limit_s
        # A camera's clock is judged against this host's only when that is synchronised.
        self._agent_clock = agent_clock
        self._cameras = cameras
        # Cameras asked with a token: their kept connection, and when each was last asked.
        self._kept: dict[str, _HttpExchange] = {}
        self._asked: dict[str, float] = {}
        self._deadlines = Deadlines()

    def close(self) -> None:
        """Close the kept connections."""
        self._deadlines.close()
        for exchange in self._kept.values():
            exchange.abandon()
        self._kept.clear()

    async def probe(self, target: Target, deep: bool) -> ProbeResult:
        onvif = target.device.onvif
        assert onvif is not None
        memory = self._cameras.of(target.device.id)
        if onvif.tls or memory.auth is Auth.DIGEST:
            return await self._with_client(target, memory)
        head = f"POST {onvif.path} HTTP/1.1\r\nHost: {target.device.address}:{onvif.port}\r\n"
        if memory.time_needs_auth:
            return await self._with_token(target, memory, head.encode())
        sent = time.time()
        try:
            reply = await self._send(target, head.encode() + _REQUEST_TAIL, keep=False)
        except BadReplyError as exc:
            return _bad_response(why(exc))
        except Exception as exc:  # noqa: BLE001 - every transport failure is data
            return ProbeResult.down(connection_reason(exc), "liveness")
        received = time.time()
        if reply.status != 200:
            if _refuses_anonymous(reply):
                memory.time_needs_auth = True
                return await self._with_client(target, memory)
            rtt_ms = (received - sent) * 1000
            what = f"HTTP {reply.status}"
            return _bad_response(Said("why.answer_to", what=what, operation=_TIME), rtt_ms=rtt_ms)
        try:
            return self._read(reply, memory, sent, received)
        except BadReplyError as exc:
            return _bad_response(why(exc), rtt_ms=(received - sent) * 1000)

    async def _with_token(self, target: Target, memory: CameraMemory, head: bytes) -> ProbeResult:
        """The request the SOAP client would send (a fresh UsernameToken stamped in the
        camera's time), without the client's cost: a kept connection saves the connect."""
        credentials = target.credentials
        security = ""
        if credentials.username is not None and credentials.password is not None:
            created = time.time() + memory.clock_offset_s
            security = username_token(credentials.username, credentials.password, created)
        body = envelope(DEVICE_NS, "GetSystemDateAndTime", "", security)
        request = b"%s%sContent-Length: %d\r\n\r\n%s" % (head, _ACTION, len(body), body)
        sent = time.time()
        try:
            reply = await self._send(target, request, keep=True)
        except BadReplyError as exc:
            return _bad_response(why(exc))
        except Exception as exc:  # noqa: BLE001 - every transport failure is data
            return ProbeResult.down(connection_reason(exc), "liveness")
        received = time.time()
        if reply.status == 200:
            try:
                result = self._read(reply, memory, sent, received)
            except BadReplyError:
                pass  # a fault in a 200, or XML the client reads its own way
            else:
                if security:
                    memory.auth = Auth.WSSE
                return result
        return await self._with_client(target, memory)

    async def _send(self, target: Target, request: bytes, *, keep: bool) -> HttpReply:
        """One request and its response, on a fresh connection or (``keep``) on the
        camera's kept one; a kept connection the camera closed meanwhile is replaced."""
        device = target.device
        onvif = device.onvif
        assert onvif is not None
        loop = asyncio.get_running_loop()
        done: asyncio.Future[HttpReply] = loop.create_future()
        now = loop.time()
        exchange = self._kept.pop(device.id, None) if keep else None
        if exchange is not None and not (
            exchange.reusable and now - exchange.answered < KEEP_IDLE_S
        ):
            exchange.abandon()
            exchange = None
        task = asyncio.current_task()
        assert task is not None
        deadline = _Deadline(task, done)
        self._deadlines.call_later(self._timeout_s, _expire, deadline)
        try:
            if exchange is not None:
                exchange.ask(request, done)
                try:
                    reply = await done
                except (OSError, BadReplyError) as exc:
                    if isinstance(exc, TimeoutError):
                        raise
                    # Closed by the camera as we asked (an idle timeout): ask anew.
                    exchange.abandon()
                    exchange = None
                    done = deadline.done = loop.create_future()
            if exchange is None:
                exchange = _HttpExchange(request, done)
                deadline.connecting = True
                await loop.create_connection(lambda: exchange, device.address, onvif.port)
                deadline.connecting = False
                reply = await done
        except asyncio.CancelledError:
            if exchange is not None:
                exchange.abandon()
            if deadline.fired and task.uncancel() <= deadline.cancelling:
                raise TimeoutError from None  # our own deadline, not a cancel from above
            raise
        except BaseException:
            if exchange is not None:
                exchange.abandon()
            raise
        finally:
            deadline.settled = True
        if keep:
            asked, self._asked[device.id] = self._asked.get(device.id, -KEEP_IDLE_S), now
            if not reply.closes and now - asked < KEEP_IDLE_S and exchange.reusable:
                self._kept[device.id] = exchange
                return reply
        exchange.abandon()
        return reply

    def _read(
        self, reply: HttpReply, memory: CameraMemory, sent: float, received: float
    ) -> ProbeResult:
        """The camera's clock from a 200, judged (raises BadReplyError)."""
        clock = device_clock(reply.body, reply.charset)
        offset = clock.offset_s((sent + received) / 2)
        if offset is not None:
            memory.clock_offset_s = offset
        return self._judge(offset, clock.note, (received - sent) * 1000)

    async def _with_client(self, target: Target, memory: CameraMemory) -> ProbeResult:
        credentials = target.credentials
        client = self._cameras.client(target.device.id, credentials.username, credentials.password)
        sent = time.time()
        try:
            async with asyncio.timeout(self._timeout_s):
                offset, note = await read_camera_clock(client, device_url(target.device), memory)
        except (SoapFaultError, HttpStatusError) as exc:
            if reason_of(exc) is Reason.AUTH_FAILED:
                checks = {"liveness": Reason.OK, "credentials": Reason.AUTH_FAILED}
                return ProbeResult(Health.DEGRADED, Reason.AUTH_FAILED, checks)
            return _bad_response(Said("why.answer_to", what=str(exc), operation=_TIME))
        except BadReplyError as exc:
            return _bad_response(why(exc))
        except Exception as exc:  # noqa: BLE001 - every transport failure is data
            return ProbeResult.down(reason_of(exc), "liveness")
        return self._judge(offset, note, (time.time() - sent) * 1000)

    def _judge(self, offset: float | None, note: str | None, rtt_ms: float) -> ProbeResult:
        """Alive; the clock judged when the reply placed it in UTC and our own clock is
        synchronised, else ``unsupported`` or the agent's clock unknown."""
        notes = {"clock": note} if note else {}
        if self._agent_clock() is not ClockState.SYNCHRONISED:
            # Our own clock may be the wrong one: no camera is blamed, no offset recorded.
            checks = {"liveness": Reason.OK, "clock": Reason.AGENT_CLOCK_UNKNOWN}
            return ProbeResult(Health.UP, Reason.OK, checks, {"rtt_ms": rtt_ms}, notes)
        if offset is None:
            checks = {"liveness": Reason.OK, "clock": Reason.UNSUPPORTED}
            return ProbeResult(Health.UP, Reason.OK, checks, {"rtt_ms": rtt_ms}, notes)
        metrics = {"rtt_ms": rtt_ms, "clock_offset_s": round(offset, 3)}
        if abs(offset) > self._skew_limit + 1:  # the camera reports whole seconds
            checks = {"liveness": Reason.OK, "clock": Reason.CLOCK_SKEW}
            return ProbeResult(Health.DEGRADED, Reason.CLOCK_SKEW, checks, metrics, notes)
        checks = {"liveness": Reason.OK, "clock": Reason.OK}
        return ProbeResult(Health.UP, Reason.OK, checks, metrics, notes)


def _bad_response(why: str, **metrics: float) -> ProbeResult:
    """Down: what answered was not a GetSystemDateAndTime reply (``why`` says how)."""
    checks = {"liveness": Reason.BAD_RESPONSE}
    return ProbeResult(Health.DOWN, Reason.BAD_RESPONSE, checks, metrics, {"liveness": why})
