"""Alerts reach the right people: by route and duty roster, by DingTalk (signed) and mail,
in Chinese with device names, escalated when nobody acknowledges, secrets kept out of sight.

Real parts: mosquitto, the collector, a local HTTP receiver that checks DingTalk's
signature as DingTalk does, and aiosmtpd (a real SMTP server) that keeps each mail.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus
from zoneinfo import ZoneInfo

import httpx
import pytest

from collector.alerting.routing import Router
from collector.pipeline.faults import FaultClass, Ticket
from simulator.devices import Fault
from simulator.fleet_runner import FaultSpec, Fleet
from simulator.local_servers import Mosquitto, free_port
from slawatch.config.alerting import Alerting
from slawatch.config.check import check_files
from slawatch.config.errors import ConfigError
from slawatch.config.inventory import Inventory, Region
from slawatch.config.loader import load_config
from slawatch.config.settings import CollectorSettings
from tests.collector.conftest import CAMERAS_ON_SW1, Mailbox, Receiver, body_of
from tests.collector.live import (
    API_TOKEN,
    FakeAgent,
    field_agent,
    field_collector,
    field_policy,
    load_collector,
    running,
    write_settings,
)
from tests.collector.test_service import minute_of
from tests.conftest import wait_for
from tests.language import english_words

ROBOT_TOKEN = "dt-robot-token-4f1c9a"
ROBOT_SECRET = "SECdt-signing-secret-77ab"
SMTP_PASSWORD = "smtp-pass-91e2"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def dingtalk_signed(query: dict[str, str]) -> bool:
    """Verify as DingTalk's robot does: HMAC-SHA256 of "timestamp\\nsecret", within an hour."""
    stamp = int(query["timestamp"])
    expected = base64.b64encode(
        hmac.new(
            ROBOT_SECRET.encode(), f"{stamp}\n{ROBOT_SECRET}".encode(), hashlib.sha256
        ).digest()
    ).decode()
    return abs(time.time() * 1000 - stamp) < 3_600_000 and hmac.compare_digest(
        unquote_plus(query["sign"]) if "%" in query["sign"] else query["sign"], expected
    )


def alerting(receiver: Receiver, smtp_port: int) -> dict[str, Any]:
    return {
        "smtp": {
            "host": "127.0.0.1",
            "port": smtp_port,
            "sender": "slawatch <alerts@bureau.example>",
        },
        "receivers": [
            {
                "id": "chengguan-day",
                "name": "城关派出所白班",
                "on_duty": {"start": "08:00", "end": "20:00"},
                "channels": [
                    {
                        "type": "dingtalk",
                        "url": receiver.url("dingtalk"),
                        "access_token": {"env": "TEST_ROBOT_TOKEN"},
                        "secret": {"env": "TEST_ROBOT_SECRET"},
                    },
                    {"type": "email", "to": ["day@bureau.example"]},
                ],
            },
            {
                "id": "chengguan-night",
                "name": "城关派出所夜班",
                "on_duty": {"start": "20:00", "end": "08:00"},
                "channels": [{"type": "webhook", "url": receiver.url("night")}],
            },
            {
                "id": "supervisor",
                "name": "运维主管",
                "channels": [{"type": "email", "to": ["boss@bureau.example"]}],
            },
            {
                "id": "noc",
                "name": "网管中心",
                "channels": [{"type": "webhook", "url": receiver.url("noc")}],
            },
        ],
        "routes": [
            {
                "match": {"station": ["城关派出所"]},
                "notify": ["chengguan-day", "chengguan-night"],
                "escalate": ["supervisor"],
            },
            {"notify": ["noc"]},
        ],
    }


@pytest.fixture
def robot_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    # The environment is where deployments keep robot keys (input, not code under test).
    monkeypatch.setenv("TEST_ROBOT_TOKEN", ROBOT_TOKEN)
    monkeypatch.setenv("TEST_ROBOT_SECRET", ROBOT_SECRET)


