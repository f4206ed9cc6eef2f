"""Maintenance windows: exemptions the contractor requests and the bureau decides, rows of
the ledger (evidence of what was asked, when, by whom, and who approved it).

slawatch is run by the contractor's staff and decides the contractor's pay, so a window
moves no figure until a bureau evaluator approves it: requested (``announced``), then
``approved`` or ``rejected`` by the bureau, and perhaps ``ended`` early (which only
shrinks an exemption, so it needs no approval). Every SLA computation (``sla``, the
export, its verifier) applies the approved windows only; the console shows the figures
with the pending ones beside them. A window whose start is before its request is
back-dated and says so. A partial index (made by the Ledger) keeps finding the rows
instant in a ledger of millions.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from slawatch.config.policy import MaintenanceWindow

KIND = "maintenance"
Status = Literal["pending", "approved", "rejected"]


@dataclass(frozen=True, slots=True)
class Decision:
    approved: bool
    by: str
    at: datetime
    note: str | None

    def body(self, window_id: str) -> dict[str, Any]:
        return {
            "event": "approved" if self.approved else "rejected",
            "id": window_id,
            "by": self.by,
            "party": "bureau",
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Announced:
    id: str
    window: MaintenanceWindow
    by: str
    ended_early: bool
    requested_at: datetime | None = None  # when the request was recorded
    decision: Decision | None = None

    @property
    def status(self) -> Status:
        if self.decision is None:
            return "pending"
        return "approved" if self.decision.approved else "rejected"

    @property
    def back_dated(self) -> bool:
        """Asked for after its start: it would rewrite a past already measured."""
        return self.requested_at is not None and self.window.start < self.requested_at

    def body(self, event: str) -> dict[str, Any]:
        window = self.window
        return {
            "event": event,
            "id": self.id,
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "reason": window.reason,
            "devices": list(window.devices),
            "regions": list(window.regions),
            "links": list(window.links),
            "by": self.by,
        }


def _rows(db: sqlite3.Connection, snapshot_seq: int | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """The maintenance rows: all, or those a midnight snapshot carries and those after it."""
    if snapshot_seq is None:
        rows = db.execute("SELECT at, body FROM ledger WHERE kind = 'maintenance' ORDER BY seq")
    else:
        (snapshot,) = db.execute(
            "SELECT body FROM ledger WHERE seq = ?", (snapshot_seq,)
        ).fetchone()
        for at, body in json.loads(snapshot)["maintenance"]:
            yield at, body
        rows = db.execute(
            "SELECT at, body FROM ledger WHERE kind = 'maintenance' AND seq > ? ORDER BY seq",
            (snapshot_seq,),
        )
    for at, body in rows:
        yield at, json.loads(body)


def announced(db: sqlite3.Connection, snapshot_seq: int | None = None) -> list[Announced]:
    """Every window the ledger holds (from the snapshot at ``snapshot_seq`` on: those not
    over by its midnight), as its rows left it, in order of request."""
    latest: dict[str, Announced] = {}
    for at, found in _rows(db, snapshot_seq):
        moment = datetime.fromisoformat(at)
        known = latest.get(found["id"])
        if found["event"] in ("approved", "rejected"):
            if known is not None and known.decision is None:
                decision = Decision(
                    found["event"] == "approved", found["by"], moment, found.get("note")
                )
                latest[found["id"]] = replace(known, decision=decision)
            continue
        window = MaintenanceWindow(
            start=datetime.fromisoformat(found["start"]),
            end=datetime.fromisoformat(found["end"]),
            reason=found["reason"],
            devices=found["devices"],
            regions=found["regions"],
            links=found["links"],
        )
        if known is None:
            latest[found["id"]] = Announced(found["id"], window, found["by"], False, moment)
        else:  # ended early: the window shrinks, its request and decision stay
            latest[found["id"]] = replace(known, window=window, ended_early=True)
    return list(latest.values())


def windows_in_force(
    db: sqlite3.Connection,
    with_pending: bool = False,
    after: datetime | None = None,
    snapshot_seq: int | None = None,
) -> list[MaintenanceWindow]:
    """The windows the figures apply: the approved ones (and, to show what the pending
    requests would change, those too when ``with_pending``); with ``after``, those
    ending after it (a period's start), read from the snapshot at ``snapshot_seq`` on."""
    counted = {"approved", "pending"} if with_pending else {"approved"}
    return [
        found.window
        for found in announced(db, snapshot_seq)
        if found.status in counted and (after is None or found.window.end > after)
    ]
