"""Each collector owns its sites' agents, on a real mosquitto shared by two districts:
it hears and acks its own agents only, refuses an unknown agent, an agent of another site
and a status for a device another agent polls, leaving no trace of them; a seq no agent
could have reached is refused as forged, and a gap that will never fill is closed by an
admin with a reason. An agent without a key is a configuration error, heard unsigned only
where its site opts in for migration, and refused again once its key is registered."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import pytest
import yaml

from agent.wire import ack_topic, decode_ack, encode_batch
from collector.service import Collector
from simulator.local_servers import Mosquitto, free_port
from slawatch.config.errors import ConfigError
from tests import reliability
from tests.agent_keys import registered
from tests.collector.ingest.edge import blamed
from tests.collector.live import API_TOKEN, FakeAgent, load_collector, running, write_settings
from tests.collector.test_service import minute_of
from tests.conftest import wait_for


def district(
    folder: Path,
    broker_port: int,
    site: str,
    agents: list[str],
    api_port: int | None = None,
    neighbours: tuple[str, str] | None = None,
    signing: dict[str, Any] | None = None,
) -> Path:
    """The test district as site ``site`` with its registered ``agents`` (and their keys);
    ``neighbours``: another site and its one agent, in the same inventory."""
    folder.mkdir(exist_ok=True)
    settings = write_settings(folder, broker_port, api_port=api_port, signing=signing)
    inventory = folder / "district.yaml"
    data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    data["sites"] = [{"id": site, "name": "分局", **registered(*agents)}]
    if neighbours is not None:
        data["sites"].append({"id": neighbours[0], "name": "邻区", **registered(neighbours[1])})
    for device in data["devices"]:
        device["site"] = site
    inventory.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return settings


async def retained(port: int, topic: str) -> bytes:
    """What a newcomer to ``topic`` gets at once (retained), once there is something."""
    for _ in range(20):
        async with aiomqtt.Client("127.0.0.1", port) as client:
            await client.subscribe(topic, qos=1)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):
                    message = await anext(aiter(client.messages))
                    if message.retain and isinstance(message.payload, bytes):
                        return message.payload
    raise AssertionError(f"nothing retained on {topic}")


def batches_in(collector: Collector) -> int:
    return int(collector.counters.batches)


async def test_two_districts_on_one_broker_never_take_or_ack_each_others_batches(
    tmp_path: Path, broker: Mosquitto
) -> None:
    east_settings = district(tmp_path / "east", broker.port, "east", ["edge-e"])
    west_settings = district(tmp_path / "west", broker.port, "west", ["edge-w"])
    east_agent = FakeAgent(broker.port, agent_id="edge-e", site="east")
    west_agent = FakeAgent(broker.port, agent_id="edge-w", site="west")
    async with running(load_collector(east_settings)) as east:
        async with running(load_collector(west_settings)) as west:
            await wait_for(lambda: east.ingest.connected and west.ingest.connected)
        # West's collector is down; both agents keep publishing.
        await east_agent.publish(*(east_agent.batch(minute_of(m)) for m in range(5)))
        await west_agent.publish(*(west_agent.batch(minute_of(m)) for m in range(5)))
        await wait_for(lambda: batches_in(east) == 5)
        await asyncio.sleep(0.5)  # time for a stray west batch to reach east, if it could
        assert batches_in(east) == 5
        assert east.counters.dead_letters == 0  # west's batches never even reached it
        assert east.receipts.ack("edge-w", None).through == -1
    # West's collector comes back and finds every batch its agent sent meanwhile.
    async with running(load_collector(west_settings)) as west:
        await wait_for(lambda: batches_in(west) == 5)
        assert west.receipts.ack("edge-w", None).through == 4
    assert east.ingest._client_id != west.ingest._client_id


async def test_strangers_leave_no_trace_forged_seqs_are_refused_and_an_admin_closes_a_gap(
    tmp_path: Path, broker: Mosquitto
) -> None:
    api_port = free_port()
    # A second site's agent edge-9 exists too; CAM001 is polled by edge-1b.
    settings = district(
        tmp_path / "d1", broker.port, "d1", ["edge-1", "edge-1b"], api_port, ("d9", "edge-9")
    )
    inventory = tmp_path / "d1" / "district.yaml"
    data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    data["devices"][1]["agent"] = "edge-1b"
    assert data["devices"][1]["id"] == "CAM001"
    inventory.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    agent = FakeAgent(broker.port)
    async with running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        rows_before = collector.ledger.next_seq
        stranger = FakeAgent(broker.port, agent_id="edge-x")
        neighbour = FakeAgent(broker.port, agent_id="edge-9")  # publishes under site d1
        await stranger.publish(stranger.batch(minute_of(0)))
        await neighbour.publish(neighbour.batch(minute_of(0)))
        await wait_for(lambda: collector.counters.dead_letters == 2)
        assert collector.ledger.next_seq == rows_before  # no gap row, no receipt, nothing
        assert "edge-x" not in collector.agent_heard
        assert "edge-9" not in collector.agent_heard
        keys = [k for (k,) in collector.ledger.connection.execute("SELECT key FROM receipts")]
        assert keys == []

        # edge-1's own batch: taken, except the camera edge-1b polls.
        await agent.publish(agent.batch(minute_of(0)))
        await wait_for(lambda: collector.counters.batches == 1)
        assert collector.counters.dead_letters == 3  # the partial refusal of CAM001
        assert collector.pipeline.states.now_of("CAM001")[0].value == "unknown"
        assert collector.pipeline.states.now_of("CAM002")[0].value != "unknown"

        # A forged seq far ahead is refused; the agent's real next batch is not a duplicate.
        await agent.publish(agent.batch(minute_of(1), seq=50_000))
        await wait_for(lambda: collector.counters.dead_letters == 4)
        await agent.publish(agent.batch(minute_of(1)))
        await wait_for(lambda: collector.counters.batches == 2)
        assert collector.counters.duplicates == 0

        # Batches 2 and 3 never come (the edge server's disk died): a gap, closed by an admin.
        await agent.publish(agent.batch(minute_of(4), seq=4))
        await wait_for(lambda: collector.receipts.open_gaps() != {})
        assert collector.receipts.awaited() == {"edge-1/-": 2}
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as api:
            close = {"first": 2, "last": 3, "reason": "边缘服务器硬盘损坏，批次无法恢复"}
            refused = await api.post("/agents/edge-1/gaps/close", json=close)
            assert refused.status_code == 401
            admin = {"authorization": f"Bearer {API_TOKEN}"}
            wrong = await api.post(
                "/agents/edge-1/gaps/close", json=close | {"last": 9}, headers=admin
            )
            assert wrong.status_code == 404
            done = await api.post("/agents/edge-1/gaps/close", json=close, headers=admin)
            assert done.status_code == 200, done.text
        assert collector.receipts.open_gaps() == {}
        assert collector.receipts.ack("edge-1", None).through == 4
        [(body,)] = collector.ledger.connection.execute(
            "SELECT body FROM ledger WHERE kind = 'gap_closed'"
        ).fetchall()
        closed = json.loads(body)
        assert (closed["first"], closed["last"], closed["by"]) == (2, 3, "api")
        assert closed["reason"] == "边缘服务器硬盘损坏，批次无法恢复"
        assert collector.counters.batches == 3  # edge-1's own: seqs 0, 1 and 4
        blamed_devices = blamed(collector)
        assert blamed_devices == []
    reliability.record(
        "forged-gap-closed-by-admin",
        unit="batches",
        sent=3,
        arrived=collector.counters.batches,
        recovered_s=0.0,
        blamed=len(blamed_devices),
    )


async def test_an_agent_without_a_key_is_heard_unsigned_only_while_its_site_opts_in(
    tmp_path: Path, broker: Mosquitto
) -> None:
    api_port = free_port()
    settings = district(tmp_path / "d2", broker.port, "d2", ["edge-1"], api_port)
    inventory = tmp_path / "d2" / "district.yaml"
    data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    data["sites"][0]["agents"].append("edge-old")  # installed before agents signed
    inventory.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError) as refused:  # by default: not even loaded
        load_collector(settings)
    assert "edge-old" in str(refused.value)
    assert "allow_unsigned_agents" in str(refused.value)

    data["sites"][0]["allow_unsigned_agents"] = True
    inventory.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    old = FakeAgent(broker.port, agent_id="edge-old", site="d2")
    keyed = FakeAgent(broker.port, agent_id="edge-1", site="d2")
    async with running(load_collector(settings)) as collector:
        assert collector.unsigned_agents == {"edge-old"}
        await wait_for(lambda: collector.ingest.connected)
        await old.publish(encode_batch(old.batch(minute_of(0))))  # unsigned: heard
        # Unsigned in the name of the site's agent that has a key: refused all the same.
        await keyed.publish(encode_batch(keyed.batch(minute_of(0))))
        await wait_for(lambda: collector.counters.batches == 1)
        await wait_for(lambda: collector.counters.dead_letters == 1)
        assert collector.counters.unsigned == 1
        assert sorted(collector.agent_heard) == ["edge-old"]
        ack = decode_ack(await retained(broker.port, ack_topic("d2", "edge-old")))
        assert ack.through == 0
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as api:
            metrics = await api.get("/metrics", headers={"authorization": f"Bearer {API_TOKEN}"})
        assert 'slawatch_agent_unsigned_allowed{agent="edge-old"} 1.0' in metrics.text
        assert 'slawatch_agent_unsigned_allowed{agent="edge-1"}' not in metrics.text

        # Upgraded: its key registered, the opt-in dropped, the inventory reloaded. An
        # unsigned batch in its name is now refused, leaving no trace; its signed one is taken.
        data["sites"][0] = {"id": "d2", "name": "分局", **registered("edge-1", "edge-old")}
        inventory.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        collector.reload_from_settings("test")
        assert collector.unsigned_agents == frozenset()
        rows = collector.ledger.next_seq
        await old.publish(encode_batch(old.batch(minute_of(1))))
        await wait_for(lambda: collector.counters.dead_letters == 2)
        assert collector.counters.unsigned == 2
        assert collector.ledger.next_seq == rows
        assert collector.receipts.ack("edge-old", None).through == 0
        await old.publish(old.batch(minute_of(2), seq=1))  # signed with its key
        await wait_for(lambda: collector.counters.batches == 2)
