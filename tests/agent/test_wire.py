"""The wire contract: what an agent sends is exactly what a collector reads, and nothing else."""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from agent.wire import (
    MAX_PAYLOAD_BYTES,
    AgentLoad,
    Alive,
    Batch,
    ClockState,
    Health,
    Observation,
    Reason,
    Status,
    WireError,
    agent_status,
    alive_topic,
    content_digest,
    decode_alive,
    decode_batch,
    decode_observation,
    encode_alive,
    encode_batch,
    encode_observation,
    encode_unsent,
    observations_of,
    parse_topic,
    read_observations,
    sign,
    signed_by,
    stamp,
    status_topic,
)
from slawatch.messages import reason_text
from tests.conftest import REPO

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,20}", fullmatch=True)
names = st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.replace(microsecond=moment.microsecond // 1000 * 1000))


@st.composite
def statuses(draw: st.DrawFn) -> Status:
    health = draw(st.sampled_from(Health))
    reasons = list(Reason) if health is Health.UP else [r for r in Reason if r is not Reason.OK]
    return Status(
        device_id=draw(ids),
        observed_at=draw(moments),
        health=health,
        reason=draw(st.sampled_from(reasons)),
        checks=draw(st.dictionaries(names, st.sampled_from(Reason), max_size=4)),
        metrics=draw(
            st.dictionaries(names, st.floats(allow_nan=False, allow_infinity=False), max_size=4)
        ),
    )


batches = st.builds(
    Batch,
    agent_id=ids,
    site=ids,
    seq=st.integers(min_value=0, max_value=2**63 - 1),
    sent_at=moments,
    statuses=st.lists(statuses(), max_size=8),
)


@given(
    device_id=st.one_of(ids, st.text(max_size=6)),
    observed_at=st.one_of(moments, st.datetimes(timezones=st.just(UTC))),
    checks=st.dictionaries(st.one_of(names, st.text(max_size=4)), st.sampled_from(Reason)),
    metrics=st.dictionaries(
        st.one_of(names, st.text(max_size=4)), st.one_of(st.floats(), st.integers(-9, 9))
    ),
)
def test_the_agents_own_status_is_the_validated_one_or_refused_alike(
    device_id: str,
    observed_at: datetime,
    checks: dict[str, Reason],
    metrics: dict[str, float],
) -> None:
    """``agent_status`` skips pydantic for fields it has seen pass: whatever the fields,
    it builds what ``Status(...)`` builds (the same bytes on the wire) or refuses alike,
    the first time (through the validator) and again (past it, the names now seen)."""
    fields = {
        "device_id": device_id,
        "observed_at": observed_at,
        "health": Health.DEGRADED,
        "reason": Reason.TIMEOUT,
        "checks": checks,
        "metrics": metrics,
    }
    try:
        expected = Status(**fields)  # type: ignore[arg-type]
    except ValidationError:
        for _ in range(2):
            with pytest.raises(ValidationError):
                agent_status(**fields)  # type: ignore[arg-type]
        return
    for _ in range(2):
        built = agent_status(**fields)  # type: ignore[arg-type]
        assert built == expected
        batch = {"agent_id": "a", "site": "s", "seq": 0, "sent_at": observed_at}
        assert encode_unsent(Batch(**batch, statuses=[built])) == encode_unsent(
            Batch(**batch, statuses=[expected])
        )


@given(batches)
def test_a_batch_survives_the_round_trip(batch: Batch) -> None:
    assert decode_batch(encode_batch(batch)) == batch


@given(statuses(), ids)
def test_an_observation_survives_the_jsonl_round_trip(status: Status, agent_id: str) -> None:
    observation = Observation(agent_id=agent_id, **asdict(status))
    line = encode_observation(observation)
    assert "\n" not in line
    assert decode_observation(line) == observation


@given(st.binary(max_size=512))
def test_garbage_bytes_only_ever_raise_the_typed_error(payload: bytes) -> None:
    with contextlib.suppress(WireError):
        decode_batch(payload)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
    )
)
def test_garbage_json_only_ever_raises_the_typed_error(value: object) -> None:
    for decode in (decode_batch, decode_alive, decode_observation):
        with contextlib.suppress(WireError):
            decode(json.dumps(value))


