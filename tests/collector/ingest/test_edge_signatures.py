"""Both directions signed, on a real mosquitto without an ACL and a real agent process:
a forged retained ack deletes nothing from the agent's outbox, forged batches on the
agent's next seq, a forged or replayed offline and another site's agent publishing here
are refused, and every status the agent sent is taken; the same (epoch, seq) with other
content is a conflict, never a silent duplicate; a status forged 299 s ahead (inside
the tolerance) never makes the device's real statuses look late."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.wire import (
    Alive,
    Batch,
    Health,
    Reason,
    Status,
    ack_topic,
    alive_topic,
    encode_alive,
    encode_batch,
    encode_unsent,
    sign,
    stamp,
    status_topic,
)
from collector.service import Collector
from simulator.fleet_runner import Fleet
from simulator.local_servers import Mosquitto, free_port
from slawatch.config.inventory import Inventory
from slawatch.keys import load_private
from tests import reliability
from tests.agent_keys import agent_key
from tests.collector.ingest.edge import (
    AGENT_ID,
    SITE,
    AgentProcess,
    at_wrong_times,
    blamed,
    collector_key,
    register_agent,
    wiretap,
)
from tests.collector.live import (
    FakeAgent,
    field_collector,
    field_policy,
    load_collector,
    running,
    write_settings,
)
from tests.collector.test_service import minute_of
from tests.conftest import wait_for
from tests.reliability import Stopwatch

pytestmark = [pytest.mark.stdlib_loop, pytest.mark.timeout(600)]


async def publish(port: int, topic: str, payload: bytes, retain: bool = False) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier="forger") as forger:
        await forger.publish(topic, payload, qos=1, retain=retain)


def forged_batch(epoch: str | None, seq: int, device_id: str, ahead_s: float = 0.0) -> bytes:
    moment = datetime.now(UTC) + timedelta(seconds=ahead_s)
    status = Status(
        device_id=device_id, observed_at=moment, health=Health.DOWN, reason=Reason.TIMEOUT
    )
    batch = Batch(
        agent_id=AGENT_ID, site=SITE, epoch=epoch, seq=seq, sent_at=moment, statuses=[status]
    )
    return stamp(encode_unsent(batch), moment, batch.clock)


def field(tmp_path: Path, broker: Mosquitto) -> tuple[Path, AgentProcess, Path]:
    key = register_agent(tmp_path)
    signing = collector_key(tmp_path)
    policy = field_policy(tmp_path, debounce={"down_after": 1, "up_after": 1, "stale_after": "1h"})
    settings = field_collector(tmp_path, broker.port, policy, signing={"key": str(signing)})
    agent = AgentProcess(tmp_path, broker.port, free_port(), key=key, collector_key=signing)
    return settings, agent, key


def taken_all(collector: Collector, sent: int) -> bool:
    return collector.counters.statuses == sent


async def test_forged_acks_batches_and_offlines_are_refused_and_nothing_is_lost(
    tmp_path: Path, inventory: Inventory, fleet: Fleet, broker: Mosquitto
) -> None:
    settings, agent, key = field(tmp_path, broker)
    device = inventory.devices[0].id
    start = datetime.now(UTC)
    wills: list[bytes] = []
    async with wiretap(broker.port, key) as tap, contextlib.AsyncExitStack() as stack:
        async with running(load_collector(settings)) as collector:
            await wait_for(lambda: collector.ingest.connected)
            await stack.enter_async_context(agent)
            await wait_for(lambda: collector.counters.statuses > 0, 60)
        taken_before = collector.counters.statuses  # by the collector's first run
        # The collector is away; the agent's batches wait in its outbox. A retained forged
        # ack says everything is in: it is not signed by the collector, nothing is deleted.
        await wait_for(lambda: agent.unconfirmed() > 0, 15)
        forged_ack = {"v": 1, "agent_id": AGENT_ID, "epoch": tap.epoch, "through": 10**9}
        await publish(broker.port, ack_topic(SITE, AGENT_ID), json.dumps(forged_ack).encode(), True)
        await wait_for(lambda: tap.last_seq >= 0)
        await asyncio.sleep(2)
        assert await agent.metric("slawatch_agent_acks_refused") >= 1
        waiting = agent.unconfirmed()
        assert waiting > 0
        async with running(load_collector(settings)) as collector:
            back = Stopwatch()
            await wait_for(lambda: agent.unconfirmed() < waiting, 30)  # real acks delete
            recovered_s = back.seconds()
            # Forged batches on the agent's next seq: unsigned, and signed by another key.
            seq = tap.last_seq + 1
            other = Ed25519PrivateKey.generate()
            for payload in (
                forged_batch(tap.epoch, seq, device),
                sign(forged_batch(tap.epoch, seq, device), other),
            ):
                await publish(broker.port, status_topic(SITE, AGENT_ID), payload)
            await wait_for(lambda: collector.counters.unsigned == 2)
            await wait_for(lambda: tap.last_seq > seq, 15)  # the real batch seq went on
            # A live offline nobody signed; another site's agent publishing here; this
            # agent publishing under another site.
            offline = encode_alive(Alive(agent_id=AGENT_ID, site=SITE, online=False))
            await publish(broker.port, alive_topic(SITE, AGENT_ID), offline)
            neighbour = FakeAgent(broker.port, agent_id="edge-n", site=SITE)
            await neighbour.publish(forged_batch(None, 0, device))
            await publish(
                broker.port, status_topic("north", AGENT_ID), forged_batch(None, 0, device)
            )
            await wait_for(lambda: collector.counters.unsigned == 3)
            await wait_for(lambda: collector.counters.dead_letters == 5)
            # The agent dies (its will, signed at connect, fires) and comes back: a replay
            # of that old will is refused; the agent's devices are not blanked by it.
            async with aiomqtt.Client("127.0.0.1", broker.port, identifier="will-tap") as c:
                await c.subscribe(alive_topic(SITE, AGENT_ID), qos=1)
                assert agent.process is not None
                agent.process.send_signal(signal.SIGKILL)
                await agent.process.wait()
                async for message in c.messages:
                    assert isinstance(message.payload, bytes)
                    if b'"online":false' in message.payload and not message.retain:
                        wills.append(message.payload)
                        break
            await wait_for(lambda: collector.counters.agents_lost == 1)
            await agent.start()
            await wait_for(
                lambda: collector.pipeline.states.now_of(device)[0].value != "unknown", 30
            )
            await publish(broker.port, alive_topic(SITE, AGENT_ID), wills[0])
            await wait_for(lambda: collector.counters.offline_refused == 1)
            assert collector.counters.agents_lost == 1
            await asyncio.sleep(2)
            await wait_for(lambda: agent.unconfirmed() == 0, 30)
            left = await agent.stop()
            await wait_for(lambda: taken_all(collector, tap.statuses - taken_before), 15)
            end = datetime.now(UTC)
            assert collector.counters.conflicts == 0
            assert collector.counters.clock_held_statuses == 0
            wrong_time = at_wrong_times(tmp_path / "spool", start, end)
            blamed_devices = blamed(collector)
            assert wrong_time == 0
            assert blamed_devices == []
            reliability.record(
                "forged-acks-and-batches",
                unit="statuses",
                sent=tap.statuses,
                arrived=taken_before + collector.counters.statuses,
                duplicates_dropped=collector.counters.duplicates,
                recovered_s=recovered_s,
                wrong_time=wrong_time,
                blamed=len(blamed_devices),
            )
    assert left >= 0


async def test_the_same_seq_with_other_content_is_a_conflict_not_a_duplicate(
    tmp_path: Path, broker: Mosquitto
) -> None:
    """An agent's outbox restored from a backup sends other batches under seqs already
    taken: each is a conflict, logged and counted, kept as a dead letter; a resend of
    the same batch stays a duplicate."""
    key = agent_key("edge-1")  # registered in the test district
    settings = write_settings(tmp_path, broker.port)
    agent = FakeAgent(broker.port, epoch="e1")

    def signed(batch: Batch) -> bytes:
        return sign(stamp(encode_unsent(batch), datetime.now(UTC), batch.clock), key)

    first, other = agent.batch(minute_of(0)), agent.batch(minute_of(1), seq=0)
    async with running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(signed(first))
        await wait_for(lambda: collector.counters.batches == 1)
        await agent.publish(signed(first))  # a resend: the same content
        await wait_for(lambda: collector.counters.duplicates == 1)
        await agent.publish(signed(other))
        await wait_for(lambda: collector.counters.conflicts == 1)
        assert collector.counters.batches == 1
        assert collector.counters.dead_letters == 1
        assert collector.counters.reasons == {"seq": 1}
        await agent.publish(encode_batch(agent.batch(minute_of(2))))  # unsigned: refused
        await wait_for(lambda: collector.counters.unsigned == 1)


async def test_a_status_forged_inside_the_tolerance_never_hides_the_real_ones(
    tmp_path: Path, inventory: Inventory, fleet: Fleet, broker: Mosquitto
) -> None:
    """A batch under a made-up epoch, sent and observed 299 s ahead, claims the device is
    down. Unsigned, it is refused; signed with the agent's key (a glitch of the agent's
    clock, or a stolen key) it is kept aside, never taken: the device's real statuses go on
    being taken and it is not blamed."""
    settings, agent, key = field(tmp_path, broker)
    device = inventory.devices[0].id
    start = datetime.now(UTC)
    async with (
        wiretap(broker.port, key) as tap,
        running(load_collector(settings)) as collector,
        contextlib.AsyncExitStack() as stack,
    ):
        await wait_for(lambda: collector.ingest.connected)
        await stack.enter_async_context(agent)
        await wait_for(lambda: collector.pipeline.states.now_of(device)[0].value == "up", 30)
        back = Stopwatch()
        forged = forged_batch("forged", 0, device, 299)
        await publish(broker.port, status_topic(SITE, AGENT_ID), forged)
        await wait_for(lambda: collector.counters.unsigned == 1)
        await publish(broker.port, status_topic(SITE, AGENT_ID), sign(forged, load_private(key)))
        await wait_for(lambda: collector.counters.clock_held_statuses == 1)
        seen = collector.pipeline.states.now_of(device)[2]
        assert seen is not None
        await wait_for(lambda: (collector.pipeline.states.now_of(device)[2] or seen) > seen, 15)
        recovered_s = back.seconds()
        last_seen = collector.pipeline.states.now_of(device)[2]
        assert last_seen is not None
        assert last_seen < datetime.now(UTC)
        assert collector.pipeline.states.late == 0  # no real status was taken as late
        await wait_for(lambda: agent.unconfirmed() == 0, 30)
        await agent.stop()
        await wait_for(lambda: taken_all(collector, tap.statuses), 15)
        end = datetime.now(UTC)
        wrong_time = at_wrong_times(tmp_path / "spool", start, end)
        blamed_devices = blamed(collector)
        assert wrong_time == 0
        assert blamed_devices == []
        reliability.record(
            "forged-status-in-tolerance",
            unit="statuses",
            sent=tap.statuses,
            arrived=collector.counters.statuses,
            recovered_s=recovered_s,
            wrong_time=wrong_time,
            blamed=len(blamed_devices),
        )
