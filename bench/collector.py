"""Collector throughput per core, MQTT to ledger and time series, and a 10-million replay.

Run: .venv/bin/python bench/collector.py [--sizes 1000,20000,126000 --statuses 300000
--replay 10000000]

Live phase, once per fleet size: a generated fleet's poll cycles (batches of 1,000
statuses, 1 in 50 devices down at a time) are published to a local mosquitto by another
process while the real collector runs in this process: MQTT ingest with manual
acknowledgement, state machine, fault tickets, alerts, hash-chained SQLite ledger with
its journal, line protocol to the spool and on to a local VictoriaMetrics over InfluxDB's
v2 write API. Statuses taken divided by the CPU seconds this process used (every thread)
is statuses/s per core. The fleet's first poll (every device leaving UNKNOWN: a row
each, once in a collector's life) is taken before the clock starts; then about
``--statuses`` statuses (whole cycles) are timed at every size, from the moment the
publisher is told to send to the moment the last point is stored, so the sizes compare
the same steady work.
Replay phase: ``slawatch-collector replay``'s code path over a JSONL file of
``--replay`` observations, timed from the first line read to the verified ledger.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

# bench/ holds scripts named like the packages they measure: drop it from the import path.
sys.path[:] = [entry for entry in sys.path if Path(entry).resolve() != Path(__file__).parent]

import aiomqtt

from agent.wire import sign
from collector.ledger.chain import Ledger
from collector.pipeline.replay import observations_from, replay
from collector.service import Collector
from simulator.fleet import FleetSize, fleet_devices, fleet_sets, inventory_header
from simulator.local_servers import Mosquitto, Postgres, VictoriaMetrics
from slawatch import heap
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from slawatch.config.settings import CollectorSettings
from slawatch.config.writer import write_inventory
from tests.agent_keys import agent_key, registered, signing_by_test_key

REPO = Path(__file__).resolve().parent.parent
BATCH = 1000
AGENT = "edge-1"  # registered for the fleet generator's site, with the test key of its id
TOPIC = f"slawatch/v1/sim/{AGENT}/status"
KEY = agent_key(AGENT)
SENT_AT = "<sent_at>"


async def until(
    condition: Callable[[], bool], step: float, running: asyncio.Task[None], seconds: float = 1800
) -> None:
    """Wait for ``condition``; a collector that died (a bug raised in it) ends the bench."""
    deadline = time.monotonic() + seconds
    while not condition():
        if running.done():
            running.result()
            raise RuntimeError("the collector stopped")
        if time.monotonic() > deadline:
            raise TimeoutError("the collector stopped making progress")
        await asyncio.sleep(step)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def status_json(device: str, moment: datetime, down: bool) -> str:
    """A wire status, formatted directly: generating millions through pydantic takes minutes."""
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    health, reason = ("down", "timeout") if down else ("up", "ok")
    return (
        f'{{"device_id":"{device}","observed_at":"{stamp}","health":"{health}",'
        f'"reason":"{reason}","checks":{{}},"metrics":{{"rtt_ms":3.5}}}}'
    )


def is_down(index: int, cycle: int) -> bool:
    return (index + cycle // 5) % 50 == 0  # 2% of devices down, changing every 5 cycles


def cycles(devices: list[str], count: int, start: datetime) -> Iterator[tuple[int, list[str]]]:
    for cycle in range(count):
        moment = start + timedelta(minutes=cycle)
        yield cycle, [status_json(d, moment, is_down(i, cycle)) for i, d in enumerate(devices)]


def payloads(devices: list[str], count: int, start: datetime | None = None) -> list[list[str]]:
    """Each cycle's MQTT payloads: batches of ``BATCH`` statuses from one agent whose
    clock is synchronised, observed from ``start`` (default: a day ago) one cycle a
    minute; their send time a placeholder that ``signed`` stamps as they go out."""
    if start is None:
        start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)
    built: list[list[str]] = []
    seq = 0
    for _, statuses in cycles(devices, count, start):
        built.append([])
        for first in range(0, len(statuses), BATCH):
            body = ",".join(statuses[first : first + BATCH])
            built[-1].append(
                f'{{"v":1,"agent_id":"edge-1","site":"sim","seq":{seq},'
                f'"sent_at":"{SENT_AT}","clock":"synchronised","statuses":[{body}]}}'
            )
            seq += 1
    return built


def signed(body: str) -> bytes:
    """A payload from ``payloads`` as the agent sends it: stamped now, signed with its key
    (the collector judges the agent's clock by the send time, as a real agent's)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return sign(body.replace(SENT_AT, stamp, 1).encode(), KEY)


