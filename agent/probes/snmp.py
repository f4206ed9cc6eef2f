"""SNMP probes for door hosts, checkpoints, switches and SNMP cameras, driven by profiles.

The per-cycle GET goes through the lean v2c client (see ``snmp_lean.py`` for why);
SNMPv3 (USM authPriv) and the switch port walk (GETBULK) use pysnmp with one engine
shared by the whole process (a new engine costs ~130 ms). The probe keeps a little state
per device — last sysUpTime, last capture count — to tell a reboot or a stalled checkpoint.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pyasn1.type import univ
from pysnmp.hlapi.v3arch import asyncio as hlapi
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_walk_cmd,
    get_cmd,
)
from pysnmp.proto import rfc1905

from agent.probes.base import ProbeResult, Target
from agent.probes.snmp_lean import BerError, LeanSnmpClient, Oid, SnmpTimeoutError
from agent.profiles import SnmpProfile
from agent.wire import Health, Reason

IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"
Values = dict[str, int | bytes | None]

# Inventory protocol names (SnmpV3 in the inventory) → pysnmp's USM protocol ids.
USM_AUTH = {
    "MD5": hlapi.USM_AUTH_HMAC96_MD5,
    "SHA": hlapi.USM_AUTH_HMAC96_SHA,
    "SHA224": hlapi.USM_AUTH_HMAC128_SHA224,
    "SHA256": hlapi.USM_AUTH_HMAC192_SHA256,
    "SHA384": hlapi.USM_AUTH_HMAC256_SHA384,
    "SHA512": hlapi.USM_AUTH_HMAC384_SHA512,
}
USM_PRIV = {
    "DES": hlapi.USM_PRIV_CBC56_DES,
    "AES": hlapi.USM_PRIV_CFB128_AES,
    "AES192": hlapi.USM_PRIV_CFB192_AES,
    "AES256": hlapi.USM_PRIV_CFB256_AES,
}


class SnmpFailureError(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@functools.lru_cache(maxsize=4096)
def _oid_tuple(text: str) -> Oid:
    return tuple(int(part) for part in text.split("."))


def _plain(value: Any) -> int | bytes | None:
    """A pysnmp value as the lean client reports it (int, bytes or None)."""
    if value is None or isinstance(
        value, rfc1905.NoSuchObject | rfc1905.NoSuchInstance | rfc1905.EndOfMibView | univ.Null
    ):
        return None
    if isinstance(value, univ.OctetString):  # also IpAddress and Opaque
        return bytes(value)
    if isinstance(value, univ.ObjectIdentifier):
        return str(value).encode()
    return int(value)


@dataclass
class _Memory:
    uptime_ticks: int | None = None
    uptime_at: float = 0.0
    captures: int | None = None
    captures_changed_at: float = 0.0


class SnmpProbe:
    protocol = "snmp"

    def __init__(
        self,
        lean: LeanSnmpClient,
        engine: SnmpEngine,
        profiles: dict[str, SnmpProfile],
        *,
        timeout_s: float,
        retries: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._lean = lean
        self._engine = engine
        self._profiles = profiles
        self._timeout = timeout_s
        self._retries = retries
        self._clock = clock
        self._memory: dict[str, _Memory] = {}

    async def probe(self, target: Target, deep: bool) -> ProbeResult:
        snmp = target.device.snmp
        assert snmp is not None
        profile = self._profiles[snmp.profile]
        oids = [profile.uptime_oid, *(check.oid for check in profile.checks)]
        if profile.captures is not None:
            oids.append(profile.captures.oid)
        started = time.perf_counter()
        try:
            values = await self.get(target, oids)
            ports = await self.walk_ports(target, profile.max_ports) if profile.ports else {}
        except SnmpFailureError as failure:
            return ProbeResult.down(failure.reason, "liveness")
        rtt_ms = (time.perf_counter() - started) * 1000
        return self._judge(target.device.id, profile, values, ports, rtt_ms)

    async def get(self, target: Target, oids: Sequence[str]) -> Values:
        """GET ``oids``: lean path for v2c, pysnmp for v3. Raises SnmpFailureError."""
        snmp = target.device.snmp
        assert snmp is not None
        address = (target.device.address, snmp.port)
        if snmp.version == "2c":
            community = (target.credentials.community or "public").encode()
            try:
                response = await self._lean.get(
                    address,
                    community,
                    [_oid_tuple(oid) for oid in oids],
                    self._timeout,
                    self._retries,
                )
            except SnmpTimeoutError as exc:
                raise SnmpFailureError(Reason.TIMEOUT, str(exc)) from exc
            except BerError as exc:
                raise SnmpFailureError(Reason.BAD_RESPONSE, str(exc)) from exc
            if response.error_status:
                raise SnmpFailureError(Reason.BAD_RESPONSE, f"error-status {response.error_status}")
            got = {".".join(map(str, oid)): value for oid, value in response.varbinds}
            return {oid: _as_scalar(got.get(oid)) for oid in oids}
        return await self.get_with_pysnmp(target, oids)

    async def get_with_pysnmp(self, target: Target, oids: Sequence[str]) -> Values:
        """GET through pysnmp (v3, and v2c for the differential test of the lean path)."""
        snmp = target.device.snmp
        assert snmp is not None
        transport = await UdpTransportTarget.create(
            (target.device.address, snmp.port), timeout=self._timeout, retries=self._retries
        )
        error, status, _, varbinds = await get_cmd(
            self._engine,
            self._auth(target),
            transport,
            ContextData(),
            *(ObjectType(ObjectIdentity(oid)) for oid in oids),
            lookupMib=False,  # plain values; MIB resolution costs time and needs MIB files
        )
        if error is not None:
            raise SnmpFailureError(_error_reason(str(error)), str(error))
        if status:
            raise SnmpFailureError(Reason.BAD_RESPONSE, f"error-status {status}")
        return {str(name): _plain(value) for name, value in varbinds}

    async def walk_ports(self, target: Target, limit: int) -> dict[int, int]:
        """ifOperStatus per ifIndex, by GETBULK (pysnmp)."""
        snmp = target.device.snmp
        assert snmp is not None
        transport = await UdpTransportTarget.create(
            (target.device.address, snmp.port), timeout=self._timeout, retries=self._retries
        )
        ports: dict[int, int] = {}
        async for error, status, _, varbinds in bulk_walk_cmd(
            self._engine,
            self._auth(target),
            transport,
            ContextData(),
            0,
            32,
            ObjectType(ObjectIdentity(IF_OPER_STATUS)),
            lexicographicMode=False,
            lookupMib=False,
        ):
            if error is not None:
                raise SnmpFailureError(_error_reason(str(error)), str(error))
            if status:
                raise SnmpFailureError(Reason.BAD_RESPONSE, f"error-status {status}")
            for name, value in varbinds:
                ports[int(str(name).rsplit(".", 1)[1])] = int(value)
            if len(ports) >= limit:
                break
        return ports

    def _auth(self, target: Target) -> CommunityData | UsmUserData:
        credentials = target.credentials
        snmp = target.device.snmp
        assert snmp is not None
        if snmp.version == "2c":
            # SNMPv2c is what many door hosts and switches speak; v3 is used where offered.
            return CommunityData(credentials.community or "public", mpModel=1)  # noqa: S508
        return UsmUserData(
            credentials.v3_user or "",
            credentials.v3_auth_key,
            credentials.v3_priv_key,
            authProtocol=USM_AUTH[credentials.v3_auth_protocol],
            privProtocol=USM_PRIV[credentials.v3_priv_protocol],
        )

    def _judge(
        self,
        device_id: str,
        profile: SnmpProfile,
        values: Values,
        ports: dict[int, int],
        rtt_ms: float,
    ) -> ProbeResult:
        now = self._clock()
        memory = self._memory.setdefault(device_id, _Memory())
        uptime = values.get(profile.uptime_oid)
        if not isinstance(uptime, int):
            return ProbeResult.down(Reason.BAD_RESPONSE, "liveness", rtt_ms=rtt_ms)
        metrics: dict[str, float] = {"rtt_ms": rtt_ms, "uptime_s": uptime / 100}
        checks: dict[str, Reason] = {"liveness": Reason.OK}
        health, reason = Health.UP, Reason.OK
        rebooted = memory.uptime_ticks is not None and uptime < memory.uptime_ticks
        memory.uptime_ticks, memory.uptime_at = uptime, now
        if rebooted:
            checks["uptime"] = reason = Reason.REBOOTED
        for check in profile.checks:
            value = values.get(check.oid)
            if isinstance(value, int):
                metrics[check.name] = float(value)
                if check.degrades(value):
                    checks[check.name] = check.reason
                    health, reason = Health.DEGRADED, check.reason
                else:
                    checks[check.name] = Reason.OK
        if profile.captures is not None:
            stalled = self._captures_stalled(profile, memory, values.get(profile.captures.oid), now)
            checks["captures"] = Reason.CAPTURES_STALLED if stalled else Reason.OK
            if isinstance(memory.captures, int):
                metrics["captures"] = float(memory.captures)
            if stalled:
                health, reason = Health.DEGRADED, Reason.CAPTURES_STALLED
        if ports:
            down = [index for index, status in sorted(ports.items()) if status != 1]
            metrics["ports_down"] = float(len(down))
            for index in down:
                checks[f"port_{index}"] = Reason.LINK_DOWN
        return ProbeResult(health, reason, checks, metrics)

    @staticmethod
    def _captures_stalled(profile: SnmpProfile, memory: _Memory, value: object, now: float) -> bool:
        rule = profile.captures
        assert rule is not None
        if not isinstance(value, int):
            return False
        if memory.captures is None or value != memory.captures:
            memory.captures, memory.captures_changed_at = value, now
            return False
        local = datetime.fromtimestamp(now, UTC) + timedelta(hours=rule.timezone_offset_h)
        if rule.active_hours is not None and not rule.active_hours.contains(local.time()):
            memory.captures_changed_at = now  # quiet hours do not count towards a stall
            return False
        return now - memory.captures_changed_at >= rule.stalled_after.total_seconds()


def _as_scalar(value: int | bytes | Oid | None) -> int | bytes | None:
    if isinstance(value, tuple):
        return ".".join(map(str, value)).encode()
    return value


def _error_reason(text: str) -> Reason:
    lowered = text.lower()
    if "timed out" in lowered or "timeout" in lowered:
        return Reason.TIMEOUT
    if any(word in lowered for word in ("wrong", "unknown user", "digest", "decrypt", "auth")):
        return Reason.AUTH_FAILED
    return Reason.BAD_RESPONSE
