"""A live collector for tests: settings on disk, a test agent that publishes wire batches."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import httpx
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.batches import BatchWriter
from agent.outbox import Outbox
from agent.publisher import Publisher
from agent.wire import (
    Alive,
    Batch,
    Status,
    alive_topic,
    encode_alive,
    encode_batch,
    sign,
    status_topic,
)
from collector.app import assemble
from collector.service import Collector
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.settings import BrokerSettings, CollectorSettings
from tests.agent_keys import (
    agent_key,
    agent_key_file,
    collector_key,
    collector_key_file,
    signing_by_test_key,
)
from tests.collector.conftest import write_district
from tests.collector.ingest.edge import AgentProcess
from tests.conftest import REPO, in_background
from tests.ledgers import ledger_setting

API_TOKEN = "test-api-token-0123456789"
SITE = "d1"


def write_settings(
    folder: Path,
    broker_port: int,
    *,
    influx_url: str | None = None,
    alerting: dict[str, Any] | None = None,
    api_port: int | None = None,
    signing: dict[str, Any] | None = None,
    ledger: str | dict[str, Any] | None = None,
    console: dict[str, Any] | None = None,
) -> Path:
    """A collector's settings file over the test district and the seed-004 policy
    (``ledger``: a file, or ``{postgres: DSN, ...}``, default the run's, tests/ledgers.py;
    ``console``: that section)."""
    write_district(folder)
    (folder / "api-token").write_text(API_TOKEN + "\n", encoding="utf-8")
    (folder / "influx-token").write_text("influx-token\n", encoding="utf-8")
    policy = REPO / "config" / "policies" / "pingshan-door-access.yaml"
    settings: dict[str, Any] = {
        "kind": "collector",
        "inventory": "district.yaml",
        "policy": str(policy),
        "broker": {"host": "127.0.0.1", "port": broker_port},
        "spool": {"dir": "spool"},
        "ledger": ledger_setting(folder) if ledger is None else ledger,
    }
    if alerting is not None:
        settings["alerting"] = alerting
    if signing is not None:
        settings["signing"] = signing
    if influx_url is not None:
        settings["influx"] = {
            "url": influx_url,
            "org": "bureau",
            "bucket": "slawatch",
            "token": {"file": "influx-token"},
            "batch_lines": 500,
        }
    if api_port is not None:
        settings["api"] = {"bind": f"127.0.0.1:{api_port}", "token": {"file": "api-token"}}
    if console is not None:
        settings["console"] = console
    file = folder / "collector.yaml"
    file.write_text(json.dumps(settings, ensure_ascii=False), encoding="utf-8")
    return file


def load_collector(settings_file: Path) -> Collector:
    settings = load_config(settings_file, CollectorSettings)
    policies = PolicyBook.load([settings.policy, *settings.contract_policies])
    return assemble(settings, load_config(settings.inventory, Inventory), policies)


@asynccontextmanager
async def running(collector: Collector) -> AsyncIterator[Collector]:
    try:
        async with in_background(collector.run()):
            yield collector
    finally:
        collector.close()


class FakeAgent:
    """Publishes batches the way an agent's publisher does (QoS 1, its own seq)."""

    def __init__(
        self, port: int, agent_id: str = "edge-1", epoch: str | None = None, site: str = SITE
    ) -> None:
        self.port = port
        self.agent_id = agent_id
        self.site = site
        self.epoch = epoch
        self.seq = 0
        self.connection = 0

    def batch(
        self,
        statuses: list[Status],
        seq: int | None = None,
        lost: list[tuple[int, int]] | None = None,
    ) -> Batch:
        if seq is None:
            seq, self.seq = self.seq, self.seq + 1
        return Batch(
            agent_id=self.agent_id,
            site=self.site,
            epoch=self.epoch,
            seq=seq,
            sent_at=datetime.now(UTC),
            statuses=statuses,
            lost=lost or [],
        )

    async def publish(
        self, *payloads: Batch | bytes, topic: str | None = None, every_s: float = 0.0
    ) -> None:
        """Batches signed with the agent's key; bytes published as they are (``every_s``
        apart: a fleet's steady load rather than an outbox emptied at once)."""
        async with aiomqtt.Client("127.0.0.1", self.port, identifier=f"test-{self.agent_id}") as c:
            for payload in payloads:
                data = self.signed(payload) if isinstance(payload, Batch) else payload
                await c.publish(topic or status_topic(self.site, self.agent_id), data, qos=1)
                await asyncio.sleep(every_s)

    def signed(self, batch: Batch) -> bytes:
        return sign(encode_batch(batch), agent_key(self.agent_id))

    async def die(self) -> None:
        """Connect with the agent's will (signed, its connection numbered as a publisher's
        is) from another process, then ``kill -9`` it."""
        self.connection += 1
        alive = Alive(
            agent_id=self.agent_id,
            site=self.site,
            online=False,
            epoch=self.epoch,
            connection=self.connection,
        )
        will = sign(encode_alive(alive), agent_key(self.agent_id)).decode()
        topic = alive_topic(self.site, self.agent_id)
        script = (
            "import asyncio, sys, aiomqtt\n"
            "async def main():\n"
            f"    will = aiomqtt.Will({topic!r}, {will!r}, 1, True)\n"
            f"    async with aiomqtt.Client('127.0.0.1', {self.port}, will=will):\n"
            "        print('connected', flush=True)\n"
            "        await asyncio.sleep(600)\n"
            "asyncio.run(main())\n"
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
        )
        assert process.stdout is not None
        assert await process.stdout.readline() == b"connected\n"
        process.kill()
        await process.wait()


