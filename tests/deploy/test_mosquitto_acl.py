"""The broker ACL ``slawatch-collector broker-acl`` writes, on a real mosquitto: each agent
speaks only for itself, under its own site.

Usernames are agent ids: an agent's status on another agent's topic, or on its own id
under another site, never reaches the collector, an agent reads only its own acks, and
nobody gets in without a password. Two districts sharing the broker (an inventory each):
each district's collector, under its own account, hears and acks its own agents, and its
signed head is retained on its own topic, where the other district's collector cannot
overwrite it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest
import yaml

from agent.wire import ack_topic, status_topic
from collector.cli import main as collector_main
from collector.evidence.heads import SignedHead
from simulator.local_servers import Mosquitto
from slawatch.keys import load_public, new_pair
from slawatch.mqtt import head_topic_for
from tests import reliability
from tests.agent_keys import registered
from tests.collector.conftest import write_district
from tests.collector.ingest.test_ownership import district
from tests.collector.live import FakeAgent, load_collector, running
from tests.collector.test_service import EVERY_DEVICE, minute_of
from tests.conftest import REPO, wait_for

USERS = {
    "edge-1": "pw-edge-1",
    "edge-2": "pw-edge-2",
    "slawatch-collector": "pw-collector",
    "slawatch-bureau": "pw-bureau",
}

# The stand-in collector and agents use aiomqtt, which must not run on uvloop.
pytestmark = pytest.mark.stdlib_loop


def two_sites(folder: Path) -> Path:
    """The test district (site d1, agent edge-1) and a neighbour site d2 (agent edge-2)."""
    write_district(folder)
    inventory = folder / "district.yaml"
    data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    data["sites"] = [
        {"id": "d1", "name": "分局", **registered("edge-1")},
        {"id": "d2", "name": "邻区", **registered("edge-2")},
    ]
    inventory.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return inventory


@pytest.fixture
def secured(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Mosquitto]:
    assert collector_main(["broker-acl", str(two_sites(tmp_path))]) == 0
    acl = tmp_path / "acl"
    acl.write_text(capsys.readouterr().out, encoding="utf-8")
    broker = Mosquitto(tmp_path / "broker", users=USERS, acl=acl)
    broker.start()
    yield broker
    broker.stop()


def client(broker: Mosquitto, user: str) -> aiomqtt.Client:
    return aiomqtt.Client(
        "127.0.0.1", broker.port, username=user, password=USERS[user], identifier=f"t-{user}"
    )


async def gather_messages(c: aiomqtt.Client, into: list[str]) -> None:
    async for message in c.messages:
        into.append(f"{message.topic} {message.payload!r}")


async def test_an_agent_speaks_only_for_itself_and_reads_only_its_own_acks(
    secured: Mosquitto,
) -> None:
    heard: list[str] = []
    acks_of_edge_1: list[str] = []
    async with (
        client(secured, "slawatch-collector") as collector,
        client(secured, "edge-1") as edge_1,
        client(secured, "edge-2") as edge_2,
    ):
        await collector.subscribe("slawatch/v1/+/+/status", qos=1)
        await edge_1.subscribe("slawatch/v1/+/+/ack", qos=1)
        listening = [
            asyncio.create_task(gather_messages(collector, heard)),
            asyncio.create_task(gather_messages(edge_1, acks_of_edge_1)),
        ]
        await edge_1.publish(status_topic("d1", "edge-2"), b"forged", qos=1)
        await edge_1.publish(status_topic("d2", "edge-2"), b"forged", qos=1)
        await edge_2.publish(status_topic("d1", "edge-2"), b"another site", qos=1)
        await edge_1.publish(status_topic("d2", "edge-1"), b"another site", qos=1)
        await edge_1.publish(status_topic("d1", "edge-1"), b"own", qos=1)
        await collector.publish(ack_topic("d1", "edge-2"), b"ack for edge-2", qos=1)
        await edge_2.publish(ack_topic("d1", "edge-1"), b"forged ack", qos=1, retain=True)
        await collector.publish(ack_topic("d1", "edge-1"), b"ack for edge-1", qos=1)
        await wait_for(lambda: len(heard) == 1 and len(acks_of_edge_1) == 1, 10)
        await asyncio.sleep(0.5)  # anything forged would have arrived by now
        for task in listening:
            task.cancel()
    assert heard == [f"{status_topic('d1', 'edge-1')} b'own'"]
    assert acks_of_edge_1 == [f"{ack_topic('d1', 'edge-1')} b'ack for edge-1'"]
    reliability.record(
        "cross-site-with-acl", unit="messages", sent=1, arrived=len(heard), recovered_s=0.0
    )


async def test_the_signed_head_reaches_the_bureaus_subscriber_and_only_the_collector_signs(
    secured: Mosquitto,
) -> None:
    """The head the collector publishes (retained) anchors the ledger only once it has left
    the machine: the bureau's own subscriber must get it, and an agent must not be able to
    put a head of its own there."""
    head = head_topic_for(["d1", "d2"])
    got: list[str] = []
    async with (
        client(secured, "slawatch-collector") as collector,
        client(secured, "edge-1") as edge_1,
    ):
        await edge_1.publish(head, b"forged head", qos=1, retain=True)
        await collector.publish(head, b"signed head", qos=1, retain=True)
    async with client(secured, "slawatch-bureau") as bureau:
        await bureau.subscribe(head, qos=1)
        listening = asyncio.create_task(gather_messages(bureau, got))
        await wait_for(lambda: len(got) == 1, 10)
        await asyncio.sleep(0.3)
        listening.cancel()
    assert got == [f"{head} b'signed head'"]


async def test_nobody_gets_in_without_a_password(secured: Mosquitto) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client("127.0.0.1", secured.port, identifier="anonymous"):
            pass
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            "127.0.0.1", secured.port, username="edge-1", password="guess", identifier="guesser"
        ):
            pass


def test_the_shipped_acl_is_what_the_command_writes_for_the_demo_inventory(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert collector_main(["broker-acl", str(REPO / "config" / "demo" / "inventory.yaml")]) == 0
    shipped = (REPO / "deploy" / "mosquitto.acl").read_text(encoding="utf-8")
    assert capsys.readouterr().out == shipped
    assert "pattern" not in shipped  # no agent may write under a site it does not serve


async def head_for_the_bureau(broker: Mosquitto, topic: str) -> SignedHead:
    """The head the bureau's account gets on ``topic`` at once (retained), once there is one."""
    for _ in range(40):
        async with aiomqtt.Client(
            "127.0.0.1", broker.port, username="slawatch-bureau", password="pw-bureau"
        ) as bureau:
            await bureau.subscribe(topic, qos=1)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    message = await anext(aiter(bureau.messages))
                    if message.retain and isinstance(message.payload, bytes):
                        return SignedHead.parse(message.payload.decode(), topic)
    raise AssertionError(f"no head retained on {topic}")


