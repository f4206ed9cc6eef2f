"""The console at 126,000 devices: page latency under ingest, and ingest under 200 SSE clients.

Run: .venv/bin/python bench/console.py [--devices 126000]

One collector process serves its API and console (uvicorn in its loop, as `run` does).
Statuses are fed to ``Collector.take`` in that loop from prebuilt MQTT payloads (the
broker is left out: bench/collector.py measures it), 2% of devices changing state
every five cycles so there are live events to stream. A second process plays the
browsers (httpx), so their CPU is not charged to the collector.

- ``device_list_ms``: p95 of the filtered device list (50 rows; state, kind, region and
  text filters in turn) while statuses are taken at 2,100 a second;
- ``wall_ms``: p95 of the wall view at the same time;
- ``sse_clients``: event streams held open while ``ingest_per_core`` (statuses per CPU
  second of the collector process) is measured, with every client receiving the events.
Ends with ``BENCH console device_list_ms=… wall_ms=… sse_clients=… ingest_per_core=…``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:] = [entry for entry in sys.path if Path(entry).resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

import aiomqtt

from bench.collector import TOPIC, cpu_seconds, fleet, payloads
from collector.service import Collector
from collector.web.api import create_app, serve
from collector.web.console.users import add_user
from simulator.local_servers import free_port
from slawatch import heap
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.settings import CollectorSettings

RATE = 2_100  # statuses a second while pages are timed
SSE_CLIENTS = 200
# The browsers' side (run as a child process): time pages, or hold event streams open.
BROWSERS = r"""
import asyncio, json, sys, time
import httpx

async def pages(base, paths, rounds):
    found = {}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for name, path in paths:
            times = []
            for _ in range(rounds):
                started = time.perf_counter()
                reply = await client.get(path, headers={"accept": "text/html"})
                times.append((time.perf_counter() - started) * 1000)
                assert reply.status_code == 200, (path, reply.status_code)
            found[name] = times
    print(json.dumps(found), flush=True)

