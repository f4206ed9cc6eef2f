"""Deliver the ledger's alert rows to MQTT and webhooks, each sink at its own pace.

Alerts are decided in event time by the pipeline and written to the ledger (that row is
the ticket's "alerted" evidence); delivery only reads them. Each sink keeps the ledger
seq of the last alert it delivered in the ledger's file, so a crash or an unreachable
webhook delays alerts but loses none, and a restart does not send them twice. A webhook
that answers 4xx will never accept that alert: it is skipped with an error in the log.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import aiomqtt
import orjson

from collector.ledger import Ledger
from slawatch.aio import raise_if_cancelled, wait_event
from slawatch.config.settings import BrokerSettings, Webhook
from slawatch.mqtt import mqtt_client

log = logging.getLogger(__name__)

ALERT_TOPIC = "slawatch/v1/alerts"
KIND_TEXT = {
    "opened": "新故障",
    "reopened": "故障复发",
    "unacknowledged": "故障未响应",
    "repair_due": "修复即将超时",
    "resolved": "故障已恢复",
}
CLASS_TEXT = {"front_end": "前端故障", "network": "网络故障"}


class PermanentDeliveryError(Exception):
    """The receiver will never take this alert (a 4xx answer)."""


Send = Callable[[dict[str, Any]], Awaitable[None]]
UNREACHABLE = (aiohttp.ClientError, aiomqtt.MqttError, TimeoutError, OSError)
ROUND = 100  # alerts read, sent and marked delivered together


def alert_text(alert: dict[str, Any], zone: ZoneInfo) -> tuple[str, str]:
    """A title and a Markdown text for humans (WeCom, DingTalk), in the policy's time zone."""
    ticket = alert["ticket"]

    def local(stamp: str | None) -> str:
        if stamp is None:
            return "—"
        return datetime.fromisoformat(stamp).astimezone(zone).strftime("%Y-%m-%d %H:%M")

    devices = ticket["device_ids"]
    shown = "、".join(devices[:5]) + (f" 等 {len(devices)} 台" if len(devices) > 5 else "")
    title = f"{KIND_TEXT[alert['alert']]} {ticket['id']}"
    lines = [
        f"### {title}",
        f"- 类别：{CLASS_TEXT[ticket['fault_class']]}（{ticket['reason']}）",
        f"- 设备：{shown}",
        f"- 检测：{local(ticket['detected_at'])}",
        f"- 响应时限：{local(ticket['response_deadline'])}",
        f"- 修复时限：{local(ticket['repair_deadline'])}",
    ]
    if ticket["link"]:
        lines.insert(2, f"- 链路：{ticket['link']}")
    if ticket["resolved_at"]:
        lines.append(f"- 恢复：{local(ticket['resolved_at'])}")
    return title, "\n".join(lines)


def webhook_body(webhook: Webhook, alert: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    title, text = alert_text(alert, zone)
    if webhook.format == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": text}}
    if webhook.format == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
    return {**alert, "title": title, "text": text}


def webhook_sender(webhook: Webhook, session: aiohttp.ClientSession, zone: ZoneInfo) -> Send:
    url = str(webhook.url)

    async def send(alert: dict[str, Any]) -> None:
        body = webhook_body(webhook, alert, zone)
        async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=10)) as reply:
            answer = await reply.text()
            if 400 <= reply.status < 500 and reply.status != 429:
                raise PermanentDeliveryError(f"HTTP {reply.status}: {answer[:500]}")
            reply.raise_for_status()
            if webhook.format in ("wecom", "dingtalk"):
                # The robots answer 200 with an error code in the body when they refuse.
                errcode = json.loads(answer).get("errcode", 0) if answer else 0
                if errcode != 0:
                    raise PermanentDeliveryError(f"robot refused: {answer[:500]}")

    return send


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


class Notifier:
    def __init__(self, ledger: Ledger, *, retry_s: float = 1.0) -> None:
        self._ledger = ledger
        self._retry_s = retry_s
        self._sinks: dict[str, tuple[Send, bool]] = {}
        self._wake = asyncio.Event()
        self.delivered: dict[str, int] = {}
        self.skipped: dict[str, int] = {}
        ledger.connection.execute(
            "CREATE TABLE IF NOT EXISTS delivery (sink TEXT PRIMARY KEY, seq INTEGER NOT NULL)"
        )

    def add(self, name: str, send: Send, *, in_order: bool = False) -> None:
        """A sink added to an existing ledger starts with the alerts written from now on.

        ``in_order``: the sink keeps the order of sends in flight together, so a round of
        alerts goes out at once; other sinks (webhooks) get one alert after the other.
        """
        self._ledger.connection.execute(
            "INSERT OR IGNORE INTO delivery VALUES (?, ?)", (name, self._ledger.next_seq - 1)
        )
        self._sinks[name] = (send, in_order)
        self.delivered[name] = self.skipped[name] = 0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for name, (send, in_order) in self._sinks.items():
                group.create_task(self._deliver_forever(name, send, in_order))

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

    async def _deliver_forever(self, name: str, send: Send, in_order: bool) -> None:
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
            alerts = [{"at": at, **orjson.loads(body)} for _, at, body in rows]
            outcomes = await self._send_round(send, alerts, in_order)
            for (seq, _, _), outcome in zip(rows, outcomes, strict=False):
                if isinstance(outcome, PermanentDeliveryError):
                    log.error(
                        "alert sink %s refused ledger row %d for good: %s", name, seq, outcome
                    )
                    self.skipped[name] += 1
                elif isinstance(outcome, UNREACHABLE):
                    log.warning("alert sink %s unreachable (%s); retrying", name, outcome)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    break
                elif outcome is not None:
                    raise outcome  # a bug, not an answer from the sink
                else:
                    self.delivered[name] += 1
                backoff = self._retry_s
                done = seq
            # One commit per round of up to ROUND alerts, not one per alert (each is a WAL
            # commit): after a crash, at most that round goes out again.
            if done != delivered:
                db.execute("UPDATE delivery SET seq = ? WHERE sink = ?", (done, name))
                delivered = done
            examined = head if done == rows[-1][0] and len(rows) < ROUND else done
