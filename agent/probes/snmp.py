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
from agent.probes.switch_ports import (
    ADMIN_DOWN,
    IF_ADMIN_STATUS,
    IF_DESCR,
    IF_NAME,
    IF_OPER_STATUS,
    IF_TYPE,
    OPER_DOWN,
    Interface,
    resolve,
)
from agent.profiles import SYS_UPTIME, SnmpProfile
from agent.wire import Health, Reason, port_check

Values = dict[str, int | bytes | None]
MAX_PORT_CHECKS = 24  # a status carries at most 32 checks

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
    # A switch's watched ports: inventory spelling → ifIndex (None: no such interface).
    ports: dict[int | str, int | None] | None = None


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
        memory = self._memory.setdefault(target.device.id, _Memory())
        oids = [profile.uptime_oid, *(check.oid for check in profile.checks)]
        if profile.captures is not None:
            oids.append(profile.captures.oid)
        started = time.perf_counter()
        try:
            if profile.ports and target.ports and (memory.ports is None or deep):
                memory.ports = await self.resolve_ports(target)
            watched = {
                spec: index for spec, index in (memory.ports or {}).items() if index is not None
            }
            port_oids = [
                f"{column}.{index}"
                for index in watched.values()
                for column in (IF_ADMIN_STATUS, IF_OPER_STATUS)
            ]
            values = await self.get(target, oids + port_oids)
        except SnmpFailureError as failure:
            if failure.reason is Reason.AUTH_FAILED:  # it answered: alive, our keys are wrong
                checks = {"liveness": Reason.OK, "credentials": Reason.AUTH_FAILED}
                notes = {"snmp_auth": str(failure)}
                return ProbeResult(Health.DEGRADED, Reason.AUTH_FAILED, checks, {}, notes)
            return ProbeResult.down(failure.reason, "liveness")
        rtt_ms = (time.perf_counter() - started) * 1000
        result = self._judge(target.device.id, profile, values, rtt_ms)
        if memory.ports:
            result = self._judge_ports(result, memory.ports, values)
        if result.checks.get("uptime") is Reason.REBOOTED:
            memory.ports = None  # interfaces may be renumbered after a reboot
        return result

    async def resolve_ports(self, target: Target) -> dict[int | str, int | None]:
        """The ifIndex of each port the inventory names, from ifName/ifDescr/ifType."""
        interfaces = await self.interfaces(target)
        found = {spec: resolve(spec, interfaces) for spec in target.ports}
        return {spec: (i.index if i is not None else None) for spec, i in found.items()}

    async def interfaces(self, target: Target) -> list[Interface]:
        names = await self.walk(target, IF_NAME)
        descriptions = await self.walk(target, IF_DESCR)
        types = await self.walk(target, IF_TYPE)
        return [
            Interface(
                index,
                _text(names.get(index)),
                _text(descriptions.get(index)),
                kind if isinstance(kind, int) else 0,
            )
            for index, kind in types.items()
        ]

    @staticmethod
    def _judge_ports(
        result: ProbeResult, ports: dict[int | str, int | None], values: Values
    ) -> ProbeResult:
        """Only the named ports: down (admin up, oper down) is ``link_down``; a port shut
        down by its administrator is no fault; a name that matches no interface is
        ``unsupported``, so a wrong inventory entry is visible."""
        checks = dict(result.checks)
        notes = dict(result.notes)
        down = unknown = 0
        for spec, index in sorted(ports.items(), key=lambda item: str(item[0])):
            if index is None:
                unknown += 1
                if unknown + down <= MAX_PORT_CHECKS:
                    checks[port_check(spec)] = Reason.UNSUPPORTED
                notes[port_check(spec)] = f"no interface matches {spec!r}"
                continue
            admin = values.get(f"{IF_ADMIN_STATUS}.{index}")
            oper = values.get(f"{IF_OPER_STATUS}.{index}")
            if admin == ADMIN_DOWN:
                notes[port_check(spec)] = f"ifIndex {index} shut down by its administrator"
            elif oper in OPER_DOWN:
                down += 1
                if unknown + down <= MAX_PORT_CHECKS:
                    checks[port_check(spec)] = Reason.LINK_DOWN
        metrics = result.metrics | {"ports_down": float(down), "ports_watched": float(len(ports))}
        return ProbeResult(result.health, result.reason, checks, metrics, notes)

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
            reason = _error_reason(str(error))
            if (
                reason is Reason.TIMEOUT
                and snmp.version == "3"
                and await self._discoverable(target)
            ):
                # Net-SNMP drops a request it cannot decrypt without a report; an agent
                # that answers engine discovery but not our authPriv GET has our
                # privacy key refused, it is not down.
                raise SnmpFailureError(
                    Reason.AUTH_FAILED,
                    "answers engine discovery but not the authPriv request: wrong privacy key?",
                )
            raise SnmpFailureError(reason, str(error))
        if status:
            raise SnmpFailureError(Reason.BAD_RESPONSE, f"error-status {status}")
        return {str(name): _plain(value) for name, value in varbinds}

    async def _discoverable(self, target: Target) -> bool:
        """Does the agent answer an unauthenticated request (with a report)?"""
        snmp = target.device.snmp
        assert snmp is not None
        transport = await UdpTransportTarget.create(
            (target.device.address, snmp.port), timeout=self._timeout, retries=0
        )
        error, _, _, _ = await get_cmd(
            self._engine,
            # Discovery only: no data is asked for, so nothing travels unencrypted.
            UsmUserData(target.credentials.v3_user or ""),  # noqa: S509
            transport,
            ContextData(),
            ObjectType(ObjectIdentity(SYS_UPTIME)),
            lookupMib=False,
        )
        return error is None or _error_reason(str(error)) is not Reason.TIMEOUT

    async def walk(self, target: Target, column: str) -> dict[int, int | bytes | None]:
        """One IF-MIB column by GETBULK (pysnmp), keyed by its last index."""
        snmp = target.device.snmp
        assert snmp is not None
        transport = await UdpTransportTarget.create(
            (target.device.address, snmp.port), timeout=self._timeout, retries=self._retries
        )
        rows: dict[int, int | bytes | None] = {}
        async for error, status, _, varbinds in bulk_walk_cmd(
            self._engine,
            self._auth(target),
            transport,
            ContextData(),
            0,
            32,
            ObjectType(ObjectIdentity(column)),
            lexicographicMode=False,
            lookupMib=False,
        ):
            if error is not None:
                raise SnmpFailureError(_error_reason(str(error)), str(error))
            if status:
                raise SnmpFailureError(Reason.BAD_RESPONSE, f"error-status {status}")
            for name, value in varbinds:
                rows[int(str(name).rsplit(".", 1)[1])] = _plain(value)
            if len(rows) >= 4096:
                break
        return rows

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
        rtt_ms: float,
    ) -> ProbeResult:
        now = self._clock()
        memory = self._memory.setdefault(device_id, _Memory())
        # An answer to our GET is proof of life, whatever it holds: a device without the
        # profile's OIDs (noSuchObject) is alive, and its checks say "unsupported".
        metrics: dict[str, float] = {"rtt_ms": rtt_ms}
        checks: dict[str, Reason] = {"liveness": Reason.OK}
        health, reason = Health.UP, Reason.OK
        uptime = values.get(profile.uptime_oid)
        if isinstance(uptime, int):
            metrics["uptime_s"] = uptime / 100
            rebooted = memory.uptime_ticks is not None and uptime < memory.uptime_ticks
            memory.uptime_ticks, memory.uptime_at = uptime, now
            if rebooted:
                checks["uptime"] = reason = Reason.REBOOTED
        else:
            checks["uptime"] = Reason.UNSUPPORTED
        for check in profile.checks:
            value = values.get(check.oid)
            if value is None:
                checks[check.name] = Reason.UNSUPPORTED
            elif not isinstance(value, int):
                checks[check.name] = Reason.OK  # present; only numbers are judged
            else:
                metrics[check.name] = float(value)
                if check.degrades(value):
                    checks[check.name] = check.reason
                    health, reason = Health.DEGRADED, check.reason
                else:
                    checks[check.name] = Reason.OK
        if profile.captures is not None:
            count = values.get(profile.captures.oid)
            stalled = self._captures_stalled(profile, memory, count, now)
            checks["captures"] = Reason.CAPTURES_STALLED if stalled else Reason.OK
            if count is None:
                checks["captures"] = Reason.UNSUPPORTED
            if isinstance(memory.captures, int):
                metrics["captures"] = float(memory.captures)
            if stalled:
                health, reason = Health.DEGRADED, Reason.CAPTURES_STALLED
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


def _text(value: int | bytes | None) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else ""


def _as_scalar(value: int | bytes | Oid | None) -> int | bytes | None:
    if isinstance(value, tuple):
        return ".".join(map(str, value)).encode()
    return value


def _error_reason(text: str) -> Reason:
    lowered = text.lower()
    if "timed out" in lowered or "timeout" in lowered:
        return Reason.TIMEOUT
    # pysnmp's words for the USM's reports and failures (RFC 3414 §3.2): unknown user,
    # wrong digest, ciphertext it cannot decrypt, a security level the user lacks.
    words = ("wrong", "unknown usm user", "unknown user", "digest", "decrypt", "cipher", "auth")
    if any(word in lowered for word in (*words, "security level")):
        return Reason.AUTH_FAILED
    return Reason.BAD_RESPONSE
