"""The lean SNMPv2c GET used for per-cycle liveness: a hand-written BER codec over one socket.

Why not pysnmp here: its asyncio hlapi costs ~1.5-2.5 ms of CPU per GET (450-580/s per
core, measured on this machine); 100,000 devices every 60 s need far more than that
from well under one core. A v2c GET is a fixed, tiny message, so it is encoded and
decoded here in ~50-100 µs. Everything else — SNMPv3 (USM), GETBULK walks — stays on
pysnmp, and ``tests/agent/probes/test_snmp_probe.py`` proves this path returns what pysnmp
returns, against the simulator's real recordings and Debian's snmpd;
``tests/agent/probes/test_snmp_lean.py`` holds it to Net-SNMP's retry rule (one request-id
for every send, a late answer taken) and to its rule on who may answer.

Replies are parsed strictly: anything malformed raises ``BerError``, never anything else.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import secrets
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from slawatch.aio import Deadlines, Slots

Oid = tuple[int, ...]

_SEQUENCE = 0x30
_INTEGER = 0x02
_OCTET_STRING = 0x04
_NULL = 0x05
_OID = 0x06
_IP_ADDRESS = 0x40
_COUNTER32 = 0x41
_GAUGE32 = 0x42
_TIMETICKS = 0x43
_OPAQUE = 0x44
_COUNTER64 = 0x46
_NO_SUCH_OBJECT = 0x80
_NO_SUCH_INSTANCE = 0x81
_END_OF_MIB_VIEW = 0x82
_GET_REQUEST = 0xA0
_RESPONSE = 0xA2
_MISSING = {_NO_SUCH_OBJECT, _NO_SUCH_INSTANCE, _END_OF_MIB_VIEW}

Value = int | bytes | Oid | None


class BerError(ValueError):
    """A reply that is not a well-formed SNMPv2c response."""


@dataclass(slots=True)
class Response:
    """Not frozen: a frozen dataclass sets each field through ``object.__setattr__``, a
    few µs per reply (a measured hot path); nobody changes one after decoding."""

    request_id: int
    error_status: int
    error_index: int
    varbinds: list[tuple[Oid, Value]]
    # Set only when the answer came from another address than the one asked.
    sender: tuple[str, int] | None = None


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _length(len(body)) + body


def _integer(value: int) -> bytes:
    return _tlv(_INTEGER, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def _oid(oid: Oid) -> bytes:
    if len(oid) < 2:
        raise ValueError("an OID needs at least two arcs")
    body = bytearray([oid[0] * 40 + oid[1]])
    for arc in oid[2:]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body += bytes(reversed(chunk))
    return _tlv(_OID, bytes(body))


_NO_ERROR = _integer(0) + _integer(0)
_VERSION_2C = _integer(1)


@functools.lru_cache(maxsize=4096)
def _request_parts(community: bytes, oids: tuple[Oid, ...]) -> tuple[bytes, bytes]:
    """What a GET holds around its request-id, encoded once: the same few OID lists and
    communities repeat for every device (a measured hot path, a request per probe)."""
    varbinds = _tlv(_SEQUENCE, b"".join(_tlv(_SEQUENCE, _oid(oid) + b"\x05\x00") for oid in oids))
    return _VERSION_2C + _tlv(_OCTET_STRING, community), _NO_ERROR + varbinds


def encode_get(community: bytes, request_id: int, oids: Sequence[Oid]) -> bytes:
    head, tail = _request_parts(community, tuple(oids))
    return _tlv(_SEQUENCE, head + _tlv(_GET_REQUEST, _integer(request_id) + tail))


def _read(data: bytes, at: int) -> tuple[int, int, int]:
    """Return (tag, start of content, end of content) of the TLV at ``at``."""
    if at + 2 > len(data):
        raise BerError("truncated")
    first = data[at + 1]
    if first < 0x80:  # the short form: every length in a liveness reply
        end = at + 2 + first
        if end > len(data):
            raise BerError("truncated")
        return data[at], at + 2, end
    size = first & 0x7F
    start = at + 2 + size
    if size == 0 or size > 4 or start > len(data):
        raise BerError("bad length")
    end = start + int.from_bytes(data[at + 2 : start], "big")
    if end > len(data):
        raise BerError("truncated")
    return data[at], start, end


def _unexpected(tag: int, found: int) -> BerError:
    return BerError(f"expected tag {tag:#x}, found {found:#x}")


@functools.lru_cache(maxsize=4096)
def _decode_oid(body: bytes) -> Oid:
    """An OID's arcs (cached: the same few OIDs come back from every device)."""
    if not body:
        raise BerError("empty OID")
    arcs = [*divmod(body[0], 40)] if body[0] < 80 else [2, body[0] - 80]
    value = 0
    for byte in body[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    if body[-1] & 0x80:
        raise BerError("unterminated OID arc")
    return tuple(arcs)


def _decode_value(tag: int, body: bytes) -> Value:
    if tag == _INTEGER:
        return int.from_bytes(body, "big", signed=True) if body else 0
    if tag in (_COUNTER32, _GAUGE32, _TIMETICKS, _COUNTER64):
        return int.from_bytes(body, "big", signed=False)
    if tag in (_OCTET_STRING, _IP_ADDRESS, _OPAQUE):
        return bytes(body)
    if tag == _OID:
        return _decode_oid(body)
    if tag == _NULL or tag in _MISSING:
        return None
    raise BerError(f"unknown value tag {tag:#x}")


def decode_response(data: bytes) -> Response:
    """A v2c response, strictly (anything else raises BerError).

    Each tag is checked inline and a short length read without arithmetic on the long
    form: one reply per probe, and the generic walk (a call per TLV to read, another to
    check its tag) cost twice this, a tenth of an SNMP probe's CPU (a measured hot path;
    ``tests/agent/probes/test_snmp_lean.py`` holds it to pyasn1's reading of the same
    bytes, well-formed or not).
    """
    try:
        tag, start, end = _read(data, 0)
        if tag != _SEQUENCE:
            raise _unexpected(_SEQUENCE, tag)
        tag, at, version_end = _read(data, start)
        if tag != _INTEGER:
            raise _unexpected(_INTEGER, tag)
        if data[at:version_end] != b"\x01":
            raise BerError("not an SNMPv2c message")
        tag, _, at = _read(data, version_end)
        if tag != _OCTET_STRING:
            raise _unexpected(_OCTET_STRING, tag)
        tag, at, pdu_end = _read(data, at)
        if tag != _RESPONSE:
            raise _unexpected(_RESPONSE, tag)
        fields = []
        for _ in range(3):
            tag, field_start, at = _read(data, at)
            if tag != _INTEGER:
                raise _unexpected(_INTEGER, tag)
            fields.append(int.from_bytes(data[field_start:at], "big", signed=True))
        tag, at, list_end = _read(data, at)
        if tag != _SEQUENCE:
            raise _unexpected(_SEQUENCE, tag)
        varbinds: list[tuple[Oid, Value]] = []
        while at < list_end:
            tag, bind_start, at = _read(data, at)
            if tag != _SEQUENCE:
                raise _unexpected(_SEQUENCE, tag)
            tag, oid_start, oid_end = _read(data, bind_start)
            if tag != _OID:
                raise _unexpected(_OID, tag)
            tag, value_start, value_end = _read(data, oid_end)
            oid = _decode_oid(data[oid_start:oid_end])
            if tag in _MISSING:
                varbinds.append((oid, None))
            else:
                varbinds.append((oid, _decode_value(tag, data[value_start:value_end])))
        if pdu_end > end:
            raise BerError("PDU overruns message")
    except IndexError as exc:
        raise BerError("truncated") from exc
    return Response(fields[0], fields[1], fields[2], varbinds)


class SnmpTimeoutError(TimeoutError):
    """No (valid) answer within timeout × (retries + 1). ``answered_from``: an address
    the answer came from instead of the device's (a multi-homed device, not taken)."""

    def __init__(self, message: str, answered_from: str | None = None) -> None:
        super().__init__(message)
        self.answered_from = answered_from


class _Pending:
    """One GET in flight: the message, sent again every ``timeout`` until ``left`` runs out.

    Every send carries the same request-id, and an answer to any of them is taken, as
    Net-SNMP does: an agent that answers after 2.5 s with a 2 s timeout and one retry is
    read (the answer to the first send arrives while the second is out). A new id per
    retry would throw that answer away and call a slow device dead.

    ``done`` is called once, with the response or the error: a callback, not a future
    awaited by a task, so that the scheduler's liveness path runs a GET without a task or
    a coroutine of its own (a measured hot path, one GET per probe).
    """

    __slots__ = (
        "any_sender",
        "done",
        "elsewhere",
        "left",
        "message",
        "request_id",
        "target",
        "timeout",
    )

    def __init__(
        self,
        request_id: int,
        target: tuple[str, int],
        message: bytes,
        done: Callable[[Response | BerError | SnmpTimeoutError], None],
        timeout: float,
        left: int,
        any_sender: bool,
    ) -> None:
        self.request_id = request_id
        self.target = target
        self.message = message
        self.done = done
        self.timeout = timeout
        self.left = left
        self.any_sender = any_sender
        self.elsewhere: str | None = None  # an answer's address other than the target's


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, client: LeanSnmpClient) -> None:
        self._client = client

    def datagram_received(self, data: bytes, addr: tuple[str | int, int]) -> None:
        self._client.received(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable for one device must not disturb the others: ignored here,
        # the request simply times out.
        pass


class LeanSnmpClient:
    """Many concurrent v2c GETs over one UDP socket, with an in-flight cap.

    Over ~100 requests in flight on one socket the kernel starts dropping replies; the
    cap (and a larger receive buffer) keeps drops on our side from looking like a
    device fault.
    """

    def __init__(self, max_in_flight: int = 100) -> None:
        # Request-ids start at a random point: a device (or anyone on the path) cannot
        # guess the next one from a restart.
        self._ids = itertools.count(secrets.randbelow(2**31 - 1) + 1)
        self._waiting: dict[int, _Pending] = {}
        self._slots = Slots(max_in_flight)
        self._deadlines = Deadlines()
        self._transport: asyncio.DatagramTransport | None = None
        self.bad_replies = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        sock.bind(("0.0.0.0", 0))  # nosec B104  # noqa: S104 - a client socket: replies come from any device
        self._transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)

    def close(self) -> None:
        self._deadlines.close()
        if self._transport is not None:
            self._transport.close()

    def received(self, data: bytes, sender: tuple[str, int]) -> None:
        try:
            response = decode_response(data)
        except BerError:
            self.bad_replies += 1
            waiting = [pending for pending in self._waiting.values() if pending.target == sender]
            for failed in waiting:  # the device answered, but with garbage
                self._complete(failed, BerError("malformed reply"))
            return
        pending = self._waiting.get(response.request_id & 0x7FFFFFFF)
        if pending is None:
            return  # an answer to a request already answered or given up
        if sender != pending.target:
            if not pending.any_sender:
                # Spoofed, or a multi-homed device: the request goes on waiting, and a
                # timeout says where the answer came from.
                pending.elsewhere = sender[0]
                return
            response = replace(response, sender=sender)
        self._complete(pending, response)

    def _complete(self, pending: _Pending, outcome: Response | BerError | SnmpTimeoutError) -> None:
        """The GET's end (once): its slot freed, its ``done`` told."""
        if self._waiting.pop(pending.request_id, None) is not pending:
            return
        self._slots.release()
        pending.done(outcome)

    def _tick(self, pending: _Pending) -> None:
        """A send went unanswered for its timeout: send the same message again, or give up."""
        if self._waiting.get(pending.request_id) is not pending:
            return  # answered meanwhile
        if pending.left > 0 and self._transport is not None:
            pending.left -= 1
            self._transport.sendto(pending.message, pending.target)
            self._deadlines.call_later(pending.timeout, self._tick, pending)
            return
        address, port = pending.target
        self._complete(
            pending, SnmpTimeoutError(f"no answer from {address}:{port}", pending.elsewhere)
        )

    def begin(
        self,
        target: tuple[str, int],
        community: bytes,
        oids: Sequence[Oid],
        timeout_s: float,
        retries: int,
        done: Callable[[Response | BerError | SnmpTimeoutError], None],
        *,
        any_sender: bool = False,
    ) -> bool:
        """Send a GET now if an in-flight slot is free (False: none is, nothing sent);
        ``done`` gets the response, a ``BerError`` or an ``SnmpTimeoutError``, once."""
        if not self._slots.try_acquire():
            return False
        try:
            self._send(target, community, oids, timeout_s, retries, done, any_sender)
        except BaseException:
            self._slots.release()
            raise
        return True

    def _send(
        self,
        target: tuple[str, int],
        community: bytes,
        oids: Sequence[Oid],
        timeout_s: float,
        retries: int,
        done: Callable[[Response | BerError | SnmpTimeoutError], None],
        any_sender: bool,
    ) -> _Pending:
        """Send with a slot already held."""
        assert self._transport is not None, "start() first"
        request_id = next(self._ids) & 0x7FFFFFFF
        message = encode_get(community, request_id, oids)
        pending = _Pending(request_id, target, message, done, timeout_s, retries, any_sender)
        self._transport.sendto(message, target)  # before it is waited for: it may raise
        self._waiting[request_id] = pending
        # On the shared timer wheel: not asyncio.wait_for (on Python 3.11 a task per
        # call), nor a timer handle made and cancelled per GET.
        self._deadlines.call_later(timeout_s, self._tick, pending)
        return pending

    async def get(
        self,
        target: tuple[str, int],
        community: bytes,
        oids: Sequence[Oid],
        timeout_s: float,
        retries: int,
        *,
        any_sender: bool = False,
    ) -> Response:
        """GET ``oids``; ``any_sender`` takes an answer from another address than
        ``target`` (a multi-homed device answering from its primary address)."""
        assert self._transport is not None, "start() first"
        await self._slots.acquire()  # not ``async with``: two coroutines fewer on every GET
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()

        def done(outcome: Response | BerError | SnmpTimeoutError) -> None:
            if future.done():
                return
            if isinstance(outcome, Response):
                future.set_result(outcome)
            else:
                future.set_exception(outcome)

        try:
            pending = self._send(target, community, oids, timeout_s, retries, done, any_sender)
        except BaseException:
            self._slots.release()
            raise
        try:
            return await future
        finally:
            # Cancelled (or the send failed): the request is given up and its slot freed.
            if self._waiting.pop(pending.request_id, None) is pending:
                self._slots.release()
