"""Tickets of a period, judged as they stood at its end.

A ticket belongs to the period in which it was detected. Its last ledger row at or
before the period's end says what was known then: a ticket repaired later is still open
at the end, and counts as late if its deadline had passed and as pending otherwise.
A quarter holds hundreds of thousands of tickets, so they are judged as columns, and each
report entry is spliced from the ticket's stored JSON instead of parsed and rebuilt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import orjson

from collector.ledger.backend import Target
from collector.ledger.projection import epoch_ms, reading, tickets_as_of

# Verdicts: in time, late, or undecided (its deadline is still ahead at the period's end).
IN_TIME, LATE, UNDECIDED = 1, 0, -1
_JSON = {IN_TIME: "true", LATE: "false", UNDECIDED: "null"}
_SEPARATOR = b",\n"
_CHUNK = 1 << 20  # bytes copied at a time
_BATCH = 2048  # entries joined at a time

Int64s = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Entries:
    """The report's ticket list in a file: JSON objects in UTF-8 joined by ",\n", and each
    one's byte span. A quarter's is 250 MB: it goes from the file to the output in chunks,
    never whole through memory (each 250 MB buffer costs 60,000 page faults here)."""

    file: Path
    spans: Int64s  # shape (entries, 2): start and end offsets

    def select(self, keep: npt.NDArray[np.bool_]) -> Entries:
        return Entries(self.file, self.spans[keep])

    def write(self, out: BinaryIO) -> None:
        """The entries, joined by ",\n": runs of neighbours are copied as one span."""
        if not len(self.spans):
            return
        starts, ends = self.spans[:, 0], self.spans[:, 1]
        breaks = np.nonzero(starts[1:] != ends[:-1] + len(_SEPARATOR))[0] + 1
        first, last = np.r_[0, breaks], np.r_[breaks - 1, -1]
        runs = zip(starts[first].tolist(), ends[last].tolist(), strict=True)
        buffer = memoryview(bytearray(_CHUNK))
        with self.file.open("rb") as source:
            for n, (start, end) in enumerate(runs):
                if n:
                    out.write(_SEPARATOR)
                source.seek(start)
                while start < end:
                    read = source.readinto(buffer[: min(_CHUNK, end - start)])
                    out.write(buffer[:read])
                    start += read


@dataclass(frozen=True, slots=True)
class Verdicts:
    """A shared network ticket judged again by each policy among its devices (its
    ``deadlines``): one row per (ticket, policy), the ticket's position first."""

    ticket: Int64s
    policy: npt.NDArray[np.str_]
    responded: npt.NDArray[np.int8]
    repaired: npt.NDArray[np.int8]
    overrun_ms: Int64s

    @staticmethod
    def empty() -> Verdicts:
        none = np.zeros(0, dtype=np.int64)
        undecided = np.zeros(0, dtype=np.int8)
        return Verdicts(none, np.array([], dtype=np.str_), undecided, undecided, none)


@dataclass(frozen=True, slots=True)
class Tickets:
    """Columns only: they cross from the worker process as a few buffers, not 450,000
    objects (pickling lists of strings cost as much as judging them). ``responded``,
    ``repaired`` and ``overrun_ms`` judge each ticket by the deadlines it carries (its
    strictest policy's); ``by_policy`` by each policy's own, where a ticket has several."""

    ids: npt.NDArray[np.str_]
    detected_ms: Int64s
    responded: npt.NDArray[np.int8]
    repaired: npt.NDArray[np.int8]  # UNDECIDED: pending
    overrun_ms: Int64s  # past the repair deadline by the period's end (0 when in time)
    entries: Entries
    # Every (ticket, device) pair: the ticket's position, and the device's in ``devices``.
    devices: list[str]
    pair_ticket: Int64s
    pair_device: Int64s
    by_policy: Verdicts

    def select(self, keep: npt.NDArray[np.bool_]) -> Tickets:
        pairs = keep[self.pair_ticket]
        position = np.cumsum(keep) - 1
        own = keep[self.by_policy.ticket]
        verdicts = self.by_policy
        return Tickets(
            ids=self.ids[keep],
            detected_ms=self.detected_ms[keep],
            responded=self.responded[keep],
            repaired=self.repaired[keep],
            overrun_ms=self.overrun_ms[keep],
            entries=self.entries.select(keep),
            devices=self.devices,
            pair_ticket=position[self.pair_ticket[pairs]],
            pair_device=self.pair_device[pairs],
            by_policy=Verdicts(
                position[verdicts.ticket[own]],
                verdicts.policy[own],
                verdicts.responded[own],
                verdicts.repaired[own],
                verdicts.overrun_ms[own],
            ),
        )

    def judged_by(self, policy: str) -> Tickets:
        """The tickets as ``policy`` judges them: a shared ticket by its deadlines."""
        mine = self.by_policy.policy == policy
        if not mine.any():
            return self
        at = self.by_policy.ticket[mine]
        responded, repaired = self.responded.copy(), self.repaired.copy()
        overrun = self.overrun_ms.copy()
        responded[at] = self.by_policy.responded[mine]
        repaired[at] = self.by_policy.repaired[mine]
        overrun[at] = self.by_policy.overrun_ms[mine]
        return replace(self, responded=responded, repaired=repaired, overrun_ms=overrun)


