"""The lean v2c client's rules on retries and on who may answer, against a scripted agent.

Net-SNMP resends the same request-id and takes an answer to any send; the lean client
does the same, so an agent slower than the timeout is read. An answer from another
address than the one asked is dropped unless the caller takes it (a multi-homed device),
and a dropped one does not end the wait for the real answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyasn1.codec.ber import encoder
from pysnmp.proto import rfc1905
from pysnmp.proto.api import v2c

from agent.probes.snmp_lean import (
    BerError,
    LeanSnmpClient,
    Oid,
    SnmpTimeoutError,
    _integer,
    _oid,
    _read,
    _tlv,
    decode_response,
)

SYS_UPTIME: Oid = (1, 3, 6, 1, 2, 1, 1, 3, 0)


def request_id_of(message: bytes) -> int:
    """The request-id of a v2c GET (SEQUENCE, version, community, PDU, request-id)."""
    _, start, _ = _read(message, 0)
    _, _, at = _read(message, start)  # version
    _, _, at = _read(message, at)  # community
    _, pdu, _ = _read(message, at)
    _, value_start, value_end = _read(message, pdu)
    return int.from_bytes(message[value_start:value_end], "big", signed=True)


def answer(request_id: int, ticks: int = 4242) -> bytes:
    varbind = _tlv(0x30, _oid(SYS_UPTIME) + _tlv(0x43, ticks.to_bytes(2, "big")))
    pdu = _tlv(0xA2, _integer(request_id) + _integer(0) + _integer(0) + _tlv(0x30, varbind))
    return _tlv(0x30, _integer(1) + _tlv(0x04, b"public") + pdu)


@dataclass
class ScriptedAgent(asyncio.DatagramProtocol):
    """Records each request's id and arrival; ``reply`` decides what to do with it."""

    reply: Callable[[ScriptedAgent, bytes, tuple[str, int]], None]
    seen: list[tuple[int, float]] = field(default_factory=list)
    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # uvloop's is not a subclass

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.seen.append((request_id_of(data), asyncio.get_running_loop().time()))
        self.reply(self, data, addr)

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return str(host), int(port)


@pytest.fixture
async def client() -> AsyncIterator[LeanSnmpClient]:
    lean = LeanSnmpClient()
    await lean.start()
    yield lean
    lean.close()


async def serve(reply: Callable[[ScriptedAgent, bytes, tuple[str, int]], None]) -> ScriptedAgent:
    loop = asyncio.get_running_loop()
    _, agent = await loop.create_datagram_endpoint(
        lambda: ScriptedAgent(reply), local_addr=("127.0.0.1", 0)
    )
    return agent


async def test_a_retry_resends_the_same_request_id_and_a_late_answer_to_the_first_is_taken(
    client: LeanSnmpClient,
) -> None:
    def answer_first_late(agent: ScriptedAgent, data: bytes, addr: tuple[str, int]) -> None:
        if len(agent.seen) == 1:  # only the first send is answered, 0.25 s after the timeout
            loop = asyncio.get_running_loop()
            assert agent.transport is not None
            loop.call_later(0.45, agent.transport.sendto, answer(agent.seen[0][0]), addr)

    agent = await serve(answer_first_late)
    response = await client.get(agent.address, b"public", [SYS_UPTIME], 0.2, 2)
    assert response.varbinds == [(SYS_UPTIME, 4242)]
    ids = {request_id for request_id, _ in agent.seen}
    assert len(ids) == 1  # one id, sent at 0, 0.2 and 0.4 s
    assert len(agent.seen) == 3
    times = [moment for _, moment in agent.seen]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert all(0.15 < gap < 0.35 for gap in gaps), gaps
    assert agent.transport is not None
    agent.transport.close()


async def test_nobody_answering_times_out_after_every_send(client: LeanSnmpClient) -> None:
    agent = await serve(lambda *_: None)
    started = asyncio.get_running_loop().time()
    with pytest.raises(SnmpTimeoutError):
        await client.get(agent.address, b"public", [SYS_UPTIME], 0.1, 1)
    assert 0.18 < asyncio.get_running_loop().time() - started < 0.5
    assert len(agent.seen) == 2
    assert agent.transport is not None
    agent.transport.close()


