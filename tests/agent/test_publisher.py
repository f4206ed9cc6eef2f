"""Statuses reach the broker in order, and a broker outage loses none of them."""

from __future__ import annotations

import asyncio
import os
import subprocess  # nosec B404  # this interpreter under libfaketime
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest

from agent.batches import BatchWriter
from agent.outbox import Outbox
from agent.publisher import Publisher
from agent.wire import (
    Ack,
    Batch,
    Health,
    Reason,
    Status,
    ack_topic,
    decode_alive,
    decode_batch,
    encode_ack,
    sign,
)
from simulator.local_servers import Mosquitto
from slawatch.config.settings import BrokerSettings
from tests import reliability
from tests.agent_keys import agent_key, collector_key
from tests.collector.ingest.edge import FAKETIME
from tests.conftest import in_background, wait_for
from tests.reliability import Stopwatch

START = datetime(2026, 7, 1, 2, 0, tzinfo=UTC)
# The agent's own key, and the stand-in collector's whose signed acks it takes.
AGENT_KEY, ACKS_BY = agent_key("edge-01"), collector_key().public_key()

# The stand-in collector below uses aiomqtt, which must not run on uvloop (see agent.publisher).
pytestmark = pytest.mark.stdlib_loop


class Collected:
    def __init__(self, ignore_once: frozenset[int] = frozenset()) -> None:
        self.batches: list[Batch] = []
        self.alive: list[bool] = []
        self.ignore_once = set(ignore_once)  # seqs it "loses" the first time, unconfirmed


async def subscribe_forever(port: int, collected: Collected) -> None:
    """A stand-in collector: a persistent-session QoS 1 subscriber that reconnects whenever
    the broker is back and confirms what it has with a retained ack, as the collector does."""
    while True:
        try:
            async with aiomqtt.Client(
                "127.0.0.1", port, identifier="test-collector", clean_session=False
            ) as client:
                await client.subscribe("slawatch/v1/+/+/status", qos=1)
                await client.subscribe("slawatch/v1/+/+/alive", qos=1)
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    if not str(message.topic).endswith("/status"):
                        collected.alive.append(decode_alive(message.payload).online)
                        continue
                    batch = decode_batch(message.payload)
                    if batch.seq in collected.ignore_once:
                        collected.ignore_once.discard(batch.seq)
                        continue
                    collected.batches.append(batch)
                    have = {b.seq for b in collected.batches if b.epoch == batch.epoch}
                    through = -1
                    while through + 1 in have:
                        through += 1
                    ack = Ack(
                        agent_id=batch.agent_id,
                        epoch=batch.epoch,
                        through=through,
                        above=sorted(s for s in have if s > through),
                    )
                    topic = ack_topic(batch.site, batch.agent_id)
                    signed = sign(encode_ack(ack), collector_key())
                    await client.publish(topic, signed, qos=1, retain=True)
        except aiomqtt.MqttError:
            await asyncio.sleep(0.2)


def status(n: int) -> Status:
    return Status(
        device_id=f"CAM{n % 7:06d}",
        observed_at=START + timedelta(seconds=n),
        health=Health.UP if n % 5 else Health.DOWN,
        reason=Reason.OK if n % 5 else Reason.TIMEOUT,
    )


async def test_a_broker_outage_loses_nothing_and_keeps_order(
    broker: Mosquitto, tmp_path: Path
) -> None:
    collected = Collected()
    outbox = Outbox(tmp_path / "outbox", max_bytes=1 << 26)
    settings = BrokerSettings(port=broker.port)
    publisher = Publisher(
        settings,
        outbox,
        site="demo",
        agent_id="edge-01",
        retry_s=0.1,
        key=AGENT_KEY,
        collector_key=ACKS_BY,
    )
    writer = BatchWriter(
        outbox, site="demo", agent_id="edge-01", on_written=publisher.wake, max_statuses=10
    )
    async with in_background(subscribe_forever(broker.port, collected)):
        await asyncio.sleep(0.3)
        publisher.start()
        try:
            for n in range(300):
                writer.add(status(n))
            await wait_for(lambda: len(collected.batches) == 30)
            await wait_for(lambda: outbox.depth == 0)  # confirmed by the collector

            broker.stop()
            for n in range(300, 1000):  # an outage: 70 batches go to disk only
                writer.add(status(n))
            await asyncio.sleep(0.5)
            assert outbox.depth == 70
            broker.start()
            back = Stopwatch()

            await wait_for(lambda: outbox.depth == 0)
            await wait_for(lambda: len({b.seq for b in collected.batches}) == 100)
            recovered_s = back.seconds()
        finally:
            await asyncio.to_thread(publisher.stop)
        await wait_for(lambda: collected.alive[-1] is False)  # a clean stop says goodbye

    seen: dict[int, Batch] = {}
    for batch in collected.batches:  # a re-sent batch is a duplicate: keep the first
        seen.setdefault(batch.seq, batch)
    assert sorted(seen) == list(range(100))
    first_arrival = [b.seq for b in collected.batches if seen[b.seq] is b]
    assert first_arrival == sorted(first_arrival)  # replayed in order
    statuses = [s for seq in sorted(seen) for s in seen[seq].statuses]
    assert [s.observed_at for s in statuses] == [START + timedelta(seconds=n) for n in range(1000)]
    assert collected.alive[0] is True
    reliability.record(
        "broker-outage",
        unit="statuses",
        sent=1000,
        arrived=len(statuses),
        duplicates_dropped=len(collected.batches) - len(seen),
        recovered_s=recovered_s,
    )


