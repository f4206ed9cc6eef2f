"""Exemptions: what the contractor asks to leave out of the figures, and the bureau
decides; rows of the ledger (evidence of what was asked, when, by whom, who decided).

slawatch is run by the contractor's staff and decides the contractor's pay, so nothing
that moves money counts until a bureau evaluator approves it. Three things can:

- ``maintenance``: a window of announced work (devices, regions or links, start to end);
- ``service_end``: devices out of service from a day on (demolition, removal), which
  shortens their service life as ``service_end`` in the inventory would;
- ``ticket``: a fault that is not the contractor's to answer for (a cause from the
  policy's ``exemption_causes``: the grid cut the power, road works cut the fibre): the
  ticket leaves the counts, and its devices' time from its start to its repair (the
  period's end while open) leaves the online time as a window's would.

- ``inventory``: an inventory put in force whose changes reach into the past (a device
  added from a day already measured, one removed, its service start or end moved back,
  its contract changed): the figures keep each such device as it was before the change
  until the bureau approves it (then the file's version counts). It is requested by
  whoever reloaded the inventory, and holds each device's row before and after.

Each is requested (``announced``), then ``approved`` or ``rejected`` by the bureau; a
window may be ``ended`` early (which only shrinks it, so it needs no approval). Every
SLA computation (``sla``, the export, its verifier) applies the approved ones only; the
console shows the figures with the pending ones beside them. A window or service end
that starts before its request is back-dated and says so. Rows of kind ``maintenance``
(written before the other kinds existed) read as maintenance exemptions. A partial
index (made by the Ledger) keeps finding the rows instant in a ledger of millions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any, Literal, get_args
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter

from collector.ledger.backend import Connection
from slawatch.config.inventory import Device, Inventory
from slawatch.config.policy import MaintenanceWindow

KIND = "exemption"
KINDS = ("maintenance", KIND)  # the ledger kinds read (the first: windows of old ledgers)
Status = Literal["pending", "approved", "rejected"]
What = Literal["maintenance", "service_end", "ticket", "inventory"]
WHATS: tuple[What, ...] = get_args(What)
# Why a device leaves service (the catalogue says each in words).
SERVICE_END_CAUSES = ("demolition", "removal")


@dataclass(frozen=True, slots=True)
class Decision:
    approved: bool
    by: str
    at: datetime
    note: str | None

    def body(self, exemption_id: str) -> dict[str, Any]:
        return {
            "event": "approved" if self.approved else "rejected",
            "id": exemption_id,
            "by": self.by,
            "party": "bureau",
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Exemption:
    """One request, as its rows left it. ``start``: a window's start, the first day out of
    service (local midnight), a ticket's start; ``end``: a window's end, a ticket's
    repair when it was repaired by the request (None: open, or a service end)."""

    id: str
    what: What
    start: datetime
    end: datetime | None
    reason: str
    by: str
    devices: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    ticket: str | None = None
    # A ticket's: an id of the policy's exemption_causes; a service end's: one of
    # SERVICE_END_CAUSES; a window has its reason only.
    cause: str | None = None
    # An inventory change's devices: {"device", "before", "after"}, each row as the
    # inventory writes it (None: not in that inventory).
    changes: tuple[dict[str, Any], ...] = ()
    ended_early: bool = False
    requested_at: datetime | None = None  # when the request was recorded
    decision: Decision | None = None

    @property
    def status(self) -> Status:
        if self.decision is None:
            return "pending"
        return "approved" if self.decision.approved else "rejected"

    @property
    def back_dated(self) -> bool:
        """Asked for after it began: it would rewrite a past already measured (a ticket is
        always excluded after the fact, which is no news)."""
        return (
            self.what != "ticket"
            and self.requested_at is not None
            and self.start < self.requested_at
        )

    @property
    def window(self) -> MaintenanceWindow:
        """A maintenance exemption as the policy's windows are written."""
        return self.window_until(self.end)

    def window_until(self, end: datetime | None) -> MaintenanceWindow:
        """The time it takes out of the figures, as a window (an open ticket's until
        ``end``); ValueError for a service end, which shortens service life instead."""
        if self.what in ("service_end", "inventory") or end is None:
            raise ValueError(f"exemption {self.id} ({self.what}) has no end")
        return MaintenanceWindow(
            start=self.start,
            end=max(end, self.start + timedelta(milliseconds=1)),
            reason=self.reason,
            devices=list(self.devices),
            regions=list(self.regions),
            links=list(self.links),
        )

    def overlaps(self, start: datetime, end: datetime) -> bool:
        """Whether it touches the period [start, end): a service end from its day on."""
        if self.what in ("service_end", "inventory"):
            return self.start < end
        return self.start < end and (self.end is None or start < self.end)

    def body(self, event: str) -> dict[str, Any]:
        return {
            "event": event,
            "id": self.id,
            "what": self.what,
            "start": self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "reason": self.reason,
            "cause": self.cause,
            "devices": list(self.devices),
            "regions": list(self.regions),
            "links": list(self.links),
            "ticket": self.ticket,
            "by": self.by,
            **({"changes": list(self.changes)} if self.changes else {}),
        }


