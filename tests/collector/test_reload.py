"""A new inventory put in force while statuses flow: nothing is lost, the change is in the
ledger, a restart resumes from it, and only an admin may ask for it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import yaml

from collector.cli import main
from simulator.local_servers import Mosquitto, free_port
from tests.collector.live import API_TOKEN, FakeAgent, load_collector, running, write_settings
from tests.collector.test_service import EVERY_DEVICE, minute_of
from tests.conftest import wait_for
from tests.ledgers import ledger_in


def edit_district(folder: Path, *, add: str, remove: str) -> None:
    """The district file with one camera more (a copy of CAM001) and one less."""
    file = folder / "district.yaml"
    district = yaml.safe_load(file.read_text(encoding="utf-8"))
    first = next(d for d in district["devices"] if d["id"] == "CAM001")
    district["devices"] = [d for d in district["devices"] if d["id"] != remove]
    district["devices"].append({**first, "id": add, "name": "新增点位"})
    file.write_text(yaml.safe_dump(district, allow_unicode=True), encoding="utf-8")


async def test_a_reload_under_load_loses_nothing_and_is_recorded(
    tmp_path: Path, broker: Mosquitto
) -> None:
    api_port = free_port()
    settings = write_settings(tmp_path, broker.port, api_port=api_port)
    agent = FakeAgent(broker.port)
    async with running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)

        async def publish_minutes() -> None:
            for minute in range(40):
                await agent.publish(agent.batch(minute_of(minute)))
                await asyncio.sleep(0.02)

        publishing = asyncio.create_task(publish_minutes())
        await wait_for(lambda: collector.counters.batches >= 10)
        edit_district(tmp_path, add="CAM100", remove="CAM002")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as api:
            refused = await api.post("/inventory/reload")
            assert refused.status_code == 401
            reply = await api.post(
                "/inventory/reload", headers={"authorization": f"Bearer {API_TOKEN}"}
            )
        assert reply.status_code == 200, reply.text
        change = reply.json()
        assert change["added"] == ["CAM100"]
        assert change["removed"] == ["CAM002"]
        await publishing
        await wait_for(lambda: collector.counters.batches == 40)
        # Every status published was taken, before and after the reload, but those of the
        # camera removed, once it was: refused, each a dead letter (one a batch).
        removed = collector.counters.reasons.get("statuses[n].device_id", 0)
        assert removed < 40
        assert collector.counters.statuses + removed == 40 * len(EVERY_DEVICE)
        assert collector.receipts.open_gaps() == {}
        rows = collector.ledger.connection.execute(
            "SELECT body FROM ledger WHERE kind = 'inventory'"
        ).fetchall()
        [body] = [json.loads(row[0]) for row in rows]
        assert body["added"] == ["CAM100"]
        assert len(body["digest"]) == 64
        assert body["by"] == "api"
    # The collector restarts on the ledger and the new inventory without re-running
    # anything taken under the old one, and the chain holds.
    async with running(load_collector(settings)) as again:
        assert again.ledger.next_seq >= collector.ledger.next_seq
    assert main(["ledger", "verify", ledger_in(tmp_path)]) == 0
