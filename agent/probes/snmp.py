"""SNMP probes for door hosts, checkpoints, switches and SNMP cameras, driven by profiles.

The per-cycle GET goes through the lean v2c client (see ``snmp_lean.py`` for why);
SNMPv3 (USM authPriv) and the switch port walk use pysnmp. The probe keeps a little state
per device — last sysUpTime, last capture count — to tell a reboot or a stalled checkpoint,
and what the device taught it about itself (a GET or GETBULK it answers ``tooBig``, the
AES key extension it uses, its SNMPv3 engine ID), shown by ``slawatch-agent probe``.

What real agents do that the rules below exist for (each replayed in a test against
Debian's snmpd or snmpsim, with Net-SNMP's tools as the reference):

- a v3 unit replaced on the same address comes back with a new engine ID (or its boot
  counter reset): pysnmp keeps the old one and drops the agent's reports, so after a
  success the peer's engine is forgotten on a timeout or a time-window or decryption
  failure and discovered again;
- an old switch answers a long GETBULK (or GET) ``tooBig`` instead of truncating it: the
  request is made smaller, down to GETNEXT, and the size that works is remembered;
- a slow agent answers after the timeout: every send stays open until timeout ×
  (retries + 1), as Net-SNMP's do (here and in ``snmp_lean.py``);
- a silent SNMP agent on a host whose TCP ports answer is ``snmp_silent`` (degraded), not
  down: a wrong v2c community is dropped without a word.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pyasn1.type import univ
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.hlapi.v3arch import asyncio as hlapi
from pysnmp.hlapi.v3arch.asyncio import (
    CommunityData,
    ContextData,
    ObjectIdentity,
    ObjectType,
    SnmpEngine,
    UdpTransportTarget,
    UsmUserData,
    bulk_cmd,
    get_cmd,
    next_cmd,
)
from pysnmp.proto import rfc1905
from pysnmp.proto.mpmod.rfc3412 import SnmpV3MessageProcessingModel
from pysnmp.proto.secmod.rfc3414.service import SnmpUSMSecurityModel

from agent.probes.base import Credentials, Finish, ProbeResult, Target, why
from agent.probes.snmp_lean import BerError, LeanSnmpClient, Oid, Response, SnmpTimeoutError
from agent.probes.switch_ports import (
    ADMIN_DOWN,
    IF_ADMIN_STATUS,
    IF_DESCR,
    IF_NAME,
    IF_OPER_STATUS,
    IF_TYPE,
    OPER_DOWN,
    OPER_NAMES,
    OPER_UNKNOWN,
    Interface,
    resolve,
)
from agent.probes.tcp import OPEN, reach
from agent.profiles import SYS_UPTIME, SnmpProfile
from agent.wire import Health, Reason, port_check
from slawatch.messages import Said

Values = dict[str, int | bytes | None]
# pysnmp's answer: (errorIndication, errorStatus, errorIndex, varBinds)
Reply = tuple[Any, Any, Any, Any]
Request = Callable[[SnmpEngine, CommunityData | UsmUserData, UdpTransportTarget], Awaitable[Reply]]
MAX_PORT_CHECKS = 24  # a status carries at most 32 checks
MAX_REPETITIONS = 32  # GETBULK's first try; halved on tooBig, 0 is GETNEXT
MAX_ROWS = 4096
TOO_BIG = 1  # error-status tooBig (RFC 3416)

# Inventory protocol names (SnmpV3 in the inventory) → pysnmp's USM protocol ids.
USM_AUTH = {
    "MD5": hlapi.USM_AUTH_HMAC96_MD5,
    "SHA": hlapi.USM_AUTH_HMAC96_SHA,
    "SHA224": hlapi.USM_AUTH_HMAC128_SHA224,
    "SHA256": hlapi.USM_AUTH_HMAC192_SHA256,
    "SHA384": hlapi.USM_AUTH_HMAC256_SHA384,
    "SHA512": hlapi.USM_AUTH_HMAC384_SHA512,
}
# AES-192/256 with Reeder's key extension ("AES-256-C", Cisco's), as pysnmp names them.
USM_PRIV = {
    "DES": hlapi.USM_PRIV_CBC56_DES,
    "AES": hlapi.USM_PRIV_CFB128_AES,
    "AES192": hlapi.USM_PRIV_CFB192_AES,
    "AES256": hlapi.USM_PRIV_CFB256_AES,
}
# The same with Blumenthal's key extension (Net-SNMP's "-x AES-256").
USM_PRIV_BLUMENTHAL = {
    "AES192": hlapi.USM_PRIV_CFB192_AES_BLUMENTHAL,
    "AES256": hlapi.USM_PRIV_CFB256_AES_BLUMENTHAL,
}
# A localized key is as long as the auth hash; AES-192/256 need more only when it is shorter.
_HASH_BYTES = {"MD5": 16, "SHA": 20, "SHA224": 28, "SHA256": 32, "SHA384": 48, "SHA512": 64}
_KEY_BYTES = {"AES192": 24, "AES256": 32}
_OTHER_EXTENSION = {"reeder": "blumenthal", "blumenthal": "reeder"}
_EXTENSION_WORDS = {"reeder": Said("why.reeder"), "blumenthal": Said("why.blumenthal")}
# pysnmp's words (errind) for failures that mean "what we know of this agent's engine may
# be stale": no answer, notInTimeWindow, unknownEngineID, decryptionError.
_STALE = ("timed out", "timeout", "windows of trust", "unknown snmp engine", "ciphertext")


class SnmpFailureError(Exception):
    """``answered_from``: the other address a timed-out request was answered from."""

    def __init__(self, reason: Reason, detail: str, answered_from: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.answered_from = answered_from


class _TooBigError(Exception):
    """The agent answered ``tooBig``: ask for less."""


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


@dataclass(slots=True)
class _Memory:
    uptime_ticks: int | None = None
    uptime_at: float = 0.0
    captures: int | None = None
    captures_changed_at: float = 0.0
    # A switch's watched ports: inventory spelling → ifIndex (None: no such interface).
    ports: dict[int | str, int | None] | None = None
    # Why the last walk of the interface table failed (the ports stay unresolved).
    ports_failed: SnmpFailureError | None = None
    # What the device taught the agent, kept while it runs: OIDs per GET once a long GET
    # was answered tooBig; GETBULK max-repetitions that fit (0: GETNEXT only); the AES key
    # extension that worked; the SNMPv3 engine ID of its last answer (set only after a
    # success: a later timeout then means "discover it again").
    get_chunk: int | None = None
    repetitions: int = MAX_REPETITIONS
    extension: str | None = None
    engine_id: bytes | None = None
    learned: dict[str, str] | None = None

    def learn(self, key: str, words: str) -> None:
        if self.learned is None:
            self.learned = {}
        self.learned[key] = words


def _timed_out(reply: Reply) -> bool:
    text = str(reply[0]).lower() if reply[0] is not None else ""
    return "timed out" in text or "timeout" in text


def _stale(reply: Reply) -> bool:
    text = str(reply[0]).lower() if reply[0] is not None else ""
    return any(word in text for word in _STALE)


def _v3_model(engine: SnmpEngine) -> SnmpV3MessageProcessingModel | None:
    for model in engine.message_processing_subsystems.values():
        if isinstance(model, SnmpV3MessageProcessingModel):
            return model
    return None


def peer_engine_id(engine: SnmpEngine, address: tuple[str, int]) -> bytes | None:
    """The engine ID pysnmp holds for the agent at ``address`` (None: not discovered)."""
    model = _v3_model(engine)
    if model is None:
        return None
    found, _, _ = model.get_peer_engine_info(udp.DOMAIN_NAME, address)
    return bytes(found) if found is not None else None


def forget_peer(engine: SnmpEngine, address: tuple[str, int]) -> bytes | None:
    """Drop what pysnmp learnt of the agent at ``address`` — its engine ID, boots and time —
    so the next request discovers it as at first contact. Returns the engine ID it had.

    pysnmp keeps a peer's engine ID (and time) and, once the unit behind the address is
    replaced, drops the new agent's reports as coming from an unknown engine: without this
    a long-running agent would call the device down for as long as it runs. pysnmp has no
    public call for it; its private tables are reached by name (a test on Debian's snmpd
    fails if a pysnmp release renames them).
    """
    model = _v3_model(engine)
    cache = getattr(model, "_SnmpV3MessageProcessingModel__engineIdCache", None)
    queue = getattr(model, "_SnmpV3MessageProcessingModel__engineIdCacheExpQueue", None)
    if not isinstance(cache, dict):
        return None
    key = (udp.DOMAIN_NAME, address)
    known = cache.pop(key, None)
    if known is None:
        return None
    if isinstance(queue, dict):  # its expiry would delete the key again, and fail
        for keys in queue.values():
            while key in keys:
                keys.remove(key)
    engine_id = known["securityEngineId"]
    for model_ in engine.security_models.values():
        if isinstance(model_, SnmpUSMSecurityModel):
            timeline = getattr(model_, "_SnmpUSMSecurityModel__timeline", None)
            if isinstance(timeline, dict):
                timeline.pop(engine_id, None)
    return bytes(engine_id)


def _hex(engine_id: bytes | None) -> str:
    return "0x" + engine_id.hex() if engine_id else "-"


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
        ticks: Callable[[], float] | None = None,
    ) -> None:
        self._lean = lean
        self._engine = engine
        self._profiles = profiles
        self._timeout = timeout_s
        self._retries = retries
        self._clock = clock
        # What durations (a capture count unchanged since…) are measured on: the agent
        # gives the monotonic clock, so that setting the wall clock stalls nothing.
        self._ticks = ticks or clock
        self._memory: dict[str, _Memory] = {}
        self._cycle_oids: dict[str, list[str]] = {}
        # One pysnmp engine per distinct SNMPv3 user set-up (name, protocols, keys, AES key
        # extension): pysnmp keeps one row per user name, so two devices with the same user
        # but other keys or another extension would overwrite each other's mid-request.
        self._v3_engines: dict[tuple[Any, ...], tuple[SnmpEngine, UsmUserData]] = {}
        self._owned: list[SnmpEngine] = []
        self._discovery: SnmpEngine | None = None

    def close(self) -> None:
        """Close the pysnmp engines this probe made (not the one it was given)."""
        for engine in self._owned:
            engine.close_dispatcher()
        self._owned.clear()
        self._v3_engines.clear()
        self._discovery = None

    def _memory_of(self, device_id: str) -> _Memory:
        memory = self._memory.get(device_id)
        if memory is None:
            memory = self._memory[device_id] = _Memory()
        return memory

    def _oids(self, name: str, profile: SnmpProfile) -> list[str]:
        """A cycle's OIDs: the same list for each of the profile's devices, made once."""
        oids = self._cycle_oids.get(name)
        if oids is None:
            oids = [profile.uptime_oid, *(check.oid for check in profile.checks)]
            if profile.captures is not None:
                oids.append(profile.captures.oid)
            self._cycle_oids[name] = oids
        return oids

    @staticmethod
    def _with_ports(oids: list[str], memory: _Memory) -> list[str]:
        """The cycle's OIDs and the watched ports' status columns."""
        if not memory.ports:
            return oids
        port_oids = [
            f"{column}.{index}"
            for index in memory.ports.values()
            if index is not None
            for column in (IF_ADMIN_STATUS, IF_OPER_STATUS)
        ]
        return [*oids, *port_oids] if port_oids else oids

    async def probe(self, target: Target, deep: bool) -> ProbeResult:
        snmp = target.device.snmp
        assert snmp is not None
        profile = self._profiles[snmp.profile]
        memory = self._memory_of(target.device.id)
        oids = self._oids(snmp.profile, profile)
        try:
            if profile.ports and target.ports and self._walk_due(memory, deep):
                if memory.ports_failed is not None and memory.ports_failed.reason is Reason.TIMEOUT:
                    await self.get(target, oids)  # silent last time: is it there at all?
                await self._resolve(target, memory)
            started = time.perf_counter()  # the GET's round trip, not the table walk's
            values = await self.get(target, self._with_ports(oids, memory))
        except SnmpFailureError as failure:
            return await self._unanswered(target, profile, memory, failure)
        rtt_ms = (time.perf_counter() - started) * 1000
        return self._answered(target, profile, memory, values, rtt_ms)

    def start(self, target: Target, done: Callable[[Finish], None]) -> bool:
        """A cycle's liveness GET without a task: sent now, judged in the reply's callback
        (``done`` gets the result). False, nothing sent: the cycle needs ``probe`` (SNMPv3,
        a port walk due, a GET this device wants cut in chunks, no in-flight slot free).

        The scheduler's common case: without a task and a chain of coroutines per probe,
        the paced bench's CPU a probe fell by a fifth (a measured hot path). Everything past the
        reply — a timeout's TCP reach, ``tooBig`` — goes on as a coroutine handed to
        ``done``, the same code as ``probe``'s.
        """
        snmp = target.device.snmp
        if snmp is None or snmp.version != "2c":
            return False
        profile = self._profiles[snmp.profile]
        memory = self._memory_of(target.device.id)
        if memory.get_chunk is not None or (
            profile.ports and target.ports and self._walk_due(memory, False)
        ):
            return False
        oids = self._with_ports(self._oids(snmp.profile, profile), memory)
        wanted = [_oid_tuple(oid) for oid in oids]
        address = (target.device.address, snmp.port)
        started = time.perf_counter()

        def replied(outcome: Response | BerError | SnmpTimeoutError) -> None:
            took_s = time.perf_counter() - started
            try:
                try:
                    got = self._taken(address, memory, outcome, took_s)
                except _TooBigError:
                    self._shrink(memory, len(wanted), len(wanted))
                    done(self.probe(target, False))  # again, in chunks
                    return
                values = _values(oids, wanted, got)
                result = self._answered(target, profile, memory, values, took_s * 1000)
            except SnmpFailureError as failure:
                done(self._unanswered(target, profile, memory, failure))
                return
            except Exception as exc:  # noqa: BLE001 - a bug: the scheduler logs it
                done(exc)
                return
            done(result)

        return self._lean.begin(
            address,
            (target.credentials.community or "public").encode(),
            wanted,
            self._timeout,
            self._retries,
            replied,
            any_sender=profile.replies_from_any_address,
        )

    def _answered(
        self,
        target: Target,
        profile: SnmpProfile,
        memory: _Memory,
        values: Values,
        rtt_ms: float,
    ) -> ProbeResult:
        result = self._judge(target.device.id, profile, values, rtt_ms)
        if memory.ports:
            result = self._judge_ports(result, memory, values)
        elif memory.ports_failed is not None and target.ports:
            result = self._ports_unread(result, target.ports, memory.ports_failed)
        if result.checks.get("uptime") is Reason.REBOOTED:
            memory.ports = None  # interfaces may be renumbered after a reboot
        return self._with_learned(result, memory)

    async def _unanswered(
        self, target: Target, profile: SnmpProfile, memory: _Memory, failure: SnmpFailureError
    ) -> ProbeResult:
        if memory.learned:
            memory.learned.pop("snmp_slow", None)  # it said nothing this time
        return self._with_learned(await self._failed(target, profile, failure), memory)

    @staticmethod
    def _with_learned(result: ProbeResult, memory: _Memory) -> ProbeResult:
        if not memory.learned:
            return result
        return replace(result, notes=memory.learned | result.notes)

    @staticmethod
    def _walk_due(memory: _Memory, deep: bool) -> bool:
        """Resolve port names on the first cycle, on deep cycles and after a reboot; after
        a failed walk, again each cycle only if the switch was silent (it may be back)."""
        if memory.ports is not None:
            return deep
        failed = memory.ports_failed
        return failed is None or deep or failed.reason is Reason.TIMEOUT

    async def _resolve(self, target: Target, memory: _Memory) -> None:
        """Look the watched ports up; a failed walk leaves them unresolved, never the switch
        down: its liveness is the GET's to decide."""
        try:
            memory.ports = await self.resolve_ports(target)
            memory.ports_failed = None
        except SnmpFailureError as failure:
            memory.ports_failed = failure

    async def _failed(
        self, target: Target, profile: SnmpProfile, failure: SnmpFailureError
    ) -> ProbeResult:
        if failure.reason is Reason.AUTH_FAILED:  # it answered: alive, our keys are wrong
            checks = {"liveness": Reason.OK, "credentials": Reason.AUTH_FAILED}
            notes = {"snmp_auth": why(failure)}
            return ProbeResult(Health.DEGRADED, Reason.AUTH_FAILED, checks, {}, notes)
        if failure.reason is not Reason.TIMEOUT:
            return ProbeResult(
                Health.DOWN,
                failure.reason,
                {"liveness": failure.reason},
                {},
                {"liveness": why(failure)},
            )
        waited = self._timeout * (self._retries + 1)
        ports = self._reach_ports(target, profile)
        results = await asyncio.gather(
            *(reach(target.device.address, port, self._timeout) for port in ports)
        )
        opened = [port for port, result in zip(ports, results, strict=True) if result == OPEN]
        snmp = target.device.snmp
        assert snmp is not None
        if opened:
            key = "why.snmp_silent_v2c" if snmp.version == "2c" else "why.snmp_silent_v3"
            notes = {"snmp": Said(key, waited=f"{waited:g}", port=opened[0])}
            if failure.answered_from is not None:  # not silent: answering from elsewhere
                notes = {
                    "snmp": Said("why.snmp_timeout", waited=f"{waited:g}"),
                    "snmp_reply": Said(
                        "why.reply_elsewhere",
                        sender=failure.answered_from,
                        address=target.device.address,
                    ),
                }
            checks = {"liveness": Reason.SNMP_SILENT}
            return ProbeResult(Health.DEGRADED, Reason.SNMP_SILENT, checks, {}, notes)
        tried = tuple(
            Said("why.tcp_reach", port=port, code=result, words=Said(f"reason.{result}"))
            for port, result in zip(ports, results, strict=True)
        )
        words = (
            Said("why.snmp_timeout_tried", waited=f"{waited:g}", tried=tried)
            if tried
            else Said("why.snmp_timeout", waited=f"{waited:g}")
        )
        return ProbeResult(
            Health.DOWN, Reason.TIMEOUT, {"liveness": Reason.TIMEOUT}, {}, {"snmp": words}
        )

    @staticmethod
    def _reach_ports(target: Target, profile: SnmpProfile) -> list[int]:
        """The host's TCP ports that can show it is up: the inventory's, then the profile's."""
        device = target.device
        ports = [section.port for section in (device.tcp, device.onvif, device.rtsp) if section]
        return list(dict.fromkeys([*ports, *profile.reach_ports]))

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
    def _judge_ports(result: ProbeResult, memory: _Memory, values: Values) -> ProbeResult:
        """Only the named ports: a port its administrator keeps up but that passes no traffic
        (down, lowerLayerDown, notPresent, dormant, testing) is ``link_down``; a port shut
        down by its administrator is no fault; a name that matches no interface, or an
        interface that no longer answers, is ``unsupported``, so it is visible."""
        ports = memory.ports or {}
        checks = dict(result.checks)
        notes = dict(result.notes)
        down = shown = 0
        for spec, index in sorted(ports.items(), key=lambda item: str(item[0])):
            name = port_check(spec)
            verdict = None
            if index is None:
                verdict = Reason.UNSUPPORTED
                notes[name] = Said("why.no_interface", spec=str(spec))
            else:
                admin = values.get(f"{IF_ADMIN_STATUS}.{index}")
                oper = values.get(f"{IF_OPER_STATUS}.{index}")
                state = (
                    f"ifOperStatus {OPER_NAMES.get(oper, '?')}({oper})"
                    if isinstance(oper, int)
                    else ""
                )
                if admin == ADMIN_DOWN:
                    notes[name] = Said("why.admin_down", index=index)
                elif not isinstance(oper, int):
                    verdict = Reason.UNSUPPORTED
                    notes[name] = Said("why.index_gone", index=index)
                    memory.ports = None  # renumbered (a module swapped, a stack member gone)
                elif oper in OPER_DOWN:
                    verdict = Reason.LINK_DOWN
                    down += 1
                    notes[name] = f"ifIndex {index} {state}"
                elif oper == OPER_UNKNOWN:
                    verdict = Reason.UNSUPPORTED
                    notes[name] = Said("why.port_unknown", index=index, state=state)
            if verdict is not None:
                shown += 1
                if shown <= MAX_PORT_CHECKS:
                    checks[name] = verdict
        metrics = result.metrics | {"ports_down": float(down), "ports_watched": float(len(ports))}
        return ProbeResult(result.health, result.reason, checks, metrics, notes)

    @staticmethod
    def _ports_unread(
        result: ProbeResult, ports: Sequence[int | str], failure: SnmpFailureError
    ) -> ProbeResult:
        """The switch answers but its interface table could not be read: its ports are
        ``unsupported`` (visible), never ``ok``."""
        checks = dict(result.checks)
        notes = dict(result.notes)
        unread = Said("why.ports_unread", reason=failure.reason.value, failure=why(failure))
        for spec in sorted(ports, key=str)[:MAX_PORT_CHECKS]:
            checks[port_check(spec)] = Reason.UNSUPPORTED
            notes[port_check(spec)] = unread
        notes["ports"] = unread
        return ProbeResult(result.health, result.reason, checks, result.metrics, notes)

    # Requests -----------------------------------------------------------------------------

    async def get(self, target: Target, oids: Sequence[str]) -> Values:
        """GET ``oids``: lean path for v2c, pysnmp for v3. Raises SnmpFailureError."""
        snmp = target.device.snmp
        assert snmp is not None
        if snmp.version != "2c":
            return await self.get_with_pysnmp(target, oids)
        memory = self._memory_of(target.device.id)
        any_sender = self._profiles[snmp.profile].replies_from_any_address
        address = (target.device.address, snmp.port)
        community = (target.credentials.community or "public").encode()
        wanted = [_oid_tuple(oid) for oid in oids]
        got: dict[Oid, Any] = {}
        while True:
            chunk = memory.get_chunk or len(wanted)
            try:
                for start in range(0, len(wanted), chunk):
                    part = wanted[start : start + chunk]
                    got |= await self._lean_get(address, community, part, any_sender, memory)
                break
            except _TooBigError:
                self._shrink(memory, chunk, len(wanted))
        return _values(oids, wanted, got)

    @staticmethod
    def _shrink(memory: _Memory, chunk: int, wanted: int) -> None:
        """A GET of ``chunk`` OIDs was answered tooBig: ask for half as many at a time."""
        if chunk <= 1:
            raise SnmpFailureError(Reason.BAD_RESPONSE, Said("why.too_big_single")) from None
        memory.get_chunk = (min(chunk, wanted) + 1) // 2
        asked = min(chunk, wanted)
        memory.learn("snmp_get", Said("why.get_chunked", asked=asked, chunk=memory.get_chunk))

    async def _lean_get(
        self,
        address: tuple[str, int],
        community: bytes,
        oids: list[Oid],
        any_sender: bool,
        memory: _Memory,
    ) -> dict[Oid, Any]:
        started = time.perf_counter()
        try:
            outcome: Response | BerError | SnmpTimeoutError = await self._lean.get(
                address, community, oids, self._timeout, self._retries, any_sender=any_sender
            )
        except (SnmpTimeoutError, BerError) as exc:
            outcome = exc
        return self._taken(address, memory, outcome, time.perf_counter() - started)

    def _taken(
        self,
        address: tuple[str, int],
        memory: _Memory,
        outcome: Response | BerError | SnmpTimeoutError,
        took_s: float,
    ) -> dict[Oid, Any]:
        """A lean GET's answer as OID → value; raises SnmpFailureError or _TooBigError."""
        if isinstance(outcome, SnmpTimeoutError):
            raise SnmpFailureError(Reason.TIMEOUT, str(outcome), outcome.answered_from) from outcome
        if isinstance(outcome, BerError):
            raise SnmpFailureError(
                Reason.BAD_RESPONSE, Said("why.bad_ber", error=str(outcome))
            ) from outcome
        self._timed(memory, took_s)
        if outcome.error_status == TOO_BIG:
            raise _TooBigError
        if outcome.error_status:
            raise SnmpFailureError(Reason.BAD_RESPONSE, f"error-status {outcome.error_status}")
        if outcome.sender is not None:
            memory.learn(
                "snmp_reply",
                Said("why.other_address", sender=outcome.sender[0], address=address[0]),
            )
        return dict(outcome.varbinds)

    def _timed(self, memory: _Memory, took_s: float) -> None:
        """Note an answer that came after the timeout (to an earlier send), while it does."""
        if took_s > self._timeout:
            memory.learn(
                "snmp_slow", Said("why.slow", took=f"{took_s:.2f}", timeout=f"{self._timeout:g}")
            )
        elif memory.learned:
            memory.learned.pop("snmp_slow", None)

    async def get_with_pysnmp(self, target: Target, oids: Sequence[str]) -> Values:
        """GET through pysnmp (v3, and v2c for the differential test of the lean path)."""
        varbinds = [ObjectType(ObjectIdentity(oid)) for oid in oids]

        async def request(
            engine: SnmpEngine, auth: CommunityData | UsmUserData, transport: UdpTransportTarget
        ) -> Reply:
            reply: Reply = await get_cmd(
                engine, auth, transport, ContextData(), *varbinds, lookupMib=False
            )
            return reply

        error, status, _, got = await self._request(target, request)
        if error is not None:
            raise SnmpFailureError(_error_reason(str(error)), str(error))
        if status:
            raise SnmpFailureError(Reason.BAD_RESPONSE, f"error-status {status}")
        return {str(name): _plain(value) for name, value in got}

    async def walk(self, target: Target, column: str) -> dict[int, int | bytes | None]:
        """One IF-MIB column, keyed by its last index: GETBULK, smaller on ``tooBig``, then
        GETNEXT (what ``snmpwalk`` does, and what every agent answers)."""
        memory = self._memory_of(target.device.id)
        prefix = _oid_tuple(column)
        rows: dict[int, int | bytes | None] = {}
        cursor = column
        unanswered = 0  # GETBULK's size when it got no answer, until GETNEXT gets one
        while len(rows) < MAX_ROWS:
            repetitions = memory.repetitions
            start = ObjectType(ObjectIdentity(cursor))

            async def request(
                engine: SnmpEngine,
                auth: CommunityData | UsmUserData,
                transport: UdpTransportTarget,
                start: ObjectType = start,
                repetitions: int = repetitions,
            ) -> Reply:
                reply: Reply
                if repetitions:
                    reply = await bulk_cmd(
                        engine,
                        auth,
                        transport,
                        ContextData(),
                        0,
                        repetitions,
                        start,
                        lookupMib=False,
                    )
                else:
                    reply = await next_cmd(
                        engine, auth, transport, ContextData(), start, lookupMib=False
                    )
                return reply

            error, status, _, varbinds = await self._request(target, request)
            if error is not None:
                reason = _error_reason(str(error))
                if reason is Reason.TIMEOUT and repetitions and not rows:
                    # Some agents drop a reply too long to send rather than say tooBig:
                    # try GETNEXT, and keep to it only if that is answered.
                    memory.repetitions, unanswered = 0, repetitions
                    continue
                if unanswered:  # GETNEXT is not answered either: the switch is silent
                    memory.repetitions = unanswered
                raise SnmpFailureError(reason, str(error))
            if unanswered:
                memory.learn("snmp_walk", Said("why.bulk_silent"))
                unanswered = 0
            if status and int(status) == TOO_BIG:
                if not repetitions:
                    raise SnmpFailureError(
                        Reason.BAD_RESPONSE,
                        Said("why.answer_to", what="error-status tooBig", operation="GETNEXT"),
                    )
                memory.repetitions = repetitions // 2
                memory.learn(
                    "snmp_walk",
                    Said("why.bulk_smaller", rows=MAX_REPETITIONS, fits=memory.repetitions)
                    if memory.repetitions
                    else Said("why.bulk_too_big", rows=MAX_REPETITIONS),
                )
                continue
            if status:
                if not repetitions:
                    raise SnmpFailureError(Reason.BAD_RESPONSE, f"error-status {status}")
                # Old agents answer GETBULK genErr (or worse) and GETNEXT well: snmpwalk's way.
                memory.repetitions = 0
                memory.learn("snmp_walk", Said("why.bulk_refused", status=str(status)))
                continue
            advanced = False
            for name, value in _flat(varbinds):
                oid = _oid_tuple(str(name))
                if oid[: len(prefix)] != prefix or isinstance(value, rfc1905.EndOfMibView):
                    return rows
                if oid <= _oid_tuple(cursor):
                    raise SnmpFailureError(
                        Reason.BAD_RESPONSE, Said("why.oid_not_increasing", oid=str(name))
                    )
                rows[oid[-1]] = _plain(value)
                cursor, advanced = str(name), True
            if not advanced:
                return rows
        return rows

    # pysnmp exchanges ---------------------------------------------------------------------

    async def _request(self, target: Target, request: Request) -> Reply:
        """One request through pysnmp with Net-SNMP's patience; for v3 also the engine
        rediscovery, the AES key extension, and refused keys told from silence."""
        snmp = target.device.snmp
        assert snmp is not None
        address = (target.device.address, snmp.port)
        memory = self._memory_of(target.device.id)
        if snmp.version == "2c":
            return await self._exchange(
                self._engine, self._auth_v2c(target), address, request, memory
            )
        profile = self._profiles[snmp.profile]
        credentials = target.credentials
        extensions = self._extensions(profile, credentials, memory)
        reply: Reply | None = None
        answers_discovery: bool | None = None
        for extension in extensions:
            engine, auth = self._v3_engine(credentials, extension)
            reply = await self._exchange(engine, auth, address, request, memory)
            if _stale(reply) and memory.engine_id is not None:
                # It answered before: a new unit (engine ID), a reset boot counter or keys
                # localized for another engine. Forget the engine and discover it again.
                before = forget_peer(engine, address) or memory.engine_id
                memory.engine_id = None
                reply = await self._exchange(engine, auth, address, request, memory)
                after = peer_engine_id(engine, address)
                if reply[0] is None and after != before:
                    memory.learn(
                        "snmp_engine",
                        Said("why.engine_changed", before=_hex(before), after=_hex(after)),
                    )
            if reply[0] is None:
                memory.engine_id = peer_engine_id(engine, address)
                if len(extensions) > 1 and memory.extension != extension:
                    memory.extension = extension
                    memory.learn(
                        "snmp_priv",
                        Said(
                            "why.priv_extension",
                            priv=credentials.v3_priv_protocol,
                            extension=_EXTENSION_WORDS[str(extension)],
                        ),
                    )
                return reply
            if not _timed_out(reply):
                return reply
            if answers_discovery is None:
                answers_discovery = await self._discoverable(target)
            if not answers_discovery:
                return reply  # silent even to discovery: not our keys
        assert reply is not None
        # Net-SNMP drops a request it cannot decrypt without a report; an agent that
        # answers engine discovery but not our authPriv request has our privacy key (or
        # its extension) refused, it is not down.
        tried = [_EXTENSION_WORDS[str(e)] for e in extensions if e is not None]
        detail = Said("why.wrong_priv")
        if tried:
            both = Said("why.and", first=tried[0], second=tried[1]) if len(tried) > 1 else tried[0]
            detail = Said("why.wrong_priv_tried", tried=both)
        raise SnmpFailureError(Reason.AUTH_FAILED, detail)

    async def _exchange(
        self,
        engine: SnmpEngine,
        auth: CommunityData | UsmUserData,
        address: tuple[str, int],
        request: Request,
        memory: _Memory,
    ) -> Reply:
        """Net-SNMP's retry rule over pysnmp: send again every timeout, take an answer to any
        send, give up after timeout × (retries + 1).

        pysnmp gives each retry a new message id and forgets the earlier one, so an agent
        that answers after the timeout is never heard. Here each send is a request of its
        own (no pysnmp retries) that waits until the common deadline.
        """
        loop = asyncio.get_running_loop()
        started = loop.time()
        sends: list[asyncio.Future[Reply]] = []
        last: Reply | None = None
        try:
            for attempt in range(self._retries + 1):
                transport = await UdpTransportTarget.create(
                    address, timeout=self._timeout * (self._retries + 1 - attempt), retries=0
                )
                sends.append(asyncio.ensure_future(request(engine, auth, transport)))
                final = attempt == self._retries
                until = loop.time() + self._timeout
                waiting = {send for send in sends if not send.done()}
                while waiting:
                    done, waiting = await asyncio.wait(
                        waiting,
                        timeout=None if final else max(0.0, until - loop.time()),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if not done:
                        break  # this send's window passed: send again
                    for send in done:
                        reply = send.result()
                        if not _timed_out(reply):
                            self._timed(memory, loop.time() - started)
                            return reply
                        last = reply
            assert last is not None
            return last
        finally:
            for send in sends:
                send.cancel()

    async def _discoverable(self, target: Target) -> bool:
        """Does the agent answer an unauthenticated request (engine discovery, a report)?

        Asked on an engine of its own: pysnmp keeps one row per user name, and this
        request names the device's user without keys.
        """
        snmp = target.device.snmp
        assert snmp is not None
        if self._discovery is None:
            self._discovery = SnmpEngine()
            self._owned.append(self._discovery)
        address = (target.device.address, snmp.port)
        forget_peer(self._discovery, address)  # a discovery from scratch, every time
        transport = await UdpTransportTarget.create(address, timeout=self._timeout, retries=0)
        error, _, _, _ = await get_cmd(
            self._discovery,
            # Discovery only: no data is asked for, so nothing travels unencrypted.
            UsmUserData(target.credentials.v3_user or ""),  # noqa: S509
            transport,
            ContextData(),
            ObjectType(ObjectIdentity(SYS_UPTIME)),
            lookupMib=False,
        )
        return error is None or not _timed_out((error, None, None, None))

    @staticmethod
    def _extensions(
        profile: SnmpProfile, credentials: Credentials, memory: _Memory
    ) -> list[str | None]:
        """The AES key extensions to try, in order (None: the protocol needs none)."""
        priv = credentials.v3_priv_protocol
        needed = _KEY_BYTES.get(priv, 0)
        if needed <= _HASH_BYTES.get(credentials.v3_auth_protocol, 64):
            return [None]
        if profile.aes_key_extension != "auto":
            return [profile.aes_key_extension]
        first = memory.extension or "reeder"
        return [first, _OTHER_EXTENSION[first]]

    def _v3_engine(
        self, credentials: Credentials, extension: str | None
    ) -> tuple[SnmpEngine, UsmUserData]:
        key = (
            credentials.v3_user,
            credentials.v3_auth_protocol,
            credentials.v3_auth_key,
            credentials.v3_priv_protocol,
            credentials.v3_priv_key,
            extension,
        )
        found = self._v3_engines.get(key)
        if found is not None:
            return found
        privacy = USM_PRIV[credentials.v3_priv_protocol]
        if extension == "blumenthal":
            privacy = USM_PRIV_BLUMENTHAL[credentials.v3_priv_protocol]
        auth = UsmUserData(
            credentials.v3_user or "",
            credentials.v3_auth_key,
            credentials.v3_priv_key,
            authProtocol=USM_AUTH[credentials.v3_auth_protocol],
            privProtocol=privacy,
        )
        # The first set-up shares the probe's engine; each further one gets its own (a new
        # engine costs ~0.1-0.25 s once; most sites have one or two set-ups).
        engine = self._engine if not self._v3_engines else SnmpEngine()
        if engine is not self._engine:
            self._owned.append(engine)
        self._v3_engines[key] = engine, auth
        return engine, auth

    @staticmethod
    def _auth_v2c(target: Target) -> CommunityData:
        # SNMPv2c is what many door hosts and switches speak; v3 is used where offered.
        return CommunityData(target.credentials.community or "public", mpModel=1)  # noqa: S508

    def _judge(
        self,
        device_id: str,
        profile: SnmpProfile,
        values: Values,
        rtt_ms: float,
    ) -> ProbeResult:
        now = self._clock()
        memory = self._memory_of(device_id)
        # An answer to our GET is proof of life, whatever it holds: a device without the
        # profile's OIDs (noSuchObject) is alive, and its checks say "unsupported".
        metrics: dict[str, float] = {"rtt_ms": rtt_ms}
        checks: dict[str, Reason] = {"liveness": Reason.OK}
        notes: dict[str, str] = {}
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
            notes["uptime"] = _missing("why.no_uptime", profile.uptime_oid)
        for check in profile.checks:
            value = values.get(check.oid)
            if value is None:
                checks[check.name] = Reason.UNSUPPORTED
                notes[check.name] = _missing("why.no_object", check.oid)
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
            stalled = self._captures_stalled(profile, memory, count, now, self._ticks())
            checks["captures"] = Reason.CAPTURES_STALLED if stalled else Reason.OK
            if count is None:
                checks["captures"] = Reason.UNSUPPORTED
                notes["captures"] = _missing("why.no_object", profile.captures.oid)
            if isinstance(memory.captures, int):
                metrics["captures"] = float(memory.captures)
            if stalled:
                health, reason = Health.DEGRADED, Reason.CAPTURES_STALLED
        return ProbeResult(health, reason, checks, metrics, notes)

    @staticmethod
    def _captures_stalled(
        profile: SnmpProfile, memory: _Memory, value: object, now: float, tick: float
    ) -> bool:
        """``now``: the wall clock (the hour of day); ``tick``: the clock durations are on."""
        rule = profile.captures
        assert rule is not None
        if not isinstance(value, int):
            return False
        if memory.captures is None or value != memory.captures:
            memory.captures, memory.captures_changed_at = value, tick
            return False
        local = datetime.fromtimestamp(now, UTC) + timedelta(hours=rule.timezone_offset_h)
        if rule.active_hours is not None and not rule.active_hours.contains(local.time()):
            memory.captures_changed_at = tick  # quiet hours do not count towards a stall
            return False
        return tick - memory.captures_changed_at >= rule.stalled_after.total_seconds()


@functools.lru_cache(maxsize=1024)
def _missing(key: str, oid: str) -> Said:
    """The note for an OID the device lacks, made once: a device without one says so
    every cycle, and saying it afresh was a third of judging the reply (a measured hot
    path; ``Said`` is immutable)."""
    return Said(key, oid=oid)


def _flat(varbinds: Any) -> list[Any]:
    """pysnmp gives GETNEXT's and GETBULK's rows flat or as a table, by version."""
    flat: list[Any] = []
    for item in varbinds or ():
        if isinstance(item, list | tuple) and item and isinstance(item[0], ObjectType):
            flat.extend(item)
        else:
            flat.append(item)
    return flat


def _text(value: int | bytes | None) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else ""


def _values(oids: Sequence[str], wanted: Sequence[Oid], got: dict[Oid, Any]) -> Values:
    """The answer by the OIDs as asked (dotted), each a plain value."""
    return {oid: _as_scalar(got.get(tuple_)) for oid, tuple_ in zip(oids, wanted, strict=True)}


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
