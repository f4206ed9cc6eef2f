"""The wire contract between agents and collectors: versioned MQTT payloads and JSONL records.

This is the only agent module the collector imports. A payload is a batch of device
statuses observed by one agent; ``seq`` increases by one per batch and survives agent
restarts, so a collector can drop a batch it has already seen when an outbox replays.
The same status record, one per line with its ``agent_id``, is the JSONL format used to
replay observations (``slawatch-collector replay``) and by evaluators to recompute figures.

Decoding never raises anything but :class:`WireError`, which names the offending field.

Signed messages (batches, liveness, acks) carry their Ed25519 signature as the last field,
``"sig"``, over the bytes before it (closed by ``}``): checked on the bytes as received, so
neither side depends on re-encoding a message exactly as the other did. A batch is stored
in the outbox without its send time; the publisher adds ``sent_at`` and the agent's clock
state when it sends it (again at a resend) and signs the whole, so the collector reads a
true transmit time from each message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetPydanticSchema,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)
from pydantic.dataclasses import dataclass
from pydantic_core import CoreSchema, core_schema

SCHEMA_VERSION: Literal[1] = 1
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
MAX_STATUSES_PER_BATCH = 20_000
MAX_RECORD_BYTES = 64 * 1024
TOPIC_ROOT = "slawatch/v1"


class WireError(ValueError):
    """A payload or record that does not satisfy the contract; ``field`` says where."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class Health(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


class Reason(StrEnum):
    """Why a device is in its health; one enum for every probe so figures can group by it."""

    OK = "ok"
    TIMEOUT = "timeout"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    BAD_RESPONSE = "bad_response"
    STREAM_UNAVAILABLE = "stream_unavailable"
    CLOCK_SKEW = "clock_skew"
    NO_RECENT_RECORDING = "no_recent_recording"
    CAPTURES_STALLED = "captures_stalled"
    UPLOAD_BACKLOG = "upload_backlog"
    DOOR_FORCED = "door_forced"
    TAMPER = "tamper"
    REBOOTED = "rebooted"
    LINK_DOWN = "link_down"
    # The device answered that it does not do this check (an SNMP OID it lacks, an ONVIF
    # operation it refuses for a reason other than credentials): visible, not a fault.
    UNSUPPORTED = "unsupported"
    # The host completes a TCP connection (its management, ONVIF or RTSP port) but SNMP
    # gets no answer: a wrong v2c community, an SNMP access list, a dead SNMP daemon. The
    # host is there, so it is degraded, not down. Last in the enum: codes keep their order.
    SNMP_SILENT = "snmp_silent"
    # A camera's clock not judged: the agent's own clock is not known to be synchronised.
    AGENT_CLOCK_UNKNOWN = "agent_clock_unknown"


