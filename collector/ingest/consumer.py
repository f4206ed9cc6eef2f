"""MQTT in: a persistent QoS 1 session whose messages are acknowledged after the ledger commit.

paho acknowledges a QoS 1 message as soon as it is handed over; aiomqtt 2.5 offers no
way to defer that, so the ingest switches paho's own ``manual_ack`` on (through
aiomqtt's client object) and sends each PUBACK once the ledger has committed what the
message produced. Until then the broker keeps the message in the session and
redelivers it after a crash. Messages waiting in aiomqtt's queue are taken in groups:
one commit, one fsync, many messages. A group the ledger cannot commit yet (its disk
locked or full) is held, unacknowledged, until it can (``collector.ingest.holding``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import aiomqtt

from agent.wire import TOPIC_ROOT
from collector.ingest.holding import committed_or_held
from collector.ledger.store import StoreHealth
from slawatch.aio import raise_if_cancelled
from slawatch.config.settings import BrokerSettings
from slawatch.mqtt import district_of, mqtt_client

log = logging.getLogger(__name__)

DEADLETTER_TOPIC = f"{TOPIC_ROOT}/deadletter"
COMMAND_TOPIC = f"{TOPIC_ROOT}/commands/ack"
GROUP_MAX = 64
SHOWN_BYTES = 4096  # of a dead letter's payload


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """A refused message as ``slawatch/v1/deadletter`` shows it; built by
    ``collector.ingest.dead_letters`` only, which has replaced every secret in it."""

    topic: str
    reason: str
    payload: bytes  # as shown: secrets replaced, not yet cut
    payload_bytes: int  # the size of the payload as received
    payload_sha256: str  # of the payload as received, or as shown when ``redacted``
    redacted: bool

    def encode(self) -> bytes:
        return json.dumps(
            {
                "topic": self.topic,
                "reason": self.reason,
                "payload": self.payload[:SHOWN_BYTES].decode("utf-8", errors="replace"),
                "payload_bytes": self.payload_bytes,
                "payload_sha256": self.payload_sha256,
                "redacted": self.redacted,
            },
            ensure_ascii=False,
        ).encode("utf-8", errors="replace")


@dataclass(frozen=True, slots=True)
class Taken:
    """What a group of messages left to publish: dead letters, and the retained receipts
    (acks) that tell agents which batches are in the ledger."""

    letters: list[DeadLetter]
    receipts: list[tuple[str, bytes]]


Handler = Callable[[list[aiomqtt.Message]], Taken]


# What collectors subscribed to before each took its own sites only: a persistent
# session keeps its subscriptions, so these are dropped at every connect.
EVERY_SITE = [f"{TOPIC_ROOT}/+/+/status", f"{TOPIC_ROOT}/+/+/alive"]


def subscriptions(shared_group: str | None, sites: list[str]) -> list[str]:
    """This collector's sites only: on a broker shared by districts, another district's
    batches never reach it, so it can never ack (and lose) them."""
    data = [f"{TOPIC_ROOT}/{site}/+/{leaf}" for site in sites for leaf in ("status", "alive")]
    if shared_group is not None:
        data = [f"$share/{shared_group}/{topic}" for topic in data]
    return [*data, COMMAND_TOPIC]


def client_id_for(sites: list[str]) -> str:
    """A client id of the district's own: two collectors on one broker never take each
    other's session (MQTT gives a client id's session to whoever connects with it)."""
    return f"slawatch-collector-{district_of(sites)}"


class Ingest:
    def __init__(
        self,
        broker: BrokerSettings,
        *,
        client_id: str,
        shared_group: str | None,
        sites: list[str],
        handle: Handler,
        store: StoreHealth | None = None,
        retry_s: float = 1.0,
    ) -> None:
        self._broker = broker
        self._client_id = client_id
        self._shared_group = shared_group
        self._sites = sites
        self._client: aiomqtt.Client | None = None
        self._handle = handle
        self.store = store or StoreHealth()
        self._retry_s = retry_s
        self.connected = False
        self.messages = 0
        self.dead_letters = 0

    async def run(self) -> None:
        """Consume for as long as it takes; reconnect with backoff."""
        backoff = self._retry_s
        while True:
            raise_if_cancelled()
            client = mqtt_client(self._broker, self._client_id, clean_session=False)
            client._client.manual_ack_set(True)
            try:
                async with client:
                    for legacy in EVERY_SITE:
                        await client.unsubscribe(legacy)
                    for topic in subscriptions(self._shared_group, self._sites):
                        await client.subscribe(topic, qos=1)
                    self._client = client
                    self.connected, backoff = True, self._retry_s
                    log.warning("ingesting from %s:%d", self._broker.host, self._broker.port)
                    await self._consume(client)
            except aiomqtt.MqttError as exc:
                if self.connected:
                    log.error(
                        "broker connection lost: %s; unacknowledged input is redelivered", exc
                    )
                self.connected = False
                self._client = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def retarget(self, sites: list[str]) -> None:
        """A new inventory's sites: subscribe to the new ones, drop the ones it no longer
        lists (now, when connected; at the next connect otherwise)."""
        before = set(subscriptions(self._shared_group, self._sites))
        self._sites = sites
        after = set(subscriptions(self._shared_group, sites))
        client = self._client
        if client is None:
            return
        for topic in sorted(before - after):
            await client.unsubscribe(topic)
        for topic in sorted(after - before):
            await client.subscribe(topic, qos=1)

    async def _consume(self, client: aiomqtt.Client) -> None:
        messages = client.messages
        while True:
            raise_if_cancelled()
            group = [await anext(messages)]
            while len(messages) and len(group) < GROUP_MAX:
                group.append(await anext(messages))
            taken = await committed_or_held(self._handle, group, self.store)
            for letter in taken.letters:
                self.dead_letters += 1
                log.warning("dead letter from %s: %s", letter.topic, letter.reason)
                await client.publish(DEADLETTER_TOPIC, letter.encode(), qos=1)
            for topic, receipt in taken.receipts:  # after the commit: the batches are in
                await client.publish(topic, receipt, qos=1, retain=True)
            for message in group:
                client._client.ack(message.mid, message.qos)
            self.messages += len(group)
