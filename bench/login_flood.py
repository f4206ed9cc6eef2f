"""A login flood against a collector that is taking statuses: does ingest, and does
``/healthz``, wait on the logins' Argon2?

Run: .venv/bin/python bench/login_flood.py [--devices 20000] [--logins 60]

One collector serves its API and console and takes statuses at 2,100 a second (as
bench/console.py does, without a broker). A second process sends ``--logins`` wrong
passwords, 20 at a time, each for a new name from a new address (X-Forwarded-For through
the trusted local proxy), so no lockout spares a single hash: the worst case. Meanwhile
it asks ``/healthz`` (with a viewer's token) every 50 ms.

- ``healthz_p50_ms``, ``healthz_max_ms``: its latency during the flood (the issue found a
  median of 631 ms and a maximum of 1.7 s with Argon2 on the event loop);
- ``logins_per_s``: wrong logins answered per second;
- ``ingest_lag_ms``: the most the paced ingest fell behind its schedule.
Ends with ``BENCH login_flood healthz_p50_ms=… healthz_max_ms=… logins_per_s=… ingest_lag_ms=…``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
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

from bench.collector import fleet, payloads
from bench.console import RATE, messages, settings_file
from collector.service import Collector
from collector.web.api import create_app, serve
from simulator.local_servers import free_port
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.settings import CollectorSettings

FLOOD = r"""
import asyncio, json, os, re, sys, time
import httpx

AS_VIEWER = {"authorization": "Bearer " + os.environ["SLAWATCH_BENCH_TOKEN"]}

async def main(base, logins):
    health = []
    done = asyncio.Event()
    async def watch():
        async with httpx.AsyncClient(base_url=base, timeout=30, headers=AS_VIEWER) as client:
            while not done.is_set():
                started = time.perf_counter()
                reply = await client.get("/healthz")
                assert reply.status_code == 200, reply.status_code
                health.append((time.perf_counter() - started) * 1000)
                await asyncio.sleep(0.05)
    async def login(n, gate):
        browser = httpx.AsyncClient(base_url=base, timeout=60, headers={"origin": base})
        async with gate, browser as client:
            page = await client.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            reply = await client.post(
                "/login", data={"name": f"guess{n}", "password": "wrong", "csrf": csrf},
                headers={"x-forwarded-for": f"198.18.{n // 250}.{n % 250 + 1}"},
            )
            assert reply.status_code in (303, 429), reply.status_code
    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.5)
    gate = asyncio.Semaphore(20)
    started = time.perf_counter()
    await asyncio.gather(*(login(n, gate) for n in range(logins)))
    took = time.perf_counter() - started
    done.set()
    await watcher
    print(json.dumps({"health": health, "logins_per_s": logins / took}), flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def take_paced(
    collector: Collector, batches: Iterator[aiomqtt.Message], late_ms: list[float]
) -> None:
    """Take 1,000-status batches at RATE a second, noting how late each was taken."""
    started = time.monotonic()
    for n, message in enumerate(batches):
        due = started + n * 1000 / RATE
        late_ms.append(max(0.0, time.monotonic() - due) * 1000)
        collector.take([message])
        await asyncio.sleep(max(0.0, due + 1000 / RATE - time.monotonic()))


async def run(folder: Path, devices: int, logins: int) -> None:
    inventory_file = fleet(folder, devices)
    port = free_port()
    settings = load_config(settings_file(folder, inventory_file, port), CollectorSettings)
    inventory = load_config(inventory_file, Inventory)
    policies = PolicyBook.load([settings.policy, *settings.contract_policies])
    collector = Collector(settings, inventory, policies)
    assert settings.api is not None
    ids = [device.id for device in inventory.devices]
    built = payloads(ids, 8)  # enough to keep ingest busy through the flood
    server = asyncio.create_task(
        serve(create_app(collector), settings.api.bind, settings.api.trusted_proxies)
    )
    await asyncio.sleep(1.0)
    for message in messages(built[0]):
        collector.take([message])
    late_ms: list[float] = []
    paced = iter(messages([b for cycle in built[1:] for b in cycle]))
    feeding = asyncio.create_task(take_paced(collector, paced, late_ms))
    flood = await asyncio.create_subprocess_exec(
        sys.executable, "-c", FLOOD, f"http://127.0.0.1:{port}", str(logins),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await flood.communicate()
    assert not feeding.done(), "ingest ran out of statuses before the flood ended"
    feeding.cancel()
    lag = max(late_ms)
    found = json.loads(out)
    health = found["health"]
    server.cancel()
    print(
        f"healthz: {len(health)} asked, p50 {statistics.median(health):.1f} ms, "
        f"max {max(health):.1f} ms; {found['logins_per_s']:.1f} wrong logins/s"
    )
    print(
        f"BENCH login_flood healthz_p50_ms={statistics.median(health):.1f} "
        f"healthz_max_ms={max(health):.1f} logins_per_s={found['logins_per_s']:.1f} "
        f"ingest_lag_ms={lag:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--logins", type=int, default=60)
    args = parser.parse_args()
    logging.getLogger("slawatch.audit").setLevel(logging.ERROR)  # 60 failed logins, by design
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(Path(folder), args.devices, args.logins))


if __name__ == "__main__":
    main()
