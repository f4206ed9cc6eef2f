"""A channel that refuses or cannot be reached fails over: its receiver's fallback is told
once an outage (which channel, why in words, since when, which alerts), is handed those
alerts, and hears once when the channel delivers again; restarts change none of that.

Real parts: mosquitto, the collector, a local DingTalk robot that checks the access token
and the signature (加签) as DingTalk does, aiosmtpd (a real SMTP server) refusing a
mailbox with 550, local webhooks answering 503 and 404. Each test counts, per receiver,
that every fault alert reached someone and that the fallback was told once an outage.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from collector.alerting.channels import robot_reason
from collector.alerting.notify import stamp
from collector.ledger.chain import Ledger
from collector.web.metrics import exposition
from simulator.local_servers import Mosquitto, free_port
from slawatch.messages import text
from tests.collector.conftest import Receiver
from tests.collector.live import (
    API_TOKEN,
    FakeAgent,
    load_collector,
    running,
    write_settings,
)
from tests.collector.test_disk import ledger_locked
from tests.collector.test_service import minute_of
from tests.conftest import wait_for

ROBOT_TOKEN = "dt-robot-token-4f1c9a"
ROBOT_SECRET = "SECdt-signing-secret-77ab"
ROTATED_SECRET = "SECdt-rotated-secret-19cd"
NOBODY: frozenset[str] = frozenset()


class DingTalkRobot:
    """A DingTalk group robot that checks each request as DingTalk does: its access token
    (else errcode 300001), then its 加签: a timestamp within an hour of its clock and
    ``sign`` = Base64(HMAC-SHA256(secret, "timestamp\\nsecret")) (else errcode 310000),
    answered in a 200 reply with DingTalk's error messages. ``secret`` can be rotated."""

    def __init__(self) -> None:
        self.port = free_port()
        self.secret = ROBOT_SECRET
        self.accepted: list[dict[str, Any]] = []
        self.refusals: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/robot/send"

    def _signed(self, query: dict[str, str]) -> bool:
        if "timestamp" not in query or "sign" not in query:
            return False
        stamp_ms = int(query["timestamp"])
        expected = base64.b64encode(
            hmac.new(
                self.secret.encode(), f"{stamp_ms}\n{self.secret}".encode(), hashlib.sha256
            ).digest()
        ).decode()
        fresh = abs(time.time() * 1000 - stamp_ms) < 3_600_000
        return fresh and hmac.compare_digest(query["sign"], expected)

    async def handle(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        body = await request.json()
        if query.get("access_token") != ROBOT_TOKEN:
            answer = {"errcode": 300001, "errmsg": "token is not exist"}
        elif not self._signed(query):
            answer = {
                "errcode": 310000,
                "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
            }
        else:
            self.accepted.append(body)
            answer = {"errcode": 0, "errmsg": "ok"}
        if answer["errcode"]:
            self.refusals.append(answer)
        return web.json_response(answer)

    def titles(self) -> list[str]:
        return [body["markdown"]["title"] for body in self.accepted]


@pytest.fixture
async def robot() -> AsyncIterator[DingTalkRobot]:
    found = DingTalkRobot()
    app = web.Application()
    app.router.add_post("/robot/send", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", found.port).start()
    yield found
    await runner.cleanup()


class PickyMailbox:
    """aiosmtpd's handler: refuses the listed mailboxes at RCPT with 550, as Postfix does
    for an unknown user, and keeps every mail it takes."""

    def __init__(self) -> None:
        self.mails: list[Message] = []
        self.unknown: set[str] = set()

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.unknown:
            return (
                f"550 5.1.1 <{address}>: Recipient address rejected: "
                "User unknown in local recipient table"
            )
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        assert isinstance(envelope.content, bytes)
        self.mails.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[PickyMailbox, int]]:
    box = PickyMailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def alerting(
    duty_channel: dict[str, Any], failing_after: str, receiver: Receiver, **extra: Any
) -> dict[str, Any]:
    """Every alert to the duty room; the NOC (a webhook) is its fallback."""
    return {
        **extra,
        "receivers": [
            {
                "id": "duty",
                "name": "值班室",
                "failing_after": failing_after,
                "fallback": "noc",
                "channels": [duty_channel],
            },
            {
                "id": "noc",
                "name": "网管中心",
                "channels": [{"type": "webhook", "url": receiver.url("noc")}],
            },
        ],
        "routes": [{"notify": ["duty"]}],
    }


def posts(receiver: Receiver, path: str, kind: str) -> list[dict[str, Any]]:
    return [post for post in receiver.posts.get(path, []) if post["alert"] == kind]


def fault_alerts(ledger_file: Path) -> list[tuple[str, str]]:
    """(kind, ticket) of every fault alert the ledger holds, in order."""
    ledger = Ledger(ledger_file)
    try:
        return [
            (row.body["alert"], row.body["ticket"]["id"])
            for row in ledger.rows(("alert",))
            if "ticket" in row.body
        ]
    finally:
        ledger.close()


def title(kind: str, ticket: str) -> str:
    return f"{text('alert.' + kind)} {ticket}"


def handed(receiver: Receiver, path: str = "noc") -> list[tuple[str, str]]:
    return [
        (post["original"]["alert"], post["original"]["ticket"]["id"])
        for post in posts(receiver, path, "handed_over")
    ]


def down_from(first: int, *devices: str) -> Any:
    """Minute ``m`` of the district with ``devices`` down from minute ``first`` on."""
    return lambda m: minute_of(m, frozenset(devices) if m >= first else NOBODY)


def local(moment: float) -> str:
    """How the alerts write a wall-clock moment: Beijing time, to the minute."""
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(moment + 8 * 3600))


