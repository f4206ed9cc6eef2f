"""End-to-end delivery: every batch an agent writes reaches the ledger, or its loss is on record.

Real mosquitto (killed with -9 where the scenario says so), the collector, and the agent's
own outbox and publisher. Each gap in an agent's sequence is reported (log, counter,
ledger row) and filled from the agent's outbox, which keeps every batch until the
collector's retained ack covers it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.wire import (
    Alive,
    Health,
    Reason,
    ack_topic,
    alive_topic,
    encode_alive,
    sign,
)
from collector.ingest.consumer import COMMAND_TOPIC, DEADLETTER_TOPIC
from collector.web.metrics import exposition
from simulator.local_servers import Mosquitto, free_port
from tests import reliability
from tests.agent_keys import agent_key, signing_by_test_key
from tests.collector.live import (
    API_TOKEN,
    SITE,
    EdgeAgent,
    FakeAgent,
    load_collector,
    running,
    write_settings,
)
from tests.collector.test_service import minute_of, states
from tests.conftest import wait_for
from tests.reliability import Stopwatch


def rows(collector: Any, kind: str) -> list[dict[str, Any]]:
    return [row.body for row in collector.ledger.rows((kind,))]


async def test_a_reinstalled_agent_is_a_new_sequence_not_a_run_of_duplicates(
    tmp_path: Path, broker: Mosquitto
) -> None:
    before = FakeAgent(broker.port, epoch="install-1")
    after = FakeAgent(broker.port, epoch="install-2")  # outbox deleted: seq starts at 0
    async with running(load_collector(write_settings(tmp_path, broker.port))) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await before.publish(*(before.batch(minute_of(m)) for m in range(5)))
        await after.publish(*(after.batch(minute_of(m)) for m in range(5, 8)))
        await wait_for(lambda: collector.counters.batches == 8)
        assert collector.counters.duplicates == 0


async def test_a_forged_seq_far_ahead_is_refused_and_the_real_batches_go_on(
    tmp_path: Path, broker: Mosquitto, listen: Callable[[int, str], Any]
) -> None:
    letters = await listen(broker.port, DEADLETTER_TOPIC)
    agent = FakeAgent(broker.port, epoch="e1")
    async with running(load_collector(write_settings(tmp_path, broker.port))) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(agent.batch(minute_of(0)), agent.batch(minute_of(1), seq=2**62))
        await agent.publish(*(agent.batch(minute_of(m)) for m in range(1, 4)))
        await wait_for(lambda: collector.counters.batches == 4)
        await wait_for(lambda: len(letters.payloads) == 1)
    assert letters.payloads[0]["reason"].startswith("seq:")
    assert collector.counters.duplicates == 0


async def test_a_gap_is_reported_then_filled_and_the_ack_says_what_is_in(
    tmp_path: Path, broker: Mosquitto, listen: Callable[[int, str], Any]
) -> None:
    acks = await listen(broker.port, ack_topic(SITE, "edge-1"))
    agent = FakeAgent(broker.port, epoch="e1")
    batches = [agent.batch(minute_of(m)) for m in range(5)]
    async with running(load_collector(write_settings(tmp_path, broker.port))) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(*batches[:2], *batches[3:])  # batch 2 lost on the way
        await wait_for(lambda: collector.counters.batches == 4)
        assert rows(collector, "gap") == [
            {"agent_id": "edge-1", "epoch": "e1", "first": 2, "last": 2}
        ]
        assert collector.receipts.gaps_opened == 1
        assert collector.status()["open_gaps"] == {"edge-1/e1": [(2, 2)]}
        assert 'slawatch_collector_batches_awaited{sequence="edge-1/e1"} 1.0' in (
            exposition(collector, None).decode()
        )
        await wait_for(lambda: bool(acks.payloads) and acks.payloads[-1]["above"] == [3, 4])
        assert acks.payloads[-1]["through"] == 1
        await agent.publish(batches[2])  # the agent sends it again (not confirmed)
        await wait_for(lambda: collector.counters.batches == 5)
        assert rows(collector, "gap_filled") == [
            {"agent_id": "edge-1", "epoch": "e1", "first": 2, "last": 2}
        ]
        await wait_for(lambda: acks.payloads[-1]["through"] == 4)
        assert collector.receipts.open_gaps() == {}


async def test_batches_the_agent_had_to_drop_are_on_record_as_lost(
    tmp_path: Path, broker: Mosquitto
) -> None:
    agent = FakeAgent(broker.port, epoch="e1")
    first = [agent.batch(minute_of(m)) for m in range(2)]
    # Batches 2-4 were dropped from a full outbox; batch 5 says so.
    named = agent.batch(minute_of(5), seq=5, lost=[(2, 4)])
    async with running(load_collector(write_settings(tmp_path, broker.port))) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(*first, named)
        await wait_for(lambda: collector.counters.batches == 3)
        assert rows(collector, "gap_lost") == [
            {"agent_id": "edge-1", "epoch": "e1", "first": 2, "last": 4}
        ]
        assert collector.receipts.ack("edge-1", "e1").through == 5
        assert collector.receipts.batches_lost == 3


@pytest.mark.stdlib_loop
async def test_collector_stopped_then_broker_killed_loses_nothing(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """Issue 16's first case: the broker had the batches, the collector did not, the broker
    died with -9. The agent still had them (unconfirmed) and sent them again."""
    agent = EdgeAgent(tmp_path, broker.port, resend_after=1.0)
    outbox = agent.outbox
    settings = write_settings(tmp_path, broker.port, signing=signing_by_test_key(tmp_path))
    async with agent.running():
        async with running(load_collector(settings)) as collector:
            await wait_for(lambda: collector.ingest.connected)
            for minute in range(10):
                agent.poll(minute_of(minute))
            await wait_for(lambda: outbox.depth == 0)  # confirmed by the collector
        for minute in range(10, 20):  # the collector is down: the broker queues these
            agent.poll(minute_of(minute))
        await wait_for(lambda: agent.publisher.published >= 20)
        assert outbox.depth == 10  # sent to the broker, not confirmed
        await asyncio.sleep(0.3)
        broker.kill()
        broker.start()
        back = Stopwatch()
        async with running(load_collector(settings)) as collector:
            await wait_for(lambda: outbox.depth == 0, 30)
            recovered_s = back.seconds()
            assert collector.receipts.ack("edge-1", outbox.epoch).through == 19
            taken_before = 10
            assert collector.counters.batches == 20 - taken_before
            assert collector.receipts.open_gaps() == {}
            arrived = taken_before + collector.counters.batches
            reliability.record(
                "collector-down-broker-killed",
                unit="batches",
                sent=20,
                arrived=arrived,
                duplicates_dropped=collector.counters.duplicates,
                recovered_s=recovered_s,
            )


async def test_a_configured_client_id_is_a_prefix_so_alerts_never_take_over_ingest(
    tmp_path: Path, broker: Mosquitto, listen: Callable[[int, str], Any]
) -> None:
    alerts = await listen(broker.port, "slawatch/v1/alerts/#")
    settings = write_settings(tmp_path, broker.port)
    text = settings.read_text(encoding="utf-8").replace(
        '"broker": {', '"broker": {"client_id": "bureau-7", '
    )
    settings.write_text(text, encoding="utf-8")
    agent = FakeAgent(broker.port, epoch="e1")
    down = frozenset({"CAM041"})
    async with running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(
            *(agent.batch(minute_of(m, down if m >= 1 else frozenset())) for m in range(6))
        )
        await wait_for(lambda: len(alerts.payloads) == 1)  # the alert connection is up too
        await agent.publish(*(agent.batch(minute_of(m)) for m in range(6, 30)))
        await wait_for(lambda: collector.counters.batches == 30)
    assert collector.receipts.open_gaps() == {}


async def test_acks_by_mqtt_never_leak_the_token_and_a_bad_one_never_stops_a_restart(
    tmp_path: Path,
    broker: Mosquitto,
    listen: Callable[[int, str], Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    letters = await listen(broker.port, DEADLETTER_TOPIC)
    settings = write_settings(tmp_path, broker.port, api_port=free_port())  # the token's home
    agent = FakeAgent(broker.port, epoch="e1")
    good = {"by": "李工", "token": API_TOKEN}
    async with running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(
            *(
                agent.batch(minute_of(m, frozenset({"CAM041"}) if m else frozenset()))
                for m in range(4)
            )
        )
        await wait_for(lambda: bool(list(collector.pipeline.faults.open_tickets())))
        [ticket] = list(collector.pipeline.faults.open_tickets())
        await agent.publish(
            json.dumps(good | {"ticket_id": "F-NO-SUCH-TICKET"}).encode(),  # unknown ticket
            json.dumps(good | {"ticket_id": ticket.id, "device_id": "CAM041"}).encode(),  # both
            json.dumps(good | {"ticket_id": ticket.id}).encode(),
            json.dumps(good | {"ticket_id": ticket.id}).encode(),  # again: idempotent
            topic=COMMAND_TOPIC,
        )
        await wait_for(lambda: len(letters.payloads) == 2)
        await wait_for(lambda: collector.counters.acknowledgements == 1)
        await asyncio.sleep(0.3)
        acknowledged = [r for r in rows(collector, "ticket") if r.get("event") == "acknowledged"]
    assert len(acknowledged) == 1
    assert API_TOKEN not in json.dumps(letters.payloads, ensure_ascii=False)
    assert API_TOKEN not in caplog.text
    # A restart re-runs the journal: the refused acks were never in it.
    async with running(load_collector(settings)) as again:
        assert again.pipeline.faults.tickets[ticket.id].acknowledged_by == "李工"


async def test_bad_input_cannot_grow_the_reason_counters(tmp_path: Path, broker: Mosquitto) -> None:
    agent = FakeAgent(broker.port, epoch="e1")
    bad = [
        json.dumps(
            {
                "v": 1,
                "agent_id": "edge-1",
                "site": SITE,
                "seq": n,
                "sent_at": "x",
                "statuses": [{"device_id": "CAM001"}] * (n + 1),
            }
        ).encode()
        for n in range(200)
    ]
    async with running(load_collector(write_settings(tmp_path, broker.port))) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(*bad)
        await wait_for(lambda: collector.counters.dead_letters == 200)
    assert len(collector.counters.reasons) <= 64


async def test_an_observation_from_2099_is_refused_and_the_watermark_stays(
    tmp_path: Path, broker: Mosquitto, listen: Callable[[int, str], Any]
) -> None:
    letters = await listen(broker.port, DEADLETTER_TOPIC)
    agent = FakeAgent(broker.port, epoch="e1")
    future = [replace(s, observed_at=datetime(2099, 1, 1, tzinfo=UTC)) for s in minute_of(0)]
    async with running(load_collector(write_settings(tmp_path, broker.port))) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(
            agent.batch(minute_of(0)), agent.batch(future), agent.batch(minute_of(1))
        )
        await wait_for(lambda: collector.counters.batches == 3)
        await wait_for(lambda: len(letters.payloads) == 1)
        watermark = collector.pipeline.watermark
    assert watermark is not None
    assert watermark.year == 2026
    assert "ahead of the collector's clock" in letters.payloads[0]["reason"]
    assert collector.counters.clock_refused == len(future)
    assert not list(collector.pipeline.faults.open_tickets())


async def test_an_observation_older_than_the_late_data_bound_is_refused(
    tmp_path: Path, broker: Mosquitto, listen: Callable[[int, str], Any]
) -> None:
    letters = await listen(broker.port, DEADLETTER_TOPIC)
    agent = FakeAgent(broker.port, epoch="e1")
    ancient = [replace(s, observed_at=datetime(2020, 1, 1, tzinfo=UTC)) for s in minute_of(0)]
    async with running(load_collector(write_settings(tmp_path, broker.port))) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(agent.batch(minute_of(1)), agent.batch(ancient))
        await wait_for(lambda: collector.counters.batches == 2)
        await wait_for(lambda: len(letters.payloads) == 1)
    assert "older than the late-data bound" in letters.payloads[0]["reason"]


async def test_a_status_for_another_sites_device_is_refused(
    tmp_path: Path, broker: Mosquitto, listen: Callable[[int, str], Any]
) -> None:
    letters = await listen(broker.port, DEADLETTER_TOPIC)
    settings = write_settings(tmp_path, broker.port)
    district = tmp_path / "district.yaml"
    data = yaml.safe_load(district.read_text(encoding="utf-8"))
    data["sites"].append({"id": "d2", "name": "邻区"})
    neighbour = yaml.safe_load(
        "{id: CAM900, name: 邻区点位, kind: camera, site: d2, address: 10.9.0.1, "
        "onvif: {port: 80}, region: R1, service_start: 2026-01-01, uplink: {link: L2}}"
    )
    data["devices"].append(neighbour)
    district.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    agent = FakeAgent(broker.port, epoch="e1")  # an agent of site d1
    foreign = replace(
        minute_of(0)[0], device_id="CAM900", health=Health.DOWN, reason=Reason.TIMEOUT
    )
    async with running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(agent.batch([*minute_of(0), foreign]))
        await wait_for(lambda: len(letters.payloads) == 1)
        assert collector.pipeline.states.state_of("CAM900").value == "unknown"
    assert "CAM900 belongs to site d2, not d1" in letters.payloads[0]["reason"]


async def test_a_retained_offline_message_does_not_blank_the_fleet(
    tmp_path: Path, broker: Mosquitto
) -> None:
    agent = FakeAgent(broker.port, epoch="e1")
    offline = encode_alive(Alive(agent_id="edge-1", site=SITE, online=False))
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="prankster") as prankster:
        await prankster.publish(alive_topic(SITE, "edge-1"), offline, qos=1, retain=True)
    async with running(load_collector(write_settings(tmp_path, broker.port))) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(*(agent.batch(minute_of(m)) for m in range(3)))
        await wait_for(lambda: collector.counters.batches == 3)
        await asyncio.sleep(0.3)
        assert collector.counters.agents_lost == 0
        assert collector.pipeline.states.state_of("CAM001").value == "up"


# Payloads a hostile or broken publisher might send on an agent's topic: bytes, JSON of any
# shape, and batches that are almost right (the fields a real one has, values mutated).
NEAR_BATCH = st.fixed_dictionaries(
    {
        "v": st.sampled_from([1, 2, "1", None]),
        "agent_id": st.sampled_from(["edge-1", "edge-2", "", "x" * 300]),
        "site": st.sampled_from([SITE, "d2", 7]),
        "seq": st.one_of(st.integers(-5, 2**64), st.text(max_size=5)),
        "sent_at": st.sampled_from(["2026-07-01T00:00:00.000Z", "yesterday", 0]),
        "statuses": st.lists(
            st.fixed_dictionaries(
                {
                    "device_id": st.sampled_from(["CAM001", "CAM999", "", "../x"]),
                    "observed_at": st.sampled_from(
                        ["2026-07-01T00:01:00.000Z", "2099-01-01T00:00:00.000Z", "now"]
                    ),
                    "health": st.sampled_from(["up", "down", "degraded", "sideways"]),
                    "reason": st.sampled_from(["ok", "timeout", "gremlins"]),
                }
            ),
            max_size=4,
        ),
    }
)
PAYLOADS = st.one_of(
    st.binary(max_size=200),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=10,
    ).map(lambda value: json.dumps(value).encode()),
    NEAR_BATCH.map(lambda value: json.dumps(value).encode()),
)


def test_fuzzed_payloads_never_stop_the_collector(tmp_path: Path) -> None:
    """10,000 hostile payloads taken in-process (no broker needed to prove the parser and
    the pipeline hold), in groups of 64 as the consumer hands them over (one commit a
    group): each is taken or a dead letter, nothing raises, and a real batch taken
    afterwards lands."""
    collector = load_collector(write_settings(tmp_path, 1883))
    topic = f"slawatch/v1/{SITE}/edge-1/status"
    key = agent_key("edge-1")
    taken = 0

    @settings(max_examples=157, deadline=None, database=None, derandomize=True)
    @given(payloads=st.lists(PAYLOADS, min_size=64, max_size=64))
    def take(payloads: list[bytes]) -> None:
        nonlocal taken
        # Those signed by the agent reach its parser and pipeline.
        signed = [sign(p, key) if p.endswith(b"}") else p for p in payloads]
        collector.take([aiomqtt.Message(topic, p, 1, False, 1, None) for p in signed])
        taken += len(payloads)

    try:
        take()
        agent = FakeAgent(0, epoch="after-the-storm")
        real = agent.batch(minute_of(2))  # later than any time the fuzz can send (00:01)
        taken_before = collector.counters.statuses
        result = collector.take([aiomqtt.Message(topic, agent.signed(real), 1, False, 1, None)])
        assert result.letters == []
        assert collector.pipeline.states.state_of("CAM001").value == "up"
        assert len(collector.counters.reasons) <= 64
        reliability.record(
            "fuzzed-messages",
            unit="statuses",
            sent=len(real.statuses),
            arrived=collector.counters.statuses - taken_before,
            recovered_s=0.0,
        )
    finally:
        collector.close()
    assert taken == 157 * 64 >= 10_000


async def test_a_span_whose_batches_are_lost_is_unknown_not_silently_up(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """Batches 3-9 (minutes 3-9) were dropped by the agent: its devices vouched by minute 2's
    observations for stale_after (5 min), then are unknown until minute 10's return."""
    agent = FakeAgent(broker.port, epoch="e1")
    before = [agent.batch(minute_of(m)) for m in range(3)]
    after = agent.batch(minute_of(10), seq=10, lost=[(3, 9)])
    async with running(load_collector(write_settings(tmp_path, broker.port))) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(*before, after)
        await wait_for(lambda: collector.counters.batches == 4)
        history = states(collector, "CAM001")
        lost = rows(collector, "gap_lost")
    assert lost == [{"agent_id": "edge-1", "epoch": "e1", "first": 3, "last": 9}]
    assert history[-2:] == [
        ("unknown", "2026-07-01T00:07:00.000Z"),  # minute 2 + stale_after
        ("up", "2026-07-01T00:10:00.000Z"),
    ]


