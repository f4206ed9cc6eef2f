"""A district on paper (two links, forty cameras behind one switch, the seed-004 policy), and a
real time-series server."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess  # nosec B404  # mount/umount of a test's own tmpfs
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from agent.wire import Health, Observation, Reason
from collector.ledger.chain import Ledger
from simulator.local_servers import VictoriaMetrics, free_port
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policy import Policy
from slawatch.config.settings import InfluxSettings
from tests.agent_keys import registered
from tests.conftest import REPO
from tests.ledgers import ledger_in

START = datetime(2026, 7, 1, 0, 0, tzinfo=UTC)


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    """The test's own ledger, on the run's backend (tests/ledgers.py), closed after it."""
    opened = Ledger(ledger_in(tmp_path))
    yield opened
    opened.close()


@pytest.fixture
async def started() -> AsyncIterator[list[asyncio.subprocess.Process]]:
    """The collectors a test starts: any still running at its end is killed."""
    processes: list[asyncio.subprocess.Process] = []
    yield processes
    for process in processes:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_at(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's ledger lives, on each backend: a file, or a database of its own on
    a real PostgreSQL (the selected tests that run on both: docs in the h32 notes)."""
    if request.param == "postgres":
        dsn: str = request.getfixturevalue("postgres")
        return dsn
    return str(tmp_path / "l.sqlite")


CAMERAS_ON_SW1 = 40


def camera(n: int, uplink: str, service: str = "service_start: 2026-01-01") -> str:
    return (
        f"  - {{id: CAM{n:03d}, name: 点位{n}, kind: camera, site: d1, address: 10.0.0.{n}, "
        f"onvif: {{port: 80}}, region: R1, contract: cam-rent, {service}, uplink: {uplink}}}\n"
    )


# The site (its test agents registered with their keys), region and contract every test
# district's devices belong to.
DISTRICT_HEADER = (
    "kind: inventory\n"
    f"sites: [{json.dumps({'id': 'd1', 'name': '分局', **registered('edge-1', 'edge-2')})}]\n"
    "regions: [{id: R1, name: 城关街道, police_station: 城关派出所}]\n"
    "contracts: [{id: cam-rent, name: 摄像机租赁, unit: device, policy: pingshan-door-access}]\n"
)


def write_district(folder: Path) -> Path:
    text = (
        DISTRICT_HEADER + "links:\n"
        "  - {id: L1, name: 城关汇聚, backup_fiber: true}\n"
        "  - {id: L2, name: 新城汇聚, backup_fiber: false}\n"
        "devices:\n"
        "  - {id: SW1, name: 接入交换机1, kind: switch, site: d1, address: 10.0.1.1, "
        "snmp: {profile: if-mib-switch}, region: R1, service_start: 2026-01-01, ports: 48, "
        "link: L1}\n"
    )
    text += "".join(camera(n, f"{{switch: SW1, port: {n}}}") for n in range(1, CAMERAS_ON_SW1 + 1))
    text += camera(41, "{link: L2}") + camera(42, "{link: L2}")
    text += camera(43, "{link: L2}", "service_start: 2026-01-01, service_end: 2026-03-01")
    file = folder / "district.yaml"
    file.write_text(text, encoding="utf-8")
    return file


@pytest.fixture
def district(tmp_path: Path) -> Inventory:
    return load_config(write_district(tmp_path), Inventory)


@pytest.fixture
def policy() -> Policy:
    return load_config(REPO / "config" / "policies" / "pingshan-door-access.yaml", Policy)


def seen(
    device_id: str,
    minute: float,
    health: Health = Health.UP,
    reason: Reason = Reason.OK,
    checks: dict[str, Reason] | None = None,
    agent: str = "edge-1",
) -> Observation:
    """An observation ``minute`` minutes after START."""
    return Observation(
        agent_id=agent,
        device_id=device_id,
        observed_at=START + timedelta(minutes=minute),
        health=health,
        reason=reason,
        checks=checks or {},
    )


def at(minute: float) -> datetime:
    return START + timedelta(minutes=minute)


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    """Debian's victoria-metrics: a real server behind InfluxDB's v2 write API."""
    server = VictoriaMetrics(tmp_path / "victoria")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def influx_settings(url: str, tmp_path: Path) -> InfluxSettings:
    token = tmp_path / "influx-token"
    token.write_text("test-token\n", encoding="utf-8")
    return InfluxSettings.model_validate(
        {"url": url, "org": "bureau", "bucket": "slawatch", "token": {"file": str(token)}}
    )


class Receiver:
    """A real local webhook receiver: records what each path was sent; a path listed in
    ``answer`` answers that HTTP status and body instead (and records nothing)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.posts: dict[str, list[dict[str, Any]]] = {}
        self.queries: dict[str, list[dict[str, str]]] = {}
        self.headers: dict[str, list[dict[str, str]]] = {}
        self.answer: dict[str, tuple[int, str]] = {}
        self.turned_away: dict[str, int] = {}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path.strip("/")
        if path in self.answer:
            status, text = self.answer[path]
            self.turned_away[path] = self.turned_away.get(path, 0) + 1
            return web.Response(status=status, text=text)
        self.posts.setdefault(path, []).append(await request.json())
        self.queries.setdefault(path, []).append(dict(request.query))
        self.headers.setdefault(path, []).append(dict(request.headers))
        return web.json_response({"errcode": 0, "errmsg": "ok"})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hooks = Receiver()
    app = web.Application()
    app.router.add_post("/{path}", hooks.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", hooks.port).start()
    yield hooks
    await runner.cleanup()


class Listener:
    """Subscribes to a topic filter and keeps every payload it sees."""

    def __init__(self, port: int, topic: str) -> None:
        self.port, self.topic = port, topic
        self.payloads: list[dict[str, Any]] = []
        self.ready = asyncio.Event()

    async def run(self) -> None:
        async with aiomqtt.Client("127.0.0.1", self.port) as client:
            await client.subscribe(self.topic, qos=1)
            self.ready.set()
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                self.payloads.append(json.loads(message.payload))


@pytest.fixture
async def listen() -> AsyncIterator[Callable[[int, str], Any]]:
    tasks: list[asyncio.Task[None]] = []

    async def start(port: int, topic: str) -> Listener:
        listener = Listener(port, topic)
        tasks.append(asyncio.create_task(listener.run()))
        await listener.ready.wait()
        return listener

    yield start
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of the test's own (``mount`` needs root)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(  # nosec B603 B607
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"a tmpfs cannot be mounted here (root needed): {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=True)  # nosec B603 B607


def fill(disk: Path) -> Path:
    """Write a file until the disk has no block left (``dd`` stops at ENOSPC)."""
    filler = disk / "filler"
    written = subprocess.run(  # nosec B603 B607
        ["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True, text=True
    )
    assert "No space left on device" in written.stderr, written.stderr
    assert shutil.disk_usage(disk).free < 65536
    return filler


class Mailbox:
    """aiosmtpd's handler: every mail it is given, parsed."""

    def __init__(self) -> None:
        self.mails: list[Message] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        assert isinstance(envelope.content, bytes)
        self.mails.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box, port
    controller.stop()


def body_of(mail: Message) -> str:
    payload = mail.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode(mail.get_content_charset() or "utf-8")
