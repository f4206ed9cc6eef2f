"""A quarter's SLA figures for 126,000 devices over 10 million state changes, timed.

Run: .venv/bin/python bench/sla.py [--devices 126000 --events 10000000]

The fleet comes from the simulator's generator (cameras, door-access sets, checkpoints,
switches). The ledger is written by the real ``Ledger`` (hash chain and SLA projection) and
the real ``FaultTracker``: every device walks a cycle of up / degraded (clock skew, stream,
recording) / down / unknown across Q3 2026, and the tracker opens, merges, reopens and
resolves tickets as live; three tickets in four are acknowledged ten minutes after
detection. Ledger and inventory are kept in a cache folder between runs (``--fresh``
rebuilds them). Timed: ``slawatch-collector sla --group-by contract --format json`` in a
fresh process, from start (inventory loading included) to the written report; its RSS.
Then ``export_s``: ``slawatch-collector evidence export`` of the same quarter (report, workbook,
CSV, the ledger slice of every row, manifest), signed, from start to the written zip.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# bench/ holds scripts named like the packages they measure: drop it from the import path.
sys.path[:] = [entry for entry in sys.path if Path(entry).resolve() != Path(__file__).parent]

from agent.wire import Reason
from collector.ledger.chain import Ledger
from collector.pipeline.faults import FaultTracker, Ticket
from collector.pipeline.state import Change, State
from simulator.fleet import FleetSize, fleet_devices, fleet_sets, inventory_header
from simulator.history import record
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.writer import write_inventory

REPO = Path(__file__).resolve().parent.parent
# The site's policy first (it judges the switches, which no contract names), then every
# contract's own: cameras pro rata, door-access sets all-or-nothing, checkpoints by
# inspection with unknown time counted down.
POLICIES = [REPO / "config" / "policies" / "xinjian-2020.yaml", REPO / "config" / "policies"]
QUARTER = (datetime(2026, 6, 30, 16, tzinfo=UTC), datetime(2026, 9, 30, 16, tzinfo=UTC))
# One device's walk through its states, back up between any two others; it repeats until
# the device has its share of events. Two in forty open tickets (down, stream lost).
AWAY: list[tuple[State, Reason]] = [
    (State.DEGRADED, Reason.CLOCK_SKEW),
    (State.UNKNOWN, Reason.OK),
    (State.DEGRADED, Reason.AUTH_FAILED),
    (State.DEGRADED, Reason.STREAM_UNAVAILABLE),
    (State.DEGRADED, Reason.CLOCK_SKEW),
    (State.UNKNOWN, Reason.OK),
    (State.DEGRADED, Reason.UPLOAD_BACKLOG),
    (State.UNKNOWN, Reason.OK),
    (State.DEGRADED, Reason.AUTH_FAILED),
    (State.DEGRADED, Reason.CLOCK_SKEW),
    (State.UNKNOWN, Reason.OK),
    (State.DEGRADED, Reason.CLOCK_SKEW),
    (State.DOWN, Reason.TIMEOUT),
    (State.DEGRADED, Reason.CLOCK_SKEW),
    (State.UNKNOWN, Reason.OK),
    (State.DEGRADED, Reason.AUTH_FAILED),
    (State.DEGRADED, Reason.CLOCK_SKEW),
    (State.UNKNOWN, Reason.OK),
    (State.DEGRADED, Reason.CLOCK_SKEW),
    (State.DEGRADED, Reason.UPLOAD_BACKLOG),
]
CYCLE = [step for away in AWAY for step in ((State.UP, Reason.OK), away)]


def fleet(folder: Path, devices: int) -> Path:
    door_sets = devices // 16
    switches = devices // 24
    checkpoints = devices // 200
    cameras = devices - 3 * door_sets - switches - checkpoints
    size = FleetSize(cameras, door_sets, checkpoints, switches)
    file = folder / "inventory.yaml"
    write_inventory(file, inventory_header(size), fleet_devices(size), fleet_sets(size))
    return file


def ten_minutes_mostly(ticket: Ticket) -> timedelta | None:
    """Three tickets in four acknowledged ten minutes after detection."""
    return timedelta(minutes=10) if hash(ticket.id) % 4 else None


def write_ledger(
    file: Path, inventory: Inventory, policies: PolicyBook, events: int
) -> tuple[int, int]:
    """State changes in event-time order, a round at a time; returns (changes, tickets)."""
    ids = [device.id for device in inventory.devices]
    rounds = max(1, -(-events // len(ids)))  # at least ``events`` changes
    start, end = QUARTER
    step = (end - start) / rounds
    # Each device keeps its own moment inside every round, so load is spread and ordered.
    offsets = sorted(((n * 7919) % len(ids) / len(ids) * step, n) for n in range(len(ids)))
    previous = [State.UNKNOWN] * len(ids)
    faults = FaultTracker(inventory, policies)
    ledger = Ledger(file)
    changes = 0
    for r in range(rounds):
        with ledger.transaction():
            for offset, n in offsets:
                since = start + r * step + offset
                state, reason = CYCLE[(r + n) % len(CYCLE)]
                confirmed = since + timedelta(minutes=1) if state is State.DOWN else since
                change = Change(ids[n], state, reason, since, confirmed, previous[n])
                previous[n] = state
                record(ledger, faults, change, "bench", ten_minutes_mostly)
                changes += 1
        print(f"\rledger: round {r + 1}/{rounds}, {changes} state changes", end="", flush=True)
    print()
    ledger.close()
    tickets = sum(1 for t in faults.tickets.values() if t.merged_into is None)
    return changes, tickets


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=126_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/slawatch-bench-sla"))
    parser.add_argument("--fresh", action="store_true", help="rebuild the cached ledger")
    args = parser.parse_args()
    # v2: a fleet of three contracts under three policies, tickets naming their policy.
    folder = args.cache / f"{args.devices}-{args.events}-v2"
    ledger_file, ready = folder / "ledger.sqlite", folder / "ready.json"
    if args.fresh or not ready.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        inventory_file = fleet(folder, args.devices)
        inventory = load_config(inventory_file, Inventory)
        policies = PolicyBook.load(POLICIES)
        started = time.perf_counter()
        changes, tickets = write_ledger(ledger_file, inventory, policies, args.events)
        took = time.perf_counter() - started
        ready.write_text(json.dumps({"changes": changes, "tickets": tickets, "write_s": took}))
    facts = json.loads(ready.read_text())
    print(
        f"ledger: {facts['changes']} state changes, {facts['tickets']} tickets, "
        f"{ledger_file.stat().st_size / 1e9:.2f} GB (written in {facts['write_s']:.0f} s)"
    )
    started = time.perf_counter()
    Ledger(ledger_file).close()  # brings an older projection up to date, as the collector would
    print(f"projection current ({time.perf_counter() - started:.1f} s)")
    report = folder / "report.json"
    command = [
        sys.executable, "-m", "collector.cli", "sla", "--ledger", str(ledger_file),
        "--inventory", str(folder / "inventory.yaml"),
        *(argument for path in POLICIES for argument in ("--policy", str(path))),
        "--period", "2026-Q3", "--group-by", "contract", "--format", "json", "-o", str(report),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO)
    figures_s = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    groups = json.loads(report.read_text())["groups"]
    for group in groups:
        print(
            f"  {group['key']}: {group['units']} {group['unit']}s, online {group['online_rate']}, "
            f"{group['tickets']} tickets, due {(group['settlement'] or {}).get('due')}"
        )
    key = folder / "bench-key.pem"
    if not key.exists():
        subprocess.run([sys.executable, "-m", "collector.cli", "keys", "new", str(key)], check=True)
    bundle = folder / "bundle.zip"
    bundle.unlink(missing_ok=True)
    command = [
        sys.executable, "-m", "collector.cli", "evidence", "export",
        "--ledger", str(ledger_file), "--inventory", str(folder / "inventory.yaml"),
        *(argument for path in POLICIES for argument in ("--policy", str(path))),
        "--period", "2026-Q3", "--out", str(bundle), "--sign", str(key),
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=REPO)
    export_s = time.perf_counter() - started
    print(f"bundle: {bundle.stat().st_size / 1e6:.0f} MB")
    print(f"BENCH sla figures_s={figures_s:.2f} export_s={export_s:.2f} rss_mb={rss_mb:.0f}")


if __name__ == "__main__":
    main()