def publish(port: int, devices_file: Path, count: int) -> None:
    """Runs in its own process: the agents' side, not measured.

    Every payload is built before the first is sent: this machine has two cores, and a
    publisher still formatting statuses while the collector works would charge the
    collector for the contention (the agents run on other machines in a deployment).
    """
    built = payloads(devices_file.read_text(encoding="utf-8").split(), count + 1)
    print("ready", flush=True)

    async def main() -> None:
        async with aiomqtt.Client("127.0.0.1", port, max_inflight_messages=64) as client:
            client.pending_calls_threshold = 1000
            for n, cycle in enumerate(built):
                if n < 2:  # the first poll (warm-up), then the timed ones: each on "go"
                    await asyncio.to_thread(sys.stdin.readline)
                ready = [signed(body) for body in cycle]
                await asyncio.gather(*(client.publish(TOPIC, body, qos=1) for body in ready))

    asyncio.run(main())


def fleet(folder: Path, devices: int) -> Path:
    switches = devices // 24
    size = FleetSize(devices - switches, 0, 0, switches)
    file = folder / "inventory.yaml"
    header = inventory_header(size, **registered(AGENT))
    write_inventory(file, header, fleet_devices(size), fleet_sets(size))
    return file


async def live(
    folder: Path, inventory_file: Path, devices: int, count: int, ledger: str | None = None
) -> tuple[float, int]:
    """``ledger``: a PostgreSQL DSN (else the file ledger.sqlite in ``folder``)."""
    broker = Mosquitto(folder / "broker")
    victoria = VictoriaMetrics(folder / "victoria")
    broker.start()
    victoria.start()
    try:
        (folder / "token").write_text("bench\n", encoding="utf-8")
        settings_file = folder / "collector.yaml"
        settings_file.write_text(
            json.dumps(
                {
                    "kind": "collector",
                    "inventory": str(inventory_file),
                    "policy": str(REPO / "config" / "policies" / "pingshan-door-access.yaml"),
                    "broker": {"port": broker.port},
                    "influx": {
                        "url": victoria.url,
                        "org": "bench",
                        "bucket": "bench",
                        "token": {"file": "token"},
                    },
                    "spool": {"dir": "spool"},
                    "signing": signing_by_test_key(folder),
                    "ledger": "ledger.sqlite" if ledger is None else {"postgres": ledger},
                }
            ),
            encoding="utf-8",
        )
        settings = load_config(settings_file, CollectorSettings)
        inventory = load_config(settings.inventory, Inventory)
        collector = Collector(
            settings, inventory, PolicyBook.only(load_config(settings.policy, Policy))
        )
        heap.settle()  # as `slawatch-collector run` does
        ids = [device.id for device in inventory.devices][:devices]
        (folder / "devices.txt").write_text("\n".join(ids), encoding="utf-8")
        task = asyncio.create_task(collector.run())
        await until(lambda: collector.ingest.connected, 0.05, task)
        expected = len(ids) * count
        publisher = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--publish",
            str(broker.port),
            str(folder / "devices.txt"),
            str(count),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert publisher.stdin is not None
        assert publisher.stdout is not None
        await publisher.stdout.readline()  # every payload built
        publisher.stdin.write(b"go\n")  # the first poll: every device leaves UNKNOWN
        await until(
            lambda: collector.counters.statuses >= len(ids) and collector.spool.empty, 0.01, task
        )
        cpu_start = cpu_seconds()
        publisher.stdin.write(b"go\n")
        await until(
            lambda: collector.counters.statuses >= expected + len(ids) and collector.spool.empty,
            0.01,
            task,
        )
        cpu = cpu_seconds() - cpu_start
        await publisher.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        collector.close()
        print(
            f"live: {expected} statuses, {collector.ledger.next_seq} ledger rows, {cpu:.1f} CPU s",
            flush=True,
        )
        return cpu, expected
    finally:
        victoria.stop()
        broker.stop()