def window_exemption(exemption_id: str, window: MaintenanceWindow, by: str) -> Exemption:
    return Exemption(
        exemption_id,
        "maintenance",
        window.start,
        window.end,
        window.reason,
        by,
        devices=tuple(window.devices),
        regions=tuple(window.regions),
        links=tuple(window.links),
    )


def _requested(found: dict[str, Any], moment: datetime) -> Exemption:
    end = found.get("end")
    return Exemption(
        found["id"],
        found.get("what", "maintenance"),
        datetime.fromisoformat(found["start"]),
        None if end is None else datetime.fromisoformat(end),
        found["reason"],
        found["by"],
        devices=tuple(found.get("devices", ())),
        regions=tuple(found.get("regions", ())),
        links=tuple(found.get("links", ())),
        ticket=found.get("ticket"),
        cause=found.get("cause"),
        changes=tuple(found.get("changes", ())),
        requested_at=moment,
    )


_EXEMPTIONS_KEY = '"exemptions":'


def _snapshot_exemptions(body: str) -> list[tuple[str, dict[str, Any]]]:
    """A snapshot's exemption rows, without parsing its 126,000 device states (7 MB, a
    fifth of a second): its body is canonical JSON (keys sorted, a quote inside a string
    escaped), so the first ``"exemptions":`` is the key after ``devices``, which holds
    only lists."""
    found: list[tuple[str, dict[str, Any]]]
    found, _ = json.JSONDecoder().raw_decode(
        body, body.index(_EXEMPTIONS_KEY) + len(_EXEMPTIONS_KEY)
    )
    return found


def _rows(db: Connection, snapshot_seq: int | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """The exemption rows: all, or those a midnight snapshot carries and those after it."""
    if snapshot_seq is None:
        rows = db.execute(
            "SELECT at, body FROM ledger WHERE kind IN ('maintenance', 'exemption') ORDER BY seq"
        )
    else:
        (snapshot,) = db.execute(
            "SELECT body FROM ledger WHERE seq = ?", (snapshot_seq,)
        ).fetchone()
        for at, body in _snapshot_exemptions(snapshot):
            yield at, body
        rows = db.execute(
            "SELECT at, body FROM ledger WHERE kind IN ('maintenance', 'exemption') "
            "AND seq > ? ORDER BY seq",
            (snapshot_seq,),
        )
    for at, body in rows:
        yield at, json.loads(body)


def exemptions(db: Connection, snapshot_seq: int | None = None) -> list[Exemption]:
    """Every exemption the ledger holds (from the snapshot at ``snapshot_seq`` on: those
    it carries, not over by its midnight, and those requested after), as its rows left
    it, in order of request."""
    latest: dict[str, Exemption] = {}
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
        requested = _requested(found, moment)
        if known is None:
            latest[found["id"]] = requested
        else:  # ended early: the window shrinks, its request and decision stay
            latest[found["id"]] = replace(known, end=requested.end, ended_early=True)
    return list(latest.values())


def in_force(db: Connection, with_pending: bool = False) -> list[Exemption]:
    """The exemptions the figures apply: the approved ones (and, to show what the pending
    requests would change, those too when ``with_pending``)."""
    counted = {"approved", "pending"} if with_pending else {"approved"}
    return [found for found in exemptions(db) if found.status in counted]


ROWS: TypeAdapter[Device] = TypeAdapter(Device)


def _reaches(before: Device | None, after: Device | None) -> date | None:
    """The first day whose money the change of one device alters (None: no money)."""
    if before is None or after is None:
        found = before or after
        return None if found is None else found.service_start
    days = []
    if before.contract != after.contract or before.service_start != after.service_start:
        days.append(min(before.service_start, after.service_start))
    if before.service_end != after.service_end:
        days.append(min(d for d in (before.service_end, after.service_end) if d is not None))
    return min(days) if days else None


def inventory_change(
    before: Inventory, after: Inventory, today: date, zone: ZoneInfo, by: str, digest: str
) -> Exemption | None:
    """The change from ``before`` to ``after`` that reaches before ``today`` (local), as
    a request for the bureau; None when every change starts today or later."""
    old = {device.id: device for device in before.devices}
    new = {device.id: device for device in after.devices}
    changes: list[dict[str, Any]] = []
    first: date | None = None
    for device_id in sorted(old.keys() | new.keys()):
        was, now = old.get(device_id), new.get(device_id)
        day = _reaches(was, now)
        if day is None or day >= today:
            continue
        first = day if first is None else min(first, day)
        changes.append(
            {
                "device": device_id,
                "before": None if was is None else ROWS.dump_python(was, mode="json"),
                "after": None if now is None else ROWS.dump_python(now, mode="json"),
            }
        )
    if first is None:
        return None
    return Exemption(
        "",
        "inventory",
        datetime.combine(first, time(0), tzinfo=zone),
        None,
        digest[:12],
        by,
        tuple(change["device"] for change in changes),
        changes=tuple(changes),
    )