def field_policy(folder: Path, **overrides: Any) -> Path:
    """The Pingshan policy with a field test's short times, as ``site-policy.yaml``."""
    policy = yaml.safe_load(
        (REPO / "config" / "policies" / "pingshan-door-access.yaml").read_text(encoding="utf-8")
    )
    file = folder / "site-policy.yaml"
    file.write_text(json.dumps(policy | overrides), encoding="utf-8")
    return file


def field_collector(folder: Path, broker_port: int, policy: Path, **extra: Any) -> Path:
    """A collector's settings over the simulated fleet's inventory (``folder``), judged by
    ``policy`` and the shipped contract policies, signing with the test collectors' key,
    plus ``extra`` sections."""
    settings = {
        "kind": "collector",
        "inventory": str(folder / "inventory.yaml"),
        "policy": str(policy),
        "contract_policies": [str(REPO / "config" / "policies")],
        "broker": {"host": "127.0.0.1", "port": broker_port},
        "spool": {"dir": str(folder / "spool")},
        "ledger": ledger_setting(folder),
        **extra,
    }
    settings.setdefault("signing", signing_by_test_key(folder))
    file = folder / "collector.yaml"
    file.write_text(json.dumps(settings, ensure_ascii=False), encoding="utf-8")
    return file


def field_agent(
    folder: Path, broker_port: int, poll_s: float = 1.0, timeout: str = "800ms"
) -> AgentProcess:
    """A real agent process on the simulated fleet's inventory (``folder/inventory.yaml``),
    polling every ``poll_s`` on a fixed schedule, no deep checks (``async with`` runs it).
    800 ms: the agent reads a quarter of its timeout lost to its own lag as its stall (the
    device unknown that cycle), and a browser page loading beside it on a busy machine
    takes 100 ms or more at a time: 75 ms of a 300 ms window was often lost."""
    return AgentProcess(
        folder,
        broker_port,
        None,
        key=agent_key_file(folder, "edge-t"),
        collector_key=collector_key_file(folder),
        poll_s=poll_s,
        timeout=timeout,
    )


async def until_serving(base: str) -> None:
    """Wait until the collector's web layer answers at ``base`` (whatever it answers)."""
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            with contextlib.suppress(httpx.TransportError):
                await http.get(f"{base}/login")
                return
            await asyncio.sleep(0.05)
    raise AssertionError(f"nothing serves {base}")


class EdgeAgent:
    """A real agent's outbox and publisher (on its own thread, as in the agent), fed poll
    cycles by the test: every batch stays in the outbox until the collector confirms it."""

    def __init__(
        self,
        folder: Path,
        port: int,
        *,
        agent_id: str = "edge-1",
        site: str = SITE,
        acks_by: Ed25519PublicKey | None = None,
        outbox: Outbox | None = None,
        resend_after: float = 2.0,
    ) -> None:
        """``acks_by``: the key its collector signs acks with (default: the test one's);
        ``outbox``: one an earlier agent left (default: ``folder/outbox`` opened anew)."""
        self.outbox = outbox or Outbox(folder / "outbox", max_bytes=1 << 26)
        self.publisher = Publisher(
            BrokerSettings(port=port),
            self.outbox,
            site=site,
            agent_id=agent_id,
            retry_s=0.1,
            resend_after=resend_after,
            key=agent_key(agent_id),
            collector_key=acks_by or collector_key().public_key(),
        )
        self._writer = BatchWriter(
            self.outbox, site=site, agent_id=agent_id, on_written=self.publisher.wake
        )
        self.sent: set[tuple[str, int]] = set()  # (device, observed ms) of every status

    def poll(self, statuses: list[Status]) -> None:
        """One poll cycle: its statuses written to the outbox as one batch."""
        for status in statuses:
            self._writer.add(status)
            self.sent.add((status.device_id, round(status.observed_at.timestamp() * 1000)))
        self._writer.flush()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[EdgeAgent]:
        self.publisher.start()
        try:
            yield self
        finally:
            await asyncio.to_thread(self.publisher.stop)


_DEVICE_TAG = re.compile(r"(?:^|,)device=([^,\s]+)")


def spooled_statuses(spool: Path) -> set[tuple[str, int]]:
    """(device, observed ms) of every status line in a collector's spool, sealed segments
    and the open one: what the collector recorded for the time-series store."""
    found: set[tuple[str, int]] = set()
    for segment in spool.glob("*.lp"):
        for line in segment.read_text(encoding="utf-8").splitlines():
            if line.startswith("device_status,"):
                device = _DEVICE_TAG.search(line)
                assert device is not None, line
                found.add((device.group(1), int(line.rsplit(" ", 1)[1])))
    return found
