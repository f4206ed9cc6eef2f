"""Simulated SNMP agents (v2c and v3 authPriv) serving real devices' recordings.

pysnmp's engine does the protocol work (BER, community checks, USM authentication and
privacy), so Net-SNMP's tools and our agent talk to it as to any device. One UDP socket
per device address; the socket a request arrived on picks the device. Values come from
``.snmprec`` recordings of real devices (shared per model), overlaid with what must live:
sysUpTime (resets on reboot), switch port status, door state, checkpoint counters.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import functools
import ipaddress
import logging
import os
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyasn1.codec.ber import encoder
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config
from pysnmp.entity.engine import SnmpEngine
from pysnmp.entity.rfc3413 import cmdrsp, context
from pysnmp.proto import rfc1902, rfc1905
from pysnmp.proto.api import v2c

from agent.probes.base import Credentials
from agent.probes.snmp import USM_AUTH, USM_PRIV
from agent.probes.switch_ports import Interface, front_panel
from simulator.devices import DownMode, Fault, Quirk, SimDevice
from slawatch.config.inventory import DeviceKind

log = logging.getLogger(__name__)

CAPTURES = Path(__file__).resolve().parent / "captures" / "snmp"
Oid = tuple[int, ...]

# Private OIDs of the simulated door hosts and checkpoint hosts. No public recording of
# either exists, so they live under IANA's documentation enterprise number (RFC 5612).
SIM_ENTERPRISE = (1, 3, 6, 1, 4, 1, 32473)
DOOR_STATE = (*SIM_ENTERPRISE, 1, 1, 0)  # 1 closed, 2 open, 3 forced open
DOOR_TAMPER = (*SIM_ENTERPRISE, 1, 2, 0)  # 1 normal, 2 tampered
CAPTURE_COUNT = (*SIM_ENTERPRISE, 2, 1, 0)  # Counter64, captures since boot
UPLOAD_BACKLOG = (*SIM_ENTERPRISE, 2, 2, 0)  # Gauge32, captures waiting for upload
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
SYS_NAME = (1, 3, 6, 1, 2, 1, 1, 5, 0)
HR_SYSTEM_UPTIME = (1, 3, 6, 1, 2, 1, 25, 1, 1, 0)
IF_TYPE = (1, 3, 6, 1, 2, 1, 2, 2, 1, 3)
IF_ADMIN_STATUS = (1, 3, 6, 1, 2, 1, 2, 2, 1, 7)
IF_OPER_STATUS = (1, 3, 6, 1, 2, 1, 2, 2, 1, 8)
MAX_VARBINDS = 64

# Which real recording stands in for each kind of device, and for switches of a vendor
# whose interface table is numbered its own way (Cisco Gi0/N at ifIndex 101NN; Huawei
# GigabitEthernet0/0/N after InLoopBack0, NULL0, Console and MEth0/0/1).
MODEL_FILES = {
    DeviceKind.SWITCH: "h3c-e528-switch_snmpsimdata.snmprec",
    DeviceKind.DOOR_HOST: "linux-embedded-dcbc600_snmpsimdata.snmprec",
    DeviceKind.CHECKPOINT: "linux-netsnmp-ucd-hr_snmpsimdata.snmprec",
    DeviceKind.CAMERA: "hanwha-samsung-ipolis-sno7084r_snmpsimdata.snmprec",
}
SWITCH_FILES = {
    "Cisco": "cisco-c3560-access-switch_snmpsimdata.snmprec",
    "Huawei": "huawei-s5720-36c-ei-switch_snmpsimdata.snmprec",
}
IF_NAME = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)
IF_DESCR = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)


def parse_oid(text: str) -> Oid:
    return tuple(int(part) for part in text.strip(".").split("."))


def _value(tag: str, raw: str) -> Any:
    """Turn one snmprec ``type|value`` into a pysnmp value (hex for ``4x``/``64x``/``68x``)."""
    hexed = tag.endswith("x")
    code = tag.rstrip("x")
    data = bytes.fromhex(raw) if hexed else raw.encode()
    if code == "2":
        return rfc1902.Integer32(int(raw))
    if code == "4":
        return rfc1902.OctetString(data)
    if code == "5":
        return v2c.Null("")
    if code == "6":
        return rfc1902.ObjectIdentifier(raw)
    if code == "64":
        return rfc1902.IpAddress(data if hexed else raw)
    if code == "65":
        return rfc1902.Counter32(int(raw))
    if code == "66":
        return rfc1902.Gauge32(int(raw))
    if code == "67":
        return rfc1902.TimeTicks(int(raw))
    if code == "68":
        return rfc1902.Opaque(data)
    if code == "70":
        return rfc1902.Counter64(int(raw))
    raise ValueError(f"unknown snmprec type {tag}")


Dynamic = Callable[[SimDevice], Any]


@dataclass
class DeviceModel:
    """A recording shared by every device of one kind, with its live OIDs."""

    oids: list[Oid]
    recorded: dict[Oid, tuple[str, str]]
    dynamic: dict[Oid, Dynamic] = field(default_factory=dict)
    # Front-panel ports in order (port N is ports[N-1]), by the agent's rule.
    ports: list[Interface] = field(default_factory=list)

    @classmethod
    def load(cls, file: Path) -> DeviceModel:
        recorded: dict[Oid, tuple[str, str]] = {}
        for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
            parts = line.split("|", 2)
            if len(parts) != 3 or ":" in parts[1] or line.startswith("#"):
                continue  # snmpsim variation modules (``2:numeric``) and comments
            recorded[parse_oid(parts[0])] = (parts[1], parts[2])
        model = cls(oids=[], recorded=recorded)
        model.ports = front_panel(
            [
                Interface(
                    oid[-1],
                    model.text((*IF_NAME, oid[-1])),
                    model.text((*IF_DESCR, oid[-1])),
                    int(raw),
                )
                for oid, (_, raw) in recorded.items()
                if oid[:-1] == IF_TYPE
            ]
        )
        return model

    def text(self, oid: Oid) -> str:
        recorded = self.recorded.get(oid)
        if recorded is None:
            return ""
        tag, raw = recorded
        return bytes.fromhex(raw).decode(errors="replace") if tag.endswith("x") else raw

    def live(self, oid: Oid, compute: Dynamic) -> None:
        self.dynamic[oid] = compute

    def finish(self) -> None:
        self.oids = sorted(set(self.recorded) | set(self.dynamic))

    def get(self, device: SimDevice, oid: Oid) -> Any:
        compute = self.dynamic.get(oid)
        if compute is not None:
            return compute(device)
        recorded = self.recorded.get(oid)
        return _value(*recorded) if recorded is not None else None

    def next_after(self, oid: Oid) -> Oid | None:
        index = bisect.bisect_right(self.oids, oid)
        return self.oids[index] if index < len(self.oids) else None


def _port_status(number: int, interface: Interface) -> Dynamic:
    """Up(1), or while the port is cut (by its number or its name, as faults name it) the
    state it was cut with: down(2) unless a mode said dormant(5), notPresent(6), …"""

    def compute(device: SimDevice) -> Any:
        cut = {number, interface.name, interface.name.lower()} & device.down_ports
        if not cut:
            return rfc1902.Integer32(1)
        states = [device.port_states[port] for port in cut if port in device.port_states]
        return rfc1902.Integer32(states[0] if states else 2)

    return compute


def other_address(address: str) -> str:
    """Where a multi-homed simulated device answers from: 0.1.0.0 above its own address
    (127.16.0.5 answers from 127.17.0.5)."""
    return str(ipaddress.IPv4Address(address) + 0x10000)


def message_version(datagram: bytes) -> int | None:
    """The version field of an SNMP message (0 v1, 1 v2c, 3 v3), None if unreadable."""
    if len(datagram) < 5 or datagram[0] != 0x30:
        return None
    at = 2 + (datagram[1] & 0x7F if datagram[1] & 0x80 else 0)
    if at + 3 > len(datagram) or datagram[at] != 0x02 or datagram[at + 1] != 1:
        return None
    return datagram[at + 2]


def encoded_size(varbinds: list[tuple[Oid, Any]]) -> int:
    """About how long a response carrying ``varbinds`` is on the wire."""
    size = 48  # message and PDU headers, community, request-id, error fields
    for name, value in varbinds:
        body = len(encoder.encode(rfc1902.ObjectName(name))) + len(encoder.encode(value))
        size += body + (2 if body < 0x80 else 4)
    return size


@functools.cache
def load_model(name: str) -> DeviceModel:
    """One recording with its live OIDs, read once per process (models hold no device
    state: every live value is computed from the device asking)."""
    model = DeviceModel.load(CAPTURES / name)
    model.live(SYS_UPTIME, lambda device: rfc1902.TimeTicks(device.uptime_ticks()))
    model.live(SYS_NAME, lambda device: rfc1902.OctetString(device.id.encode()))
    if HR_SYSTEM_UPTIME in model.recorded:
        model.live(HR_SYSTEM_UPTIME, lambda device: rfc1902.TimeTicks(device.uptime_ticks()))
    if name in (MODEL_FILES[DeviceKind.SWITCH], *SWITCH_FILES.values()):
        for number, interface in enumerate(model.ports, start=1):
            model.live((*IF_OPER_STATUS, interface.index), _port_status(number, interface))
            model.live((*IF_ADMIN_STATUS, interface.index), lambda _: rfc1902.Integer32(1))
    if name == MODEL_FILES[DeviceKind.DOOR_HOST]:
        model.live(
            DOOR_STATE,
            lambda device: rfc1902.Integer32(3 if Fault.DOOR_FORCED in device.faults else 1),
        )
        model.live(
            DOOR_TAMPER,
            lambda device: rfc1902.Integer32(2 if Fault.TAMPER in device.faults else 1),
        )
    if name == MODEL_FILES[DeviceKind.CHECKPOINT]:
        model.live(CAPTURE_COUNT, lambda device: rfc1902.Counter64(device.captures()))
        model.live(UPLOAD_BACKLOG, lambda device: rfc1902.Gauge32(device.upload_backlog()))
    model.finish()
    return model


def model_file(device: SimDevice) -> str:
    if device.spec.kind is DeviceKind.SWITCH:
        return SWITCH_FILES.get(device.spec.vendor or "", MODEL_FILES[DeviceKind.SWITCH])
    return MODEL_FILES[device.spec.kind]


class DeviceTransport(udp.UdpAsyncioTransport):  # type: ignore[misc]
    """One device's UDP socket: faults that happen before or after pysnmp are applied here."""

    def __init__(self, device: SimDevice, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop=loop)
        self.device = device
        self._other: socket.socket | None = None
        self.stopped = False

    def datagram_received(self, datagram: bytes, sender: Any) -> None:
        if self.stopped:
            return  # the simulator is stopping: no new work
        mode = self.device.reachable_mode()
        if mode is DownMode.SILENT or mode is DownMode.REFUSED:
            return  # a dead device answers nothing (UDP cannot be "refused" politely)
        if Fault.WRONG_CREDENTIALS in self.device.faults and message_version(datagram) in (0, 1):
            return  # its community was changed on site: RFC 3584 drops a wrong one unanswered
        if Fault.GARBAGE in self.device.faults:
            if self.transport is not None:
                self.transport.sendto(os.urandom(48), sender)
            return
        if mode is DownMode.SLOW:
            self.loop.call_later(self.device.slow_s, super().datagram_received, datagram, sender)
            return
        super().datagram_received(datagram, sender)

    def send_message(self, message: bytes, destination: Any) -> None:
        if Fault.TRUNCATED in self.device.faults:
            message = message[: len(message) // 2]
        if Quirk.SNMP_REPLY_FROM_OTHER_ADDRESS in self.device.quirks:
            if self._other is None:
                spec = self.device.spec
                assert spec.snmp is not None
                self._other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                self._other.setblocking(False)
                self._other.bind((other_address(spec.address), spec.snmp.port))
            with contextlib.suppress(OSError):  # UDP: a reply that cannot leave is lost
                self._other.sendto(message, tuple(destination)[:2])
            return
        super().send_message(message, destination)

    def close_other(self) -> None:
        if self._other is not None:
            self._other.close()
            self._other = None


class Responder(cmdrsp.CommandResponderBase):  # type: ignore[misc]
    """GET, GETNEXT and GETBULK over the device's model, found by its transport domain."""

    SUPPORTED_PDU_TYPES = (
        rfc1905.GetRequestPDU.tagSet,
        rfc1905.GetNextRequestPDU.tagSet,
        rfc1905.GetBulkRequestPDU.tagSet,
    )

    def __init__(
        self,
        engine: SnmpEngine,
        snmp_context: context.SnmpContext,
        devices: dict[tuple[int, ...], SimDevice],
    ) -> None:
        super().__init__(engine, snmp_context)
        self._devices = devices
        self.requests = 0

    def handle_management_operation(
        self,
        engine: SnmpEngine,
        state_reference: Any,
        context_name: Any,
        pdu: Any,
    ) -> None:
        self.requests += 1
        domain, _ = engine.message_dispatcher.get_transport_info(state_reference)
        device = self._devices[tuple(domain)]
        model = load_model(model_file(device))
        names = [parse_oid(str(name)) for name, _ in v2c.apiPDU.get_varbinds(pdu)]
        tag = pdu.tagSet
        if tag == rfc1905.GetRequestPDU.tagSet:
            varbinds = [(name, model.get(device, name)) for name in names]
            varbinds = [(n, rfc1905.noSuchObject if v is None else v) for n, v in varbinds]
        elif tag == rfc1905.GetNextRequestPDU.tagSet:
            varbinds = [self._next(device, model, name) for name in names]
        elif Quirk.SNMP_GETBULK_GENERR in device.quirks:
            self.send_varbinds(engine, state_reference, 5, 1, v2c.apiPDU.get_varbinds(pdu))
            return
        else:
            non_repeaters = min(int(v2c.apiBulkPDU.get_non_repeaters(pdu)), len(names))
            repetitions = int(v2c.apiBulkPDU.get_max_repetitions(pdu))
            varbinds = [self._next(device, model, name) for name in names[:non_repeaters]]
            cursors = names[non_repeaters:]
            for _ in range(repetitions):
                if not cursors or len(varbinds) + len(cursors) > MAX_VARBINDS:
                    break
                row = [self._next(device, model, cursor) for cursor in cursors]
                varbinds += row
                cursors = [name for name, _ in row]
        if Quirk.SNMP_MAX_MESSAGE_484 in device.quirks and encoded_size(varbinds) > 484:
            # An old agent: the reply does not fit its buffer, so none is given (RFC 3416
            # §4.2.1: tooBig, error-index 0, no variable bindings); GETBULK is not cut short.
            self.send_varbinds(engine, state_reference, 1, 0, [])
            return
        self.send_varbinds(
            engine,
            state_reference,
            0,
            0,
            [(rfc1902.ObjectName(name), value) for name, value in varbinds],
        )

    @staticmethod
    def _next(device: SimDevice, model: DeviceModel, oid: Oid) -> tuple[Oid, Any]:
        following = model.next_after(oid)
        if following is None:
            return oid, rfc1905.endOfMibView
        return following, model.get(device, following)


class SnmpSimulator:
    """One pysnmp engine answering for every SNMP-speaking simulated device."""

    def __init__(self, credentials: dict[str, Credentials]) -> None:
        self.engine = SnmpEngine()
        self._devices: dict[tuple[int, ...], SimDevice] = {}
        self._transports: list[DeviceTransport] = []
        for name, credential in credentials.items():
            if credential.community is not None:
                config.add_v1_system(self.engine, f"c-{name}", credential.community)
            if credential.v3_user is not None:
                config.add_v3_user(
                    self.engine,
                    credential.v3_user,
                    USM_AUTH[credential.v3_auth_protocol],
                    credential.v3_auth_key,
                    USM_PRIV[credential.v3_priv_protocol],
                    credential.v3_priv_key,
                )
        self.responder = Responder(self.engine, context.SnmpContext(self.engine), self._devices)

    async def attach(self, devices: Iterable[SimDevice]) -> None:
        loop = asyncio.get_running_loop()
        for device in devices:
            assert device.spec.snmp is not None
            domain = (*udp.DOMAIN_NAME, len(self._devices) + 1)
            transport = DeviceTransport(device, loop)
            transport.open_server_mode((device.spec.address, device.spec.snmp.port))
            config.add_transport(self.engine, domain, transport)
            self._devices[domain] = device
            self._transports.append(transport)
        # Sockets open asynchronously; wait for them so callers can query at once.
        await asyncio.gather(*(t._lport for t in self._transports if t._lport is not None))

    def port_count(self, device: SimDevice) -> int:
        return len(load_model(model_file(device)).ports)

    def stop(self) -> None:
        """Take no more requests (those already queued still run, then ``close``)."""
        for transport in self._transports:
            transport.stopped = True

    def close(self) -> None:
        self.stop()
        for transport in self._transports:
            transport.close_other()
        self.engine.close_dispatcher()
