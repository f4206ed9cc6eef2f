"""Which alerts a fault deserves, and when, in event time: opened, escalations, closed.

One alert per ticket and kind, never one per camera: the opening alert of a ticket behind
a link is held for ``network_fault.window``, because a front-end ticket may yet fold into
a network ticket and a network ticket may yet gather more devices (its single alert then
speaks for every device that went dark within the window). Escalations fire when the watermark
(the latest observation time) passes the ticket's thresholds: no acknowledgement after
``escalation.unacknowledged_after``, repair deadline within ``escalation.repair_due_within``.
Each kind goes out once per ticket: a flapping device reopens its ticket once, loudly,
and then quietly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from collector.pipeline.faults import Ticket, TicketEvent, TicketEventKind
from slawatch.config.policy import Policy


class AlertKind(StrEnum):
    OPENED = "opened"
    REOPENED = "reopened"
    UNACKNOWLEDGED = "unacknowledged"
    REPAIR_DUE = "repair_due"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Alert:
    kind: AlertKind
    at: datetime
    ticket: Ticket


class Alerter:
    def __init__(self, policy: Policy) -> None:
        self._hold = policy.network_fault.window
        self._unacknowledged_after = policy.escalation.unacknowledged_after
        self._repair_due_within = policy.escalation.repair_due_within
        self._open: dict[str, Ticket] = {}
        self._held: dict[str, datetime] = {}  # ticket → when its opening alert may go
        self._sent: set[tuple[str, AlertKind]] = set()

    def on_events(self, events: list[TicketEvent]) -> list[Alert]:
        alerts = []
        for event in events:
            ticket = event.ticket
            if event.kind in (TicketEventKind.OPENED, TicketEventKind.REOPENED):
                self._open[ticket.id] = ticket
                if event.kind is TicketEventKind.REOPENED:
                    alerts += self._once(AlertKind.REOPENED, event.at, ticket)
                elif ticket.link is not None:
                    self._held[ticket.id] = event.at + self._hold
                else:
                    alerts += self._once(AlertKind.OPENED, event.at, ticket)
            elif event.kind is TicketEventKind.MERGED:
                self._open.pop(ticket.id, None)
                self._held.pop(ticket.id, None)
            elif event.kind is TicketEventKind.RESOLVED:
                self._open.pop(ticket.id, None)
                if self._held.pop(ticket.id, None) is None:
                    alerts += self._once(AlertKind.RESOLVED, event.at, ticket)
                # a ticket repaired before its held alert went out never bothers anyone
        return alerts

    def tick(self, watermark: datetime) -> list[Alert]:
        alerts = []
        for ticket_id, release in list(self._held.items()):
            if release <= watermark:
                del self._held[ticket_id]
                alerts += self._once(AlertKind.OPENED, release, self._open[ticket_id])
        for ticket in self._open.values():
            if ticket.id in self._held:
                continue
            unacknowledged = ticket.detected_at + self._unacknowledged_after
            if ticket.acknowledged_at is None and unacknowledged <= watermark:
                alerts += self._once(AlertKind.UNACKNOWLEDGED, unacknowledged, ticket)
            repair_due = ticket.repair_deadline - self._repair_due_within
            if repair_due <= watermark:
                alerts += self._once(AlertKind.REPAIR_DUE, repair_due, ticket)
        return alerts

    def _once(self, kind: AlertKind, at: datetime, ticket: Ticket) -> list[Alert]:
        if (ticket.id, kind) in self._sent:
            return []
        self._sent.add((ticket.id, kind))
        return [Alert(kind, at, ticket)]