def _utc_ms(value: object) -> datetime:
    """Any aware time, as UTC cut to whole milliseconds.

    Parsed with ``datetime.fromisoformat``, which gives ``datetime.UTC`` itself for ``Z``:
    pydantic's own datetime parsing gives a zone object of its own that every later
    comparison pays for (converting it cost 2.5 µs a status, half of decoding one).
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("expected an ISO 8601 timestamp") from None
        if value.tzinfo is UTC and not value.microsecond % 1000:
            return value  # the wire's own form: nothing to convert or cut
    if not isinstance(value, datetime):
        raise ValueError("expected an ISO 8601 timestamp")
    offset = value.utcoffset()
    if offset is None:
        raise ValueError("timestamp must carry a time zone (UTC)")
    if offset or value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    extra = value.microsecond % 1000
    return value.replace(microsecond=value.microsecond - extra) if extra else value


def format_timestamp(value: datetime) -> str:
    """ISO 8601 UTC with milliseconds: ``2026-07-01T02:00:00.250Z``."""
    # isoformat truncates to milliseconds like the wire does, at a sixth of strftime's cost;
    # a time already in UTC (every decoded one) skips the two conversions.
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:-6] + "Z"


# The form agents send (``2026-07-01T02:00:00.250Z``): already UTC at whole milliseconds.
_WIRE_FORM = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"
_AS_SENT, _ANY_FORM = "as-sent", "any-form"


def _timestamp_schema(_source: object, _handler: GetCoreSchemaHandler) -> CoreSchema:
    """In JSON, a timestamp in the wire's form is matched and parsed in C
    (``fromisoformat`` gives ``datetime.UTC`` for ``Z``); any other input goes through
    ``_utc_ms``, and so does every Python value (an agent's own ``datetime``).

    The collector decodes every status's ``observed_at``: calling into Python for each
    cost 0.35 µs of the 2.45 µs that decoding a status takes. Only ``_utc_ms``'s verdict
    names what is wrong with a bad timestamp (``_decode`` drops the first branch's). A
    Python value skips the wire-form branch: its failing costs an error object (building
    a validated ``Status`` took 8 µs through it).
    """
    any_form = core_schema.no_info_plain_validator_function(_utc_ms)
    as_sent = core_schema.chain_schema(
        [
            core_schema.str_schema(pattern=_WIRE_FORM),
            core_schema.no_info_plain_validator_function(datetime.fromisoformat),
        ]
    )
    return core_schema.json_or_python_schema(
        json_schema=core_schema.union_schema(
            [(as_sent, _AS_SENT), (any_form, _ANY_FORM)], mode="left_to_right"
        ),
        python_schema=any_form,
        serialization=core_schema.plain_serializer_function_ser_schema(
            format_timestamp, return_schema=core_schema.str_schema()
        ),
    )


Timestamp = Annotated[datetime, GetPydanticSchema(_timestamp_schema)]
WireId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
MetricName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


def port_check(port: int | str) -> str:
    """The check that carries a switch port's verdict: ``port_3``, ``port_gi1_0_3``.

    The agent names it from the inventory's spelling of the port and the collector
    looks it up the same way, so a port given by name needs no ifIndex on either side.
    """
    slug = re.sub(r"[^a-z0-9]+", "_", str(port).lower()).strip("_")
    return f"port_{slug}"[:64]


FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


_STRICT = ConfigDict(extra="forbid")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(config=_STRICT, frozen=True, slots=True, kw_only=True)
class Status:
    """One device observed once: what the agent saw, and when (event time).

    A slotted dataclass, not a BaseModel: the collector reads a dozen attributes of every
    status it takes, and a BaseModel's ``__getattr__`` hook makes each read a slow lookup.
    Decoding a 1,000-status batch and reading them cost 29,900 instructions a status as a
    BaseModel and 22,000 as this (callgrind); validation is the same.
    """

    device_id: WireId
    observed_at: Timestamp
    health: Health
    reason: Reason
    checks: dict[MetricName, Reason] = Field(default_factory=dict, max_length=32)
    metrics: dict[MetricName, FiniteFloat] = Field(default_factory=dict, max_length=64)


_WIRE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_NAMES_SEEN: set[str] = set()  # check and metric names a validated Status carried
_MAX_CHECKS, _MAX_METRICS = 32, 64


def agent_status(
    device_id: str,
    observed_at: datetime,
    health: Health,
    reason: Reason,
    checks: dict[str, Reason],
    metrics: dict[str, float],
) -> Status:
    """The agent's own observation as a ``Status``, as ``Status(...)`` validates it.

    Validating costs ~5 µs a status, a twentieth of an SNMP probe's CPU (a measured hot
    path), to confirm what the agent's own code already holds: its enums, a UTC time cut
    to milliseconds, finite floats, and the few check and metric names it uses again
    and again. So a status whose fields plainly pass (those names once validated, the
    device id matching the wire's pattern) is built without pydantic; anything else —
    a new name, an int for a float, an id the wire refuses — goes through the validator,
    which names the field that is wrong.
    """
    if (
        observed_at.tzinfo is UTC
        and not observed_at.microsecond % 1000
        and type(health) is Health
        and type(reason) is Reason
        and len(checks) <= _MAX_CHECKS
        and len(metrics) <= _MAX_METRICS
        and _NAMES_SEEN.issuperset(checks)
        and _NAMES_SEEN.issuperset(metrics)
        and all(type(value) is Reason for value in checks.values())
        and all(type(value) is float and math.isfinite(value) for value in metrics.values())
        and _WIRE_ID.fullmatch(device_id)
    ):
        status = object.__new__(Status)
        for name, value in (
            ("device_id", device_id),
            ("observed_at", observed_at),
            ("health", health),
            ("reason", reason),
            ("checks", checks),
            ("metrics", metrics),
        ):
            object.__setattr__(status, name, value)  # frozen: set as its __init__ does
        return status
    status = Status(
        device_id=device_id,
        observed_at=observed_at,
        health=health,
        reason=reason,
        checks=checks,
        metrics=metrics,
    )
    _NAMES_SEEN.update(status.checks, status.metrics)
    return status


def _check_reasons(statuses: Iterable[Status], field: str) -> None:
    """A down or degraded status must say why.

    Checked when a message is decoded (the receiving side of the contract), not by a model
    validator: pydantic's call into Python costs ~4 µs per status, a third of the
    collector's decoding, where this loop costs ~0.1 µs.
    """
    ok, up = Reason.OK, Health.UP
    for n, status in enumerate(statuses):
        if status.reason is ok and status.health is not up:
            where = field.format(n=n)
            raise WireError(where, f"a {status.health.value} status needs a reason other than ok")


class ClockState(StrEnum):
    """The agent's clock as its time service reports it (chrony, systemd-timesyncd)."""

    SYNCHRONISED = "synchronised"
    UNSYNCHRONISED = "unsynchronised"
    UNKNOWN = "unknown"
    # Set since the batch's statuses were observed: their times are not on the clock that
    # stamped the send time, and the collector keeps the batch unused.
    STEPPED = "stepped"


# An Ed25519 signature in base64 (64 bytes).
Signature = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{86}==$")]

StrictSeq = Annotated[int, Field(strict=True, ge=0, lt=2**63)]
StrictCount = StrictSeq  # a count has the same bounds
# Batches ``first`` to ``last`` (inclusive) the agent dropped before the collector had them.
SeqRange = tuple[StrictSeq, StrictSeq]


class AgentLoad(_Record):
    """How the agent itself kept up over its last cycle (``window_s``, ending ``at`` by
    its clock): a starved agent is not a dead fleet, and the collector shows which it is.

    ``stalled_results``: verdicts that were the agent's own stall, not the device's (not
    published: those devices are unknown); ``late``: probes started later than the
    schedule allows; ``missed``: device cycles never started; ``deep_deferred``: deep
    checks put off; ``lag_max_s``: the event loop's longest lag; ``overloaded``: the
    agent was behind within the cycle.
    """

    at: Timestamp
    window_s: FiniteFloat = Field(gt=0, le=86_400)
    overloaded: bool
    stalled_results: StrictCount
    late: StrictCount
    missed: StrictCount
    deep_deferred: StrictCount = 0
    lag_max_s: FiniteFloat = Field(ge=0, le=86_400)


class Batch(_Record):
    """One MQTT message: a poll cycle's statuses from one agent.

    ``seq`` counts within ``epoch``, which an agent draws once when its outbox is created:
    a reinstalled agent (a new outbox) starts a new sequence, not a run of duplicates.
    ``lost`` names the batches the agent had to drop (outbox full) before the collector
    confirmed them, so the collector stops waiting for them and records the loss.
    ``sent_at`` is when the agent sent it (by its clock, which ``clock`` qualifies).
    ``load`` is the agent's own load when the batch was written (absent from an agent
    that does not report it; a collector older than the field refuses a batch with it,
    so collectors are upgraded first). It sits before ``sent_at`` in what the agent
    signs, so the signature and the content digest cover it.
    """

    v: Literal[1] = 1
    agent_id: WireId
    site: WireId
    epoch: WireId | None = None
    seq: StrictSeq
    sent_at: Timestamp
    statuses: list[Status] = Field(max_length=MAX_STATUSES_PER_BATCH)
    lost: list[SeqRange] = Field(default_factory=list, max_length=64)
    load: AgentLoad | None = None
    clock: ClockState = ClockState.UNKNOWN
    sig: Signature | None = None


class Ack(_Record):
    """The collector's receipt to one agent (retained, on the agent's ``ack`` topic):
    every batch of ``epoch`` up to ``through`` is in the ledger, and so are ``above``.
    Only then does the agent delete them from its outbox."""

    v: Literal[1] = 1
    agent_id: WireId
    epoch: WireId | None = None
    through: int = Field(strict=True, ge=-1, lt=2**63)
    above: list[StrictSeq] = Field(default_factory=list, max_length=4096)
    sig: Signature | None = None


class Alive(_Record):
    """The retained liveness message; the will publishes the same with ``online: false``.

    ``at`` is when the connection began and ``connection`` its number in the agent's
    ``epoch`` (counted by its outbox, whatever its clock says): the will (made at connect)
    and the ``online`` message of one connection carry the same, so an offline of an
    earlier connection than the agent's latest online is the replay of an old will."""

    v: Literal[1] = 1
    agent_id: WireId
    site: WireId
    online: bool
    at: Timestamp | None = None
    epoch: WireId | None = None
    connection: StrictSeq | None = None
    sig: Signature | None = None


@dataclass(config=_STRICT, frozen=True, slots=True, kw_only=True)
class Observation(Status):
    """A status as one JSONL line: the record plus the agent that observed it."""

    agent_id: WireId


def status_topic(site: str, agent_id: str) -> str:
    return f"{TOPIC_ROOT}/{site}/{agent_id}/status"


def alive_topic(site: str, agent_id: str) -> str:
    return f"{TOPIC_ROOT}/{site}/{agent_id}/alive"


def ack_topic(site: str, agent_id: str) -> str:
    return f"{TOPIC_ROOT}/{site}/{agent_id}/ack"


def parse_topic(topic: str) -> tuple[str, str, str]:
    """Split ``slawatch/v1/<site>/<agent>/<leaf>``; raise WireError for anything else."""
    parts = topic.split("/")
    if len(parts) != 5 or "/".join(parts[:2]) != TOPIC_ROOT or parts[4] not in ("status", "alive"):
        raise WireError("topic", f"not a slawatch v1 status or alive topic: {topic[:200]!r}")
    return parts[2], parts[3], parts[4]


def _field_name(loc: tuple[int | str, ...]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "(payload)"


_T = TypeVar("_T")
_BATCH = TypeAdapter(Batch)
_ALIVE = TypeAdapter(Alive)
_ACK = TypeAdapter(Ack)
_OBSERVATION = TypeAdapter(Observation)


def _decode(adapter: TypeAdapter[_T], payload: bytes | str, limit: int) -> _T:
    if len(payload) > limit:
        raise WireError("(payload)", f"{len(payload)} bytes exceeds the limit of {limit}")
    try:
        return adapter.validate_json(payload)
    except ValidationError as exc:
        first = next(e for e in exc.errors(include_url=False) if e["loc"][-1:] != (_AS_SENT,))
        loc = first["loc"][:-1] if first["loc"][-1:] == (_ANY_FORM,) else first["loc"]
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "literal_error" and loc == ("v",):
            message = f"unsupported schema version (this build reads {SCHEMA_VERSION})"
        field = "(payload)" if first["type"] == "json_invalid" else _field_name(loc)
        raise WireError(field, message) from None


def _absent(batch: Batch) -> set[str]:
    """Optional fields left out when empty: a batch without a load report reads as it did
    before the field existed (an older collector takes it)."""
    return {"load"} if batch.load is None else set()


def encode_batch(batch: Batch) -> bytes:
    return batch.model_dump_json(exclude=_absent(batch)).encode()


_SENT_AT = b',"sent_at":"'
_SIG = b',"sig":"'


def encode_unsent(batch: Batch) -> bytes:
    """The batch as the outbox keeps it: without its send time, clock state or signature."""
    return batch.model_dump_json(exclude={"sent_at", "clock", "sig", *_absent(batch)}).encode()


def stamp(body: bytes, sent_at: datetime, clock: ClockState) -> bytes:
    """An outbox batch with its send time and clock state added (last, before a signature).

    A batch the outbox kept before send times were added at sending has its own:
    written again without it."""
    if b'"sent_at":' in body[: body.find(b'"statuses":')]:
        body = encode_unsent(decode_batch(body))
    return body[:-1] + b'%s%s","clock":"%s"}' % (
        _SENT_AT,
        format_timestamp(sent_at).encode(),
        clock.value.encode(),
    )


def content_digest(payload: bytes) -> str:
    """SHA-256 of what a batch says, without its send time and signature: a batch sent
    again has the same digest, another batch under the same seq does not."""
    end = payload.rfind(_SENT_AT)
    return hashlib.sha256(payload[:end] if end > 0 else payload).hexdigest()


def sign(payload: bytes, key: Ed25519PrivateKey) -> bytes:
    """The message with its signature added as the last field."""
    if not payload.endswith(b"}"):
        raise ValueError("only a JSON object is signed")
    signature = base64.b64encode(key.sign(payload))
    return payload[:-1] + _SIG + signature + b'"}'


def signed_by(payload: bytes, public: Ed25519PublicKey) -> bool:
    """Whether the message carries a signature made by ``public``'s private key over all
    of it but the signature itself."""
    start = payload.rfind(_SIG)
    if start < 0 or not payload.endswith(b'"}'):
        return False
    try:
        signature = base64.b64decode(payload[start + len(_SIG) : -2], validate=True)
        public.verify(signature, payload[:start] + b"}")
    except (binascii.Error, InvalidSignature):
        return False
    return True


def decode_batch(payload: bytes | str) -> Batch:
    result = _decode(_BATCH, payload, MAX_PAYLOAD_BYTES)
    _check_reasons(result.statuses, "statuses[{n}]")
    return result


def encode_alive(alive: Alive) -> bytes:
    return alive.model_dump_json().encode()


def decode_alive(payload: bytes | str) -> Alive:
    return _decode(_ALIVE, payload, MAX_RECORD_BYTES)


def encode_ack(ack: Ack) -> bytes:
    return ack.model_dump_json().encode()


def decode_ack(payload: bytes | str) -> Ack:
    return _decode(_ACK, payload, MAX_PAYLOAD_BYTES)


def observations_of(batch: Batch) -> Iterator[Observation]:
    for status in batch.statuses:
        yield Observation(agent_id=batch.agent_id, **asdict(status))


def encode_observation(observation: Observation) -> str:
    """One JSONL line, without the newline."""
    return _OBSERVATION.dump_json(observation).decode()


def decode_observation(line: str | bytes) -> Observation:
    result = _decode(_OBSERVATION, line, MAX_RECORD_BYTES)
    _check_reasons([result], "(payload)")
    return result


def read_observations(lines: Iterable[str | bytes]) -> Iterator[Observation]:
    """Decode a JSONL stream; a bad line raises WireError naming its line number."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield decode_observation(line)
        except WireError as exc:
            raise WireError(f"line {number}: {exc.field}", exc.message) from None
