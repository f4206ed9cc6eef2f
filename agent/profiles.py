"""SNMP profiles: which OIDs to read from a device model and how to judge them, as data."""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from agent.wire import Reason
from slawatch.config.errors import ConfigError
from slawatch.config.loader import load_config
from slawatch.config.types import Duration, Identifier, Strict

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"


def _oid(value: str) -> str:
    parts = value.strip(".").split(".")
    if len(parts) < 2 or not all(part.isdigit() for part in parts):
        raise ValueError("an OID is dotted decimal, like 1.3.6.1.2.1.1.3.0")
    return ".".join(parts)


OidText = Annotated[str, AfterValidator(_oid)]


class Check(Strict):
    """One scalar OID: a metric, and the values (listed, or above a limit) that degrade it."""

    name: Identifier
    oid: OidText
    meaning: str
    degraded_when: list[int] = []
    degraded_above: int | None = None
    reason: Reason = Reason.BAD_RESPONSE

    def degrades(self, value: int) -> bool:
        return value in self.degraded_when or (
            self.degraded_above is not None and value > self.degraded_above
        )


class ActiveHours(Strict):
    start: time
    end: time

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end  # spans midnight


class CaptureCounter(Strict):
    """A checkpoint's capture counter: no growth for ``stalled_after`` in active hours → stalled."""

    oid: OidText
    stalled_after: Duration = timedelta(minutes=10)
    active_hours: ActiveHours | None = None
    timezone_offset_h: int = 8


class SnmpProfile(Strict):
    kind: Literal["snmp-profile"]
    id: Identifier
    description: str
    uptime_oid: OidText = SYS_UPTIME
    checks: list[Check] = []
    captures: CaptureCounter | None = None
    # Walk IF-MIB ifOperStatus with GETBULK and report each port (switches).
    ports: bool = False
    max_ports: int = Field(default=64, ge=1, le=1024)
    # SNMPv3 with AES-192/AES-256 and an auth hash shorter than the key (MD5, SHA-1,
    # SHA-224 for AES-256): how the firmware extends the localized key. ``blumenthal``
    # (draft-blumenthal-aes-usm-04; Net-SNMP's ``-x AES-256``, most Linux-based devices),
    # ``reeder`` (draft-reeder-snmpv3-usm-3desede; Cisco and many switch vendors, Net-SNMP's
    # ``-x AES-256-C``), or ``auto``: the one that worked last for the device, else Reeder
    # first and Blumenthal when the device answers discovery but not our request.
    aes_key_extension: Literal["auto", "blumenthal", "reeder"] = "auto"
    # A multi-homed device that answers from another of its addresses (its primary one)
    # rather than the one asked: take such answers to the lean v2c GET. Off by default: an
    # answer from elsewhere is dropped as spoofed (docs/agent.md).
    replies_from_any_address: bool = False
    # TCP ports that show the host is up when SNMP is silent (a switch's SSH, Telnet or
    # web management), besides the inventory's own tcp, onvif and rtsp ports. A completed
    # connection to any of them turns an SNMP timeout into ``snmp_silent`` (degraded).
    reach_ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(default=[], max_length=8)


def load_profiles(folder: Path) -> dict[str, SnmpProfile]:
    """Every ``*.yaml`` in ``folder``; all problems of all files are reported together."""
    profiles: dict[str, SnmpProfile] = {}
    problems = []
    for file in sorted(folder.glob("*.yaml")):
        try:
            profile = load_config(file, SnmpProfile)
        except ConfigError as exc:
            problems += exc.problems
            continue
        profiles[profile.id] = profile
    if problems:
        raise ConfigError(problems)
    return profiles