def period_tickets(
    ledger: Target,
    start_ms: int,
    end_ms: int,
    entries: Path,
    batch: int = 16_384,
    through_seq: int | None = None,
) -> Tickets:
    """The tickets detected in [start, end), judged, their report entries written to
    ``entries``, ``batch`` tickets at a time; runs beside the rest of a report.

    ``through_seq``: the period's Bounds (rows after it do not count).
    A quarter's tickets take seconds to read and judge and need nothing from the
    inventory, so ``slawatch-collector sla`` runs this in a process of its own while it
    loads the inventory.
    """
    codes: dict[str, int] = {}
    with reading(ledger) as db, entries.open("wb") as out:
        read = tickets_as_of(db, start_ms, end_ms, batch, through_seq)
        batches = (judge(rows, end_ms, out, codes) for rows in read)
        parts = [part for part in batches if part is not None]
    if not parts:
        none = np.zeros(0, dtype=np.int64)
        undecided = np.zeros(0, dtype=np.int8)
        nothing = Entries(entries, np.zeros((0, 2), dtype=np.int64))
        return Tickets(
            np.array([], np.str_),
            none,
            undecided,
            undecided,
            none,
            nothing,
            [],
            none,
            none,
            Verdicts.empty(),
        )
    before = np.cumsum([0] + [len(part.ids) for part in parts[:-1]])
    shifted = [p.by_policy for p in parts]
    return Tickets(
        ids=np.concatenate([part.ids for part in parts]),
        detected_ms=np.concatenate([part.detected_ms for part in parts]),
        responded=np.concatenate([part.responded for part in parts]),
        repaired=np.concatenate([part.repaired for part in parts]),
        overrun_ms=np.concatenate([part.overrun_ms for part in parts]),
        entries=Entries(entries, np.concatenate([part.entries.spans for part in parts])),
        devices=list(codes),
        pair_ticket=np.concatenate([p.pair_ticket + n for p, n in zip(parts, before, strict=True)]),
        pair_device=np.concatenate([part.pair_device for part in parts]),
        by_policy=Verdicts(
            np.concatenate([v.ticket + n for v, n in zip(shifted, before, strict=True)]),
            np.concatenate([v.policy for v in shifted]),
            np.concatenate([v.responded for v in shifted]),
            np.concatenate([v.repaired for v in shifted]),
            np.concatenate([v.overrun_ms for v in shifted]),
        ),
    )


def _verdict(done: Int64s, deadline: Int64s, end_ms: int) -> npt.NDArray[np.int8]:
    """``done`` is -1 where nothing happened yet."""
    decided = np.where(done <= deadline, IN_TIME, LATE)
    return np.where(done >= 0, decided, np.where(deadline <= end_ms, LATE, UNDECIDED)).astype(
        np.int8
    )


def _by_policy(texts: list[str], acked: Int64s, repaired_at: Int64s, end_ms: int) -> Verdicts:
    """Each ticket carrying ``deadlines`` (a network ticket across policies) judged by each
    policy's; only those tickets' JSON is parsed (a quarter's front-end tickets are not)."""
    rows = [
        (n, policy, epoch_ms(due["response_deadline"]), epoch_ms(due["repair_deadline"]))
        for n, text in enumerate(texts)
        if '"deadlines":' in text
        for policy, due in orjson.loads(text)["deadlines"].items()
    ]
    if not rows:
        return Verdicts.empty()
    ticket = np.array([row[0] for row in rows], dtype=np.int64)
    response_by = np.array([row[2] for row in rows], dtype=np.int64)
    repair_by = np.array([row[3] for row in rows], dtype=np.int64)
    fixed, answered = repaired_at[ticket], _answered(acked, repaired_at)[ticket]
    return Verdicts(
        ticket,
        np.array([row[1] for row in rows], dtype=np.str_),
        _verdict(answered, response_by, end_ms),
        _verdict(fixed, repair_by, end_ms),
        np.maximum(0, np.where(fixed >= 0, fixed, end_ms) - repair_by),
    )