def test_seq_and_epoch_survive_an_agent_restart_but_not_a_reinstall(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox", max_bytes=1 << 20)
    assert [outbox.append("t", lambda seq: str(seq).encode()) for _ in range(3)] == [0, 1, 2]
    assert outbox.confirm(outbox.epoch, 0, []) == 1
    assert outbox.confirm("an-earlier-install", 2, []) == 0  # another sequence's receipt
    epoch = outbox.epoch
    outbox.close()
    reopened = Outbox(tmp_path / "outbox", max_bytes=1 << 20)
    assert reopened.epoch == epoch
    assert reopened.append("t", lambda seq: str(seq).encode()) == 3
    assert [p.seq for p in reopened.pending()] == [1, 2, 3]
    reinstalled = Outbox(tmp_path / "reinstalled", max_bytes=1 << 20)
    assert reinstalled.epoch != epoch
    assert reinstalled.append("t", lambda seq: str(seq).encode()) == 0


async def test_a_batch_the_collector_never_confirms_is_sent_again(
    broker: Mosquitto, tmp_path: Path
) -> None:
    collected = Collected(ignore_once=frozenset({3}))  # lost once between broker and ledger
    outbox = Outbox(tmp_path / "outbox", max_bytes=1 << 26)
    publisher = Publisher(
        BrokerSettings(port=broker.port),
        outbox,
        site="demo",
        agent_id="edge-01",
        retry_s=0.1,
        resend_after=0.5,
        key=AGENT_KEY,
        collector_key=ACKS_BY,
    )
    writer = BatchWriter(
        outbox, site="demo", agent_id="edge-01", on_written=publisher.wake, max_statuses=10
    )
    async with in_background(subscribe_forever(broker.port, collected)):
        await asyncio.sleep(0.3)
        publisher.start()
        try:
            for n in range(60):
                writer.add(status(n))
            await wait_for(lambda: outbox.depth == 0)
        finally:
            await asyncio.to_thread(publisher.stop)
    assert sorted(b.seq for b in collected.batches) == list(range(6))
    assert publisher.published >= 7  # batch 3 went twice


SET_BACK = """
import pathlib, sys, time
from agent.outbox import Outbox
outbox = Outbox(pathlib.Path(sys.argv[1]), max_bytes=1 << 20)
outbox.append("t", lambda seq: b"x")
outbox.mark_sent([p.seq for p in outbox.pending()])
pathlib.Path(sys.argv[2]).write_text("-1h")  # the wall clock is set back an hour
start = time.monotonic()
while time.monotonic() - start < 0.3:  # (time.sleep fails under faketime's real monotonic)
    pass
print([p.seq for p in outbox.pending(resend_after=0.2)])
"""


@pytest.mark.skipif(not FAKETIME.exists(), reason="Debian's faketime is not installed")
def test_a_wall_clock_set_back_an_hour_delays_no_resend(tmp_path: Path) -> None:
    """The resend wait runs on the monotonic clock (libfaketime sets the wall clock back)."""
    clock = tmp_path / "clock"
    clock.write_text("+0", encoding="ascii")
    env = os.environ | {
        "LD_PRELOAD": str(FAKETIME),
        "FAKETIME_TIMESTAMP_FILE": str(clock),
        "FAKETIME_NO_CACHE": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    done = subprocess.run(
        [sys.executable, "-c", SET_BACK, str(tmp_path / "outbox"), str(clock)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "[0]"


def test_a_full_outbox_drops_the_oldest_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(tmp_path, max_bytes=1 << 20)
    for _ in range(5):
        outbox.append("t", lambda seq: bytes(300_000))
    assert outbox.depth == 3
    assert [p.seq for p in outbox.pending()] == [2, 3, 4]
    assert outbox.dropped == 2
    assert "outbox full" in caplog.text
    assert outbox.lost_ranges() == [(0, 1)]  # named in every batch until confirmed past
    outbox.confirm(outbox.epoch, 2, [])
    assert outbox.lost_ranges() == []
