"""The duty room's fault list: open tickets by impact and urgency, filtered as the shift
asks, each described once as text cells that the page renders, live.js patches in place
(as text) and the XLSX export writes.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from collector.evidence.tables import Cell, Column, Kind, Table, write_xlsx
from collector.pipeline.faults import FaultClass, Ticket
from collector.web.console.views import NO_CONTRACT, DeviceIndex, cause_of
from slawatch.config.inventory import Device
from slawatch.messages import Language, reason_text, text

if TYPE_CHECKING:
    from collector.service import Collector

# A network fault outranks a front-end one of as many devices: it is one repair away
# from bringing them all back.
CLASS_RANK = {FaultClass.NETWORK: 0, FaultClass.FRONT_END: 1}
SHOWN_MEMBERS = 3
SHIFT = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class Filters:
    region: str = ""
    fault_class: str = ""
    acknowledged: str = ""  # "", "yes" or "no"
    contract: str = ""

    def matches(
        self, ticket: Ticket, devices: Mapping[str, Device], contract_of: Mapping[str, str | None]
    ) -> bool:
        """A region or contract matches a ticket any of whose devices is in it."""
        if self.fault_class and ticket.fault_class.value != self.fault_class:
            return False
        if self.acknowledged and (ticket.acknowledged_at is not None) != (
            self.acknowledged == "yes"
        ):
            return False
        members = [devices[d] for d in ticket.device_ids if d in devices]
        if self.region and all(d.region != self.region for d in members):
            return False
        return not self.contract or any(
            (contract_of.get(d.id) or NO_CONTRACT) == self.contract for d in members
        )


def next_deadline(ticket: Ticket) -> datetime:
    """What falls due first: the response until someone acknowledged, then the repair."""
    return ticket.response_deadline if ticket.acknowledged_at is None else ticket.repair_deadline


def by_impact(tickets: Iterable[Ticket]) -> list[Ticket]:
    """Most devices first, a network fault before a front-end one, then the nearest
    deadline: a 54-device link cut above a single camera, whatever came first."""
    return sorted(
        tickets,
        key=lambda t: (-len(t.device_ids), CLASS_RANK[t.fault_class], next_deadline(t), t.id),
    )


def open_faults(collector: Collector, index: DeviceIndex, filters: Filters) -> list[Ticket]:
    tickets = (t for t in collector.pipeline.faults.open_tickets() if t.merged_into is None)
    return by_impact(t for t in tickets if filters.matches(t, index.by_id, index.contract_of))


def shift_tickets(collector: Collector, since: datetime) -> list[Ticket]:
    """The handover (交接班): every ticket open now or detected, acknowledged or closed
    since ``since``, newest first."""
    found = [
        t
        for t in collector.pipeline.faults.tickets.values()
        if t.merged_into is None
        and (
            t.resolved_at is None
            or t.resolved_at >= since
            or t.detected_at >= since
            or (t.acknowledged_at is not None and t.acknowledged_at >= since)
        )
    ]
    return sorted(found, key=lambda t: t.detected_at, reverse=True)


def notes(collector: Collector, ticket_ids: Iterable[str]) -> dict[str, str]:
    """Each acknowledged ticket's note, from its acknowledgement row in the ledger."""
    found: dict[str, str] = {}
    db = collector.ledger.connection
    for ticket_id in ticket_ids:
        rows = db.execute(
            "SELECT l.body FROM projection_tickets p JOIN ledger l ON l.seq = p.seq "
            "WHERE p.ticket_id = ? AND l.body LIKE ?",
            (ticket_id, '%"acknowledged"%'),
        ).fetchall()
        for (body,) in rows:
            row = json.loads(body)
            if row.get("event") == "acknowledged" and row.get("note"):
                found[ticket_id] = row["note"]
    return found


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    name: str
    address: str  # empty for a reader not logged in (the open wall)


