"""The live collector over a real broker (mosquitto) and a real time-series server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.wire import Health, Reason, Status, sign
from collector.alerting.notify import ALERT_TOPIC
from collector.cli import main as collector_cli
from collector.ingest.consumer import COMMAND_TOPIC, DEADLETTER_TOPIC
from collector.pipeline.state import State
from collector.service import Collector
from simulator.local_servers import Mosquitto, VictoriaMetrics, free_port
from tests.agent_keys import agent_key
from tests.collector.conftest import CAMERAS_ON_SW1, Receiver, at
from tests.collector.live import (
    API_TOKEN,
    FakeAgent,
    load_collector,
    running,
    until_serving,
    write_settings,
)
from tests.conftest import wait_for
from tests.language import english_words

EVERY_DEVICE = [f"CAM{n:03d}" for n in range(1, 43)] + ["SW1"]


def minute_of(minute: int, down: frozenset[str] = frozenset()) -> list[Status]:
    """One poll cycle of the district: every in-service device, some of them down."""
    return [
        Status(
            device_id=device,
            observed_at=at(minute),
            health=Health.DOWN if device in down else Health.UP,
            reason=Reason.TIMEOUT if device in down else Reason.OK,
            metrics={"rtt_ms": 3.0 + minute},
        )
        for device in EVERY_DEVICE
    ]


def states(collector: Collector, device_id: str) -> list[tuple[str, str]]:
    return [
        (row.body["state"], row.body["since"])
        for row in collector.ledger.rows(("state",))
        if row.body["device_id"] == device_id
    ]


async def test_statuses_reach_the_ledger_and_every_point_reaches_the_time_series_server(
    tmp_path: Path, broker: Mosquitto, victoria: VictoriaMetrics
) -> None:
    settings = write_settings(tmp_path, broker.port, influx_url=victoria.url)
    agent = FakeAgent(broker.port)
    async with running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(
            *(
                agent.batch(minute_of(m, frozenset({"CAM041"}) if 3 <= m < 7 else frozenset()))
                for m in range(10)
            )
        )
        await wait_for(lambda: collector.counters.batches == 10)
        await wait_for(lambda: collector.spool.empty, seconds=30)
        assert states(collector, "CAM041") == [
            ("up", "2026-07-01T00:00:00.000Z"),
            ("down", "2026-07-01T00:03:00.000Z"),
            ("up", "2026-07-01T00:07:00.000Z"),
        ]
        [ticket] = collector.pipeline.faults.tickets.values()
        assert (ticket.device_ids, ticket.detected_at, ticket.resolved_at) == (
            ["CAM041"],
            at(4),
            at(7),
        )
    stored = victoria.export('{__name__="device_status_rtt_ms"}')
    samples = {(s["metric"]["device"], t) for s in stored for t in s["timestamps"]}
    assert len(samples) == 10 * len(EVERY_DEVICE)
    health = victoria.export('{__name__="device_status_health_code", device="CAM041"}')
    seen_as = {
        t: (s["metric"]["health"], s["metric"]["reason"], v)
        for s in health
        for t, v in zip(s["timestamps"], s["values"], strict=True)
    }
    assert [seen_as[1782864000000 + m * 60_000] for m in range(10)] == (
        [("up", "ok", 0)] * 3 + [("down", "timeout", 2)] * 4 + [("up", "ok", 0)] * 3
    )
    down = victoria.export('{__name__="device_state_state_code", device="CAM041"}')
    assert sorted(t for s in down for t in s["timestamps"]) == [
        1782864000000,
        1782864180000,
        1782864420000,
    ]


async def test_a_replayed_outbox_is_taken_once(tmp_path: Path, broker: Mosquitto) -> None:
    agent = FakeAgent(broker.port)
    batches = [agent.batch(minute_of(m)) for m in range(5)]
    async with running(load_collector(write_settings(tmp_path, broker.port))) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(*batches)
        await agent.publish(*batches[2:])  # the agent lost its PUBACKs and sends again
        await agent.publish(agent.batch(minute_of(5)))
        await wait_for(lambda: collector.counters.batches == 6)
        await wait_for(lambda: collector.counters.duplicates == 3)
        assert collector.pipeline.states.late == 0
        assert collector.receipts.ack("edge-1", None).through == 5


async def test_bad_messages_go_to_the_dead_letter_topic_and_ingest_goes_on(
    tmp_path: Path, broker: Mosquitto, listen: Callable[[int, str], Any]
) -> None:
    letters = await listen(broker.port, DEADLETTER_TOPIC)
    agent = FakeAgent(broker.port)
    good = agent.batch(minute_of(0))
    wrong_version = json.loads(good.model_dump_json()) | {"v": 9}
    impostor = FakeAgent(broker.port, agent_id="edge-2").batch(minute_of(0))
    key = agent_key("edge-1")  # the agent's own bugs: signed, refused for what is wrong
    async with running(load_collector(write_settings(tmp_path, broker.port))) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(
            sign(b"{not json}", key),
            sign(json.dumps(wrong_version).encode(), key),
            impostor,  # edge-2's batch on edge-1's topic
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
            good,
        )
        await wait_for(lambda: len(letters.payloads) == 4)
        await wait_for(lambda: collector.counters.batches == 1)
    reasons = [letter["reason"] for letter in letters.payloads]
    assert reasons[0].startswith("(payload):")
    assert "unsupported schema version" in reasons[1]
    assert "edge-2" in reasons[2]
    assert reasons[3].startswith("sig: not signed by agent edge-1's registered key")
    assert letters.payloads[0]["topic"] == "slawatch/v1/d1/edge-1/status"
    assert letters.payloads[0]["payload"].startswith("{not json,")


async def test_a_dead_agent_leaves_its_devices_unknown_not_down(
    tmp_path: Path, broker: Mosquitto
) -> None:
    agent = FakeAgent(broker.port)
    async with running(load_collector(write_settings(tmp_path, broker.port))) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(*(agent.batch(minute_of(m)) for m in range(3)))
        await wait_for(lambda: collector.counters.batches == 3)
        await agent.die()
        await wait_for(lambda: collector.counters.agents_lost == 1)
        assert {collector.pipeline.states.state_of(d) for d in EVERY_DEVICE} == {State.UNKNOWN}
        assert states(collector, "CAM001")[-1] == ("unknown", "2026-07-01T00:02:00.000Z")
        assert not list(collector.pipeline.faults.open_tickets())


async def test_a_camera_handed_over_to_another_agent_is_not_lost_with_the_first(
    tmp_path: Path, broker: Mosquitto
) -> None:
    first, second = FakeAgent(broker.port), FakeAgent(broker.port, agent_id="edge-2")
    async with running(load_collector(write_settings(tmp_path, broker.port))) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await first.publish(*(first.batch(minute_of(m)) for m in range(2)))
        await wait_for(lambda: collector.counters.batches == 2)
        handed_over = [s for s in minute_of(2) if s.device_id == "CAM001"]
        await second.publish(second.batch(handed_over))
        await wait_for(lambda: collector.counters.batches == 3)
        await first.die()
        await wait_for(lambda: collector.counters.agents_lost == 1)
        assert collector.pipeline.states.state_of("CAM001") is State.UP
        assert collector.pipeline.states.state_of("CAM002") is State.UNKNOWN


async def test_a_dead_link_is_one_network_ticket_with_one_alert_per_sink_and_escalates(
    tmp_path: Path,
    broker: Mosquitto,
    receiver: Receiver,
    listen: Callable[[int, str], Any],
) -> None:
    alerts = await listen(broker.port, f"{ALERT_TOPIC}/#")
    hook = {"type": "webhook", "url": receiver.url("json")}
    alerting = {
        "receivers": [{"id": "duty", "name": "值班室", "channels": [hook]}],
        "routes": [{"notify": ["duty"]}],
    }
    settings = write_settings(tmp_path, broker.port, alerting=alerting)
    behind_sw1 = frozenset(f"CAM{n:03d}" for n in range(1, CAMERAS_ON_SW1 + 1))
    agent = FakeAgent(broker.port)
    async with running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        # The 40 cameras behind SW1 go dark at minute 2 and nobody acknowledges for 25 min.
        await agent.publish(
            *(agent.batch(minute_of(m, behind_sw1 if m >= 2 else frozenset())) for m in range(27))
        )
        await wait_for(lambda: collector.counters.batches == 27)
        await wait_for(lambda: len(receiver.posts.get("json", [])) == 2)
        await wait_for(lambda: len(alerts.payloads) == 2)
        [ticket] = [t for t in collector.pipeline.faults.tickets.values() if t.merged_into is None]
    assert (ticket.fault_class.value, ticket.link, len(ticket.device_ids)) == ("network", "L1", 40)
    assert ticket.repair_deadline - ticket.detected_at == timedelta(hours=4)  # L1 has backup fibre
    sent = receiver.posts["json"]
    assert [(a["alert"], a["ticket"]["id"]) for a in sent] == [
        ("opened", ticket.id),
        ("unacknowledged", ticket.id),
    ]
    assert sent[0]["at"] == "2026-07-01T00:05:00.000Z"  # detected 00:03, held 2 min to gather
    assert len(sent[0]["ticket"]["device_ids"]) == 40
    assert sent[1]["at"] == "2026-07-01T00:23:00.000Z"  # detected 00:03 + 20 min
    assert "网络故障" in sent[0]["text"]
    assert "等 40 台" in sent[0]["text"]
    assert [a["alert"] for a in alerts.payloads] == ["opened", "unacknowledged"]


async def test_tickets_are_acknowledged_through_the_api_the_cli_and_mqtt_with_a_token(
    tmp_path: Path,
    broker: Mosquitto,
    listen: Callable[[int, str], Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    letters = await listen(broker.port, DEADLETTER_TOPIC)
    api_port = free_port()
    settings = write_settings(tmp_path, broker.port, api_port=api_port)
    agent = FakeAgent(broker.port)
    base = f"http://127.0.0.1:{api_port}"
    async with running(load_collector(settings)) as collector, httpx.AsyncClient() as http:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(
            *(agent.batch(minute_of(m, frozenset({"CAM041", "CAM042"}))) for m in range(3))
        )
        await wait_for(lambda: len(list(collector.pipeline.faults.open_tickets())) == 2)
        first = collector.pipeline.faults.ticket_for_device("CAM041")
        second = collector.pipeline.faults.ticket_for_device("CAM042")
        assert first is not None
        assert second is not None
        await until_serving(base)

        refused = await http.post(f"{base}/tickets/{first.id}/ack", json={"by": "mallory"})
        wrong = await http.post(
            f"{base}/tickets/{first.id}/ack",
            json={"by": "mallory"},
            headers={"Authorization": "Bearer guess"},
        )
        assert (refused.status_code, wrong.status_code) == (401, 401)
        assert first.acknowledged_at is None

        argv = ["faults", "ack", first.id, "--by", "张工", "-c", str(settings)]
        assert await asyncio.to_thread(collector_cli, argv) == 0
        assert first.acknowledged_by == "张工"
        assert await asyncio.to_thread(collector_cli, ["faults", "list", "-c", str(settings)]) == 0
        listed = capsys.readouterr().out
        *_, row = (line for line in listed.splitlines() if line.startswith(first.id))
        assert row.split()[1:4] == ["前端故障", "无响应（超时）", "1"]
        assert row.rstrip().endswith("张工")
        assert english_words(listed) == []  # one language: the catalogue's Chinese

        command = {"device_id": "CAM042", "by": "李工", "token": API_TOKEN}
        await agent.publish(json.dumps(command | {"token": "guess"}).encode(), topic=COMMAND_TOPIC)
        await agent.publish(json.dumps(command).encode(), topic=COMMAND_TOPIC)
        await wait_for(lambda: second.acknowledged_by == "李工")
        await wait_for(lambda: len(letters.payloads) == 1)
        assert letters.payloads[0]["reason"].startswith("token:")
        assert "guess" not in letters.payloads[0]["reason"]

        missing = await http.post(
            f"{base}/tickets/F-none/ack",
            json={"by": "张工"},
            headers={"Authorization": f"Bearer {API_TOKEN}"},
        )
        assert missing.status_code == 404
        acks = [
            r.body for r in collector.ledger.rows(("ticket",)) if r.body["event"] == "acknowledged"
        ]
        assert [(a["ticket"]["id"], a["detail"]) for a in acks] == [
            (first.id, "张工"),
            (second.id, "李工"),
        ]
