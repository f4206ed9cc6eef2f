"""The collector's ingest step alone (``Collector.take``) over the live bench's own batches.

Run: .venv/bin/python bench/collector_take.py [--devices 20000 --cycles 15 --take 15]

``Collector.take`` (decode, state machine, tickets, ledger and journal commit, spooled
time-series lines) is ~85% of ``bench/collector.py``'s live CPU. This runs it with no
broker and no time-series server on the same fleet and statuses, four messages a
commit, and prints CPU seconds per status. All ``--cycles`` are built first and the
first ``--take`` of them taken, so that under callgrind, whose instruction counts do not
swing with this VM's speed, two runs differing only in ``--take`` give the instructions
of the cycles between them:

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        .venv/bin/python bench/collector_take.py --cycles 6 --take 3   # then --take 6
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:] = [entry for entry in sys.path if Path(entry).resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

import aiomqtt

from bench.collector import TOPIC, cpu_seconds, fleet, payloads, signed
from collector.service import Collector
from slawatch import heap
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from slawatch.config.settings import CollectorSettings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--cycles", type=int, default=15)
    parser.add_argument("--take", type=int, help="cycles taken (default: all)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        inventory_file = fleet(folder, args.devices)
        policy_file = REPO / "config" / "policies" / "pingshan-door-access.yaml"
        (folder / "collector.yaml").write_text(
            json.dumps(
                {
                    "kind": "collector",
                    "inventory": str(inventory_file),
                    "policy": str(policy_file),
                    "broker": {"port": 1},
                    "spool": {"dir": "spool"},
                    "ledger": "ledger.sqlite",
                }
            ),
            encoding="utf-8",
        )
        settings = load_config(folder / "collector.yaml", CollectorSettings)
        inventory = load_config(inventory_file, Inventory)
        collector = Collector(
            settings, inventory, PolicyBook.only(load_config(policy_file, Policy))
        )
        heap.settle()  # as `slawatch-collector run` does
        devices = [device.id for device in inventory.devices][: args.devices]
        bodies = [body for cycle in payloads(devices, args.cycles)[: args.take] for body in cycle]
        messages = [
            aiomqtt.Message(TOPIC, signed(body), 1, False, n, None) for n, body in enumerate(bodies)
        ]
        started = cpu_seconds()
        for first in range(0, len(messages), 4):
            collector.take(messages[first : first + 4])
        cpu = cpu_seconds() - started
        collector.close()
    statuses = collector.counters.statuses
    print(f"take: {statuses} statuses, {cpu:.2f} CPU s, {statuses / cpu:.0f} statuses per CPU s")


if __name__ == "__main__":
    main()