@pytest.mark.stdlib_loop
async def test_an_agent_killed_restarted_and_reinstalled_loses_nothing(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """The agent dies with batches written but unsent; it restarts on the same outbox (same
    epoch, seq goes on), later it is reinstalled (new outbox: a new epoch from 0)."""
    settings = write_settings(tmp_path, broker.port, signing=signing_by_test_key(tmp_path))

    def poll(agent: EdgeAgent, minutes: range) -> None:
        for minute in minutes:
            agent.poll(minute_of(minute))

    async with running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        first = EdgeAgent(tmp_path, broker.port, resend_after=1.0)
        async with first.running():
            poll(first, range(5))
            await wait_for(lambda: first.outbox.depth == 0)
        # The agent polls on, then is killed before publishing.
        poll(EdgeAgent(tmp_path, broker.port, outbox=first.outbox), range(5, 8))
        first.outbox.close()

        back = Stopwatch()
        restarted = EdgeAgent(tmp_path, broker.port, resend_after=1.0)
        assert restarted.outbox.epoch == first.outbox.epoch
        async with restarted.running():
            poll(restarted, range(8, 10))
            await wait_for(lambda: restarted.outbox.depth == 0)
            recovered_s = back.seconds()
        restarted.outbox.close()

        reinstalled = EdgeAgent(tmp_path / "reinstalled", broker.port, resend_after=1.0)
        async with reinstalled.running():
            poll(reinstalled, range(10, 13))
            await wait_for(lambda: reinstalled.outbox.depth == 0)
        reinstalled.outbox.close()
        assert collector.counters.batches == 13
        assert collector.counters.duplicates == 0
        assert collector.receipts.open_gaps() == {}
    reliability.record(
        "agent-restart",
        unit="batches",
        sent=13,
        arrived=collector.counters.batches,
        recovered_s=recovered_s,
    )