def replay_phase(
    folder: Path, inventory_file: Path, count: int, ledger: str | None = None
) -> float:
    inventory = load_config(inventory_file, Inventory)
    policy = load_config(REPO / "config" / "policies" / "pingshan-door-access.yaml", Policy)
    devices = [device.id for device in inventory.devices]
    file = folder / "observations.jsonl"
    cycles_needed = -(-count // len(devices))
    written = 0
    with file.open("w", encoding="utf-8") as out:
        for _, statuses in cycles(devices, cycles_needed, datetime(2026, 7, 1, tzinfo=UTC)):
            for line in statuses[: count - written]:
                out.write(line[:-1] + ',"agent_id":"edge-1"}\n')
            written += min(len(statuses), count - written)
    print(f"replay input: {written} observations, {file.stat().st_size / 1e9:.2f} GB", flush=True)
    into = Ledger(folder / "replayed.sqlite" if ledger is None else ledger)
    heap.settle()  # as `slawatch-collector replay` does
    started = time.perf_counter()
    summary = replay(inventory, PolicyBook.only(policy), observations_from(file), [], into)
    elapsed = time.perf_counter() - started
    into.close()
    file.unlink()
    print(f"replay: {summary.changes} state changes, {summary.tickets} tickets", flush=True)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,20000,126000", help="fleet sizes, by commas")
    parser.add_argument("--statuses", type=int, default=300_000, help="timed, at each size")
    parser.add_argument("--replay", type=int, default=10_000_000)
    parser.add_argument("--replay-size", type=int, default=20_000, help="its fleet size")
    parser.add_argument("--publish", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument(
        "--backend",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="postgres: the ledger in a throwaway PostgreSQL on loopback (its CPU not counted)",
    )
    args = parser.parse_args()
    if args.publish:
        publish(int(args.publish[0]), Path(args.publish[1]), int(args.publish[2]))
        return
    rates = []
    sizes = [int(size) for size in args.sizes.split(",")]
    if args.replay_size not in sizes:
        parser.error(f"--replay-size {args.replay_size} is not among --sizes")
    replay_s = 0.0
    with contextlib.ExitStack() as stack:
        server = None
        if args.backend == "postgres":
            server = Postgres()
            server.start()
            stack.callback(server.remove)
        for devices in sizes:
            with tempfile.TemporaryDirectory() as name:
                folder = Path(name)
                inventory_file = fleet(folder, devices)
                cycles = max(1, round(args.statuses / devices))
                live_at = None if server is None else server.create_database(f"live{devices}")
                cpu, statuses = asyncio.run(live(folder, inventory_file, devices, cycles, live_at))
                rates.append(f"statuses_per_s_per_core_{devices // 1000}k={statuses / cpu:.0f}")
                if devices == args.replay_size:
                    into = None if server is None else server.create_database("replay")
                    replay_s = replay_phase(folder, inventory_file, args.replay, into)
    print(
        f"BENCH collector backend={args.backend} {' '.join(rates)} "
        f"replay_10m_s={replay_s * 10_000_000 / args.replay:.0f}"
    )


if __name__ == "__main__":
    main()
