"""What a simulated device is right now: its clock, boot time, counters and injected faults.

Every protocol server (ONVIF, RTSP, SNMP) asks the same ``SimDevice`` how to answer, so
one fault is seen consistently across protocols, and topology faults (a switch port or a
whole link down) reach every device behind them at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from agent.probes.base import Credentials
from slawatch.config.inventory import Device, DeviceKind, Inventory, link_of

Clock = Callable[[], float]


class Fault(StrEnum):
    """Everything that can be injected; several may be active on one device."""

    DOWN = "down"  # with a DownMode: silent, refused or slow
    GARBAGE = "garbage"  # replies with bytes that are not the protocol
    TRUNCATED = "truncated"  # replies cut in half
    WRONG_CREDENTIALS = "wrong_credentials"  # the device's password was changed on site
    STREAM_UNAVAILABLE = "stream_unavailable"  # RTSP refuses (or stalls, see mode)
    CLOCK_SKEW = "clock_skew"  # seconds in ``skew_s``
    RECORDING_GAP = "recording_gap"  # recording stopped ``gap_s`` seconds ago
    CAPTURES_STALL = "captures_stall"  # checkpoint capture counter stops growing
    UPLOAD_STALL = "upload_stall"  # checkpoint keeps capturing but uploads nothing: backlog grows
    DOOR_FORCED = "door_forced"
    TAMPER = "tamper"
    HOSTILE = "hostile"  # with a HostileMode: hostile XML or endless bodies


class Quirk(StrEnum):
    """Lasting behaviours of real firmware (not faults), each observed on real devices."""

    ONVIF_DIGEST_ONLY = "onvif_digest_only"  # SOAP over HTTP Digest only (MD5, qop=auth)
    ONVIF_DIGEST_SHA256 = "onvif_digest_sha256"  # the same with algorithm=SHA-256
    ONVIF_AUTH_ON_TIME = "onvif_auth_on_time"  # GetSystemDateAndTime wants credentials (Vivotek)
    ONVIF_SOAP11 = "onvif_soap11"  # replies in SOAP 1.1 envelopes (older firmwares)
    ONVIF_DEVICE_INFO_PROHIBITED = "onvif_device_info_prohibited"  # "Too weak password." fault
    ONVIF_MEDIA2_ONLY = "onvif_media2_only"  # Media1 operations answer ActionNotSupported
    # Lists Media2 in GetServices but faults its operations (D-Link DCS-8635LH, per agsh/onvif)
    ONVIF_MEDIA2_BROKEN = "onvif_media2_broken"
    NAT = "nat"  # behind port forwarding: advertises its LAN address in XAddrs and stream URIs
    # GetSystemDateAndTime with LocalDateTime and a POSIX TZ (CST-8:00:00) but no UTCDateTime
    ONVIF_LOCAL_TIME_ONLY = "onvif_local_time_only"
    # GetDeviceInformation with its Chinese names in GBK bytes under a UTF-8 declaration
    ONVIF_DEVICE_INFO_GBK = "onvif_device_info_gbk"
    # Every reply in GB2312 with no XML declaration: the charset only in the Content-Type
    ONVIF_CHARSET_GB2312 = "onvif_charset_gb2312"
    ONVIF_BOM = "onvif_bom"  # a UTF-8 BOM and a blank line before the XML declaration
    ONVIF_HTTP10 = "onvif_http10"  # HTTP/1.0 replies, no Content-Length, ended by the close
    ONVIF_BARE_LF = "onvif_bare_lf"  # HTTP header lines ended by a bare LF
    # The media services on their own port (MEDIA_PORT) of the same address; the device
    # service's port answers 404 to media requests
    ONVIF_MEDIA_OWN_PORT = "onvif_media_own_port"
    RTSP_BASIC_ONLY = "rtsp_basic_only"
    RTSP_DIGEST_AND_BASIC = "rtsp_digest_and_basic"  # Hikvision: a Digest, then a Basic challenge
    RTSP_DIGEST_QOP = "rtsp_digest_qop"  # RFC 7616: qop="auth", algorithm=SHA-256
    RTSP_REDIRECT = "rtsp_redirect"  # DESCRIBE answered 302, Location the stream's new path
    # The stream URI carries a viewer's credentials (rtsp://viewer:viewpw@…), which RTSP takes
    RTSP_CREDENTIALS_IN_URI = "rtsp_credentials_in_uri"
    # An old SNMP agent whose replies must fit 484 bytes (RFC 3417's minimum): a longer one
    # (a GETBULK of 32 rows, a GET of 50 OIDs) is answered tooBig, not truncated.
    SNMP_MAX_MESSAGE_484 = "snmp_max_message_484"
    # An agent that never learned GETBULK: it answers every GETBULK genErr (GETNEXT works).
    SNMP_GETBULK_GENERR = "snmp_getbulk_generr"
    # A multi-homed device: its SNMP agent answers from its other (primary) address.
    SNMP_REPLY_FROM_OTHER_ADDRESS = "snmp_reply_from_other_address"


# What a NAT-ed camera advertises: its own LAN address, on the default ports.
LAN_ADDRESS = "192.168.1.64"
# Where a camera with ``onvif_media_own_port`` serves its media services.
MEDIA_PORT = 8080
# The viewer account a camera with ``rtsp_credentials_in_uri`` puts in its stream URI.
VIEWER = ("viewer", "viewpw")


# ifOperStatus (RFC 2863) of a switch port taken down with a mode (``port:SW/3``, mode
# ``dormant``): what a camera behind it then sees is the same, the port passes no traffic.
PORT_MODES = {"down": 2, "testing": 3, "dormant": 5, "not_present": 6, "lower_layer_down": 7}


class DownMode(StrEnum):
    SILENT = "silent"  # packets vanish: the client times out
    REFUSED = "refused"  # TCP connections are reset / refused
    SLOW = "slow"  # answers, but only after ``slow_s`` (past any sane timeout)


class HostileMode(StrEnum):
    BILLION_LAUGHS = "billion_laughs"
    EXTERNAL_ENTITY = "external_entity"
    OVERSIZE = "oversize"
    ENDLESS_CHUNKED = "endless_chunked"


@dataclass
class SimDevice:
    spec: Device
    username: str | None = None
    password: str | None = None
    community: str | None = None
    clock: Clock = time.time
    boot_time: float = 0.0
    skew_s: float = 0.0
    gap_s: float = 0.0
    slow_s: float = 30.0
    down_mode: DownMode = DownMode.SILENT
    stream_mode: DownMode = DownMode.REFUSED
    hostile_mode: HostileMode = HostileMode.BILLION_LAUGHS
    faults: set[Fault] = field(default_factory=set)
    quirks: set[Quirk] = field(default_factory=set)
    # A WS-Security token created further than this from the camera's clock is a replay.
    token_window_s: float = 300.0
    # Set by the fleet from topology: True while the device's port, switch or link is down.
    cut_off: bool = False
    captures_base: int = 0
    captures_stalled_at: float | None = None
    uploads_stalled_at: float | None = None
    # Ports cut, by number (Nth front-panel port) or interface name, as the inventory has them.
    down_ports: set[int | str] = field(default_factory=set)
    # The ifOperStatus a cut port shows when not down(2): dormant(5), notPresent(6), …
    port_states: dict[int | str, int] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.spec.id

    def now(self) -> float:
        """The device's own wall clock, skew included."""
        return self.clock() + (self.skew_s if Fault.CLOCK_SKEW in self.faults else 0.0)

    def uptime_ticks(self) -> int:
        """sysUpTime in hundredths of a second since the last (simulated) boot."""
        return max(0, int((self.clock() - self.boot_time) * 100)) % 2**32

    def reachable_mode(self) -> DownMode | None:
        """None when the device answers normally; else how it fails to."""
        if self.cut_off:
            return DownMode.SILENT
        if Fault.DOWN in self.faults:
            return self.down_mode
        return None

    def reboot(self) -> None:
        self.boot_time = self.clock()

    def captures(self) -> int:
        """Checkpoint capture counter: grows ~1 capture per 2 s of traffic unless stalled."""
        moment = self.clock()
        if self.captures_stalled_at is not None:
            moment = self.captures_stalled_at
        return max(0, self.captures_base + int((moment - self.boot_time) / 2))

    def upload_backlog(self) -> int:
        """Captures waiting for upload: they pile up at the capture rate while uploads stall."""
        if self.uploads_stalled_at is None:
            return 0
        return int(self.clock() - self.uploads_stalled_at) // 2

    def inject(self, fault: Fault) -> None:
        if fault is Fault.CAPTURES_STALL and self.captures_stalled_at is None:
            self.captures_stalled_at = self.clock()
        if fault is Fault.UPLOAD_STALL and self.uploads_stalled_at is None:
            self.uploads_stalled_at = self.clock()
        self.faults.add(fault)

    def clear(self, fault: Fault | None = None) -> None:
        """Clear one fault, or every fault (power restored)."""
        cleared = set(self.faults) if fault is None else {fault}
        if Fault.CAPTURES_STALL in cleared and self.captures_stalled_at is not None:
            self.captures_base = self.captures() - int((self.clock() - self.boot_time) / 2)
            self.captures_stalled_at = None
        if Fault.UPLOAD_STALL in cleared:
            self.uploads_stalled_at = None
        self.faults -= cleared
        if fault is None:
            self.down_ports.clear()
            self.port_states.clear()


