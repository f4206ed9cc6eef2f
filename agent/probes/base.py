"""What every probe returns, what it is given, and how failures map to reasons."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from agent.wire import Health, Reason
from slawatch.config.inventory import Device
from slawatch.messages import Said


@dataclass(frozen=True, slots=True)
class Credentials:
    """A device's secrets, resolved from their references at start (never logged)."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    community: str | None = field(default=None, repr=False)
    v3_user: str | None = None
    v3_auth_protocol: str = "SHA"
    v3_auth_key: str | None = field(default=None, repr=False)
    v3_priv_protocol: str = "AES"
    v3_priv_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Target:
    device: Device
    credentials: Credentials
    # For a switch: the ports devices of the inventory hang off (only these are judged).
    ports: tuple[int | str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProbeResult:
    health: Health
    reason: Reason
    checks: dict[str, Reason] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    # What explains the verdict to an engineer (which auth worked, the advertised address):
    # shown by ``slawatch-agent probe``, not published. Words of the agent's own are
    # ``Said`` (the catalogue's, in the engineer's language); the rest is the device's.
    notes: dict[str, str] = field(default_factory=dict)

    @classmethod
    def up(cls, checks: dict[str, Reason] | None = None, **metrics: float) -> ProbeResult:
        return cls(Health.UP, Reason.OK, checks or {}, metrics)

    @classmethod
    def down(cls, reason: Reason, check: str, **metrics: float) -> ProbeResult:
        return cls(Health.DOWN, reason, {check: reason}, metrics)


class Probe(Protocol):
    """Checks one device once. ``deep`` asks for the slower checks (default every 15 min)."""

    protocol: str

    async def probe(self, target: Target, deep: bool) -> ProbeResult: ...


# How a probe started without a task ends: its result; a coroutine that finishes it (the
# rest of the check, run in a task: a timeout's follow-up, a retry); or the exception a
# bug raised (logged, the device ``bad_response``, as for ``Probe.probe``).
Finish = ProbeResult | Coroutine[Any, Any, ProbeResult] | Exception


class QuickProbe(Probe, Protocol):
    """A probe whose per-cycle check can run without a task of its own (the scheduler's
    hot path): ``start`` sends it and returns True, and ``done`` is called once, later;
    False, nothing started: run ``probe`` instead."""

    def start(self, target: Target, done: Callable[[Finish], None]) -> bool: ...


def combine(*results: ProbeResult) -> ProbeResult:
    """Worst health wins; its reason is the device's reason; checks and metrics merge."""
    order = {Health.UP: 0, Health.DEGRADED: 1, Health.DOWN: 2}
    worst = max(results, key=lambda result: order[result.health])
    checks: dict[str, Reason] = {}
    metrics: dict[str, float] = {}
    notes: dict[str, str] = {}
    for result in results:
        checks |= result.checks
        metrics |= result.metrics
        notes |= result.notes
    return ProbeResult(worst.health, worst.reason, checks, metrics, notes)


def why(exc: BaseException) -> str:
    """What went wrong, for a note: the catalogue's words an exception of ours carries
    (``Said``), a transport failure in its reason's words with the system's detail, or
    the exception's own text (a library's, a device's)."""
    said = exc.args[0] if exc.args else None
    if isinstance(said, Said):
        return said
    detail = str(exc)
    if isinstance(exc, OSError):  # TimeoutError and ConnectionRefusedError included
        words = Said(f"reason.{connection_reason(exc).value}")
        return Said("why.os_error", words=words, detail=detail) if detail else words
    return detail or type(exc).__name__


def connection_reason(exc: BaseException) -> Reason:
    """Map a transport failure to a reason: timeout, refused, unreachable or bad_response."""
    if isinstance(exc, TimeoutError):
        return Reason.TIMEOUT
    if isinstance(exc, ConnectionRefusedError):
        return Reason.REFUSED
    if isinstance(exc, aiohttp.ClientConnectorError):
        errno = getattr(exc.os_error, "errno", None)
        return Reason.REFUSED if errno == 111 else Reason.UNREACHABLE
    if isinstance(exc, ConnectionResetError | aiohttp.ServerDisconnectedError):
        return Reason.REFUSED
    if isinstance(exc, OSError | ssl.SSLError):
        return Reason.UNREACHABLE
    return Reason.BAD_RESPONSE