@dataclass(frozen=True, slots=True)
class FaultRow:
    """One ticket as the duty room reads it: every cell already text in the page's
    language (times local), the deadlines as ISO moments for the countdowns."""

    id: str
    fault_class: str
    class_text: str
    cause: str
    devices: list[Member]
    more: str
    count: int
    region: str
    reason: str
    detected: str
    respond_by: str
    acknowledged: str
    repair_by: str
    repair_total: int
    resolved: str
    resolved_text: str
    note: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Describer:
    """Turns tickets into rows for one reader: their language, their clock, whether they
    may see addresses and who acknowledged."""

    def __init__(
        self,
        index: DeviceIndex,
        language: Language,
        local: Callable[[datetime | None], str],
        logged_in: bool,
    ) -> None:
        self.index, self.language, self.local, self.logged_in = index, language, local, logged_in

    def t(self, key: str, **values: object) -> str:
        return text(key, self.language, **values)

    def cause(self, ticket: Ticket) -> str:
        found = cause_of(ticket, self.index.by_id, self.index.links)
        if found is None:
            return ""
        if found.kind == "switch":
            where = f" {found.address}" if self.logged_in and found.address else ""
            return self.t("console.cause_switch", name=found.name, count=found.behind) + where
        fiber = "yes" if found.backup_fiber else "unknown" if found.backup_fiber is None else "no"
        return self.t(
            "console.cause_link",
            name=found.name,
            fiber=self.t(f"console.fiber_{fiber}"),
            hours=f"{found.repair_hours:g}",
            count=found.behind,
        )

    def region(self, ticket: Ticket) -> str:
        names = dict.fromkeys(
            self.index.region_name(self.index.by_id[d].region)
            for d in ticket.device_ids
            if d in self.index.by_id
        )
        shown = list(names)[:2]
        if not shown:
            return "—"
        more = len(names) - len(shown)
        return self.t("duty.separator").join(shown) + (
            self.t("duty.regions_more", count=len(names)) if more else ""
        )

    def member(self, device_id: str) -> Member:
        device = self.index.by_id.get(device_id)
        if device is None:
            return Member(device_id, f"{device_id} ({self.t('duty.retired')})", "")
        return Member(device_id, device.name, device.address if self.logged_in else "")

    def row(self, ticket: Ticket, note: str = "") -> FaultRow:
        count = len(ticket.device_ids)
        acknowledged = ""
        if ticket.acknowledged_at is not None:
            at = self.local(ticket.acknowledged_at)
            acknowledged = (
                self.t("console.acknowledged_by", by=ticket.acknowledged_by, at=at)
                if self.logged_in
                else self.t("console.acknowledged_at", at=at)
            )
        return FaultRow(
            id=ticket.id,
            fault_class=ticket.fault_class.value,
            class_text=self.t(f"class.{ticket.fault_class.value}"),
            cause=self.cause(ticket),
            devices=[self.member(d) for d in ticket.device_ids[:SHOWN_MEMBERS]],
            more=self.t("text.and_more", count=count, more=count - SHOWN_MEMBERS)
            if count > SHOWN_MEMBERS
            else "",
            count=count,
            region=self.region(ticket),
            reason=reason_text(ticket.reason.value, self.language),
            detected=self.local(ticket.detected_at),
            respond_by=ticket.response_deadline.isoformat(),
            acknowledged=acknowledged,
            repair_by=ticket.repair_deadline.isoformat(),
            repair_total=int((ticket.repair_deadline - ticket.detected_at).total_seconds()),
            resolved=ticket.resolved_at.isoformat() if ticket.resolved_at else "",
            resolved_text=self.local(ticket.resolved_at) if ticket.resolved_at else "",
            note=note if self.logged_in else "",
        )


FAULT_COLUMNS = (
    Column("id", Kind.TEXT),
    Column("fault_class", Kind.TEXT),
    Column("affected", Kind.COUNT),
    Column("devices", Kind.TEXT),
    Column("region", Kind.TEXT),
    Column("reason", Kind.TEXT),
    Column("detected_at", Kind.MOMENT),
    Column("response_deadline", Kind.MOMENT),
    Column("acknowledged_at", Kind.MOMENT),
    Column("acknowledged_by", Kind.TEXT),
    Column("note", Kind.TEXT),
    Column("repair_deadline", Kind.MOMENT),
    Column("resolved_at", Kind.MOMENT),
)


def xlsx(
    tickets: list[Ticket], describe: Describer, found_notes: dict[str, str], zone: ZoneInfo
) -> bytes:
    """The list as shown, as a workbook (the evidence's writer: one way to write XLSX)."""

    def moment(value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(zone).replace(tzinfo=None, microsecond=0)

    rows: list[list[Cell]] = []
    for ticket in tickets:
        row = describe.row(ticket)
        names = describe.t("duty.separator").join(
            describe.member(d).name for d in ticket.device_ids
        )
        rows.append(
            [
                ticket.id,
                row.class_text,
                row.count,
                names,
                row.region,
                row.reason,
                moment(ticket.detected_at),
                moment(ticket.response_deadline),
                moment(ticket.acknowledged_at),
                ticket.acknowledged_by,
                found_notes.get(ticket.id),
                moment(ticket.repair_deadline),
                moment(ticket.resolved_at),
            ]
        )
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "faults.xlsx"
        write_xlsx([Table("faults", FAULT_COLUMNS, rows)], describe.language, out)
        return out.read_bytes()
