"""A real agent process on the simulated fleet, optionally on a wrong clock (libfaketime),
and the counts every edge-trust test checks: statuses sent on the wire and where each
went (taken, kept aside), statuses in the time series at a wrong time, devices blamed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.wire import WireError, decode_batch, signed_by
from collector.pipeline.state import State
from collector.service import Collector
from slawatch.keys import load_private, load_public, new_pair, public_text
from tests.agent_keys import registered

FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
AGENT_ID, SITE = "edge-t", "sim"


def register_agent(folder: Path) -> Path:
    """Register ``edge-t`` with a new key (its private half returned, the public one in
    the fleet's inventory), and a neighbour site's ``edge-n``."""
    inventory = folder / "inventory.yaml"
    data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
    private = folder / "agent-key.pem"
    site = data["sites"][0]
    site["agents"] = [AGENT_ID]
    site["agent_keys"] = {AGENT_ID: public_text(load_public(new_pair(private)))}
    data["sites"].append({"id": "north", "name": "邻区", **registered("edge-n")})
    inventory.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return private


def collector_key(folder: Path) -> Path:
    key = folder / "collector-key.pem"
    new_pair(key)
    return key


@dataclass
class Wiretap:
    """Every batch the agent sent on its status topic, once per (epoch, seq): signed by
    its key when it has one, otherwise any but the tests' own (epoch ``forged``)."""

    key: Ed25519PublicKey | None = None
    batches: dict[tuple[str | None, int], int] = field(default_factory=dict)
    epoch: str | None = None
    last_seq: int = -1

    @property
    def statuses(self) -> int:
        return sum(self.batches.values())

    async def listen(self, port: int, ready: asyncio.Event) -> None:
        async with aiomqtt.Client("127.0.0.1", port, identifier="wiretap") as client:
            await client.subscribe(f"slawatch/v1/{SITE}/{AGENT_ID}/status", qos=1)
            ready.set()
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                try:
                    batch = decode_batch(message.payload)
                except WireError:
                    continue
                if self.key is not None and not signed_by(message.payload, self.key):
                    continue  # a forgery
                if batch.epoch == "forged":
                    continue
                self.batches.setdefault((batch.epoch, batch.seq), len(batch.statuses))
                self.epoch, self.last_seq = batch.epoch, max(self.last_seq, batch.seq)


@contextlib.asynccontextmanager
async def wiretap(port: int, key: Path | None = None) -> AsyncIterator[Wiretap]:
    """``key``: the agent's private key file (its public half checks the batches)."""
    tap = Wiretap(None if key is None else load_private(key).public_key())
    ready = asyncio.Event()
    task = asyncio.create_task(tap.listen(port, ready))
    await asyncio.wait_for(ready.wait(), 10)
    try:
        yield tap
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class AgentProcess:
    """``slawatch-agent run`` in a process of its own, as deployed (a loop shared with the
    test's collector and browser would read their work as the agent's own stall), polling
    every ``poll_s`` with ``timeout``; with ``clock_file``, on the clock libfaketime reads
    from that file (``+6m``, ``-1h``; written again while it runs)."""

    def __init__(
        self,
        folder: Path,
        broker_port: int,
        metrics_port: int | None,
        *,
        key: Path | None,
        collector_key: Path | None,
        clock_file: Path | None = None,
        poll_s: float = 2.0,
        timeout: str = "1500ms",
    ) -> None:
        self.folder = folder
        self.metrics = f"http://127.0.0.1:{metrics_port}/metrics"
        self.clock_file = clock_file
        settings: dict[str, Any] = {
            "kind": "agent",
            "agent_id": AGENT_ID,
            "site": SITE,
            "inventory": str(folder / "inventory.yaml"),
            "profiles": str(Path(__file__).resolve().parents[3] / "config" / "profiles"),
            "broker": {"port": broker_port},
            "outbox": {"dir": str(folder / "agent-outbox")},
            "poll": {
                "interval": f"{poll_s:g}s",
                "timeout": timeout,
                "retries": 0,
                "deep_interval": "1h",
                "jitter": 0,
            },
        }
        if metrics_port is not None:
            settings["metrics_bind"] = f"127.0.0.1:{metrics_port}"
        if key is not None:
            settings["key"] = str(key)
        if collector_key is not None:
            settings["collector_key"] = str(collector_key.with_name(collector_key.name + ".pub"))
        self.settings = folder / "agent.yaml"
        self.settings.write_text(json.dumps(settings), encoding="utf-8")
        self.process: asyncio.subprocess.Process | None = None

    def set_clock(self, offset: str) -> None:
        """libfaketime's offset for the agent from now on (read at every clock call)."""
        assert self.clock_file is not None
        self.clock_file.write_text(offset + "\n", encoding="ascii")

    async def start(self) -> None:
        env = dict(os.environ)
        if self.clock_file is not None:
            if not self.clock_file.exists():
                self.set_clock("+0")
            env |= {
                "LD_PRELOAD": str(FAKETIME),
                "FAKETIME_TIMESTAMP_FILE": str(self.clock_file),
                "FAKETIME_NO_CACHE": "1",
                # asyncio's timers run on the monotonic clock: a set clock must not move them.
                "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            }
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent.cli", "run", "-c", str(self.settings), env=env
        )

    async def metric(self, name: str) -> float:
        """The sum of a metric's samples on the agent's /metrics."""
        async with httpx.AsyncClient() as http:
            text = (await http.get(self.metrics, timeout=30)).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith(name) and not line.startswith("#")
        )

    async def __aenter__(self) -> AgentProcess:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        """A test that failed leaves no agent running."""
        if self.process is not None and self.process.returncode is None:
            self.process.kill()
            await self.process.wait()

    def unconfirmed(self) -> int:
        """Batches in the agent's outbox (read from its file, as a second reader)."""
        db = sqlite3.connect(
            f"file:{self.folder / 'agent-outbox' / 'outbox.sqlite'}?mode=ro", uri=True
        )
        try:
            return int(db.execute("SELECT COUNT(*) FROM batches").fetchone()[0])
        finally:
            db.close()

    async def stop(self) -> int:
        """SIGTERM; the statuses left in its outbox (written, not confirmed)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(self.process.wait(), 30) == 0
        db = sqlite3.connect(self.folder / "agent-outbox" / "outbox.sqlite")
        try:
            payloads = [bytes(p) for (p,) in db.execute("SELECT payload FROM batches")]
        finally:
            db.close()
        return sum(len(json.loads(p)["statuses"]) for p in payloads)


def at_wrong_times(spool: Path, start: datetime, end: datetime) -> int:
    """Status points in the spooled time series outside the run's real span."""
    low, high = start.timestamp() * 1000 - 1000, end.timestamp() * 1000 + 1000
    wrong = 0
    for segment in spool.glob("*.lp"):
        for line in segment.read_text(encoding="utf-8").splitlines():
            if line.startswith("device_status") and not low <= int(line.rsplit(" ", 1)[1]) <= high:
                wrong += 1
    return wrong


def blamed(collector: Collector) -> list[str]:
    """Devices with an open ticket, down, or degraded for their clock."""
    found = {
        f"{d}: ticket {t.reason.value}"
        for t in collector.pipeline.faults.open_tickets()
        for d in t.device_ids
    }
    for device in collector.inventory.devices:
        state, reason, _ = collector.pipeline.states.now_of(device.id)
        if state is State.DOWN or reason.value == "clock_skew":
            found.add(f"{device.id}: {state.value} {reason.value}")
    return sorted(found)


def ledger_rows(collector: Collector, kind: str) -> list[dict[str, Any]]:
    rows = collector.ledger.connection.execute(
        "SELECT body FROM ledger WHERE kind = ? ORDER BY seq", (kind,)
    )
    return [json.loads(body) for (body,) in rows.fetchall()]
