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
    "collector-kill-9-postgresql": "the same, its ledger on PostgreSQL (synchronous_commit on)",
    "failover-kill-9": "two collectors on one PostgreSQL ledger, the active killed with -9 "
    "mid-ingest; the standby took over (recovered in: the failover)",
    "failover-paused-past-lease": "the active collector paused (SIGSTOP) past its 2 s lease, "
    "the standby took over, the old one resumed (it appended nothing and exited)",
    "failover-primary-promoted": "two collectors on a multi-host DSN (primary, synchronous "
    "streaming replica): the active killed with -9, restarted as the standby; then the "
    "primary stopped at once and the replica promoted, under an agent publishing "
    "(recovered in: promotion to the first commit)",
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
    "agent-clock-ahead-6min": "agent's clock 6 min ahead (libfaketime), then right again",
    "agent-clock-ahead-1h": "agent's clock 1 h ahead (libfaketime), then right again",
    "agent-clock-behind-1h": "agent's clock 1 h behind (libfaketime), then right again",
    "agent-clock-set-back-1h": "agent's clock set back by 1 h while it runs, then right again",
    "forged-status-in-tolerance": (
        "a batch sent and observed 299 s ahead on an agent's topic: unsigned, refused; "
        "signed with the agent's key, kept aside; the device's real statuses taken on"
    ),
    "forged-acks-and-batches": (
        "retained forged ack {through: 1e9} on the agent's ack topic, forged batches on the "
        "agent's next seq, a forged offline, another site's agent publishing here (no ACL)"
    ),
    "cross-site-with-acl": (
        "the broker's ACL from the inventory: an agent publishing on another agent's topic, "
        "under another site, and a forged retained ack on another agent's ack topic (5 "
        "messages the broker refused), its own status taken"
    ),
    "forged-gap-closed-by-admin": (
        "an unknown agent, another site's agent and a seq no agent could reach refused "
        "without a trace; batches that never came closed by an admin with a reason"
    ),
    "districts-sharing-an-acl-broker": (
        "two districts' collectors under one broker ACL written from both inventories, each "
        "with its own account; one district's account tried to overwrite the other's head"
    ),
    "agent-clock-off-collector-restarted": (
        "the collector restarted while an agent's clock was 6 min ahead, then the clock right "
        "again: known off at once, said once, its recovery told"
    ),
    "fuzzed-messages": (
        "10,000 hostile payloads on an agent's topic (half signed by it), then a real batch"
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
    kept_aside: int = 0  # of the arrived: kept unused (the agent's clock was off)
    wrong_time: int | None = None  # points in the time series outside the run's real span
    blamed: int | None = None  # devices down, ticketed or degraded for their clock


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
    kept_aside: int = 0,
    wrong_time: int | None = None,
    blamed: int | None = None,
) -> None:
    assert scenario in SCENARIOS, scenario
    RECORDS[scenario] = Record(
        scenario, unit, sent, arrived, duplicates_dropped, recovered_s, kept_aside, wrong_time,
        blamed,
    )  # fmt: skip


def _measured(count: int | None) -> str:
    return "—" if count is None else f"{count:,}"


# What an acknowledgement to an agent means, per ledger setting (written with the table).
DURABILITY = [
    "## What an acknowledgement means",
    "",
    "The collector acknowledges a batch to its agent only after the ledger transaction",
    "holding the rows it produced has committed (`collector/ledger/chain.py`); until then",
    "the agent keeps the batch in its outbox and sends it again. What survives depends on",
    "where the ledger is and how it is set:",
    "",
    "| ledger | setting | a batch acknowledged survives |",
    "| --- | --- | --- |",
    "| SQLite file (default) | WAL, `synchronous=FULL` | a crash of the collector or of the "
    "server (power loss): the commit is on the disk; not the loss of that disk |",
    "| PostgreSQL | `synchronous_commit: on` (default), no synchronous standby | a crash of "
    "the collector or of the database server: the commit is flushed to the primary's WAL; "
    "not the loss of the primary's disk (an asynchronous replica may lag) |",
    "| PostgreSQL | `synchronous_commit: on` and `synchronous_standby_names` on the primary | "
    "the loss of either machine: the commit is flushed on the primary and on the standby "
    "before the collector acknowledges |",
    "| PostgreSQL | `synchronous_commit: remote_apply` (with a synchronous standby) | as "
    "above, and a read on the standby already sees it (a collector reading the standby "
    "after a failover finds every acknowledged row) |",
    "| PostgreSQL | `remote_write` / `local` | `remote_write`: in the standby's memory, lost if "
    "both machines fail at once; `local`: as `on` without a standby; `off` is refused by the "
    "settings (an acknowledged batch could be lost in a database crash) |",
    "",
    "Collectors sharing a PostgreSQL ledger hold a lease (`collector/ledger/lease.py`): one is",
    "active, the others wait as standbys and take over once it lapses (`ledger.lease`, 10 s).",
    "Every transaction of the active one first renews the lease under its term, so a",
    "collector paused past its lease (SIGSTOP, a frozen VM) appends nothing after it resumes",
    "and exits (5): its batches were never acknowledged and reach the new active collector",
    "from the broker's session. `tests/collector/test_failover.py` kills the active collector",
    "with -9 and pauses it past its lease, under an agent publishing; the ledger ends row for",
    "row the one a single collector's replay writes. It also stops the database's primary at",
    "once and promotes its synchronous streaming replica (`pg_ctl promote`): the collectors",
    "name both servers (`host=a,b target_session_attrs=read-write`), hold their input",
    "unacknowledged while no server takes writes, and carry on on the promoted one; nothing",
    "acknowledged is missing there. `tests/collector/test_crash.py` does the kill -9 on each",
    "backend.",
    "",
]


def write(path: Path) -> None:
    lines = [
        "# Reliability: what the fault tests measured",
        "",
        "Written by the test run (`tests/reliability.py`, from the fault tests' own counts);",
        f"last written {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({platform.python_implementation()} {platform.python_version()}).",
        "`lost` is sent minus arrived: it must be 0. `kept aside`: of the arrived, kept",
        "unused in the ledger's file because the agent's clock was off (its devices unknown",
        "meanwhile); `wrong time`: points written to the time series outside the run's real",
        "span; `blamed`: devices down, ticketed or degraded for their clock. Both must be 0",
        "(— where the scenario does not measure them).",
        "",
        "| scenario | what happened | unit | sent | arrived | lost | duplicates dropped "
        "| kept aside | wrong time | blamed | recovered in |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, what in SCENARIOS.items():
        r = RECORDS[name]
        lines.append(
            f"| {name} | {what} | {r.unit} | {r.sent:,} | {r.arrived:,} | {r.sent - r.arrived:,} "
            f"| {r.duplicates_dropped:,} | {r.kept_aside:,} | {_measured(r.wrong_time)} "
            f"| {_measured(r.blamed)} "
            f"| {r.recovered_s:.1f} s |"
        )
    lines += [
        "",
        "Recovered in: from the moment the failed part was back to the moment everything",
        "sent was where it belongs (ledger, time-series server, outbox confirmed empty).",
        "",
        *DURABILITY,
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
