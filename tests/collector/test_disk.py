"""A ledger disk that blocks or fills never crashes the collector (issue 28, item 6).

Real parts throughout: Debian's ``sqlite3`` shell holds the ledger's write lock for a
minute as a reader's session would; a 4 MiB tmpfs holds the ledger and the spool and is
filled up, with the collector restarted while it is full; a real agent's outbox and
publisher on a real mosquitto. Every status the agent wrote is counted in the
collector's spool at the end: none lost, and the agent keeps each batch until then.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from collector.evidence.heads import read_heads_file
from collector.service import Collector
from simulator.local_servers import Mosquitto, free_port
from tests import reliability
from tests.agent_keys import collector_key_file, signing_by_test_key
from tests.collector.conftest import fill
from tests.collector.live import (
    API_TOKEN,
    EdgeAgent,
    load_collector,
    running,
    spooled_statuses,
    write_settings,
)
from tests.collector.test_service import EVERY_DEVICE, minute_of
from tests.conftest import wait_for

HOLD_S = 60.0
ADMIN = {"authorization": f"Bearer {API_TOKEN}"}


def ledger_locked(path: Path) -> bool:
    """Whether another connection holds the ledger's write lock now."""
    db = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        db.close()


def alert_rows(collector: Collector, kind: str) -> list[dict[str, Any]]:
    return [row.body for row in collector.ledger.rows(("alert",)) if row.body.get("alert") == kind]