async def streams(base, count):
    received = [0] * count
    async def one(n):
        async with httpx.AsyncClient(base_url=base, timeout=None) as client:
            async with client.stream("GET", "/events") as reply:
                async for line in reply.aiter_lines():
                    if line.startswith("event: state"):
                        received[n] += 1
    tasks = [asyncio.create_task(one(n)) for n in range(count)]
    await asyncio.sleep(3)
    print("connected", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    got = {"clients": sum(1 for r in received if r), "events": sum(received)}
    print(json.dumps(got), flush=True)
    for task in tasks:
        task.cancel()

mode, base = sys.argv[1], sys.argv[2]
if mode == "pages":
    asyncio.run(pages(base, json.loads(sys.argv[3]), int(sys.argv[4])))
else:
    asyncio.run(streams(base, int(sys.argv[3])))
"""


def settings_file(folder: Path, inventory: Path, port: int) -> Path:
    add_user(folder / "users.yaml", "bench", "viewer", "bench-password-1", None)
    # Random, as slawatch/config/secrets.py requires (40 times "s" would be refused).
    (folder / "secret").write_text(secrets.token_urlsafe(48), encoding="utf-8")
    (folder / "token").write_text(secrets.token_urlsafe(24), encoding="utf-8")
    settings = {
        "kind": "collector",
        "inventory": str(inventory),
        "policy": str(REPO / "config" / "policies" / "xinjian-2020.yaml"),
        "contract_policies": [str(REPO / "config" / "policies")],
        "broker": {"port": 1},
        "spool": {"dir": str(folder / "spool")},
        "ledger": str(folder / "ledger.sqlite"),
        "api": {"bind": f"127.0.0.1:{port}", "token": {"file": str(folder / "token")}},
        "console": {
            "users": str(folder / "users.yaml"),
            "session_secret": {"file": str(folder / "secret")},
            "open_read": True,
        },
    }
    file = folder / "collector.yaml"
    file.write_text(json.dumps(settings), encoding="utf-8")
    return file


def messages(bodies: list[str]) -> list[aiomqtt.Message]:
    return [aiomqtt.Message(TOPIC, b.encode(), 1, False, n, None) for n, b in enumerate(bodies)]


async def take_paced(
    collector: Collector, batches: Iterator[aiomqtt.Message], per_s: float
) -> None:
    """Take one batch at a time at ``per_s`` statuses a second (1,000-status batches)."""
    started = time.monotonic()
    for n, message in enumerate(batches):
        collector.take([message])
        delay = started + (n + 1) * 1000 / per_s - time.monotonic()
        await asyncio.sleep(max(0.0, delay))


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


async def run(folder: Path, devices: int) -> None:
    inventory_file = fleet(folder, devices)
    port = free_port()
    settings = load_config(settings_file(folder, inventory_file, port), CollectorSettings)
    inventory = load_config(inventory_file, Inventory)
    policies = PolicyBook.load([settings.policy, *settings.contract_policies])
    collector = Collector(settings, inventory, policies)
    heap.settle()
    ids = [device.id for device in inventory.devices]
    built = payloads(ids, 12)
    app = create_app(collector)
    server = asyncio.create_task(serve(app, settings.api.bind if settings.api else ""))
    await asyncio.sleep(1.0)
    base = f"http://127.0.0.1:{port}"
    for cycle in built[:2]:  # every device known, some down
        for message in messages(cycle):
            collector.take([message])
    print(f"fleet: {len(ids)} devices, ledger {collector.ledger.next_seq} rows")

    paths = [
        ("down cameras", "/fleet?state=down&kind=camera"),
        ("region", "/fleet?region=R03&page=20"),
        ("text", "/fleet?q=CAM00012"),
        ("reason", "/fleet?reason=timeout&page=3"),
    ]
    paced = iter(messages([b for cycle in built[2:6] for b in cycle]))
    feeding = asyncio.create_task(take_paced(collector, paced, RATE))
    timed = await asyncio.create_subprocess_exec(
        sys.executable, "-c", BROWSERS, "pages", base, json.dumps(paths), "40",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await timed.communicate()
    listing = [t for times in json.loads(out).values() for t in times]
    timed = await asyncio.create_subprocess_exec(
        sys.executable, "-c", BROWSERS, "pages", base, json.dumps([("wall", "/")]), "30",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await timed.communicate()
    wall = json.loads(out)["wall"]
    feeding.cancel()
    for message in paced:  # the rest of those cycles, unpaced: no gap in the agent's seq
        collector.take([message])
    print(f"device list: p50 {statistics.median(listing):.1f} ms, p95 {p95(listing):.1f} ms")
    print(f"wall view: p50 {statistics.median(wall):.1f} ms, p95 {p95(wall):.1f} ms")

    streams = await asyncio.create_subprocess_exec(
        sys.executable, "-c", BROWSERS, "streams", base, str(SSE_CLIENTS),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert streams.stdout is not None
    assert streams.stdin is not None
    assert await streams.stdout.readline() == b"connected\n"
    hub = app.state.hub
    assert hub is not None
    for _ in range(300):
        if hub.clients >= SSE_CLIENTS:
            break
        await asyncio.sleep(0.1)  # the loop serves the streams' requests meanwhile
    connected = hub.clients
    rest = messages([b for cycle in built[6:] for b in cycle])
    before, cpu = collector.counters.statuses, cpu_seconds()
    for message in rest:
        collector.take([message])
        await asyncio.sleep(0)  # the streams are written between batches, as in ingest
    cpu = cpu_seconds() - cpu
    taken = collector.counters.statuses - before
    await asyncio.sleep(2.0)
    streams.stdin.write(b"done\n")
    await streams.stdin.drain()
    received = json.loads(await streams.stdout.readline())
    streams.kill()
    await streams.wait()
    await asyncio.sleep(1.0)  # the server sees the streams close before it stops
    server.cancel()
    collector.close()
    per_core = taken / cpu
    print(
        f"ingest with {connected} SSE clients: {taken} statuses, {cpu:.2f} CPU s, "
        f"{per_core:.0f} per CPU s; {received['clients']} clients got {received['events']} events"
    )
    print(
        f"BENCH console device_list_ms={p95(listing):.1f} wall_ms={p95(wall):.1f} "
        f"sse_clients={connected} ingest_per_core={per_core:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=126_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        asyncio.run(run(Path(name), args.devices))


if __name__ == "__main__":
    main()