def collector_log(caplog: pytest.LogCaptureFixture) -> str:
    """What the collector logged (not the test receivers' own access logs)."""
    theirs = ("aiohttp.access", "mail.log")
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith(theirs))


async def test_a_cut_link_reaches_the_day_shift_by_signed_dingtalk_and_mail_then_escalates(
    tmp_path: Path,
    broker: Mosquitto,
    receiver: Receiver,
    mailbox: tuple[Mailbox, int],
    robot_secrets: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    box, smtp_port = mailbox
    settings = write_settings(tmp_path, broker.port, alerting=alerting(receiver, smtp_port))
    behind_sw1 = frozenset(f"CAM{n:03d}" for n in range(1, CAMERAS_ON_SW1 + 1))
    agent = FakeAgent(broker.port)
    caplog.set_level(logging.DEBUG)
    async with running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        # 08:00 Beijing: the 40 cameras behind SW1 (link L1) go dark at minute 2; the opening
        # alert goes at 08:05 (held 2 min to gather the link's devices), nobody acknowledges.
        await agent.publish(
            *(agent.batch(minute_of(m, behind_sw1 if m >= 2 else frozenset())) for m in range(6))
        )
        await wait_for(lambda: len(receiver.posts.get("dingtalk", [])) == 1, 10)
        await wait_for(lambda: len(box.mails) == 1, 10)  # within 10 s of the confirming batch
        # Minute 23 (08:23): 20 minutes unacknowledged → the supervisor, by mail.
        await agent.publish(*(agent.batch(minute_of(m, behind_sw1)) for m in range(6, 24)))
        await wait_for(lambda: len(box.mails) == 2, 10)
        # The mail arrives before the collector has the server's answer and records it.
        await wait_for(
            lambda: any(a.receiver == "supervisor" for a in collector.notifier.attempts), 10
        )
        deliveries = collector.notifier.attempts
        [ticket] = [t for t in collector.pipeline.faults.tickets.values() if t.merged_into is None]

    robot = receiver.posts["dingtalk"][0]
    assert dingtalk_signed(receiver.queries["dingtalk"][0])
    assert receiver.queries["dingtalk"][0]["access_token"] == ROBOT_TOKEN
    text = robot["markdown"]["text"]
    for words in (
        "新故障",
        "网络故障",
        "无响应（超时）",
        "城关汇聚",
        "40 台设备",
        "点位1（CAM001）",
        "城关街道",
        "城关派出所",
        "2026-07-01 08:03",
        "2026-07-01 12:03",
    ):
        assert words in text, (words, text)
    day_mail, escalation = box.mails
    assert day_mail["To"] == "day@bureau.example"
    assert "新故障" in str(day_mail["Subject"]) or "新故障" in body_of(day_mail)
    assert "点位1（CAM001）" in body_of(day_mail)
    assert escalation["To"] == "boss@bureau.example"
    assert "故障未响应" in body_of(escalation)
    for said in (text, body_of(day_mail), body_of(escalation)):  # one language
        assert english_words(said) == [], said
    assert ticket.id in body_of(escalation)
    # Event time: the day shift at 08:05 local; nobody on the night shift or at the NOC.
    assert "night" not in receiver.posts
    assert "noc" not in receiver.posts
    assert {(a.receiver, a.alert, a.outcome) for a in deliveries} >= {
        ("chengguan-day", "opened", "delivered"),
        ("supervisor", "unacknowledged", "delivered"),
    }
    ours = collector_log(caplog)
    assert ROBOT_TOKEN not in ours
    assert ROBOT_SECRET not in ours


async def test_delivery_attempts_show_on_metrics_and_the_api(
    tmp_path: Path,
    broker: Mosquitto,
    receiver: Receiver,
    mailbox: tuple[Mailbox, int],
    robot_secrets: None,
) -> None:
    _, smtp_port = mailbox
    api_port = free_port()
    settings = write_settings(
        tmp_path, broker.port, alerting=alerting(receiver, smtp_port), api_port=api_port
    )
    agent = FakeAgent(broker.port)
    async with running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(
            *(
                agent.batch(minute_of(m, frozenset({"CAM041"}) if m >= 1 else frozenset()))
                for m in range(8)
            )
        )
        await wait_for(lambda: len(receiver.posts.get("dingtalk", [])) == 1, 10)
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{api_port}",
            headers={"authorization": f"Bearer {API_TOKEN}"},
        ) as api:
            await wait_for(
                lambda: collector.notifier.delivered.get("chengguan-day/1-email", 0) == 1
            )
            metrics = (await api.get("/metrics")).text
            attempts = (await api.get("/alerts/deliveries")).json()
    assert (
        'slawatch_alert_deliveries_total{outcome="delivered",sink="chengguan-day/0-dingtalk"} 1.0'
        in metrics
    )
    assert any(a["receiver"] == "chengguan-day" and a["outcome"] == "delivered" for a in attempts)
    assert ROBOT_TOKEN not in metrics + str(attempts)


