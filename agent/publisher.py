"""Publish the outbox to the broker: QoS 1, persistent session, retained ``alive`` with a will.

Batches go out oldest first; the broker's PUBACK marks them sent, and they leave the
outbox when the collector's retained ``ack`` (on this agent's ack topic) says they are in
its ledger. A batch sent but not confirmed within ``resend_after`` is sent again: the
broker may have lost it (killed while the collector was down). A broker outage just lets
the outbox grow; on reconnect the backlog is replayed in order with its original
``observed_at`` and ``seq``. Up to ``window`` batches are in flight at once (one round
trip per batch would cap a loopback link at a few thousand batches per second); a batch
sent twice is a duplicate the collector drops by (agent, epoch, seq).

The publisher runs on its own thread with a standard-library event loop, apart from the
probes' uvloop: aiomqtt drives paho through ``loop.add_reader``/``add_writer`` and on
uvloop a reconnect can leave a closed poll handle registered for a reused file
descriptor, after which the client never writes again (seen in about one broker outage
in ten by ``tests/agent/test_publisher.py``; uvloop issue #552 has the same symptom). A
separate thread also keeps a slow broker from ever delaying a probe.

Each batch is stamped with its send time and this host's clock state when it is sent
(again at a resend) and signed with the agent's key, as are its liveness messages: the
will is made and signed at connect and carries the connection's start, so a replayed old
will is told from this connection's. An ack deletes batches only when the collector's
key verifies it; any other is logged and counted (``acks_refused``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import aiomqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.outbox import Outbox
from agent.wire import (
    Alive,
    ClockState,
    WireError,
    ack_topic,
    alive_topic,
    decode_ack,
    encode_alive,
    sign,
    signed_by,
    stamp,
)
from slawatch.aio import raise_if_cancelled
from slawatch.config.settings import BrokerSettings
from slawatch.mqtt import mqtt_client

log = logging.getLogger(__name__)


class Publisher:
    def __init__(
        self,
        broker: BrokerSettings,
        outbox: Outbox,
        *,
        site: str,
        agent_id: str,
        window: int = 16,
        retry_s: float = 1.0,
        resend_after: float = 60.0,
        key: Ed25519PrivateKey,
        collector_key: Ed25519PublicKey,
        clock: Callable[[], ClockState] = lambda: ClockState.UNKNOWN,
    ) -> None:
        self._broker = broker
        self._outbox = outbox
        self._site = site
        self._agent_id = agent_id
        self._window = window
        self._retry_s = retry_s
        self._resend_after = resend_after
        self._key = key
        self._collector_key = collector_key
        self._clock = clock
        self._connect_at = datetime.now(UTC)
        self._connection = 0
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = asyncio.Event()
        self._thread: threading.Thread | None = None
        self.connected = False
        self.published = 0
        self.confirmed = 0
        self.acks_refused = 0

    def start(self) -> None:
        """Publish on a thread of its own until :meth:`stop`."""
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._thread_main, args=(ready,), name=f"publisher-{self._agent_id}", daemon=True
        )
        self._thread.start()
        ready.wait()

    def stop(self) -> None:
        """Stop publishing, mark the agent offline on the broker, and wait for the thread."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
            self._thread.join()
            self._thread = None

    def wake(self) -> None:
        """Tell the publisher a batch is waiting; safe from any thread."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def _thread_main(self, ready: threading.Event) -> None:
        with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
            runner.run(self._serve(ready))

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        ready.set()
        publishing = asyncio.create_task(self._publish_forever())
        await self._stopping.wait()
        publishing.cancel()
        await asyncio.gather(publishing, return_exceptions=True)
        await self._say_goodbye()

    def _signed(self, payload: bytes) -> bytes:
        return sign(payload, self._key)

    def _alive(self, online: bool) -> bytes:
        """This connection's liveness message (the will's too): stamped with its start."""
        alive = Alive(
            agent_id=self._agent_id,
            site=self._site,
            online=online,
            at=self._connect_at,
            epoch=self._outbox.epoch,
            connection=self._connection,
        )
        return self._signed(encode_alive(alive))

    def _sealed(self, seq: int, body: bytes) -> bytes:
        """An outbox batch as it goes out now: its send time, the clock's state, signed."""
        state = ClockState.STEPPED if self._outbox.clock_stepped(seq) else self._clock()
        return self._signed(stamp(body, datetime.now(UTC), state))

    def _client(self) -> aiomqtt.Client:
        self._connect_at = datetime.now(UTC)
        self._connection = self._outbox.next_connection()
        topic = alive_topic(self._site, self._agent_id)
        client = mqtt_client(
            self._broker,
            f"slawatch-agent-{self._agent_id}",
            clean_session=False,
            will=aiomqtt.Will(topic, self._alive(False), qos=1, retain=True),
            max_inflight_messages=self._window,
        )
        client.pending_calls_threshold = self._window  # a full window is normal, not a warning
        return client

    async def _publish_forever(self) -> None:
        """Reconnect with backoff for as long as it takes; the outbox holds what waits."""
        backoff = self._retry_s
        while True:
            raise_if_cancelled()
            try:
                async with self._client() as client:
                    self.connected = True
                    backoff = self._retry_s
                    log.warning("connected to broker %s:%d", self._broker.host, self._broker.port)
                    topic = alive_topic(self._site, self._agent_id)
                    await client.subscribe(ack_topic(self._site, self._agent_id), qos=1)
                    await client.publish(topic, self._alive(True), qos=1, retain=True)
                    # Not a TaskGroup: when one of its tasks fails it cancels this one, and
                    # on 3.11 aiomqtt can swallow that cancel, leaving this loop "cancelling"
                    # (see slawatch.aio.raise_if_cancelled) and the publisher dead.
                    confirming = asyncio.create_task(self._confirmations(client))
                    try:
                        await self._drain_forever(client, confirming)
                    finally:
                        confirming.cancel()
                        await asyncio.gather(confirming, return_exceptions=True)
            except aiomqtt.MqttError as exc:
                if self.connected:
                    log.error("broker connection lost: %s; outbox keeps every batch", exc)
                self.connected = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def _confirmations(self, client: aiomqtt.Client) -> None:
        """The collector's acks: batches it has are deleted from the outbox."""
        try:
            await self._read_acks(client)
        finally:
            self._wake.set()  # the drain notices the connection is gone

    async def _read_acks(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            try:
                if not isinstance(payload, bytes):
                    raise WireError("(payload)", "not bytes")
                ack = decode_ack(payload)
                if not signed_by(payload, self._collector_key):
                    raise WireError("sig", "not signed by the collector's key: nothing deleted")
            except WireError as exc:
                self.acks_refused += 1
                log.error("ack refused on %s: %s", message.topic, exc)
                continue
            if ack.agent_id == self._agent_id:
                self.confirmed += self._outbox.confirm(ack.epoch, ack.through, ack.above)

    async def _drain_forever(self, client: aiomqtt.Client, confirming: asyncio.Task[None]) -> None:
        while True:
            raise_if_cancelled()
            if confirming.done():
                failure = None if confirming.cancelled() else confirming.exception()
                if isinstance(failure, aiomqtt.MqttError):
                    raise failure
                raise aiomqtt.MqttError("the broker stopped delivering acks")
            batch = self._outbox.pending(self._window, self._resend_after)
            if not batch:
                self._wake.clear()
                # Wake for new batches, or to resend what the collector has not confirmed.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(self._resend_after, 5.0)):
                        await self._wake.wait()
                continue
            await asyncio.gather(
                *(
                    client.publish(item.topic, self._sealed(item.seq, item.payload), qos=1)
                    for item in batch
                )
            )
            self._outbox.mark_sent([item.seq for item in batch])
            self.published += len(batch)

    async def _say_goodbye(self) -> None:
        """On a clean shutdown, mark the agent offline (the will covers crashes)."""
        try:
            async with self._client() as client:
                topic = alive_topic(self._site, self._agent_id)
                await client.publish(topic, self._alive(False), qos=1, retain=True)
        except aiomqtt.MqttError as exc:
            log.warning("could not publish offline status: %s", exc)
