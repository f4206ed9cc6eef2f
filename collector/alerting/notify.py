"""Deliver the ledger's alert rows to MQTT and to the receivers' channels, each at its own
pace, and see that an alert a channel does not deliver still reaches someone.

Alerts are decided in event time by the pipeline and written to the ledger (that row is
the ticket's "alerted" evidence); delivery only reads them. Each sink (MQTT, or one
channel of one receiver) keeps the ledger seq of the last alert it delivered in the
ledger's file, so a crash or an unreachable webhook delays alerts but loses none, and a
restart does not send them twice.

A channel fails when it cannot be reached (it holds its alerts and retries them with
backoff) or when it refuses an alert (a 4xx, a robot's error code, a mail server's 5xx:
the alert is set aside as undelivered and the channel goes on with the next one). Either
way its outage starts at the first failure since it last delivered, kept in the ledger's
file (``delivery_outage``) so that a restart keeps the start. Once the outage is as old
as the receiver's ``failing_after``, the notifier writes ledger rows, delivered like any
alert (retried, journaled, published on MQTT):

- one ``receiver_failing`` alert to the receiver's fallback: the channel, the reason (a
  code; its words are the catalogue's), since when, and the alerts it could not deliver;
- a ``handed_over`` alert to the fallback for each of those alerts, and for each one it
  fails to deliver while the outage lasts;
- one ``receiver_recovered`` alert when the channel delivers again.

Alerts set aside are offered to their channel again: the oldest, with backoff, while the
outage lasts (a robot whose secret was put right recovers without waiting for the next
fault), the others once after it recovers. The fallback's channels are sinks like any
other: when they fail too, their alerts go on to their own fallback, never back along
the chain they came by. ``undelivered()`` lists, by receiver, what was not delivered and
who got it after all; ``outages()`` says which channels fail and whether their alerts
still reach anyone.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import aiomqtt
import orjson

from collector.alerting.channels import (
    DeliveryError,
    DeliveryUnreachableError,
    PermanentDeliveryError,
    Send,
)
from collector.alerting.routing import FAILING, HANDED_OVER, RECOVERED
from collector.ledger.chain import Ledger
from collector.ledger.store import STORE_ERRORS, StoreUnavailableError, unavailable
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
MAX_BACKOFF_S = 30.0
ANNOUNCE_TRIES = 8  # an alert sent outside the ledger (``announce``): about 4 minutes
LISTED = 200  # undelivered alerts listed per receiver, newest first
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS delivery (sink TEXT PRIMARY KEY, seq INTEGER NOT NULL)",
    # A failing sink: since when (wall clock, s), why; ``told``: the ledger row that told
    # the fallback; ``handed``: the ledger seq through which the alerts waiting at an
    # unreachable channel were handed over.
    "CREATE TABLE IF NOT EXISTS delivery_outage (sink TEXT PRIMARY KEY, since REAL NOT NULL, "
    "reason TEXT NOT NULL, detail TEXT NOT NULL, told INTEGER, handed INTEGER NOT NULL)",
    # An alert a sink did not deliver: ``refused`` (set aside, offered again), ``pending``
    # (waiting at an unreachable channel), ``abandoned`` (refused again after the channel
    # recovered); ``announced``: the ledger row that named it to the fallback (the
    # ``handed_over`` row when it was handed to ``handed_to``).
    "CREATE TABLE IF NOT EXISTS undelivered (sink TEXT NOT NULL, seq INTEGER NOT NULL, "
    "failed_at REAL NOT NULL, outcome TEXT NOT NULL, reason TEXT NOT NULL, "
    "detail TEXT NOT NULL, announced INTEGER, handed_to TEXT, PRIMARY KEY (sink, seq))",
)


def stamp(moment: float) -> str:
    """Wall-clock seconds as the ledger writes times: ISO 8601 UTC, milliseconds."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def reason_of(exc: BaseException) -> str:
    if isinstance(exc, DeliveryError):
        return exc.reason
    return "timeout" if isinstance(exc, TimeoutError) else "unreachable"


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