def sample_batch(**changes: object) -> dict[str, object]:
    batch: dict[str, object] = {
        "v": 1,
        "agent_id": "edge-01",
        "site": "demo",
        "seq": 41,
        "sent_at": "2026-07-01T02:00:01.000Z",
        "statuses": [
            {
                "device_id": "CAM001",
                "observed_at": "2026-07-01T02:00:00.250Z",
                "health": "down",
                "reason": "timeout",
                "checks": {"liveness": "timeout"},
                "metrics": {"rtt_ms": 3000.0},
            }
        ],
    }
    batch.update(changes)
    return batch


def test_a_known_payload_decodes_to_event_time_in_utc() -> None:
    batch = decode_batch(json.dumps(sample_batch()))
    status = batch.statuses[0]
    assert status.observed_at == datetime(2026, 7, 1, 2, 0, 0, 250_000, tzinfo=UTC)
    assert status.health is Health.DOWN
    assert status.reason is Reason.TIMEOUT
    assert b'"observed_at":"2026-07-01T02:00:00.250Z"' in encode_batch(batch)


def test_a_received_local_time_is_converted_to_utc_and_cut_to_milliseconds() -> None:
    local = {**sample_batch()["statuses"][0], "observed_at": "2026-07-01T10:00:00.123456+08:00"}  # type: ignore[index]
    [status] = decode_batch(json.dumps(sample_batch(statuses=[local]))).statuses
    assert status.observed_at == datetime(2026, 7, 1, 2, 0, 0, 123_000, tzinfo=UTC)
    assert status.observed_at.tzinfo is UTC
    as_sent = decode_batch(json.dumps(sample_batch())).statuses[0].observed_at
    assert as_sent.tzinfo is UTC  # the wire's own form: the same zone object, no conversion


