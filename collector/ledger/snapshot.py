"""The midnight snapshot: a row that says where every device and ticket stood, so that a
period's figures (and its evidence) start from the snapshot before it, not from genesis.

A snapshot row (kind ``snapshot``, ``at`` the local midnight in UTC) is appended when
the first observation after that midnight arrives (event time, ``Pipeline._advance``),
before the rows it causes. Its body is a pure function of the rows before it: each
device's last state row (state, reason, since), the tickets whose last row left them
open, sorted, and the rows (request, decision, early end) of every exemption not over by
the midnight: a window or ticket exclusion ending after it, a service end or inventory
change (no end), whatever its decision. The figures apply them and the evidence lists
them, so collector/pipeline/exemptions.py reads them from here on, and a bundle sliced
from this snapshot holds every request that can touch its period. So a replay writes the
same snapshot at the same place, and the next signed head covers it like any row.

Why the last state row and not the state machine's view: the SLA engine's timeline is
the state rows; a period that starts at or after the midnight gets the same figures from
"the snapshot, then the rows after it" as from every row since genesis (each device's
last row before the snapshot is the one in force at the midnight, and the state machine
never lets a device's state start before the one it follows).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from collector.ledger.backend import Connection

KIND = "snapshot"
# The exemption rows' kinds (collector/pipeline/exemptions.py KINDS: the ledger layer
# does not import the pipeline's).
EXEMPTIONS = ("maintenance", "exemption")


def midnights(after: datetime, upto: datetime, zone: ZoneInfo) -> Iterator[datetime]:
    """Local midnights M (in UTC) with ``after < M <= upto``, in order."""
    day: date = after.astimezone(zone).date() + timedelta(days=1)
    while True:
        moment = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
        if moment > upto:
            return
        if moment > after:
            yield moment
        day += timedelta(days=1)


def next_midnight(after: datetime, zone: ZoneInfo) -> datetime:
    """The first local midnight (in UTC) after ``after``."""
    return next(midnights(after, after + timedelta(days=2), zone))


class Standing:
    """Each device's last state row and the open tickets, as the rows so far leave them."""

    def __init__(self) -> None:
        self.states: dict[str, tuple[str, str, str]] = {}
        self.open: set[str] = set()
        # Exemptions' rows [at, body] by exemption, with its latest end (None: open-ended):
        # carried while it can still touch a period that starts after the midnight.
        self.exemptions: dict[str, tuple[str | None, list[list[Any]]]] = {}

    def add(self, kind: str, body: Mapping[str, Any], at: str = "") -> None:
        if kind == "state":
            self.states[body["device_id"]] = (body["state"], body["reason"], body["since"])
        elif kind == "ticket":
            ticket = body["ticket"]
            if ticket["resolved_at"] is None and ticket["merged_into"] is None:
                self.open.add(ticket["id"])
            else:
                self.open.discard(ticket["id"])
        elif kind in EXEMPTIONS:
            known = self.exemptions.get(body["id"])
            if known is None and body["event"] in ("approved", "rejected"):
                return  # decides a request no longer carried: the reader ignores it too
            end, rows = known if known is not None else (None, [])
            end = body.get("end", end)
            self.exemptions[body["id"]] = (end, [*rows, [at, dict(body)]])
        elif kind == KIND:
            self.states = {
                device[0]: (device[1], device[2], device[3]) for device in body["devices"]
            }
            self.open = set(body["open_tickets"])
            self.exemptions = {}
            for row_at, row in body["exemptions"]:
                self.add(EXEMPTIONS[-1], row, row_at)

    def body(self, at: str) -> dict[str, Any]:
        midnight = datetime.fromisoformat(at)
        self.exemptions = {
            exemption: (end, rows)
            for exemption, (end, rows) in self.exemptions.items()
            if end is None or datetime.fromisoformat(end) > midnight
        }
        return {
            "midnight": at,
            "devices": [[device_id, *self.states[device_id]] for device_id in sorted(self.states)],
            "open_tickets": sorted(self.open),
            "exemptions": [row for _, rows in self.exemptions.values() for row in rows],
        }

    @staticmethod
    def before(db: Connection, seq: int) -> Standing:
        """Where rows 0..seq-1 of ``db``'s ledger leave things: the last snapshot before
        ``seq`` and the rows after it (a day's rows, not the chain's)."""
        standing = Standing()
        last = db.execute(
            "SELECT seq FROM ledger WHERE kind = 'snapshot' AND seq < ? ORDER BY seq DESC LIMIT 1",
            (seq,),
        ).fetchone()
        start = int(last[0]) if last else 0
        rows = db.execute(
            "SELECT kind, at, body FROM ledger WHERE seq >= ? AND seq < ? "
            "AND kind IN ('state', 'ticket', 'maintenance', 'exemption', 'snapshot') ORDER BY seq",
            (start, seq),
        )
        for kind, at, body in rows:
            standing.add(str(kind), json.loads(body), str(at))
        return standing
