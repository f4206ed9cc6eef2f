"""WS-Discovery (ONVIF's device discovery) for the simulated cameras: a Probe multicast to
239.255.255.250:3702 gets one ProbeMatches per camera that answers now (a camera that is
down does not), with its XAddrs and scopes (hardware = its model), as real cameras send.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import uuid
from collections.abc import Callable, Iterable
from typing import cast

from lxml import etree

from agent.discover import GROUP, NS, PARSER, PORT
from simulator.devices import SimDevice

# Probes are tiny: anything bigger is not one, and is not parsed.
_MAX_PROBE = 8192


def endpoint(device_id: str) -> str:
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'slawatch-sim/' + device_id)}"


def probe_match(device: SimDevice, relates_to: str) -> bytes:
    spec = device.spec
    assert spec.onvif is not None
    model = (spec.model or "IPC").replace(" ", "_")
    vendor = (spec.vendor or "sim").replace(" ", "_")
    xaddr = f"http://{spec.address}:{spec.onvif.port}{spec.onvif.path}"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<e:Envelope xmlns:e="{NS["e"]}" xmlns:w="{NS["w"]}" xmlns:d="{NS["d"]}" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><e:Header>'
        f"<w:MessageID>urn:uuid:{uuid.uuid4()}</w:MessageID><w:RelatesTo>{relates_to}</w:RelatesTo>"
        "<w:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</w:To>"
        "<w:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</w:Action>"
        "</e:Header><e:Body><d:ProbeMatches><d:ProbeMatch>"
        f"<w:EndpointReference><w:Address>{endpoint(spec.id)}</w:Address></w:EndpointReference>"
        "<d:Types>dn:NetworkVideoTransmitter</d:Types>"
        "<d:Scopes>onvif://www.onvif.org/type/video_encoder "
        f"onvif://www.onvif.org/hardware/{model} onvif://www.onvif.org/name/{vendor}</d:Scopes>"
        f"<d:XAddrs>{xaddr}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion>"
        "</d:ProbeMatch></d:ProbeMatches></e:Body></e:Envelope>"
    ).encode()


class _Responder(asyncio.DatagramProtocol):
    def __init__(self, cameras: Callable[[], Iterable[SimDevice]]) -> None:
        self._cameras = cameras
        self._transport: asyncio.DatagramTransport | None = None
        self.probes = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport is not a DatagramTransport subclass.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self._transport is None or len(data) > _MAX_PROBE:
            return
        try:
            root = etree.fromstring(data, PARSER)
        except etree.XMLSyntaxError:
            return
        if root.find("e:Body/d:Probe", NS) is None:
            return
        message_id = root.findtext("e:Header/w:MessageID", default="", namespaces=NS)
        self.probes += 1
        for device in self._cameras():
            if device.spec.onvif is not None and device.reachable_mode() is None:
                self._transport.sendto(probe_match(device, message_id), addr)


async def serve_discovery(
    cameras: Callable[[], Iterable[SimDevice]], interface: str = "127.0.0.1"
) -> tuple[asyncio.DatagramTransport, _Responder]:
    """Join the WS-Discovery group on ``interface`` and answer probes."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", PORT))
    membership = struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton(interface))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _Responder(cameras), sock=sock
    )
    return transport, protocol
