"""Observations in, ledger rows out: state machine → fault tickets → hash-chained ledger.

The live consumer and ``replay`` drive the same pipeline, so a quarter replayed from
recorded observations produces the ledger the live collector would have written.
Time only advances with the observations (the watermark is the latest ``observed_at``
seen), never with the consumer's clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from agent.wire import Health, Observation, Status, format_timestamp
from collector.faults import FaultTracker, Ticket, TicketEvent
from collector.ledger import Ledger
from collector.state import Change, StateMachine
from slawatch.config.inventory import DeviceKind, Inventory
from slawatch.config.policy import Policy

EXPIRE_EVERY = timedelta(seconds=10)


def _iso(moment: datetime | None) -> str | None:
    return format_timestamp(moment) if moment is not None else None


def ticket_body(ticket: Ticket) -> dict[str, Any]:
    return {
        "id": ticket.id,
        "fault_class": ticket.fault_class.value,
        "reason": ticket.reason.value,
        "link": ticket.link,
        "backup_fiber": ticket.backup_fiber,
        "device_ids": list(ticket.device_ids),
        "started_at": _iso(ticket.started_at),
        "detected_at": _iso(ticket.detected_at),
        "response_deadline": _iso(ticket.response_deadline),
        "repair_deadline": _iso(ticket.repair_deadline),
        "acknowledged_at": _iso(ticket.acknowledged_at),
        "acknowledged_by": ticket.acknowledged_by,
        "resolved_at": _iso(ticket.resolved_at),
        "merged_into": ticket.merged_into,
    }


class Pipeline:
    def __init__(self, inventory: Inventory, policy: Policy, ledger: Ledger) -> None:
        self.ledger = ledger
        self.states = StateMachine(policy.debounce)
        self.faults = FaultTracker(inventory, policy)
        self._known = {device.id: device.kind for device in inventory.devices}
        self._agent_of: dict[str, str] = {}
        self._devices_of: dict[str, set[str]] = {}
        self.watermark: datetime | None = None
        self._next_expiry: datetime | None = None
        self.unknown_devices = 0
        self.changes = 0

    def take(self, agent_id: str, statuses: Iterable[Status]) -> list[TicketEvent]:
        """Feed one agent's statuses (inside a ledger transaction); return ticket events."""
        events: list[TicketEvent] = []
        for status in statuses:
            kind = self._known.get(status.device_id)
            if kind is None:
                self.unknown_devices += 1  # not in the inventory: kept in time series only
                continue
            if self._agent_of.get(status.device_id) != agent_id:
                self._agent_of[status.device_id] = agent_id
                self._devices_of.setdefault(agent_id, set()).add(status.device_id)
            if kind is DeviceKind.SWITCH and status.health is not Health.DOWN:
                self.faults.note_ports(status.device_id, status.checks)
            change = self.states.observe(status)
            if change is not None:
                events += self._record(change)
            events += self._advance(status.observed_at)
        return events

    def observe(self, observation: Observation) -> list[TicketEvent]:
        return self.take(observation.agent_id, [observation])

    def agent_lost(self, agent_id: str) -> list[TicketEvent]:
        """The agent's will fired: its devices become UNKNOWN from their last observation."""
        events: list[TicketEvent] = []
        for change in self.states.lose(sorted(self._devices_of.get(agent_id, ()))):
            events += self._record(change)
        return events

    def acknowledge(self, ticket_id: str, by: str, at: datetime) -> TicketEvent:
        event = self.faults.acknowledge(ticket_id, by, at)
        self._record_ticket(event)
        return event

    def finish(self, at: datetime) -> list[TicketEvent]:
        """Expire everything up to ``at`` (the end of a replay's data)."""
        events: list[TicketEvent] = []
        for change in self.states.expire(at):
            events += self._record(change)
        return events

    def _advance(self, moment: datetime) -> list[TicketEvent]:
        if self.watermark is None or moment > self.watermark:
            self.watermark = moment
        if self._next_expiry is None:
            self._next_expiry = moment + EXPIRE_EVERY
        if self.watermark < self._next_expiry:
            return []
        self._next_expiry = self.watermark + EXPIRE_EVERY
        return self.finish(self.watermark)

    def _record(self, change: Change) -> list[TicketEvent]:
        self.changes += 1
        self.ledger.append(
            "state",
            format_timestamp(change.since),
            {
                "device_id": change.device_id,
                "state": change.state.value,
                "reason": change.reason.value,
                "since": format_timestamp(change.since),
                "confirmed_at": format_timestamp(change.confirmed_at),
                "previous": change.previous.value,
            },
        )
        events = self.faults.on_change(change)
        for event in events:
            self._record_ticket(event)
        return events

    def _record_ticket(self, event: TicketEvent) -> None:
        body = {"event": event.kind.value, "ticket": ticket_body(event.ticket)}
        if event.device_id is not None:
            body["device_id"] = event.device_id
        if event.detail is not None:
            body["detail"] = event.detail
        self.ledger.append("ticket", format_timestamp(event.at), body)