def failing_seconds(collector: Any, sink: str) -> float:
    metrics = exposition(collector, None).decode()
    found = re.search(rf'slawatch_alert_sink_failing_seconds{{sink="{sink}"}} ([0-9.e+]+)', metrics)
    assert found is not None, metrics
    return float(found.group(1))


async def test_a_robot_whose_secret_was_rotated_fails_over_and_recovers_with_the_new_secret(
    tmp_path: Path,
    broker: Mosquitto,
    receiver: Receiver,
    robot: DingTalkRobot,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The environment is where deployments keep robot keys (input, not code under test).
    monkeypatch.setenv("TEST_ROBOT_TOKEN", ROBOT_TOKEN)
    monkeypatch.setenv("TEST_ROBOT_SECRET", ROBOT_SECRET)
    dingtalk = {
        "type": "dingtalk",
        "url": robot.url,
        "access_token": {"env": "TEST_ROBOT_TOKEN"},
        "secret": {"env": "TEST_ROBOT_SECRET"},
    }
    settings = write_settings(tmp_path, broker.port, alerting=alerting(dingtalk, "1s", receiver))
    sink = "duty/0-dingtalk"
    agent = FakeAgent(broker.port)
    cam41, cam1 = down_from(1, "CAM041"), down_from(9, "CAM001")
    async with running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(*(agent.batch(cam41(m)) for m in range(8)))
        await wait_for(lambda: len(robot.accepted) == 1)
        # Someone rotates the robot's signing secret in DingTalk; the collector still signs
        # with the old one. CAM041 comes back (resolved), CAM001 goes down (opened).
        robot.secret = ROTATED_SECRET
        await agent.publish(*(agent.batch(cam1(m)) for m in range(8, 16)))
        await wait_for(lambda: len(handed(receiver)) == 2)
        since = collector.notifier.failing()[sink]
        alerts = collector.status()["alerts"]
        seconds = failing_seconds(collector, sink)
        listed = collector.undelivered()["duty"]
    [told] = posts(receiver, "noc", "receiver_failing")
    assert robot.refusals[0]["errcode"] == 310000
    for words in (
        "告警通道故障",
        "值班室",
        "钉钉机器人",
        "加签不匹配：密钥可能已更换",
        local(since),
    ):
        assert words in told["text"], (words, told["text"])
    assert told["since"] == stamp(since)
    [(first, ticket1), (second, ticket2)] = handed(receiver)
    assert (first, second) == ("resolved", "opened")
    # The first alert refused is named in the notice (later ones may be handed over after it).
    assert (told["undelivered"][0]["alert"], told["undelivered"][0]["ticket"]) == (first, ticket1)
    assert f"【转交】故障已恢复 {ticket1}" in posts(receiver, "noc", "handed_over")[0]["text"]
    assert alerts["reaching_no_one"] == []
    [outage] = alerts["failing"]
    assert (outage["sink"], outage["reason"], outage["told"]) == (sink, "sign_mismatch", True)
    assert seconds > 0
    assert {(e.alert, e.outcome, e.handed_to, e.reached) for e in listed} == {
        ("resolved", "refused", "noc", ("noc",)),
        ("opened", "refused", "noc", ("noc",)),
    }
    assert ROBOT_SECRET not in json.dumps(receiver.posts, ensure_ascii=False)

    # The operator puts the new secret where the collector reads it and restarts it: the
    # refused alerts go out again, oldest first, and the NOC hears the robot works again.
    monkeypatch.setenv("TEST_ROBOT_SECRET", ROTATED_SECRET)
    async with running(load_collector(settings)) as collector:
        await wait_for(lambda: len(posts(receiver, "noc", "receiver_recovered")) == 1)
        await wait_for(lambda: len(robot.accepted) == 3)
        await agent.publish(*(agent.batch(minute_of(m)) for m in range(16, 22)))
        await wait_for(lambda: len(robot.accepted) == 4)
        assert collector.notifier.failing() == {}
        assert collector.undelivered() == {}
    [recovered] = posts(receiver, "noc", "receiver_recovered")
    assert recovered["since"] == stamp(since)
    assert "告警通道已恢复" in recovered["text"]
    assert robot.titles() == [
        title("opened", ticket1),
        title("resolved", ticket1),
        title("opened", ticket2),
        title("resolved", ticket2),
    ]
    # Every fault alert reached someone; the NOC was told once, and heard once it was over.
    reached = set(robot.titles()) | {title(*alert) for alert in handed(receiver)}
    assert {title(*alert) for alert in fault_alerts(tmp_path / "ledger.sqlite")} <= reached
    assert len(posts(receiver, "noc", "receiver_failing")) == 1


async def test_a_mailbox_the_server_refuses_with_550_fails_over_to_the_fallback(
    tmp_path: Path,
    broker: Mosquitto,
    receiver: Receiver,
    mailbox: tuple[PickyMailbox, int],
) -> None:
    box, smtp_port = mailbox
    box.unknown.add("day@bureau.example")
    smtp = {"host": "127.0.0.1", "port": smtp_port, "sender": "alerts@bureau.example"}
    config = alerting({"type": "email", "to": ["day@bureau.example"]}, "1s", receiver, smtp=smtp)
    settings = write_settings(tmp_path, broker.port, alerting=config)
    agent = FakeAgent(broker.port)
    async with running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(*(agent.batch(down_from(1, "CAM041")(m)) for m in range(8)))
        await wait_for(lambda: len(handed(receiver)) == 1)
        [entry] = collector.undelivered()["duty"]
        assert (entry.alert, entry.reason, entry.handed_to) == ("opened", "mail_refused", "noc")
        assert "550" in entry.detail
        assert collector.status()["alerts"]["failing"][0]["sink"] == "duty/0-email"
        # The mailbox is created: the refused mail is offered again and taken.
        box.unknown.clear()
        await wait_for(lambda: len(box.mails) == 1, 60)
        await wait_for(lambda: len(posts(receiver, "noc", "receiver_recovered")) == 1)
    [told] = posts(receiver, "noc", "receiver_failing")
    for words in ("告警通道故障", "值班室", "邮件", "邮件服务器拒收：收件人或发件人被拒绝", "550"):
        assert words in told["text"], (words, told["text"])
    [(kind, ticket)] = handed(receiver)
    assert (kind, ticket) in fault_alerts(tmp_path / "ledger.sqlite")
    assert title(kind, ticket) in str(box.mails[0]["Subject"])


async def test_a_webhook_down_across_two_restarts_is_one_outage_from_its_true_start(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver
) -> None:
    receiver.answer["station"] = (503, "Service Unavailable")
    station = {"type": "webhook", "url": receiver.url("station")}

    def settings(failing_after: str) -> Path:
        config = alerting(station, failing_after, receiver)
        return write_settings(tmp_path, broker.port, alerting=config)

    sink = "duty/0-webhook"
    agent = FakeAgent(broker.port)
    # First start: the station's webhook fails, not yet for long enough to tell anyone.
    async with running(load_collector(settings("1h"))) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(*(agent.batch(down_from(1, "CAM041")(m)) for m in range(8)))
        await wait_for(lambda: sink in collector.notifier.failing())
        since = collector.notifier.failing()[sink]
    assert "noc" not in receiver.posts

    # Second start, with a shorter failing_after: the outage keeps its start; the NOC is
    # told, with that start, and handed the alert.
    restarted = time.time()
    async with running(load_collector(settings("1s"))) as collector:
        await wait_for(lambda: sink in collector.notifier.failing())
        assert collector.notifier.failing()[sink] == since
        assert failing_seconds(collector, sink) >= restarted - since
        await wait_for(lambda: len(handed(receiver)) == 1)
        assert collector.status()["alerts"]["failing"][0]["since"] == stamp(since)
    [told] = posts(receiver, "noc", "receiver_failing")
    assert told["since"] == stamp(since)
    assert local(since) in told["text"]
    assert "接收方服务异常" in told["text"]
    assert [item["alert"] for item in told["undelivered"]] == ["opened"]

    # Third start: still down. What it could not deliver since goes to the NOC too, with
    # no second notice; then the webhook is back and takes every alert it missed.
    async with running(load_collector(settings("1s"))) as collector:
        await wait_for(lambda: sink in collector.notifier.failing())
        assert collector.notifier.failing()[sink] == since
        await agent.publish(*(agent.batch(down_from(9, "CAM001")(m)) for m in range(8, 16)))
        await wait_for(lambda: len(handed(receiver)) == 3)
        assert len(posts(receiver, "noc", "receiver_failing")) == 1
        del receiver.answer["station"]
        await wait_for(lambda: len(posts(receiver, "noc", "receiver_recovered")) == 1)
        await wait_for(lambda: len(receiver.posts.get("station", [])) == 3)
        assert collector.notifier.failing() == {}
    [recovered] = posts(receiver, "noc", "receiver_recovered")
    assert recovered["since"] == stamp(since)
    faults = fault_alerts(tmp_path / "ledger.sqlite")
    assert len(faults) == 3
    assert [(p["alert"], p["ticket"]["id"]) for p in receiver.posts["station"]] == faults
    assert sorted(handed(receiver)) == sorted(faults)
    assert len(posts(receiver, "noc", "receiver_failing")) == 1


async def test_a_fallback_down_too_shows_on_healthz_until_it_is_back(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver
) -> None:
    receiver.answer["duty"] = (404, "no such robot")  # removed: refuses every alert
    receiver.answer["noc"] = (503, "Service Unavailable")
    api_port = free_port()
    config = alerting({"type": "webhook", "url": receiver.url("duty")}, "1s", receiver)
    settings = write_settings(tmp_path, broker.port, alerting=config, api_port=api_port)
    agent = FakeAgent(broker.port)
    async with (
        running(load_collector(settings)) as collector,
        httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{api_port}",
            headers={"authorization": f"Bearer {API_TOKEN}"},  # as a scraper configured
        ) as api,
    ):
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(*(agent.batch(down_from(1, "CAM041")(m)) for m in range(8)))
        await wait_for(lambda: collector.status()["alerts"]["reaching_no_one"] == ["duty"])
        health = (await api.get("/healthz")).json()
        assert (
            'slawatch_alert_receiver_unreached{receiver="duty"} 1.0'
            in (await api.get("/metrics")).text
        )
        assert health["alerts"]["reaching_no_one"] == ["duty"]
        assert {o["sink"] for o in health["alerts"]["failing"]} == {
            "duty/0-webhook",
            "noc/0-webhook",
        }
        [entry] = collector.undelivered()["duty"]
        assert (entry.reason, entry.handed_to, entry.reached) == ("not_found", "noc", ())
        # The NOC's webhook is back: the notice and the alert are retried and taken.
        del receiver.answer["noc"]
        await wait_for(lambda: len(handed(receiver)) == 1)
        await wait_for(lambda: collector.status()["alerts"]["reaching_no_one"] == [])
        assert (await api.get("/healthz")).json()["alerts"]["reaching_no_one"] == []
        assert "slawatch_alert_receiver_unreached{" not in (await api.get("/metrics")).text
        [entry] = collector.undelivered()["duty"]
        assert entry.reached == ("noc",)
    assert receiver.turned_away["noc"] >= 1
    [told] = posts(receiver, "noc", "receiver_failing")
    assert "接收地址不存在" in told["text"]
    assert handed(receiver) == fault_alerts(tmp_path / "ledger.sqlite")


