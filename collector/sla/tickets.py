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
    fault_class: str
    reason: str
    link: str | None
    backup_fiber: bool | None
    device_ids: list[str]
    detected_at: str
    detected_ms: int
    acknowledged_at: str | None
    acknowledged_by: str | None
    resolved_at: str | None
    response_deadline: str
    repair_deadline: str
    response_ms: int | None
    repair_ms: int | None
    # None while undecided at the period's end (deadline not yet passed).
    responded_in_time: bool | None
    repaired_in_time: bool | None
    # How far the repair ran past its deadline by the period's end (0 when in time).
    overrun_ms: int

    @property
    def pending(self) -> bool:
        return self.repaired_in_time is None


def _in_time(done: int | None, deadline: int, end: int) -> bool | None:
    if done is not None:
        return done <= deadline
    return False if deadline <= end else None


def judge(rows: Iterable[tuple[Any, ...]], end_ms: int) -> list[JudgedTicket]:
    """Tickets from ``tickets_as_of`` rows; merged ones count in their network ticket."""
    judged = []
    for _, _, detected, acknowledged, resolved, response_by, repair_by, merged, text in rows:
        if merged:
            continue
        ticket = orjson.loads(text)
        first_answer = min((t for t in (acknowledged, resolved) if t is not None), default=None)
        judged.append(
            JudgedTicket(
                id=ticket["id"],
                fault_class=ticket["fault_class"],
                reason=ticket["reason"],
                link=ticket["link"],
                backup_fiber=ticket["backup_fiber"],
                device_ids=ticket["device_ids"],
                detected_at=ticket["detected_at"],
                detected_ms=detected,
                acknowledged_at=ticket["acknowledged_at"],
                acknowledged_by=ticket["acknowledged_by"],
                resolved_at=ticket["resolved_at"],
                response_deadline=ticket["response_deadline"],
                repair_deadline=ticket["repair_deadline"],
                response_ms=None if acknowledged is None else acknowledged - detected,
                repair_ms=None if resolved is None else resolved - detected,
                responded_in_time=_in_time(first_answer, response_by, end_ms),
                repaired_in_time=_in_time(resolved, repair_by, end_ms),
                overrun_ms=max(0, (resolved if resolved is not None else end_ms) - repair_by),
            )
        )
    return judged