async def test_a_receiver_that_keeps_failing_is_reported_to_its_fallback(
    tmp_path: Path,
    broker: Mosquitto,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    robot_secrets: None,
) -> None:
    dead = free_port()  # nothing listens: the robot is unreachable
    config = {
        "receivers": [
            {
                "id": "duty",
                "name": "值班室",
                "failing_after": "1s",
                "fallback": "noc",
                "channels": [
                    {
                        "type": "dingtalk",
                        "url": f"http://127.0.0.1:{dead}/robot/send",
                        "access_token": {"env": "TEST_ROBOT_TOKEN"},
                        "secret": {"env": "TEST_ROBOT_SECRET"},
                    }
                ],
            },
            {
                "id": "noc",
                "name": "网管中心",
                "channels": [{"type": "webhook", "url": receiver.url("noc")}],
            },
        ],
        "routes": [{"notify": ["duty"]}],
    }
    settings = write_settings(tmp_path, broker.port, alerting=config)
    agent = FakeAgent(broker.port)
    caplog.set_level(logging.DEBUG)
    async with running(load_collector(settings)):
        await agent.publish(
            *(
                agent.batch(minute_of(m, frozenset({"CAM041"}) if m >= 1 else frozenset()))
                for m in range(8)
            )
        )
        await wait_for(lambda: len(receiver.posts.get("noc", [])) == 2, 30)
    # Both reach the fallback, in either order: the hand-over of the alert the robot could
    # not take and the notice that it keeps failing are sent by separate deliveries.
    by_kind = {post["alert"]: post for post in receiver.posts["noc"]}
    assert sorted(by_kind) == ["handed_over", "receiver_failing"]
    told, handed = by_kind["receiver_failing"], by_kind["handed_over"]
    assert "告警通道故障" in told["text"]
    assert "值班室" in told["text"]
    assert "无法连接" in told["text"]  # the reason in words
    # The alert the robot could not take goes to the fallback, whole.
    assert handed["original"]["alert"] == "opened"
    assert "【转交】新故障" in handed["text"]
    assert "点位41（CAM041）" in handed["text"]
    assert ROBOT_TOKEN not in collector_log(caplog) + str(told) + str(handed)
    assert ROBOT_SECRET not in collector_log(caplog) + str(told) + str(handed)