@dataclass(frozen=True, slots=True)
class Undelivered:
    """An alert a receiver's channel did not deliver, and who got it after all."""

    receiver: str
    receiver_name: str
    sink: str
    seq: int
    alert: str  # its kind (``handed_over``: one handed to this receiver as a fallback)
    ticket: str | None
    at: str  # the alert's own time
    failed_at: str  # when the channel first failed it (wall clock)
    outcome: str  # refused, pending (the channel retries it), abandoned
    reason: str
    detail: str
    handed_to: str | None
    reached: tuple[str, ...]  # receivers that got it all the same (ids)


@dataclass
class Outage:
    since: float
    reason: str
    detail: str
    told: int | None = None
    handed: int = -1


@dataclass
class Sink:
    name: str
    send: Send
    in_order: bool = False
    # Which alerts this sink takes (a receiver's routed ones); None: every alert.
    wants: Callable[[dict[str, Any]], bool] | None = None
    receiver: Receiver | None = None
    kind: str = ""  # the channel's type (dingtalk, wecom, webhook, email)
    outage: Outage | None = None
    # Its last try found it unreachable: the alerts after its delivery mark wait.
    blocked: bool = False
    # Its open undelivered alerts: seq → outcome (refused or pending).
    set_aside: dict[int, str] = field(default_factory=dict)
    backoff: float = 1.0
    probe_at: float = 0.0

    def takes(self, alert: dict[str, Any]) -> bool:
        return self.wants is None or self.wants(alert)


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


# Appends one alert row (its time, its body) inside the notifier's open ledger transaction:
# the collector journals it too, so a restart re-derives it in its place.
Note = Callable[[str, dict[str, Any]], None]