async def healthz(api: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    """The collector's health; a collector frozen by the lock (as before: silent for the
    lock's 20 s) fails this by its timeout, not by a stopwatch."""
    answer = await api.get("/healthz", headers=ADMIN, timeout=5.0)
    return answer.status_code, answer.json()


@pytest.mark.stdlib_loop
async def test_a_reader_holding_the_ledger_for_a_minute_is_waited_out_across_a_restart(
    tmp_path: Path, broker: Mosquitto, listen: Callable[[int, str], Any]
) -> None:
    api_port = free_port()
    signing = signing_by_test_key(tmp_path)
    settings = write_settings(tmp_path, broker.port, api_port=api_port, signing=signing)
    ledger = tmp_path / "ledger.sqlite"
    alerts = await listen(broker.port, "slawatch/v1/alerts/#")
    agent = EdgeAgent(tmp_path / "edge", broker.port)
    minute, answers = 0, []

    async def publishing_while_locked(api: httpx.AsyncClient, until: float) -> None:
        nonlocal minute
        while time.monotonic() < until:
            agent.poll(minute_of(minute))
            minute += 1
            await asyncio.sleep(3.0)
            answers.append(await healthz(api))

    async with (
        agent.running(),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as api,
    ):
        async with running(load_collector(settings)) as collector:
            await wait_for(lambda: collector.ingest.connected)
            for minute in range(5):
                agent.poll(minute_of(minute))
            await wait_for(lambda: agent.outbox.depth == 0)
            minute = 5
            shell = await asyncio.create_subprocess_exec(
                "sqlite3", str(ledger), stdin=asyncio.subprocess.PIPE
            )
            assert shell.stdin is not None
            shell.stdin.write(b".timeout 10000\nBEGIN EXCLUSIVE;\n")
            await shell.stdin.drain()
            await wait_for(lambda: ledger_locked(ledger))
            locked_at = time.monotonic()
            await publishing_while_locked(api, locked_at + HOLD_S / 2)
        # Stopped and started again while the lock is held: it starts, and waits on.
        async with running(load_collector(settings)) as collector:
            await publishing_while_locked(api, locked_at + HOLD_S)
            code, body = answers[-1]
            assert code == 503
            assert body["store"]["reason"] == "locked"
            assert "database is locked" in body["store"]["detail"]
            assert body["connected"] is True
            # /healthz answered all along, each within its timeout (the event loop was
            # never held by the lock).
            assert len(answers) >= 2
            assert agent.outbox.depth == minute - 5  # none acknowledged while locked
            failing = [a["reason"] for a in alerts.payloads if a["alert"] == "store_failing"]
            assert failing == ["locked", "locked"]  # one by each run of the collector

            shell.stdin.write(b"COMMIT;\n.quit\n")
            await shell.stdin.drain()
            assert await shell.wait() == 0
            back = reliability.Stopwatch()
            await wait_for(lambda: agent.outbox.depth == 0, 30)
            recovered_s = back.seconds()
            code, body = await healthz(api)
            assert code == 200
            assert body["store"]["ok"] is True
            assert body["store"]["outages"] == 1
            recorded = spooled_statuses(tmp_path / "spool")
            assert recorded == agent.sent
            (recovery,) = alert_rows(collector, "store_recovered")
            assert recovery["reason"] == "locked"
            await wait_for(lambda: any(a["alert"] == "store_recovered" for a in alerts.payloads))
            reliability.record(
                "ledger-locked-60s",
                unit="statuses",
                sent=len(agent.sent),
                arrived=len(recorded & agent.sent),
                duplicates_dropped=collector.counters.duplicates * len(EVERY_DEVICE),
                recovered_s=recovered_s,
            )


def on_disk(settings: Path, disk: Path, heads: Path) -> None:
    """The ledger and the spool on ``disk``; the signed heads on another one."""
    values = json.loads(settings.read_text(encoding="utf-8"))
    values["ledger"] = str(disk / "ledger.sqlite")
    values["spool"] = {"dir": str(disk / "spool")}
    values["signing"] = {
        "key": str(collector_key_file(settings.parent)),
        "heads_file": str(heads),
        "every": "1h",
    }
    settings.write_text(json.dumps(values), encoding="utf-8")


@pytest.mark.stdlib_loop
async def test_a_full_ledger_disk_stops_acks_survives_a_restart_and_resumes_by_itself(
    tmp_path: Path, broker: Mosquitto, small_disk: Path, listen: Callable[[int, str], Any]
) -> None:
    api_port = free_port()
    settings = write_settings(tmp_path, broker.port, api_port=api_port)
    heads = tmp_path / "evidence" / "heads.jsonl"
    on_disk(settings, small_disk, heads)
    alerts = await listen(broker.port, "slawatch/v1/alerts/#")
    agent = EdgeAgent(tmp_path / "edge", broker.port)
    minute = 0
    async with agent.running():
        async with (
            running(load_collector(settings)) as collector,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as api,
        ):
            await wait_for(lambda: collector.ingest.connected)
            for minute in range(5):
                agent.poll(minute_of(minute))
            await wait_for(lambda: agent.outbox.depth == 0)
            filler = fill(small_disk)
            while collector.store.blocked_since is None:
                minute += 1
                agent.poll(minute_of(minute))
                await asyncio.sleep(0.5)
                assert minute < 200, "the full disk never stopped a commit"
            code, body = await healthz(api)
            assert code == 503
            assert body["store"]["reason"] == "disk_full"
            await wait_for(lambda: any(a["alert"] == "store_failing" for a in alerts.payloads))
            rows = collector.ledger.next_seq
        # Stopped while the disk is full, and started again on it: no crash.
        assert read_heads_file(heads)[-1].seq == rows - 1  # the heads' disk took the head
        async with (
            running(load_collector(settings)) as collector,
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as api,
        ):
            await wait_for(lambda: collector.ingest.connected)
            for _ in range(3):
                minute += 1
                agent.poll(minute_of(minute))
            await wait_for(lambda: collector.store.blocked_since is not None)
            await asyncio.sleep(3.0)
            code, body = await healthz(api)
            assert (code, body["store"]["reason"]) == (503, "disk_full")
            assert agent.outbox.depth > 0
            filler.unlink()
            back = reliability.Stopwatch()
            await wait_for(lambda: agent.outbox.depth == 0, 30)
            recovered_s = back.seconds()
            code, body = await healthz(api)
            assert code == 200
            recorded = spooled_statuses(small_disk / "spool")
            assert recorded == agent.sent
            assert len(alert_rows(collector, "store_recovered")) == 1
            assert collector.ledger.verify() == collector.ledger.next_seq
            reliability.record(
                "ledger-disk-full",
                unit="statuses",
                sent=len(agent.sent),
                arrived=len(recorded & agent.sent),
                duplicates_dropped=collector.counters.duplicates
                * len(EVERY_DEVICE),  # batches' statuses
                recovered_s=recovered_s,
            )