@pytest.mark.parametrize(
    ("errcode", "errmsg", "reason"),
    [
        (310000, "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]",
         "sign_mismatch"),
        (310000, "keywords not in content, more: [...]", "keywords_missing"),
        (310000, "ip 203.0.113.7 not in whitelist, more: [...]", "ip_not_allowed"),
        (300001, "token is not exist", "token_invalid"),
        (93000, "invalid webhook url, hint: [...]", "token_invalid"),
        (130101, "send too fast, exceed 20 times per minute", "rate_limited"),
        (45009, "api freq out of limit", "rate_limited"),
        (460101, "message too long", "too_long"),
        (40035, "invalid parameter", "robot_refused"),
    ],
)  # fmt: skip
def test_a_robots_error_code_names_what_the_operator_has_to_do(
    errcode: int, errmsg: str, reason: str
) -> None:
    """DingTalk's and WeCom's documented answers, as the fallback reads them."""
    assert robot_reason(errcode, errmsg) == reason
    assert not text(f"delivery.{reason}").startswith("delivery.")  # it has words


async def test_a_locked_ledger_is_told_to_the_duty_room_at_once_and_its_end_on_record(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver
) -> None:
    """The ledger cannot hold the alert that it takes no commit: it goes straight to the
    channels; the end of the outage is a ledger row, delivered as any."""
    config = alerting({"type": "webhook", "url": receiver.url("duty")}, "1m", receiver)
    settings = write_settings(tmp_path, broker.port, alerting=config)
    agent = FakeAgent(broker.port)
    async with running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        shell = await asyncio.create_subprocess_exec(
            "sqlite3", str(tmp_path / "ledger.sqlite"), stdin=asyncio.subprocess.PIPE
        )
        assert shell.stdin is not None
        shell.stdin.write(b".timeout 10000\nBEGIN EXCLUSIVE;\n")
        await shell.stdin.drain()
        await wait_for(lambda: ledger_locked(tmp_path / "ledger.sqlite"))
        await agent.publish(agent.batch(minute_of(0)))
        await wait_for(lambda: len(posts(receiver, "duty", "store_failing")) == 1)
        [told] = posts(receiver, "duty", "store_failing")
        assert told["title"] == f"{text('alert.store_failing')} {collector.client_id}"
        for words in (text("store.locked"), text("text.store_held"), "database is locked"):
            assert words in told["text"]
        assert collector.counters.batches == 0
        shell.stdin.write(b"COMMIT;\n.quit\n")
        await shell.stdin.drain()
        assert await shell.wait() == 0
        await wait_for(lambda: len(posts(receiver, "duty", "store_recovered")) == 1)
        [recovered] = posts(receiver, "duty", "store_recovered")
        assert text("label.recovered") in recovered["text"]
        assert collector.counters.batches == 1
    assert "noc" not in receiver.posts  # the duty room's channel worked: no fallback