def _answered(acked: Int64s, repaired_at: Int64s) -> Int64s:
    """When the ticket was first acknowledged or repaired; -1 while neither happened."""
    found: Int64s = np.where(
        acked < 0,
        repaired_at,
        np.where(repaired_at < 0, acked, np.minimum(acked, repaired_at)),
    )
    return found


def judge(
    rows: Sequence[tuple[Any, ...]], end_ms: int, out: BinaryIO, codes: dict[str, int]
) -> Tickets | None:
    """A batch of ``tickets_as_of`` rows (merged tickets count in their network ticket):
    their entries appended to ``out``, their devices coded in ``codes`` (shared by batches),
    ticket positions counted from the batch's first; None when none is left to judge."""
    kept = [row for row in rows if not row[7]]
    if not kept:
        return None
    detected, ids, _, acknowledged, resolved, response_by, repair_by, _, devices, texts = (
        list(column) for column in zip(*kept, strict=True)
    )
    acked = np.array([-1 if t is None else t for t in acknowledged], dtype=np.int64)
    repaired_at = np.array([-1 if t is None else t for t in resolved], dtype=np.int64)
    answered = _answered(acked, repaired_at)
    responded = _verdict(answered, np.array(response_by, dtype=np.int64), end_ms)
    deadline = np.array(repair_by, dtype=np.int64)
    repaired = _verdict(repaired_at, deadline, end_ms)
    overrun = np.maximum(0, np.where(repaired_at >= 0, repaired_at, end_ms) - deadline)
    # Durations as text first, vectorised: a Python call per ticket costs a second a quarter.
    response_s = np.where(acked < 0, -1.0, (acked - np.array(detected)) / 1000).tolist()
    repair_s = np.where(repaired_at < 0, -1.0, (repaired_at - np.array(detected)) / 1000).tolist()
    by_policy = _by_policy(texts, acked, repaired_at, end_ms)
    judged = _judged_text(by_policy)
    entries = [
        f'{text[:-1]},"response_s":{"null" if answer_s < 0 else repr(answer_s)},'
        f'"repair_s":{"null" if fix_s < 0 else repr(fix_s)},'
        f'"responded_in_time":{_JSON[answer]},"repaired_in_time":{_JSON[repair]},'
        f'"pending":{"true" if repair == UNDECIDED else "false"}{judged.get(n, "")}}}'.encode()
        for n, (text, answer_s, fix_s, answer, repair) in enumerate(
            zip(texts, response_s, repair_s, responded.tolist(), repaired.tolist(), strict=True)
        )
    ]
    pair_device = [codes.setdefault(d, len(codes)) for names in devices for d in names.split(" ")]
    counts = [names.count(" ") + 1 for names in devices]
    return Tickets(
        ids=np.array(ids, dtype=np.str_),
        detected_ms=np.array(detected, dtype=np.int64),
        responded=responded,
        repaired=repaired,
        overrun_ms=overrun,
        entries=_written(out, entries),
        devices=[],
        pair_ticket=np.repeat(np.arange(len(counts), dtype=np.int64), counts),
        pair_device=np.array(pair_device, dtype=np.int64),
        by_policy=by_policy,
    )


def _judged_text(verdicts: Verdicts) -> dict[int, str]:
    """Per ticket carrying ``deadlines``: its entry's ``judged`` member, each policy's
    verdicts by its own deadlines (the fields above judge by the ticket's, the strictest)."""
    parts: dict[int, list[str]] = {}
    for n, policy, answer, repair in zip(
        verdicts.ticket.tolist(),
        verdicts.policy.tolist(),
        verdicts.responded.tolist(),
        verdicts.repaired.tolist(),
        strict=True,
    ):
        parts.setdefault(n, []).append(
            f'"{policy}":{{"pending":{"true" if repair == UNDECIDED else "false"},'
            f'"repaired_in_time":{_JSON[repair]},"responded_in_time":{_JSON[answer]}}}'
        )
    return {n: ',"judged":{' + ",".join(found) + "}" for n, found in parts.items()}


def _written(out: BinaryIO, pieces: list[bytes]) -> Entries:
    """Append the pieces, after those already in ``out``; their spans in the file."""
    start = out.tell()
    if start:
        out.write(_SEPARATOR)
        start += len(_SEPARATOR)
    lengths = np.fromiter(map(len, pieces), np.int64, len(pieces))
    ends = start + np.cumsum(lengths + len(_SEPARATOR)) - len(_SEPARATOR)
    for first in range(0, len(pieces), _BATCH):
        if first:
            out.write(_SEPARATOR)
        out.write(_SEPARATOR.join(pieces[first : first + _BATCH]))
    return Entries(Path(out.name), np.stack([ends - lengths, ends], axis=1))
