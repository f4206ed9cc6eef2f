"""The broker ACL ``slawatch-collector broker-acl`` writes, on a real mosquitto: each agent
speaks only for itself, under its own site.

Usernames are agent ids: an agent's status on another agent's topic, or on its own id
under another site, never reaches the collector, an agent reads only its own acks, and
nobody gets in without a password.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest
import yaml

from agent.wire import ack_topic, status_topic
from collector.cli import main as collector_main
from simulator.local_servers import Mosquitto
from slawatch.mqtt import head_topic_for
from tests import reliability
from tests.agent_keys import registered
from tests.collector.conftest import write_district
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
    head = head_topic_for(["d1"])
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
