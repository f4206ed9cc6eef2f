"""The deploy kit's broker ACL, on a real mosquitto: each agent speaks only for itself.

Usernames are agent ids (``deploy/mosquitto.acl``): an agent's status on another agent's
topic never reaches the collector, an agent reads only its own acks, and nobody gets in
without a password.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from agent.wire import ack_topic, status_topic
from simulator.local_servers import Mosquitto
from tests.conftest import REPO, wait_for

USERS = {"edge-1": "pw-edge-1", "edge-2": "pw-edge-2", "slawatch-collector": "pw-collector"}

# The stand-in collector and agents use aiomqtt, which must not run on uvloop.
pytestmark = pytest.mark.stdlib_loop


@pytest.fixture
def secured(tmp_path: Path) -> Iterator[Mosquitto]:
    broker = Mosquitto(tmp_path / "broker", users=USERS, acl=REPO / "deploy" / "mosquitto.acl")
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
    ):
        await collector.subscribe("slawatch/v1/+/+/status", qos=1)
        await edge_1.subscribe("slawatch/v1/+/+/ack", qos=1)
        listening = [
            asyncio.create_task(gather_messages(collector, heard)),
            asyncio.create_task(gather_messages(edge_1, acks_of_edge_1)),
        ]
        await edge_1.publish(status_topic("d1", "edge-2"), b"forged", qos=1)
        await edge_1.publish(status_topic("d1", "edge-1"), b"own", qos=1)
        await collector.publish(ack_topic("d1", "edge-2"), b"ack for edge-2", qos=1)
        await collector.publish(ack_topic("d1", "edge-1"), b"ack for edge-1", qos=1)
        await wait_for(lambda: len(heard) == 1 and len(acks_of_edge_1) == 1, 10)
        await asyncio.sleep(0.5)  # anything forged would have arrived by now
        for task in listening:
            task.cancel()
    assert heard == [f"{status_topic('d1', 'edge-1')} b'own'"]
    assert acks_of_edge_1 == [f"{ack_topic('d1', 'edge-1')} b'ack for edge-1'"]


async def test_nobody_gets_in_without_a_password(secured: Mosquitto) -> None:
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client("127.0.0.1", secured.port, identifier="anonymous"):
            pass
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            "127.0.0.1", secured.port, username="edge-1", password="guess", identifier="guesser"
        ):
            pass