class Notifier:
    """Delivers the ledger's alert rows to every sink that wants them, at least once.

    Every attempt is recorded (``attempts``, the latest few hundred, and the counters for
    ``/metrics``). A receiver's channel that fails for its ``failing_after`` has its
    fallback told and its alerts handed over (see the module's doc).
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        retry_s: float = 1.0,
        note: Note | None = None,
        committed: Callable[[int], None] | None = None,
    ) -> None:
        self._ledger = ledger
        self._retry_s = retry_s
        self._note = note or (lambda at, body: ledger.append("alert", at, body))
        self._committed = committed
        self._sinks: dict[str, Sink] = {}
        self._wake = asyncio.Event()
        self._announcing: set[asyncio.Task[None]] = set()
        self.delivered: dict[str, int] = {}
        self.skipped: dict[str, int] = {}
        self.unreachable: dict[str, int] = {}
        self.attempts: collections.deque[Attempt] = collections.deque(maxlen=ATTEMPTS_KEPT)
        for statement in SCHEMA:
            ledger.connection.execute(statement)

    def add(
        self,
        name: str,
        send: Send,
        *,
        in_order: bool = False,
        wants: Callable[[dict[str, Any]], bool] | None = None,
        receiver: Receiver | None = None,
        kind: str = "",
    ) -> None:
        """A sink added to an existing ledger starts with the alerts written from now on;
        one known to the ledger's file takes up where it was, an outage included.

        ``in_order``: the sink keeps the order of sends in flight together, so a round of
        alerts goes out at once; other sinks (webhooks) get one alert after the other.
        """
        db = self._ledger.connection
        known = db.execute("SELECT 1 FROM delivery WHERE sink = ?", (name,)).fetchone()
        if known is None:  # no write otherwise: a restart on a locked or full disk starts
            db.execute("INSERT INTO delivery VALUES (?, ?)", (name, self._ledger.next_seq - 1))
        sink = Sink(name, send, in_order, wants, receiver, kind, backoff=self._retry_s)
        found = db.execute(
            "SELECT since, reason, detail, told, handed FROM delivery_outage WHERE sink = ?",
            (name,),
        ).fetchone()
        if found is not None:
            sink.outage = Outage(*found)
        sink.set_aside = dict(
            db.execute(
                "SELECT seq, outcome FROM undelivered WHERE sink = ? AND outcome != 'abandoned'",
                (name,),
            ).fetchall()
        )
        self._sinks[name] = sink
        self.delivered[name] = self.skipped[name] = self.unreachable[name] = 0

    def failing(self) -> dict[str, float]:
        """Sinks failing now, with the wall-clock time they started failing."""
        return {n: s.outage.since for n, s in self._sinks.items() if s.outage is not None}

    def outages(self) -> list[dict[str, Any]]:
        """Each failing sink: since when and why, whether its receiver's fallback was told,
        and whether its alerts reach no one (no channel of its receiver works, nor of the
        fallbacks after it)."""
        found = []
        for sink in self._sinks.values():
            outage, receiver = sink.outage, sink.receiver
            if outage is None:
                continue
            found.append(
                {
                    "sink": sink.name,
                    "receiver": receiver.id if receiver else None,
                    "since": stamp(outage.since),
                    "reason": outage.reason,
                    "detail": outage.detail,
                    "told": outage.told is not None,
                    "fallback": receiver.fallback if receiver else None,
                    "reaching_no_one": (
                        receiver is not None
                        and outage.told is not None
                        and not self._reachable(receiver.id, set())
                    ),
                }
            )
        return found

    def _reachable(self, receiver_id: str, seen: set[str]) -> bool:
        """A channel of the receiver works, or its fallback (or the next one) is reachable."""
        sinks = [s for s in self._sinks.values() if s.receiver and s.receiver.id == receiver_id]
        if not sinks or any(s.outage is None for s in sinks):
            return bool(sinks)
        fallback = sinks[0].receiver.fallback if sinks[0].receiver else None
        seen.add(receiver_id)
        return fallback is not None and fallback not in seen and self._reachable(fallback, seen)

    def wake(self) -> None:
        self._wake.set()

    def announce(self, alert: dict[str, Any]) -> None:
        """An alert the ledger cannot hold (its disk is what fails): sent straight to each
        sink that takes it, tried ``ANNOUNCE_TRIES`` times, kept in ``attempts`` only."""
        loop = asyncio.get_running_loop()
        for sink in self._sinks.values():
            if sink.takes(alert):
                task = loop.create_task(self._announce_to(sink, alert))
                self._announcing.add(task)
                task.add_done_callback(self._announcing.discard)

    async def _announce_to(self, sink: Sink, alert: dict[str, Any]) -> None:
        backoff = self._retry_s
        for _ in range(ANNOUNCE_TRIES):
            try:
                await sink.send(alert)
            except (PermanentDeliveryError, *UNREACHABLE) as exc:
                self._record(sink, -1, alert, "unreachable", f"{type(exc).__name__}: {exc}")
                if isinstance(exc, PermanentDeliveryError):
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            else:
                self.delivered[sink.name] += 1
                self._record(sink, -1, alert, "delivered", "")
                return

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for sink in self._sinks.values():
                group.create_task(self._deliver_despite_store(sink))

    async def _deliver_despite_store(self, sink: Sink) -> None:
        """A ledger that takes no write (locked, its disk full) pauses the sink, which then
        goes on from its mark in the file: at worst a round of alerts goes out again. A
        ledger that cannot be read (damaged, a table gone) pauses it too, said as an error:
        the collector and its console live on, and the store's own checks say what is
        wrong."""
        while True:
            try:
                await self._deliver_forever(sink)
            except (StoreUnavailableError, *STORE_ERRORS) as exc:
                if unavailable(exc) is None:
                    log.error(
                        "alert sink %s paused: the ledger cannot be read (%s)", sink.name, exc
                    )
                else:
                    log.warning(
                        "alert sink %s paused: the ledger takes no write (%s)", sink.name, exc
                    )
                await asyncio.sleep(self._retry_s)

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
        self, sink: Sink, seq: int, alert: dict[str, Any], outcome: str, detail: str
    ) -> None:
        ticket = alert.get("ticket")
        if alert.get("alert") == HANDED_OVER:
            ticket = alert.get("original", {}).get("ticket")
        self.attempts.append(
            Attempt(
                datetime.now(UTC).isoformat(timespec="seconds"),
                sink.name,
                sink.receiver.id if sink.receiver else None,
                seq,
                alert.get("alert", ""),
                ticket.get("id") if isinstance(ticket, dict) else None,
                outcome,
                detail[:300],
            )
        )

    async def _deliver_forever(self, sink: Sink) -> None:
        db = self._ledger.connection
        name = sink.name
        (delivered,) = db.execute("SELECT seq FROM delivery WHERE sink = ?", (name,)).fetchone()
        # Rows up to ``examined`` hold no alert left to send. Kept apart from the delivered
        # mark, which is only written when an alert goes out: otherwise every wake (one per
        # ingest commit) scanned every state row written since the last alert.
        examined = delivered
        while True:
            raise_if_cancelled()
            self._hand_over(sink)
            head = self._ledger.next_seq - 1  # committed: no transaction spans an await
            rows = db.execute(
                "SELECT seq, at, body FROM ledger WHERE seq > ? AND kind = 'alert' ORDER BY seq "
                "LIMIT ?",
                (examined, ROUND),
            ).fetchall()
            if not rows:
                examined = head
                if await self._offer_set_aside(sink):
                    continue
                self._wake.clear()
                await wait_event(self._wake, 1.0)
                continue
            done = examined
            every = [(seq, {"at": at, **orjson.loads(body)}) for seq, at, body in rows]
            # Routing decided once per alert: ``wants`` runs the router.
            wanted = [(seq, alert) for seq, alert in every if sink.takes(alert)]
            wanted_seqs = {seq for seq, _ in wanted}
            outcomes = await self._send_round(sink.send, [a for _, a in wanted], sink.in_order)
            results = dict(zip([seq for seq, _ in wanted], outcomes, strict=False))
            pause = 0.0
            for seq, alert in every:
                if seq not in wanted_seqs:
                    done = seq  # routed elsewhere: nothing to send here
                    continue
                if seq not in results:
                    break  # the round stopped at an unreachable answer before this one
                outcome = results[seq]
                if isinstance(outcome, PermanentDeliveryError):
                    log.error(
                        "alert sink %s refused ledger row %d (%s): %s",
                        name, seq, outcome.reason, outcome,
                    )  # fmt: skip
                    self.skipped[name] += 1
                    self._record(sink, seq, alert, "refused", str(outcome))
                    self._set_aside(sink, seq, outcome)
                elif isinstance(outcome, UNREACHABLE):
                    detail = f"{type(outcome).__name__}: {outcome}"
                    log.warning("alert sink %s unreachable (%s); retrying", name, detail)
                    self.unreachable[name] += 1
                    self._record(sink, seq, alert, "unreachable", detail)
                    self._failed(sink, reason_of(outcome), detail)
                    sink.blocked = True
                    pause = sink.backoff
                    sink.backoff = min(sink.backoff * 2, MAX_BACKOFF_S)
                    break
                elif outcome is not None:
                    raise outcome  # a bug, not an answer from the sink
                else:
                    self.delivered[name] += 1
                    self._record(sink, seq, alert, "delivered", "")
                    self._delivered(sink, seq)
                done = seq
            # One commit per round of up to ROUND alerts, not one per alert (each is a WAL
            # commit): after a crash, at most that round goes out again.
            if done != delivered:
                db.execute("UPDATE delivery SET seq = ? WHERE sink = ?", (done, name))
                delivered = done
            examined = head if done == rows[-1][0] and len(rows) < ROUND else done
            if pause:
                await self._pause(sink, pause)

    async def _pause(self, sink: Sink, seconds: float) -> None:
        """Back off from an unreachable sink; its outage goes on being handed over."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(left, 1.0))
            raise_if_cancelled()
            self._hand_over(sink)

    def _failed(self, sink: Sink, reason: str, detail: str) -> None:
        """The sink failed: its outage starts now (kept in the file) or goes on."""
        db = self._ledger.connection
        outage = sink.outage
        if outage is None:
            outage = sink.outage = Outage(time.time(), reason, detail)
            db.execute(
                "INSERT OR REPLACE INTO delivery_outage VALUES (?, ?, ?, ?, NULL, -1)",
                (sink.name, outage.since, reason, detail),
            )
            log.error("alert sink %s is failing (%s): %s", sink.name, reason, detail)
        elif (outage.reason, outage.detail) != (reason, detail):
            outage.reason, outage.detail = reason, detail
            db.execute(
                "UPDATE delivery_outage SET reason = ?, detail = ? WHERE sink = ?",
                (reason, detail, sink.name),
            )

    def _set_aside(self, sink: Sink, seq: int, refusal: PermanentDeliveryError) -> None:
        """A refused alert: undelivered by this sink, which goes on with the next one."""
        sink.blocked = False
        self._failed(sink, refusal.reason, str(refusal))
        self._ledger.connection.execute(
            "INSERT INTO undelivered (sink, seq, failed_at, outcome, reason, detail) "
            "VALUES (?, ?, ?, 'refused', ?, ?) ON CONFLICT (sink, seq) DO UPDATE SET "
            "outcome = 'refused', reason = excluded.reason, detail = excluded.detail",
            (sink.name, seq, time.time(), refusal.reason, str(refusal)[:300]),
        )
        sink.set_aside[seq] = "refused"

    def _delivered(self, sink: Sink, seq: int) -> None:
        """The sink delivered ``seq``: no longer undelivered, and its outage is over."""
        db = self._ledger.connection
        if sink.set_aside.pop(seq, None) is not None:
            db.execute("DELETE FROM undelivered WHERE sink = ? AND seq = ?", (sink.name, seq))
        sink.backoff, sink.blocked = self._retry_s, False
        outage, sink.outage = sink.outage, None
        if outage is None:
            return
        log.warning(
            "alert sink %s delivers again (failing since %s)", sink.name, stamp(outage.since)
        )
        forget = ("DELETE FROM delivery_outage WHERE sink = ?", (sink.name,))
        if outage.told is None or sink.receiver is None:
            db.execute(*forget)
            return
        receiver = sink.receiver
        body = {
            **self._about(sink, outage),
            "alert": RECOVERED,
            "to": [receiver.fallback] if receiver.fallback else [],
            "recovered": stamp(time.time()),
        }
        self._write([body], [forget])

    def _about(self, sink: Sink, outage: Outage) -> dict[str, Any]:
        """What every alert about a failing channel says of it."""
        assert sink.receiver is not None
        receiver = sink.receiver
        fallback = self._receiver(receiver.fallback)
        return {
            "receiver": receiver.id,
            "receiver_name": receiver.name,
            "channel": sink.name,
            "channel_kind": sink.kind,
            "since": stamp(outage.since),
            "reason": outage.reason,
            "error": outage.detail,
            "fallback": receiver.fallback,
            "fallback_name": fallback.name if fallback else None,
        }

    def _receiver(self, receiver_id: str | None) -> Receiver | None:
        for sink in self._sinks.values():
            if sink.receiver is not None and sink.receiver.id == receiver_id:
                return sink.receiver
        return None

    def _write(
        self, bodies: list[dict[str, Any]], staged: list[tuple[str, tuple[Any, ...]]]
    ) -> None:
        """Alert rows and the notifier's own tables, in one commit."""
        first = self._ledger.next_seq
        at = stamp(time.time())
        with self._ledger.transaction():
            for body in bodies:
                self._note(at, body)
            for statement, parameters in staged:
                self._ledger.stage(statement, parameters)
        if self._committed is not None:
            self._committed(first)
        self.wake()

    def _alert_at(self, seq: int) -> dict[str, Any]:
        at, body = self._ledger.connection.execute(
            "SELECT at, body FROM ledger WHERE seq = ?", (seq,)
        ).fetchone()
        return {"at": at, **orjson.loads(body)}

    def _hand_over(self, sink: Sink) -> None:
        """Once a receiver's channel has failed for its ``failing_after``: tell the fallback
        (once an outage) and hand it each alert the channel has not delivered."""
        outage, receiver = sink.outage, sink.receiver
        if outage is None or receiver is None:
            return
        now = time.time()
        if outage.told is None and now - outage.since < receiver.failing_after.total_seconds():
            return
        db = self._ledger.connection
        items = [
            (seq, self._alert_at(seq), outcome)
            for seq, outcome in db.execute(
                "SELECT seq, outcome FROM undelivered WHERE sink = ? AND announced IS NULL "
                "AND outcome != 'abandoned' ORDER BY seq",
                (sink.name,),
            ).fetchall()
        ]
        handed = outage.handed
        if sink.blocked:  # the alerts after its mark wait at an unreachable channel
            (mark,) = db.execute("SELECT seq FROM delivery WHERE sink = ?", (sink.name,)).fetchone()
            handed = self._ledger.next_seq - 1
            for seq, at, body in db.execute(
                "SELECT seq, at, body FROM ledger WHERE seq > ? AND seq <= ? AND kind = 'alert' "
                "ORDER BY seq",
                (max(mark, outage.handed), handed),
            ).fetchall():
                alert = {"at": at, **orjson.loads(body)}
                if seq not in sink.set_aside and sink.takes(alert):
                    items.append((seq, alert, "pending"))
        if outage.told is not None and not items:
            outage.handed = handed  # kept in the file with the next handover: a scan start
            return
        fallback = receiver.fallback
        about = self._about(sink, outage)
        bodies: list[dict[str, Any]] = []
        staged: list[tuple[str, tuple[Any, ...]]] = []
        seq = self._ledger.next_seq
        told = outage.told
        if told is None:
            told = seq
            summaries = [self._summary(item_seq, alert) for item_seq, alert, _ in items]
            bodies.append(
                {**about, "alert": FAILING, "to": [fallback] if fallback else [],
                 "undelivered": summaries}
            )  # fmt: skip
            seq += 1
        for item_seq, alert, outcome in items:
            if alert["alert"] == HANDED_OVER:  # a fallback failing in turn: pass it on
                original, via = alert["original"], [*alert.get("via", []), receiver.id]
            else:
                original, via = {**alert, "seq": item_seq}, [receiver.id]
            target = fallback if fallback is not None and fallback not in via else None
            announced = told
            if target is not None:
                bodies.append(
                    {**about, "alert": HANDED_OVER, "to": [target], "via": via,
                     "original": original}
                )  # fmt: skip
                announced, seq = seq, seq + 1
            if outcome == "pending":
                staged.append(
                    (
                        "INSERT OR REPLACE INTO undelivered "
                        "VALUES (?, ?, ?, 'pending', ?, ?, ?, ?)",
                        (sink.name, item_seq, now, outage.reason, outage.detail[:300],
                         announced, target),
                    )
                )  # fmt: skip
            else:
                staged.append(
                    (
                        "UPDATE undelivered SET announced = ?, handed_to = ? "
                        "WHERE sink = ? AND seq = ?",
                        (announced, target, sink.name, item_seq),
                    )
                )
        staged.append(
            (
                "UPDATE delivery_outage SET told = ?, handed = ? WHERE sink = ?",
                (told, handed, sink.name),
            )
        )
        if outage.told is None:
            log.error(
                "alert sink %s has failed since %s (%s): %d alerts not delivered, told %s",
                sink.name, stamp(outage.since), outage.reason, len(items), fallback or "nobody",
            )  # fmt: skip
        self._write(bodies, staged)
        outage.told, outage.handed = told, handed
        for item_seq, _, outcome in items:
            if outcome == "pending":
                sink.set_aside[item_seq] = "pending"

    @staticmethod
    def _summary(seq: int, alert: dict[str, Any]) -> dict[str, Any]:
        """An undelivered alert as the ``receiver_failing`` alert lists it."""
        if alert["alert"] == HANDED_OVER:
            alert = alert["original"]
        ticket = alert.get("ticket")
        return {
            "seq": alert.get("seq", seq),
            "alert": alert["alert"],
            "at": alert.get("at"),
            "ticket": ticket.get("id") if isinstance(ticket, dict) else None,
            "receiver": alert.get("receiver"),
        }

    async def _offer_set_aside(self, sink: Sink) -> bool:
        """Offer the oldest refused alert again: with backoff while the sink's outage lasts
        (a probe: is it put right?), once each after it recovered. True if one went."""
        refused = [seq for seq, outcome in sink.set_aside.items() if outcome == "refused"]
        outage = sink.outage
        if not refused or (outage is not None and time.time() < sink.probe_at):
            return False
        seq = min(refused)
        alert = self._alert_at(seq)
        try:
            await sink.send(alert)
        except PermanentDeliveryError as exc:
            self.skipped[sink.name] += 1
            self._record(sink, seq, alert, "refused", str(exc))
            if outage is None:  # the channel works and still refuses this one: give up
                self._ledger.connection.execute(
                    "UPDATE undelivered SET outcome = 'abandoned', reason = ?, detail = ? "
                    "WHERE sink = ? AND seq = ?",
                    (exc.reason, str(exc)[:300], sink.name, seq),
                )
                del sink.set_aside[seq]
                return True
            self._failed(sink, exc.reason, str(exc))
        except UNREACHABLE as exc:
            detail = f"{type(exc).__name__}: {exc}"
            self.unreachable[sink.name] += 1
            self._record(sink, seq, alert, "unreachable", detail)
            self._failed(sink, reason_of(exc), detail)
        else:
            self.delivered[sink.name] += 1
            self._record(sink, seq, alert, "delivered", "")
            self._delivered(sink, seq)
            return True
        sink.probe_at = time.time() + sink.backoff
        sink.backoff = min(sink.backoff * 2, MAX_BACKOFF_S)
        return False

    def undelivered(self, limit: int = LISTED) -> dict[str, list[Undelivered]]:
        """By receiver, newest first: the alerts a channel of theirs refused or holds
        unreachable, and which receivers got each all the same (by another channel, or
        handed over to a fallback)."""
        db = self._ledger.connection
        marks: dict[str, int] = dict(db.execute("SELECT sink, seq FROM delivery").fetchall())
        entries = [
            (sink, seq, failed_at, outcome, reason, detail, handed_to)
            for sink, seq, failed_at, outcome, reason, detail, handed_to in db.execute(
                "SELECT sink, seq, failed_at, outcome, reason, detail, handed_to "
                "FROM undelivered ORDER BY seq DESC"
            ).fetchall()
            if sink in self._sinks
        ]
        missing = {(sink, seq) for sink, seq, *_ in entries}
        for sink in self._sinks.values():  # waiting at an unreachable channel, not yet handed
            outage = sink.outage
            if outage is None or not sink.blocked or sink.receiver is None:
                continue
            for seq, at, body in db.execute(
                "SELECT seq, at, body FROM ledger WHERE seq > ? AND kind = 'alert' "
                "ORDER BY seq DESC LIMIT ?",
                (max(marks.get(sink.name, -1), outage.handed), limit),
            ).fetchall():
                if (sink.name, seq) not in missing and sink.takes({"at": at, **orjson.loads(body)}):
                    entries.append(
                        (
                            sink.name,
                            seq,
                            outage.since,
                            "pending",
                            outage.reason,
                            outage.detail,
                            None,
                        )
                    )
                    missing.add((sink.name, seq))
        # Every handed_over row, by the alert it carries: who got the copies counts too.
        copies: dict[int, list[tuple[int, dict[str, Any]]]] = {}
        for seq, at, body in db.execute(
            "SELECT seq, at, body FROM ledger WHERE seq IN "
            "(SELECT announced FROM undelivered WHERE handed_to IS NOT NULL) ORDER BY seq"
        ).fetchall():
            alert = {"at": at, **orjson.loads(body)}
            if alert.get("alert") == HANDED_OVER:
                copies.setdefault(alert["original"]["seq"], []).append((seq, alert))

        def got(seq: int, alert: dict[str, Any]) -> set[str]:
            return {
                s.receiver.id
                for s in self._sinks.values()
                if s.receiver is not None
                and marks.get(s.name, -1) >= seq
                and (s.name, seq) not in missing
                and s.takes(alert)
            }

        found: dict[str, list[Undelivered]] = {}
        for sink_name, seq, failed_at, outcome, reason, detail, handed_to in sorted(
            entries, key=lambda entry: -entry[1]
        ):
            sink = self._sinks[sink_name]
            if sink.receiver is None or len(found.get(sink.receiver.id, [])) >= limit:
                continue
            alert = self._alert_at(seq)
            root_seq, original = seq, alert
            if alert["alert"] == HANDED_OVER:
                original = alert["original"]
                root_seq = original["seq"]
            reached = (
                got(root_seq, self._alert_at(root_seq)) if root_seq != seq else got(seq, alert)
            )
            for copy_seq, copy in copies.get(root_seq, []):
                reached |= got(copy_seq, copy)
            ticket = original.get("ticket")
            found.setdefault(sink.receiver.id, []).append(
                Undelivered(
                    sink.receiver.id,
                    sink.receiver.name,
                    sink_name,
                    seq,
                    alert["alert"],
                    ticket.get("id") if isinstance(ticket, dict) else None,
                    original.get("at") or alert["at"],
                    stamp(failed_at),
                    outcome,
                    reason,
                    detail,
                    handed_to,
                    tuple(sorted(reached)),
                )
            )
        return found
