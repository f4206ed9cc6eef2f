"""What the fault tests measured, written to ``docs/reliability.md`` by a passing full run.

Each fault test counts what it sent and what arrived on the far side (ledger, time
series, broker), and how long recovery took; the session writes the table only when
every scenario below ran and the run passed, so a partial run never overwrites it.
"""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SCENARIOS = {
    "broker-outage": "mosquitto stopped for a while under an agent publishing",
    "collector-down-broker-killed": (
        "collector stopped, batches queued on the broker, broker killed with -9, both restarted"
    ),
    "collector-kill-9": "collector killed with -9 mid-ingest, restarted",
    "timeseries-outage": "time-series server (VictoriaMetrics) stopped and restarted",
    "agent-restart": (
        "agent killed with batches written but unsent, restarted on its outbox, then "
        "reinstalled (a new outbox)"
    ),
    "ledger-locked-60s": (
        "a reader's sqlite3 shell held the ledger's write lock (BEGIN EXCLUSIVE) for 60 s "
        "under an agent publishing; the collector restarted meanwhile"
    ),
    "ledger-disk-full": (
        "the ledger's disk (a 4 MiB tmpfs) filled up, the collector restarted on it, then "
        "space freed"
    ),
    "two-districts-one-broker": (
        "two districts' collectors on one broker; one down while the broker was killed "
        "with -9, the other restarted"
    ),
}


@dataclass(frozen=True, slots=True)
class Record:
    scenario: str
    unit: str
    sent: int
    arrived: int
    duplicates_dropped: int
    recovered_s: float


RECORDS: dict[str, Record] = {}


class Stopwatch:
    def __init__(self) -> None:
        self._start = time.monotonic()

    def seconds(self) -> float:
        return time.monotonic() - self._start


def record(
    scenario: str,
    *,
    unit: str,
    sent: int,
    arrived: int,
    recovered_s: float,
    duplicates_dropped: int = 0,
) -> None:
    assert scenario in SCENARIOS, scenario
    RECORDS[scenario] = Record(scenario, unit, sent, arrived, duplicates_dropped, recovered_s)


def write(path: Path) -> None:
    lines = [
        "# Reliability: what the fault tests measured",
        "",
        "Written by the test run (`tests/reliability.py`, from the fault tests' own counts);",
        f"last written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({platform.python_implementation()} {platform.python_version()}).",
        "`lost` is sent minus arrived: it must be 0.",
        "",
        "| scenario | what happened | unit | sent | arrived | lost | duplicates dropped "
        "| recovered in |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, what in SCENARIOS.items():
        r = RECORDS[name]
        lines.append(
            f"| {name} | {what} | {r.unit} | {r.sent:,} | {r.arrived:,} | {r.sent - r.arrived:,} "
            f"| {r.duplicates_dropped:,} | {r.recovered_s:.1f} s |"
        )
    lines += [
        "",
        "Recovered in: from the moment the failed part was back to the moment everything",
        "sent was where it belongs (ledger, time-series server, outbox confirmed empty).",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
