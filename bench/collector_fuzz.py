"""Does hostile input cost anything lasting? Memory, ledger rows and retained acks after
20,000 fuzzed messages.

Run: .venv/bin/python bench/collector_fuzz.py [--messages 20000]

``Collector.take`` in-process (no broker), on a district whose site registers its agent
(edge-1, with its key): random bytes, JSON of random shapes, near-batches with random
seq, health and reason from edge-1 (half of the JSON signed with edge-1's key, so the
parser and the receipts are fuzzed past the signature check), and valid-looking batches
from random agent ids of the site, after a warm-up of 2,000. Prints the peak RSS before
and after, the allocations that grew most (tracemalloc), and one line ``BENCH
collector_fuzz rss_mb_before=… rss_mb_after=… ledger_rows_added=… retained_added=…``
(the retained acks the collector would publish for senders other than its agent).
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

from agent.wire import sign
from tests.agent_keys import agent_key
from tests.collector.live import SITE, load_collector, write_settings

AGENT = "edge-1"  # registered in the test district, with the test key made from its id
KEY = agent_key(AGENT)


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
            "agent_id": AGENT,
            "site": SITE,
            "seq": rng.randint(0, 2**40),
            "sent_at": "2026-07-01T00:00:00.000Z",
            "statuses": [status],
        }
        return json.dumps(batch).encode()
    if draw < 0.8:
        return json.dumps({f"k{n}": [n, "x" * rng.randint(0, 50)]}).encode()
    return b""  # a batch from a random agent id: built by ``message``


def message(rng: random.Random, n: int) -> aiomqtt.Message:
    payload = hostile(rng, n)
    if payload.endswith(b"}") and rng.random() < 0.5:
        payload = sign(payload, KEY)  # the agent's own (or its stolen key's) nonsense
    if payload:
        return aiomqtt.Message(f"slawatch/v1/{SITE}/{AGENT}/status", payload, 1, False, 1, None)
    stranger = f"edge-{rng.randrange(10**9)}"
    batch = {
        "v": 1, "agent_id": stranger, "site": SITE, "seq": 0,
        "sent_at": "2026-07-01T00:00:00.000Z",
        "statuses": [{"device_id": "CAM001", "observed_at": "2026-07-01T00:01:00.000Z",
                      "health": "up", "reason": "ok"}],
    }  # fmt: skip
    topic = f"slawatch/v1/{SITE}/{stranger}/status"
    return aiomqtt.Message(topic, json.dumps(batch).encode(), 1, False, 1, None)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        collector = load_collector(write_settings(Path(name), 1883))
        rng = random.Random(1)
        retained: set[str] = set()

        def take(count: int) -> None:
            for n in range(count):
                taken = collector.take([message(rng, n)])
                retained.update(t for t, _ in taken.receipts if f"/{AGENT}/" not in t)

        take(2_000)
        tracemalloc.start(5)
        before, rss_before = tracemalloc.take_snapshot(), peak_rss_mb()
        rows_before, retained_before = collector.ledger.next_seq, len(retained)
        take(args.messages)
        after, rss_after = tracemalloc.take_snapshot(), peak_rss_mb()
        rows_added = collector.ledger.next_seq - rows_before
        retained_added = len(retained) - retained_before
        for stat in after.compare_to(before, "lineno")[:5]:
            print(stat)
        counters = collector.counters
        print(f"dead letters {counters.dead_letters}, reasons kept {len(counters.reasons)}")
        collector.close()
    print(
        f"BENCH collector_fuzz rss_mb_before={rss_before:.0f} rss_mb_after={rss_after:.0f} "
        f"ledger_rows_added={rows_added} retained_added={retained_added}"
    )


if __name__ == "__main__":
    main()
