"""Does hostile input grow the collector? Memory before and after 12,000 fuzzed messages.

Run: .venv/bin/python bench/collector_fuzz.py [--messages 12000]

``Collector.take`` in-process (no broker): random bytes, JSON of random shapes, and
near-batches with random seq, health and reason on an agent's status topic, after a
warm-up of 2,000. Prints the peak RSS before and after, the allocations that grew most
(tracemalloc), and one line ``BENCH collector_fuzz rss_mb_before=… rss_mb_after=…``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sys
import tempfile
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:] = [entry for entry in sys.path if Path(entry).resolve() != REPO / "bench"]
sys.path.insert(0, str(REPO))

import aiomqtt

from tests.collector.live import SITE, load_collector, write_settings


def hostile(rng: random.Random, n: int) -> bytes:
    draw = rng.random()
    if draw < 0.3:
        return os.urandom(rng.randint(0, 200))
    if draw < 0.6:
        status = {
            "device_id": "CAM001",
            "observed_at": "2026-07-01T00:01:00.000Z",
            "health": rng.choice(["up", "down", "sideways"]),
            "reason": rng.choice(["ok", "timeout", "gremlins"]),
        }
        batch = {
            "v": 1,
            "agent_id": "edge-1",
            "site": SITE,
            "seq": rng.randint(0, 2**40),
            "sent_at": "2026-07-01T00:00:00.000Z",
            "statuses": [status],
        }
        return json.dumps(batch).encode()
    return json.dumps({f"k{n}": [n, "x" * rng.randint(0, 50)]}).encode()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=12_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        collector = load_collector(write_settings(Path(name), 1883))
        topic = f"slawatch/v1/{SITE}/edge-1/status"
        rng = random.Random(1)

        def take(count: int) -> None:
            for n in range(count):
                message = aiomqtt.Message(topic, hostile(rng, n), 1, False, 1, None)
                collector.take([message])

        take(2_000)
        tracemalloc.start(5)
        before, rss_before = tracemalloc.take_snapshot(), peak_rss_mb()
        take(args.messages)
        after, rss_after = tracemalloc.take_snapshot(), peak_rss_mb()
        for stat in after.compare_to(before, "lineno")[:5]:
            print(stat)
        counters = collector.counters
        print(f"dead letters {counters.dead_letters}, reasons kept {len(counters.reasons)}")
        collector.close()
    print(f"BENCH collector_fuzz rss_mb_before={rss_before:.0f} rss_mb_after={rss_after:.0f}")


if __name__ == "__main__":
    main()