def test_local_time_is_converted_to_utc_and_cut_to_milliseconds() -> None:
    shanghai = timezone(timedelta(hours=8))
    status = Status(
        device_id="CAM001",
        observed_at=datetime(2026, 7, 1, 10, 0, 0, 123_456, tzinfo=shanghai),
        health=Health.UP,
        reason=Reason.OK,
    )
    assert status.observed_at == datetime(2026, 7, 1, 2, 0, 0, 123_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        (sample_batch(v=2), "v", "unsupported schema version"),
        (sample_batch(seq=-1), "seq", "greater than or equal to 0"),
        (sample_batch(agent_id="edge/01"), "agent_id", "should match pattern"),
        (sample_batch(extra=1), "extra", "Extra inputs are not permitted"),
        (
            sample_batch(statuses=[{**sample_batch()["statuses"][0], "health": "sideways"}]),  # type: ignore[index]
            "statuses[0].health",
            "Input should be 'up', 'degraded' or 'down'",
        ),
        (
            sample_batch(
                statuses=[{**sample_batch()["statuses"][0], "observed_at": "2026-07-01T02:00:00"}]  # type: ignore[index]
            ),
            "statuses[0].observed_at",
            "time zone",
        ),
        (
            sample_batch(statuses=[{**sample_batch()["statuses"][0], "observed_at": "yesterday"}]),  # type: ignore[index]
            "statuses[0].observed_at",
            "expected an ISO 8601 timestamp",
        ),
        (
            sample_batch(
                statuses=[
                    {**sample_batch()["statuses"][0], "observed_at": "2026-02-30T02:00:00.000Z"}  # type: ignore[index]
                ]
            ),
            "statuses[0].observed_at",
            "expected an ISO 8601 timestamp",
        ),
        (
            sample_batch(sent_at="2026-07-01 02:00"),
            "sent_at",
            "time zone",
        ),
        (
            sample_batch(statuses=[{**sample_batch()["statuses"][0], "observed_at": 1782864000}]),  # type: ignore[index]
            "statuses[0].observed_at",
            "expected an ISO 8601 timestamp",
        ),
        (
            sample_batch(statuses=[{**sample_batch()["statuses"][0], "reason": "ok"}]),  # type: ignore[index]
            "statuses[0]",
            "a down status needs a reason other than ok",
        ),
    ],
)
def test_bad_fields_are_named(payload: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(WireError) as caught:
        decode_batch(json.dumps(payload))
    assert caught.value.field == field
    assert message in caught.value.message


def test_infinite_metrics_are_refused() -> None:
    text = json.dumps(sample_batch()).replace("3000.0", "1e999")
    with pytest.raises(WireError) as caught:
        decode_batch(text)
    assert caught.value.field == "statuses[0].metrics.rtt_ms"


def test_oversize_payloads_are_refused_before_parsing() -> None:
    with pytest.raises(WireError, match="exceeds the limit"):
        decode_batch(b" " * (MAX_PAYLOAD_BYTES + 1))


def test_topics_and_alive_messages() -> None:
    assert status_topic("demo", "edge-01") == "slawatch/v1/demo/edge-01/status"
    assert parse_topic(alive_topic("demo", "edge-01")) == ("demo", "edge-01", "alive")
    with pytest.raises(WireError):
        parse_topic("slawatch/v1/demo/edge-01/status/extra")
    alive = Alive(agent_id="edge-01", site="demo", online=False)
    assert decode_alive(encode_alive(alive)) == alive


def test_a_batch_becomes_jsonl_observations_and_a_bad_line_is_named() -> None:
    batch = decode_batch(json.dumps(sample_batch()))
    lines = [encode_observation(observation) for observation in observations_of(batch)]
    assert [o.agent_id for o in read_observations(lines)] == ["edge-01"]
    with pytest.raises(WireError) as caught:
        list(read_observations([*lines, "", '{"device_id": "X"}']))
    assert caught.value.field.startswith("line 3:")
    silent_failure = lines[0].replace('"reason":"timeout"', '"reason":"ok"')
    assert silent_failure != lines[0]
    with pytest.raises(WireError) as caught:
        list(read_observations([*lines, silent_failure]))
    assert caught.value.field == "line 2: (payload)"
    assert caught.value.message == "a down status needs a reason other than ok"


def test_every_reason_has_words_in_both_languages_and_is_in_the_wire_docs() -> None:
    documented = (REPO / "docs" / "wire.md").read_text(encoding="utf-8")
    for reason in Reason:
        for language in ("zh", "en"):
            assert reason_text(reason.value, language) != f"reason.{reason.value}", reason
        assert f"`{reason.value}`" in documented, reason


def test_host_reachable_snmp_silent_is_a_degraded_status_a_collector_reads() -> None:
    status = {
        "device_id": "KK00002",
        "observed_at": "2026-07-01T02:00:00.250Z",
        "health": "degraded",
        "reason": "snmp_silent",
        "checks": {"liveness": "snmp_silent"},
    }
    batch = decode_batch(json.dumps(sample_batch(statuses=[status])))
    assert (batch.statuses[0].health, batch.statuses[0].reason) == (
        Health.DEGRADED,
        Reason.SNMP_SILENT,
    )


def test_an_agents_load_report_is_signed_with_its_batch_and_absent_when_not_given() -> None:
    """The load travels in the body the outbox keeps, before the send time: the signature
    and the content digest cover it, so a forged "agent overloaded" (or a hidden one) is
    refused; a batch without it encodes as before the field existed."""
    key = Ed25519PrivateKey.generate()
    at = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
    load = AgentLoad(
        at=at, window_s=60, overloaded=True, stalled_results=12, late=3, missed=1, lag_max_s=0.5
    )
    batch = Batch(agent_id="edge-1", site="s1", seq=4, sent_at=at, statuses=[], load=load)
    signed = sign(stamp(encode_unsent(batch), at, ClockState.SYNCHRONISED), key)
    assert decode_batch(signed).load == load
    assert signed_by(signed, key.public_key())
    forged = signed.replace(b'"stalled_results":12', b'"stalled_results":0')
    assert forged != signed
    assert not signed_by(forged, key.public_key())
    assert content_digest(forged) != content_digest(signed)
    plain = batch.model_copy(update={"load": None})
    assert b"load" not in encode_unsent(plain) + encode_batch(plain)
    with pytest.raises(WireError, match=r"load\.stalled_results"):
        decode_batch(encode_batch(batch).replace(b'"stalled_results":12', b'"stalled_results":-1'))
