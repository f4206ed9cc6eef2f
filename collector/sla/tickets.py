"""Tickets of a period, judged as they stood at its end.

A ticket belongs to the period in which it was detected. Its last ledger row at or
before the period's end says what was known then: a ticket repaired later is still open
at the end, and counts as late if its deadline had passed and as pending otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson


@dataclass(frozen=True, slots=True)
class JudgedTicket:
    id: str
    device_ids: list[str]
    detected_ms: int
    # None while undecided at the period's end (deadline not yet passed).
    responded_in_time: bool | None
    repaired_in_time: bool | None
    # How far the repair ran past its deadline by the period's end (0 when in time).
    overrun_ms: int
    # The report's entry: the ticket's canonical JSON with the judgement added.
    entry: orjson.Fragment

    @property
    def pending(self) -> bool:
        return self.repaired_in_time is None


def _in_time(done: int | None, deadline: int, end: int) -> bool | None:
    if done is not None:
        return done <= deadline
    return False if deadline <= end else None


def _seconds(since: int, until: int | None) -> str:
    return "null" if until is None else repr((until - since) / 1000)


def judge(rows: Iterable[tuple[Any, ...]], end_ms: int) -> list[JudgedTicket]:
    """Tickets from ``tickets_as_of`` rows; merged ones count in their network ticket.

    A quarter holds hundreds of thousands of tickets: each entry is spliced from the
    ticket's stored JSON (orjson.Fragment) instead of being parsed and rebuilt.
    """
    judged = []
    flag = {True: "true", False: "false", None: "null"}
    for row in rows:
        detected, ticket_id, _, acknowledged, resolved, response_by, repair_by = row[:7]
        merged, devices, text = row[7:]
        if merged:
            continue
        answered = acknowledged if resolved is None else resolved
        if acknowledged is not None and resolved is not None:
            answered = min(acknowledged, resolved)
        responded = _in_time(answered, response_by, end_ms)
        repaired = _in_time(resolved, repair_by, end_ms)
        entry = (
            f'{text[:-1]},"response_s":{_seconds(detected, acknowledged)},'
            f'"repair_s":{_seconds(detected, resolved)},'
            f'"responded_in_time":{flag[responded]},"repaired_in_time":{flag[repaired]},'
            f'"pending":{flag[repaired is None]}}}'
        )
        judged.append(
            JudgedTicket(
                id=ticket_id,
                device_ids=devices.split(" "),
                detected_ms=detected,
                responded_in_time=responded,
                repaired_in_time=repaired,
                overrun_ms=max(0, (resolved if resolved is not None else end_ms) - repair_by),
                entry=orjson.Fragment(entry),
            )
        )
    return judged