@pytest.fixture
def other() -> Iterator[socket.socket]:
    """A socket on another address of the same host: a spoofer, or the device's other NIC."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.2", 0))
    yield sock
    sock.close()


async def test_an_answer_from_another_address_is_dropped_and_the_real_one_still_taken(
    client: LeanSnmpClient, other: socket.socket
) -> None:
    def spoof_then_answer(agent: ScriptedAgent, data: bytes, addr: tuple[str, int]) -> None:
        request_id = request_id_of(data)
        other.sendto(answer(request_id, ticks=666), addr)  # first, and with the right id
        assert agent.transport is not None
        asyncio.get_running_loop().call_later(
            0.05, agent.transport.sendto, answer(request_id), addr
        )

    agent = await serve(spoof_then_answer)
    response = await client.get(agent.address, b"public", [SYS_UPTIME], 0.5, 0)
    assert response.varbinds == [(SYS_UPTIME, 4242)]
    assert response.sender is None
    assert agent.transport is not None
    agent.transport.close()


async def test_a_multi_homed_answer_is_taken_when_asked_for_and_says_where_from(
    client: LeanSnmpClient, other: socket.socket
) -> None:
    def from_other_address(agent: ScriptedAgent, data: bytes, addr: tuple[str, int]) -> None:
        other.sendto(answer(request_id_of(data)), addr)

    agent = await serve(from_other_address)
    with pytest.raises(SnmpTimeoutError):
        await client.get(agent.address, b"public", [SYS_UPTIME], 0.2, 0)
    response = await client.get(agent.address, b"public", [SYS_UPTIME], 0.5, 0, any_sender=True)
    assert response.varbinds == [(SYS_UPTIME, 4242)]
    assert response.sender == other.getsockname()
    assert agent.transport is not None
    agent.transport.close()


def test_the_scripted_answer_is_a_valid_response() -> None:
    assert decode_response(answer(7)).request_id == 7


# Values as pysnmp builds them, and what the lean decoder reads from each.
_VALUES = st.one_of(
    st.integers(-(2**31), 2**31 - 1).map(lambda n: (v2c.Integer(n), n)),
    st.binary(max_size=300).map(lambda b: (v2c.OctetString(b), b)),
    st.binary(min_size=4, max_size=4).map(lambda b: (v2c.IpAddress(b), b)),
    st.integers(0, 2**32 - 1).map(lambda n: (v2c.Counter32(n), n)),
    st.integers(0, 2**32 - 1).map(lambda n: (v2c.Gauge32(n), n)),
    st.integers(0, 2**32 - 1).map(lambda n: (v2c.TimeTicks(n), n)),
    st.integers(0, 2**64 - 1).map(lambda n: (v2c.Counter64(n), n)),
    st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=12).map(
        lambda arcs: (v2c.ObjectIdentifier((1, 3, *arcs)), (1, 3, *arcs))
    ),
    st.sampled_from(
        [
            (v2c.Null(""), None),
            (rfc1905.noSuchObject, None),
            (rfc1905.noSuchInstance, None),
            (rfc1905.endOfMibView, None),
        ]
    ),
)
_OIDS = st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=14).map(lambda arcs: (1, 3, *arcs))


def pysnmp_response(
    request_id: int, error_status: int, error_index: int, varbinds: list[tuple[Oid, object]]
) -> bytes:
    """A v2c response as pysnmp encodes it (pyasn1's BER encoder)."""
    pdu = v2c.ResponsePDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, request_id)
    v2c.apiPDU.set_error_status(pdu, error_status)
    v2c.apiPDU.set_error_index(pdu, error_index)
    v2c.apiPDU.set_varbinds(pdu, varbinds)
    message = v2c.Message()
    v2c.apiMessage.set_defaults(message)
    v2c.apiMessage.set_community(message, b"public")
    v2c.apiMessage.set_pdu(message, pdu)
    return bytes(encoder.encode(message))


@settings(max_examples=150, deadline=None)
@given(
    st.integers(-(2**31), 2**31 - 1),
    st.integers(0, 18),
    st.integers(0, 50),
    st.lists(st.tuples(_OIDS, _VALUES), max_size=20),
    st.data(),
)
def test_the_decoder_reads_what_pysnmp_encodes_and_only_ever_raises_its_error(
    request_id: int,
    error_status: int,
    error_index: int,
    binds: list[tuple[Oid, tuple[object, object]]],
    data: st.DataObject,
) -> None:
    """Held to pysnmp's encoding (long lengths, large arcs, every value type), and any
    cut or changed byte of it is read or refused with BerError, nothing else."""
    wire = pysnmp_response(
        request_id, error_status, error_index, [(oid, value[0]) for oid, value in binds]
    )
    response = decode_response(wire)
    assert (response.request_id, response.error_status, response.error_index) == (
        request_id,
        error_status,
        error_index,
    )
    assert response.varbinds == [(oid, value[1]) for oid, value in binds]
    at = data.draw(st.integers(0, len(wire) - 1))
    changed = wire[:at] + bytes([data.draw(st.integers(0, 255))]) + wire[at + 1 :]
    for damaged in (wire[:at], changed):
        with contextlib.suppress(BerError):
            decode_response(damaged)
