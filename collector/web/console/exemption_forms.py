"""The console's exemption requests other than windows (views.window_from_form): a
device's end of service and a ticket excluded, as people fill them in; a refusal names
the field (422, worded in the page's language)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from collector.pipeline.exemptions import SERVICE_END_CAUSES, Exemption
from collector.sla.period import local_midnight
from collector.web.console.views import DeviceIndex, form_error, in_calendar, scope_items

if TYPE_CHECKING:
    from collector.service import Collector


def service_end_from_form(
    index: DeviceIndex, day: date, scope: str, cause: str, reason: str, by: str, zone: ZoneInfo
) -> Exemption:
    """Devices out of service from ``day`` on (local midnight): each scope entry a device
    by id, name or address; a region or link is refused (demolition is of devices)."""
    if cause not in SERVICE_END_CAUSES:
        raise form_error("cause", "form.cause_unknown", item=cause)
    devices: list[str] = []
    for item in (part.strip() for part in scope.replace("，", ",").replace("、", ",").split(",")):
        if not item:
            continue
        found = scope_items(index, item)[0]
        if not found:
            raise form_error("scope", "form.device_unknown", item=item)
        devices.extend(device for device in found if device not in devices)
    if not devices:
        raise form_error("scope", "form.scope_empty")
    in_calendar("day", datetime.combine(day, time(12), tzinfo=UTC))  # before the zone's shift
    start = local_midnight(day, zone)
    return Exemption("", "service_end", start, None, reason, by, tuple(devices), cause=cause)


def ticket_from_form(
    collector: Collector, ticket_id: str, cause: str, reason: str, by: str
) -> Exemption:
    """A ticket left out as not the contractor's to answer for, for one of the causes the
    policies list; its time runs from the fault's start to its repair (None while open),
    as its last ledger row says."""
    causes = {c for policy in collector.policies.policies for c in policy.exemption_causes}
    if cause not in causes:
        raise form_error("cause", "form.cause_unknown", item=cause)
    row = collector.ledger.connection.execute(
        "SELECT l.body FROM projection_tickets p JOIN ledger l ON l.seq = p.seq "
        "WHERE p.ticket_id = ? ORDER BY p.seq DESC LIMIT 1",
        (ticket_id.strip(),),
    ).fetchone()
    if row is None:
        raise form_error("ticket", "form.ticket_unknown", item=ticket_id)
    ticket = json.loads(row[0])["ticket"]
    resolved = ticket["resolved_at"]
    return Exemption(
        "",
        "ticket",
        datetime.fromisoformat(ticket["started_at"]),
        None if resolved is None else datetime.fromisoformat(resolved),
        reason,
        by,
        tuple(ticket["device_ids"]),
        ticket=ticket["id"],
        cause=cause,
    )
