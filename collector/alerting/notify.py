"""Deliver the ledger's alert rows to MQTT and webhooks, each sink at its own pace.

Alerts are decided in event time by the pipeline and written to the ledger (that row is
the ticket's "alerted" evidence); delivery only reads them. Each sink keeps the ledger
seq of the last alert it delivered in the ledger's file, so a crash or an unreachable
webhook delays alerts but loses none, and a restart does not send them twice. A webhook
that answers 4xx will never accept that alert: it is skipped with an error in the log.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import aiomqtt
import orjson

from collector.alerting.channels import DeliveryUnreachableError, PermanentDeliveryError, Send
from collector.ledger.chain import Ledger
from slawatch.aio import raise_if_cancelled, wait_event
from slawatch.config.alerting import Receiver
from slawatch.config.settings import BrokerSettings
from slawatch.mqtt import mqtt_client

log = logging.getLogger(__name__)

ALERT_TOPIC = "slawatch/v1/alerts"
UNREACHABLE = (
    DeliveryUnreachableError,
    aiohttp.ClientError,
    aiomqtt.MqttError,
    TimeoutError,
    OSError,
)
ROUND = 100  # alerts read, sent and marked delivered together
ATTEMPTS_KEPT = 500


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try to deliver one alert to one sink, and what came of it (wall-clock time)."""

    at: str
    sink: str
    receiver: str | None
    seq: int
    alert: str
    ticket: str | None
    outcome: str  # delivered, unreachable, refused
    detail: str = ""


@dataclass
class Sink:
    send: Send
    in_order: bool = False
    # Which alerts this sink takes (a receiver's routed ones); None: every alert.
    wants: Callable[[dict[str, Any]], bool] | None = None
    receiver: Receiver | None = None
    failing_since: float | None = None
    fallback_told: bool = False


class MqttAlerts:
    """Publishes each alert on ``slawatch/v1/alerts/<kind>`` (QoS 1) over its own connection.

    One connection keeps the order of publishes in flight together, so the notifier sends
    a round of alerts at once (``in_order``) rather than waiting for each PUBACK: 280
    against 390 µs of CPU an alert here, most of it aiomqtt's and paho's per-message work.
    """

    def __init__(self, broker: BrokerSettings, client_id: str) -> None:
        self._broker = broker
        self._client_id = client_id
        self._client: aiomqtt.Client | None = None
        self._connecting = asyncio.Lock()

    async def _connected(self) -> aiomqtt.Client:
        async with self._connecting:  # the round's sends share the one connection
            if self._client is None:
                client = mqtt_client(self._broker, self._client_id, clean_session=True)
                client.pending_calls_threshold = 2 * ROUND  # a round in flight is expected
                await client.__aenter__()
                self._client = client
            return self._client

    async def send(self, alert: dict[str, Any]) -> None:
        client = await self._connected()
        try:
            await client.publish(f"{ALERT_TOPIC}/{alert['alert']}", orjson.dumps(alert), qos=1)
        except aiomqtt.MqttError:
            await self.close()
            raise

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.__aexit__(None, None, None)
            except aiomqtt.MqttError:
                log.debug("alert connection was already gone")


FailingHook = Callable[[str, Receiver, float, str], Awaitable[None]]