async def test_districts_sharing_a_broker_each_have_their_own_account_and_head(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    users = {"slawatch-bureau": "pw-bureau", "edge-e": "pw-e", "edge-w": "pw-w"}
    sides = {}
    for site in ("east", "west"):
        folder = tmp_path / site
        key = folder / "collector-key.pem"
        folder.mkdir()
        new_pair(key)
        signing = {"key": str(key), "every_rows": 1, "every": "1h"}
        settings = district(folder, 1, site, [f"edge-{site[0]}"], signing=signing)
        sides[site] = (settings, key)
    inventories = [str(tmp_path / site / "district.yaml") for site in sides]
    assert collector_main(["broker-acl", *inventories]) == 0
    acl = tmp_path / "acl"
    acl.write_text(capsys.readouterr().out, encoding="utf-8")
    assert collector_main(["broker-acl", inventories[0], inventories[0]]) != 0  # one site twice
    for site, (settings, _) in sides.items():
        users[f"slawatch-collector-{site}"] = f"pw-{site}-collector"
        (settings.parent / "broker-password").write_text(f"pw-{site}-collector\n")
    broker = Mosquitto(tmp_path / "broker", users=users, acl=acl)
    broker.start()
    try:
        for site, (settings, _) in sides.items():
            data = json.loads(settings.read_text(encoding="utf-8"))
            data["broker"] |= {
                "port": broker.port,
                "username": f"slawatch-collector-{site}",
                "password": {"file": "broker-password"},
            }
            settings.write_text(json.dumps(data), encoding="utf-8")
        async with (
            running(load_collector(sides["east"][0])) as east,
            running(load_collector(sides["west"][0])) as west,
        ):
            await wait_for(lambda: east.ingest.connected and west.ingest.connected)
            for collector, site in ((east, "east"), (west, "west")):
                agent = FakeAgent(broker.port, agent_id=f"edge-{site[0]}", site=site)
                async with aiomqtt.Client(
                    "127.0.0.1", broker.port, username=agent.agent_id, password=f"pw-{site[0]}"
                ) as edge:
                    for minute in range(3):  # the devices' states: ledger rows to sign
                        payload = agent.signed(agent.batch(minute_of(minute)))
                        await edge.publish(status_topic(site, agent.agent_id), payload, qos=1)
                await wait_for(lambda c=collector: c.counters.batches == 3)  # type: ignore[misc]
                assert collector.ledger.next_seq > 0
            # Each district's head retained on its own topic, signed by its own key.
            keys = {
                site: load_public(key.with_name(key.name + ".pub"))
                for site, (_, key) in sides.items()
            }
            for site, other in (("east", "west"), ("west", "east")):
                head = await head_for_the_bureau(broker, head_topic_for([site]))
                assert head.holds_for(keys[site])
                assert not head.holds_for(keys[other])
            # East's account cannot overwrite west's head (the broker drops it).
            async with aiomqtt.Client(
                "127.0.0.1", broker.port, username="slawatch-collector-east",
                password="pw-east-collector",
            ) as intruder:  # fmt: skip
                await intruder.publish(head_topic_for(["west"]), b"east's", qos=1, retain=True)
            head = await head_for_the_bureau(broker, head_topic_for(["west"]))
            assert head.holds_for(keys["west"])
            assert east.counters.dead_letters == west.counters.dead_letters == 0
            arrived = east.counters.statuses + west.counters.statuses
    finally:
        broker.stop()
    reliability.record(
        "districts-sharing-an-acl-broker",
        unit="statuses",
        sent=2 * 3 * len(EVERY_DEVICE),
        arrived=arrived,
        recovered_s=0.0,
    )