def test_a_robot_key_in_a_url_is_refused_with_its_line(tmp_path: Path) -> None:
    file = tmp_path / "collector.yaml"
    file.write_text(
        "kind: collector\ninventory: district.yaml\npolicy: policy.yaml\nspool: {dir: spool}\n"
        "ledger: ledger.sqlite\nalerting:\n  receivers:\n    - id: duty\n      name: 值班室\n"
        "      channels:\n        - type: webhook\n"
        "          url: https://oapi.dingtalk.com/robot/send?access_token=abc123\n"
        "  routes: [{notify: [duty]}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as raised:
        load_config(file, CollectorSettings)
    [problem] = raised.value.problems
    assert problem.line == 11  # the channel with the URL
    assert "access_token" in problem.message
    assert "abc123" not in str(problem)


def test_check_config_names_a_missing_robot_key(tmp_path: Path, receiver: Receiver) -> None:
    settings = write_settings(tmp_path, 1883, alerting=alerting(receiver, 25))
    out = io.StringIO()
    assert check_files([settings], {"collector", "inventory", "policy"}, out) == 2
    expected = "alerting.receivers[0].channels[0].access_token: 环境变量 TEST_ROBOT_TOKEN 未设置"
    assert expected in out.getvalue()


def test_routes_pick_the_shift_on_duty_at_the_alerts_own_time(
    district: Inventory, receiver: Receiver
) -> None:
    other = Region(id="R2", name="新城街道", police_station="新城派出所")
    devices = [replace(d, region="R2") if d.id == "CAM042" else d for d in district.devices]
    inventory = district.model_copy(
        update={"regions": [*district.regions, other], "devices": devices}
    )
    router = Router(Alerting.model_validate(alerting(receiver, 25)), inventory, SHANGHAI)

    def alert(kind: str, at: str, *devices: str) -> dict[str, Any]:
        return {"alert": kind, "at": at, "ticket": {"device_ids": list(devices)}}

    assert router.receivers_for(alert("opened", "2026-07-01T01:00:00Z", "CAM001")) == [
        "chengguan-day"
    ]
    assert router.receivers_for(alert("opened", "2026-07-01T13:00:00Z", "CAM001")) == [
        "chengguan-night"
    ]
    assert router.receivers_for(alert("unacknowledged", "2026-07-01T13:00:00Z", "CAM001")) == [
        "supervisor"
    ]
    assert router.receivers_for(alert("opened", "2026-07-01T01:00:00Z", "CAM042")) == ["noc"]
    # A ticket spanning both stations' devices takes the first route any of them matches.
    assert router.receivers_for(alert("opened", "2026-07-01T01:00:00Z", "CAM042", "CAM001")) == [
        "chengguan-day"
    ]


async def test_a_link_cut_in_the_simulator_reaches_its_station_by_webhook_and_mail_in_seconds(
    tmp_path: Path,
    inventory: Inventory,
    fleet: Fleet,
    broker: Mosquitto,
    receiver: Receiver,
    mailbox: tuple[Mailbox, int],
) -> None:
    """The whole chain: simulated devices → agent → mosquitto → collector → receivers.

    The site policy is the Pingshan one with a field test's short times: two polls to
    confirm, 2 s to gather a link's devices, escalation after 6 s unacknowledged.
    """
    box, smtp_port = mailbox
    policy = field_policy(
        tmp_path,
        debounce={"down_after": 2, "up_after": 1},
        network_fault={"min_devices": 3, "share": 0.8, "window": "2s"},
        escalation={"unacknowledged_after": "6s", "repair_due_within": "30m"},
    )
    station = inventory.regions[0].police_station
    settings_file = field_collector(
        tmp_path,
        broker.port,
        policy,
        alerting={
            "smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "alerts@bureau.example"},
            "receivers": [
                {
                    "id": "station",
                    "name": f"{station}值班",
                    "channels": [
                        {"type": "webhook", "url": receiver.url("station")},
                        {"type": "email", "to": ["duty@bureau.example"]},
                    ],
                },
                {
                    "id": "chief",
                    "name": "运维主管",
                    "channels": [{"type": "email", "to": ["chief@bureau.example"]}],
                },
                {
                    "id": "noc",
                    "name": "网管中心",
                    "channels": [{"type": "webhook", "url": receiver.url("noc")}],
                },
            ],
            "routes": [
                {"match": {"station": [station]}, "notify": ["station"], "escalate": ["chief"]},
                {"notify": ["noc"]},
            ],
        },
    )
    agent = field_agent(tmp_path, broker.port)
    link = inventory.links[0].id
    async with running(load_collector(settings_file)) as collector, agent:
        await wait_for(lambda: collector.pipeline.watermark is not None, 20)
        await asyncio.sleep(2.5)  # every device seen up
        reached = await fleet.inject(f"link:{link}", FaultSpec(Fault.DOWN))
        faults = collector.pipeline.faults

        def network_ticket() -> Ticket | None:
            # A device the agent saw late (its own stall, on a busy machine) may have had
            # a front-end ticket of its own first: the link's fault is the network ticket.
            return next(
                (t for t in faults.tickets.values() if t.fault_class is FaultClass.NETWORK),
                None,
            )

        def posted(ticket_id: str) -> dict[str, Any] | None:
            return next(
                (p for p in receiver.posts.get("station", []) if p["ticket"]["id"] == ticket_id),
                None,
            )

        await wait_for(lambda: network_ticket() is not None, 30)
        ticket = network_ticket()
        assert ticket is not None
        assert ticket.link == link
        await wait_for(lambda: posted(ticket.id) is not None, 30)
        posted_at = time.time()
        await wait_for(lambda: any("网络故障" in body_of(m) for m in box.mails), 30)
        mailed_at = time.time()
        await wait_for(lambda: any(m["To"] == "chief@bureau.example" for m in box.mails), 30)
        await agent.stop()

    opened = posted(ticket.id)
    assert opened is not None
    assert opened["alert"] == "opened"
    assert set(opened["ticket"]["device_ids"]) <= set(reached)
    # Seconds from the confirming observation (the 2 s gathering window included) to the
    # webhook and the mail: printed, bounded by the waits (no stopwatch asserts).
    confirmed = ticket.detected_at.timestamp()
    print(f"webhook {posted_at - confirmed:.1f} s, mail {mailed_at - confirmed:.1f} s")
    mail = next(
        m for m in box.mails if m["To"] == "duty@bureau.example" and "网络故障" in body_of(m)
    )
    for words in ("新故障", "汇聚光纤 1", f"{station}", "响应时限"):
        assert words in body_of(mail), (words, body_of(mail))
    some_device = next(d for d in inventory.devices if d.id == opened["ticket"]["device_ids"][0])
    assert f"{some_device.name}（{some_device.id}）" in opened["text"]
    assert "noc" not in receiver.posts
    escalation = next(m for m in box.mails if m["To"] == "chief@bureau.example")
    assert "故障未响应" in body_of(escalation)


async def test_a_wecom_robot_gets_markdown_with_its_key_from_a_secret_file(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver
) -> None:
    (tmp_path / "wecom-key").write_text("wecom-key-5b3e\n", encoding="utf-8")
    config = {
        "language": "en",
        "receivers": [
            {
                "id": "duty",
                "name": "Duty room",
                "channels": [
                    {
                        "type": "wecom",
                        "url": receiver.url("wecom"),
                        "key": {"file": str(tmp_path / "wecom-key")},
                    }
                ],
            }
        ],
        "routes": [{"notify": ["duty"]}],
    }
    settings = write_settings(tmp_path, broker.port, alerting=config)
    agent = FakeAgent(broker.port)
    async with running(load_collector(settings)):
        down = frozenset({"CAM041"})
        await agent.publish(
            *(agent.batch(minute_of(m, down if m >= 1 else frozenset())) for m in range(8))
        )
        await wait_for(lambda: len(receiver.posts.get("wecom", [])) == 1, 10)
    assert receiver.queries["wecom"][0]["key"] == "wecom-key-5b3e"
    content = receiver.posts["wecom"][0]["markdown"]["content"]
    for words in (
        "New fault",
        "front-end fault",
        "no answer (timeout)",
        "点位41 (CAM041)",
        "10.0.0.41",
    ):
        assert words in content, (words, content)