class Notifier:
    """Delivers the ledger's alert rows to every sink that wants them, at least once.

    Every attempt is recorded (``attempts``, the latest few hundred, and the counters for
    ``/metrics``); a receiver's sink that stays unreachable for its ``failing_after`` calls
    ``on_failing`` once, so another receiver hears that alerts are not getting through.
    """

    def __init__(
        self, ledger: Ledger, *, retry_s: float = 1.0, on_failing: FailingHook | None = None
    ) -> None:
        self._ledger = ledger
        self._retry_s = retry_s
        self._on_failing = on_failing
        self._sinks: dict[str, Sink] = {}
        self._wake = asyncio.Event()
        self.delivered: dict[str, int] = {}
        self.skipped: dict[str, int] = {}
        self.unreachable: dict[str, int] = {}
        self.attempts: collections.deque[Attempt] = collections.deque(maxlen=ATTEMPTS_KEPT)
        ledger.connection.execute(
            "CREATE TABLE IF NOT EXISTS delivery (sink TEXT PRIMARY KEY, seq INTEGER NOT NULL)"
        )

    def add(
        self,
        name: str,
        send: Send,
        *,
        in_order: bool = False,
        wants: Callable[[dict[str, Any]], bool] | None = None,
        receiver: Receiver | None = None,
    ) -> None:
        """A sink added to an existing ledger starts with the alerts written from now on.

        ``in_order``: the sink keeps the order of sends in flight together, so a round of
        alerts goes out at once; other sinks (webhooks) get one alert after the other.
        """
        self._ledger.connection.execute(
            "INSERT OR IGNORE INTO delivery VALUES (?, ?)", (name, self._ledger.next_seq - 1)
        )
        self._sinks[name] = Sink(send, in_order, wants, receiver)
        self.delivered[name] = self.skipped[name] = self.unreachable[name] = 0

    def failing(self) -> dict[str, float]:
        """Sinks unreachable now, with the wall-clock time they started failing."""
        return {n: s.failing_since for n, s in self._sinks.items() if s.failing_since is not None}

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for name, sink in self._sinks.items():
                group.create_task(self._deliver_forever(name, sink))

    @staticmethod
    async def _send_round(
        send: Send, alerts: list[dict[str, Any]], in_order: bool
    ) -> list[BaseException | None]:
        """What became of each alert, in order; a sequential round stops at the first
        unreachable answer."""
        if in_order:
            return await asyncio.gather(*map(send, alerts), return_exceptions=True)
        outcomes: list[BaseException | None] = []
        for alert in alerts:
            try:
                await send(alert)
            except (PermanentDeliveryError, *UNREACHABLE) as exc:
                outcomes.append(exc)
                if not isinstance(exc, PermanentDeliveryError):
                    break
            else:
                outcomes.append(None)
        return outcomes

    def _record(
        self, name: str, sink: Sink, seq: int, alert: dict[str, Any], outcome: str, detail: str
    ) -> None:
        ticket = alert.get("ticket")
        self.attempts.append(
            Attempt(
                datetime.now(UTC).isoformat(timespec="seconds"),
                name,
                sink.receiver.id if sink.receiver else None,
                seq,
                alert.get("alert", ""),
                ticket.get("id") if isinstance(ticket, dict) else None,
                outcome,
                detail[:300],
            )
        )

    async def _failing(self, name: str, sink: Sink, detail: str) -> None:
        now = time.time()
        if sink.failing_since is None:
            sink.failing_since, sink.fallback_told = now, False
        receiver = sink.receiver
        if (
            receiver is None
            or sink.fallback_told
            or self._on_failing is None
            or now - sink.failing_since < receiver.failing_after.total_seconds()
        ):
            return
        sink.fallback_told = True
        log.error("alert sink %s has failed since %s: %s", name, sink.failing_since, detail)
        await self._on_failing(name, receiver, sink.failing_since, detail)

    async def _deliver_forever(self, name: str, sink: Sink) -> None:
        db = self._ledger.connection
        backoff = self._retry_s
        (delivered,) = db.execute("SELECT seq FROM delivery WHERE sink = ?", (name,)).fetchone()
        # Rows up to ``examined`` hold no alert left to send. Kept apart from the delivered
        # mark, which is only written when an alert goes out: otherwise every wake (one per
        # ingest commit) scanned every state row written since the last alert.
        examined = delivered
        while True:
            raise_if_cancelled()
            head = self._ledger.next_seq - 1  # committed: no transaction spans an await
            rows = db.execute(
                "SELECT seq, at, body FROM ledger WHERE seq > ? AND kind = 'alert' ORDER BY seq "
                "LIMIT ?",
                (examined, ROUND),
            ).fetchall()
            if not rows:
                examined = head
                self._wake.clear()
                await wait_event(self._wake, 1.0)
                continue
            done = examined
            every = [(seq, {"at": at, **orjson.loads(body)}) for seq, at, body in rows]
            # Routing decided once per alert: ``wants`` runs the router.
            wanted = [
                (seq, alert) for seq, alert in every if sink.wants is None or sink.wants(alert)
            ]
            wanted_seqs = {seq for seq, _ in wanted}
            outcomes = await self._send_round(sink.send, [a for _, a in wanted], sink.in_order)
            results = dict(zip([seq for seq, _ in wanted], outcomes, strict=False))
            for seq, alert in every:
                if seq not in wanted_seqs:
                    done = seq  # routed elsewhere: nothing to send here
                    continue
                if seq not in results:
                    break  # the round stopped at an unreachable answer before this one
                outcome = results[seq]
                if isinstance(outcome, PermanentDeliveryError):
                    log.error(
                        "alert sink %s refused ledger row %d for good: %s", name, seq, outcome
                    )
                    self.skipped[name] += 1
                    self._record(name, sink, seq, alert, "refused", str(outcome))
                elif isinstance(outcome, UNREACHABLE):
                    detail = f"{type(outcome).__name__}: {outcome}"
                    log.warning("alert sink %s unreachable (%s); retrying", name, detail)
                    self.unreachable[name] += 1
                    self._record(name, sink, seq, alert, "unreachable", detail)
                    await self._failing(name, sink, detail)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    break
                elif outcome is not None:
                    raise outcome  # a bug, not an answer from the sink
                else:
                    self.delivered[name] += 1
                    self._record(name, sink, seq, alert, "delivered", "")
                    sink.failing_since = None
                backoff = self._retry_s
                done = seq
            # One commit per round of up to ROUND alerts, not one per alert (each is a WAL
            # commit): after a crash, at most that round goes out again.
            if done != delivered:
                db.execute("UPDATE delivery SET seq = ? WHERE sink = ?", (done, name))
                delivered = done
            examined = head if done == rows[-1][0] and len(rows) < ROUND else done
