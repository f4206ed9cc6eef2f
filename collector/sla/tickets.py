"""Tickets of a period, judged as they stood at its end.

A ticket belongs to the period in which it was detected. Its last ledger row at or
before the period's end says what was known then: a ticket repaired later is still open
at the end, and counts as late if its deadline had passed and as pending otherwise.
A quarter holds hundreds of thousands of tickets, so they are judged as columns, and each
report entry is spliced from the ticket's stored JSON instead of parsed and rebuilt.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from collector.projection import tickets_as_of

# Verdicts: in time, late, or undecided (its deadline is still ahead at the period's end).
IN_TIME, LATE, UNDECIDED = 1, 0, -1
_JSON = {IN_TIME: "true", LATE: "false", UNDECIDED: "null"}

Int64s = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Tickets:
    ids: list[str]
    device_ids: list[list[str]]
    detected_ms: Int64s
    responded: npt.NDArray[np.int8]
    repaired: npt.NDArray[np.int8]  # UNDECIDED: pending
    overrun_ms: Int64s  # past the repair deadline by the period's end (0 when in time)
    # The report's ticket list: JSON objects joined by ",\n", and where each one ends.
    # One string, not 450,000: it crosses from the worker process in one piece.
    entries: str
    entry_ends: Int64s

    def entry(self, n: int) -> str:
        start = 0 if n == 0 else int(self.entry_ends[n - 1]) + 2  # past the ",\n"
        return self.entries[start : int(self.entry_ends[n])]

    def select(self, keep: list[int]) -> Tickets:
        return Tickets(
            ids=[self.ids[n] for n in keep],
            device_ids=[self.device_ids[n] for n in keep],
            detected_ms=self.detected_ms[keep],
            responded=self.responded[keep],
            repaired=self.repaired[keep],
            overrun_ms=self.overrun_ms[keep],
            **_joined(self.entry(n) for n in keep),
        )


def period_tickets(ledger: Path, start_ms: int, end_ms: int) -> Tickets:
    """The tickets detected in [start, end), judged; runs beside the rest of a report.

    A quarter's tickets take seconds to read and judge and need nothing from the
    inventory, so ``slawatch-collector sla`` runs this in a second process while it loads
    the inventory and measures the states (the machine has two cores).
    """
    db = sqlite3.connect(f"{ledger.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return judge(tickets_as_of(db, start_ms, end_ms), end_ms)
    finally:
        db.close()


def _verdict(done: Int64s, deadline: Int64s, end_ms: int) -> npt.NDArray[np.int8]:
    """``done`` is -1 where nothing happened yet."""
    decided = np.where(done <= deadline, IN_TIME, LATE)
    return np.where(done >= 0, decided, np.where(deadline <= end_ms, LATE, UNDECIDED)).astype(
        np.int8
    )


def judge(rows: Sequence[tuple[Any, ...]], end_ms: int) -> Tickets:
    """Tickets from ``tickets_as_of`` rows; merged ones count in their network ticket."""
    kept = [row for row in rows if not row[7]]
    if not kept:
        none = np.zeros(0, dtype=np.int64)
        undecided = np.zeros(0, dtype=np.int8)
        return Tickets([], [], none, undecided, undecided, none, "", none)
    detected, ids, _, acknowledged, resolved, response_by, repair_by, _, devices, texts = (
        list(column) for column in zip(*kept, strict=True)
    )
    acked = np.array([-1 if t is None else t for t in acknowledged], dtype=np.int64)
    repaired_at = np.array([-1 if t is None else t for t in resolved], dtype=np.int64)
    answered = np.where(
        acked < 0,
        repaired_at,
        np.where(repaired_at < 0, acked, np.minimum(acked, repaired_at)),
    )
    responded = _verdict(answered, np.array(response_by, dtype=np.int64), end_ms)
    deadline = np.array(repair_by, dtype=np.int64)
    repaired = _verdict(repaired_at, deadline, end_ms)
    overrun = np.maximum(0, np.where(repaired_at >= 0, repaired_at, end_ms) - deadline)
    # Durations as text first, vectorised: a Python call per ticket costs a second a quarter.
    response_s = np.where(acked < 0, -1.0, (acked - np.array(detected)) / 1000).tolist()
    repair_s = np.where(repaired_at < 0, -1.0, (repaired_at - np.array(detected)) / 1000).tolist()
    entries = (
        f'{text[:-1]},"response_s":{"null" if answer_s < 0 else repr(answer_s)},'
        f'"repair_s":{"null" if fix_s < 0 else repr(fix_s)},'
        f'"responded_in_time":{_JSON[answer]},"repaired_in_time":{_JSON[repair]},'
        f'"pending":{"true" if repair == UNDECIDED else "false"}}}'
        for text, answer_s, fix_s, answer, repair in zip(
            texts, response_s, repair_s, responded.tolist(), repaired.tolist(), strict=True
        )
    )
    return Tickets(
        ids=ids,
        device_ids=[d.split(" ") for d in devices],
        detected_ms=np.array(detected, dtype=np.int64),
        responded=responded,
        repaired=repaired,
        overrun_ms=overrun,
        **_joined(entries),
    )


def _joined(entries: Iterable[str]) -> dict[str, Any]:
    pieces = list(entries)
    ends = np.cumsum([len(piece) + 2 for piece in pieces], dtype=np.int64) - 2
    return {"entries": ",\n".join(pieces), "entry_ends": ends}