class Topology:
    """Which devices sit behind which switch port, switch and link."""

    def __init__(self, devices: Iterable[SimDevice]) -> None:
        self.devices = {device.id: device for device in devices}
        self.specs = {device.id: device.spec for device in self.devices.values()}
        self.down_links: set[str] = set()
        self.down_switches: set[str] = set()

    def link_of(self, device: Device) -> str | None:
        return link_of(device, self.specs)

    def refresh(self) -> None:
        """Recompute who is cut off after a port, switch or link changed state."""
        switches = [d for d in self.devices.values() if d.spec.kind is DeviceKind.SWITCH]
        for switch in switches:
            switch.cut_off = switch.spec.link in self.down_links or switch.id in self.down_switches
        for device in self.devices.values():
            spec = device.spec
            if spec.kind is DeviceKind.SWITCH:
                continue
            cut = self.link_of(spec) in self.down_links
            if spec.uplink is not None and spec.uplink.switch is not None:
                switch = self.devices[spec.uplink.switch]
                cut = cut or spec.uplink.port in switch.down_ports
                cut = cut or switch.reachable_mode() is not None
            device.cut_off = cut

    def behind_link(self, link: str) -> list[SimDevice]:
        return [device for device in self.devices.values() if self.link_of(device.spec) == link]


def build_devices(
    inventory: Inventory, credentials: dict[str, Credentials], clock: Clock = time.time
) -> list[SimDevice]:
    """One SimDevice per inventory device, booted a random-looking while ago."""
    devices = []
    started = clock()
    for index, spec in enumerate(inventory.devices):
        own = credentials.get(spec.credentials or "", Credentials())
        devices.append(
            SimDevice(
                spec=spec,
                username=own.username,
                password=own.password,
                community=own.community,
                clock=clock,
                boot_time=started - 3600 - (index * 7919) % 864_000,
                captures_base=(index * 104_729) % 1_000_000,
            )
        )
    return devices
