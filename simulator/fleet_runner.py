"""Serve a whole inventory of simulated devices and inject faults into it (the Python API).

``Fleet`` owns every device's state and the three protocol servers. Faults are injected
by target: a device id, ``port:SW/N`` (one switch port; mode ``dormant``, ``not_present``,
… for the ifOperStatus it then shows), ``switch:SW`` or ``link:L`` — the last three cut
off every device behind them at once, as a real outage would.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
import zlib
from dataclasses import dataclass

from agent.targets import resolve_credentials
from simulator.devices import (
    PORT_MODES,
    Clock,
    DownMode,
    Fault,
    HostileMode,
    Quirk,
    SimDevice,
    Topology,
    build_devices,
)
from simulator.onvif_replies import PERSONALITIES, Personality, load_personalities
from simulator.onvif_server import CameraServer
from simulator.rtsp_server import RtspServer
from simulator.snmp_agent import SnmpSimulator
from simulator.tcp_server import ManagementPorts
from slawatch.config.inventory import Inventory

log = logging.getLogger(__name__)

DEFAULT_RTSP_PORT = 554
# Which captured firmware a camera of each vendor speaks; others are spread over all three.
VENDOR_PERSONALITY = {
    "Hikvision": "ipnc-ipg8150pss",
    "Dahua": "noname-ipdh4k8m05bs",
    "Uniview": "onvif-enp1a14ir25x",
}

# What every camera of a vendor does, as observed on real ones: Hikvision's RTSP server
# answers a DESCRIBE without credentials with a Digest and then a Basic challenge.
VENDOR_QUIRKS = {"Hikvision": {Quirk.RTSP_DIGEST_AND_BASIC}}


class UnknownTargetError(LookupError):
    """A fault target that names no device, port, switch or link of the fleet."""


@dataclass(frozen=True, slots=True)
class FaultSpec:
    fault: Fault
    mode: str | None = None
    seconds: float | None = None


class Fleet:
    def __init__(self, inventory: Inventory, clock: Clock = time.time) -> None:
        credentials = resolve_credentials(inventory)
        self.inventory = inventory
        self.devices = build_devices(inventory, credentials, clock)
        self.by_id = {device.id: device for device in self.devices}
        for device in self.devices:
            device.quirks |= VENDOR_QUIRKS.get(device.spec.vendor or "", set())
        self.topology = Topology(self.devices)
        self._personalities = load_personalities()
        self.cameras = CameraServer(self._personality_of, self._rtsp_port)
        self.rtsp = RtspServer(lambda device: self._personality_of(device).codec)
        self.snmp = SnmpSimulator(credentials)
        self.management = ManagementPorts()

    def _personality_of(self, device: SimDevice) -> Personality:
        name = VENDOR_PERSONALITY.get(device.spec.vendor or "")
        if name is None:
            name = PERSONALITIES[zlib.crc32(device.id.encode()) % len(PERSONALITIES)]
        return self._personalities[name]

    @staticmethod
    def _rtsp_port(device: SimDevice) -> int:
        return device.spec.rtsp.port if device.spec.rtsp is not None else DEFAULT_RTSP_PORT

    async def start(self) -> None:
        _raise_file_limit()
        for device in self.devices:
            if device.spec.onvif is not None:
                await self.cameras.attach(device)
                await self.rtsp.attach(device, self._rtsp_port(device))
                if Quirk.ONVIF_MEDIA_OWN_PORT in device.quirks:
                    self.cameras.serve_media_port(device)
        await self.snmp.attach(d for d in self.devices if d.spec.snmp is not None)
        for device in self.devices:
            if self.management.serves(device):
                await self.management.attach(device)
        log.info("serving %d simulated devices", len(self.devices))

    def stopping(self) -> None:
        """From a signal handler, between two callbacks of a crowded loop: new requests
        are dropped (SNMP) or hung up on (ONVIF) at once, so the loop empties and the
        stop it has queued comes round in one short turn."""
        self.snmp.stop()
        self.cameras.stopping = True

    async def close(self) -> None:
        """Stop taking work everywhere before the first wait: on a busy machine every
        wait is a turn of a crowded loop, and sockets left open meanwhile keep filling
        it (a stop took minutes). Then the requests in progress get a second."""
        self.snmp.stop()
        self.cameras.stop_listening_all()
        await self.rtsp.close()  # closes its listeners without waiting
        await self.management.close()  # likewise
        await asyncio.sleep(0)  # SNMP requests already queued are answered
        self.snmp.close()
        await self.cameras.close()

    @property
    def requests(self) -> int:
        return self.cameras.requests + self.rtsp.requests + self.snmp.responder.requests

    # Fault injection -------------------------------------------------------------------

    async def inject(self, target: str, spec: FaultSpec) -> list[str]:
        """Inject a fault; returns the ids of the devices it reaches."""
        kind, _, name = target.partition(":")
        if name and kind in ("link", "switch", "port"):
            reached = self._topology_fault(kind, name, down=True, mode=spec.mode)
            await self.management.sync_all()
            return reached
        device = self._device(target)
        if spec.fault is Fault.DOWN:
            device.down_mode = DownMode(spec.mode or DownMode.SILENT)
            if spec.seconds is not None:
                device.slow_s = spec.seconds
        elif spec.fault is Fault.STREAM_UNAVAILABLE:
            device.stream_mode = DownMode(spec.mode or DownMode.REFUSED)
        elif spec.fault is Fault.CLOCK_SKEW:
            device.skew_s = spec.seconds if spec.seconds is not None else 600.0
        elif spec.fault is Fault.RECORDING_GAP:
            device.gap_s = spec.seconds if spec.seconds is not None else 7200.0
        elif spec.fault is Fault.HOSTILE:
            device.hostile_mode = HostileMode(spec.mode or HostileMode.BILLION_LAUGHS)
        device.inject(spec.fault)
        if spec.fault is Fault.DOWN and device.down_mode is DownMode.REFUSED:
            self.cameras.stop_listening(device)
        self.topology.refresh()
        await self.management.sync_all()
        return [device.id]

    async def clear(self, target: str, fault: Fault | None = None) -> list[str]:
        """Clear one fault or all of them (``power restored``) on a target."""
        kind, _, name = target.partition(":")
        if name and kind in ("link", "switch", "port"):
            reached = self._topology_fault(kind, name, down=False)
            await self.management.sync_all()
            return reached
        device = self._device(target)
        device.clear(fault)
        if device.spec.onvif is not None:
            await self.cameras.listen(device)
        self.topology.refresh()
        await self.management.sync_all()
        return [device.id]

    def give(self, target: str, quirk: Quirk) -> None:
        """Make a device behave like a real firmware that does ``quirk``."""
        device = self._device(target)
        device.quirks.add(quirk)
        if quirk is Quirk.ONVIF_MEDIA_OWN_PORT and device.spec.onvif is not None:
            self.cameras.serve_media_port(device)

    def take_away(self, target: str, quirk: Quirk) -> None:
        self._device(target).quirks.discard(quirk)

    def reboot(self, target: str) -> None:
        self._device(target).reboot()

    async def power_restored(self) -> None:
        """Everything back: every fault cleared, every port, switch and link up."""
        self.topology.down_links.clear()
        self.topology.down_switches.clear()
        for device in self.devices:
            await self.clear(device.id)

    def _device(self, device_id: str) -> SimDevice:
        device = self.by_id.get(device_id)
        if device is None:
            raise UnknownTargetError(f"no simulated device {device_id!r}")
        return device

    def _topology_fault(
        self, kind: str, name: str, *, down: bool, mode: str | None = None
    ) -> list[str]:
        topology = self.topology
        if kind == "link":
            if name not in {link.id for link in self.inventory.links}:
                raise UnknownTargetError(f"no link {name!r}")
            (topology.down_links.add if down else topology.down_links.discard)(name)
        elif kind == "switch":
            self._device(name)
            (topology.down_switches.add if down else topology.down_switches.discard)(name)
        else:
            switch_id, _, port_text = name.partition("/")
            switch = self._device(switch_id)
            if not port_text:
                raise UnknownTargetError(f"port target must be port:SWITCH/PORT, got {name!r}")
            port: int | str = int(port_text) if port_text.isdigit() else port_text
            if down and mode is not None and mode not in PORT_MODES:
                raise ValueError(f"a port goes down as one of {sorted(PORT_MODES)}, not {mode!r}")
            (switch.down_ports.add if down else switch.down_ports.discard)(port)
            switch.port_states.pop(port, None)
            if down and mode is not None:
                switch.port_states[port] = PORT_MODES[mode]
        before = {device.id for device in self.devices if device.cut_off}
        topology.refresh()
        after = {device.id for device in self.devices if device.cut_off}
        return sorted(after - before if down else before - after)


def _raise_file_limit(wanted: int = 65_536) -> None:
    """Every simulated camera holds two listening sockets: lift the descriptor limit.

    As root the hard limit may be raised too; otherwise the soft limit goes up to it.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(wanted, hard), max(wanted, hard)))
    except (ValueError, PermissionError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    log.debug("file descriptor limit was %d/%d", soft, hard)
