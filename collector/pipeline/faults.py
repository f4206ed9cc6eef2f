"""Fault tickets from state changes, classified by topology: front-end or network.

A network fault is one ticket for a link, however many devices behind it went dark: the
contractor repairs one fibre, not forty cameras, and its deadline follows the link's
backup fibre. Rules (``docs/sla-semantics.md`` has them in full):

- a device DOWN whose uplink port is reported ``link_down``, whose uplink switch is DOWN,
  or which is a switch itself, is network evidence for its link;
- otherwise, when at least ``network_fault.min_devices`` in-service devices behind one
  link (and at least ``network_fault.share`` of them) went DOWN within
  ``network_fault.window`` of each other, their front-end tickets merge into one
  network ticket for the link;
- a device DOWN again within ``debounce.flap_window`` of its last ticket's repair reopens
  that ticket: a flapping device is one fault, not many;
- a network ticket that absorbs front-end tickets keeps the earliest detection and the
  earliest acknowledgement among them: merging never moves a deadline later.

Debounce and the network-fault rule are the site's (the collector's policy): they say
what state a device is in, which cannot depend on who pays for it. Response and repair
deadlines are the contract's: a ticket's come from the policy judging its device (its
contract's); a network ticket carries the strictest policy's among its devices (for alerts
and the console) and each of its devices' policies' own (``deadlines``), by which each
contract is judged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from agent.wire import Reason, port_check
from collector.pipeline.state import REPAIRABLE, Change, State
from slawatch.config.inventory import Device, DeviceKind, Inventory, link_of
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy

# Degraded conditions that are faults to repair (a forced door is an alarm, not a fault).
TICKETED_DEGRADED = REPAIRABLE


class FaultClass(StrEnum):
    FRONT_END = "front_end"
    NETWORK = "network"


class TicketEventKind(StrEnum):
    OPENED = "opened"
    ATTACHED = "attached"
    MERGED = "merged"  # folded into a network ticket; not counted on its own
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    REOPENED = "reopened"


@dataclass(slots=True)
class Ticket:
    id: str
    fault_class: FaultClass
    reason: Reason
    link: str | None
    backup_fiber: bool | None
    device_ids: list[str]
    started_at: datetime
    detected_at: datetime
    response_deadline: datetime
    repair_deadline: datetime
    policy: str  # the policy whose deadlines the ticket carries
    # A network ticket's deadlines under each policy among its devices (policy id →
    # response, repair): each contract judges a shared fault by its own terms.
    deadlines: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    merged_into: str | None = None
    still_down: set[str] = field(default_factory=set)

    @property
    def open(self) -> bool:
        return self.resolved_at is None and self.merged_into is None

    def __setstate__(self, state: tuple[None, dict[str, Any]]) -> None:
        """Unpickled from a checkpoint: one saved before tickets carried ``deadlines``
        restores with none (its network tickets are then judged by their own deadlines)."""
        self.deadlines = {}
        for name, value in state[1].items():
            setattr(self, name, value)


@dataclass(frozen=True, slots=True)
class TicketEvent:
    kind: TicketEventKind
    at: datetime
    ticket: Ticket
    device_id: str | None = None
    detail: str | None = None


class UnknownTicketError(LookupError):
    pass


class FaultTracker:
    def __init__(self, inventory: Inventory, policies: PolicyBook) -> None:
        self._policy = policy = policies.default
        self._judged_by = policies.of_devices(inventory)
        self._zone = ZoneInfo(policy.timezone)  # service dates are local calendar days
        self._devices = {device.id: device for device in inventory.devices}
        self._backup = {link.id: link.backup_fiber for link in inventory.links}
        self._link_of = {d.id: link_of(d, self._devices) for d in inventory.devices}
        self._behind: dict[str, list[Device]] = {}
        for device in inventory.devices:
            link = self._link_of[device.id]
            if link is not None and device.kind is not DeviceKind.SWITCH:
                self._behind.setdefault(link, []).append(device)
        # How many devices behind each link are in service, on the local day counted last:
        # read at every DOWN, and a link can have thousands of devices behind it.
        self._counted_day: date | None = None
        self._in_service_behind: dict[str, int] = {}
        self.tickets: dict[str, Ticket] = {}
        self._open_by_device: dict[str, str] = {}
        self._open_by_link: dict[str, str] = {}
        self._last_by_device: dict[str, str] = {}
        self._down_since: dict[str, dict[str, datetime]] = {}  # link → device → since
        self._ports_down: dict[str, set[str]] = {}  # switch → port checks reported link_down
        self._switches_down: set[str] = set()

    _MEMORY = (
        "tickets",
        "_open_by_device",
        "_open_by_link",
        "_last_by_device",
        "_down_since",
        "_ports_down",
        "_switches_down",
    )

    def memory(self) -> dict[str, Any]:
        """Everything learnt from changes (not from the inventory), for a checkpoint."""
        return {name: getattr(self, name) for name in self._MEMORY}

    def load(self, memory: dict[str, Any]) -> None:
        for name in self._MEMORY:
            setattr(self, name, memory[name])

    def open_tickets(self) -> Iterator[Ticket]:
        return (ticket for ticket in self.tickets.values() if ticket.open)

    def note_ports(self, switch_id: str, checks: dict[str, Reason]) -> None:
        """A switch's per-port verdicts (``port_…``, see ``port_check``) from its latest
        observation."""
        self._ports_down[switch_id] = {
            name
            for name, verdict in checks.items()
            if verdict is Reason.LINK_DOWN and name.startswith("port_")
        }

    def ports_down(self, switch_id: str) -> set[str]:
        """The switch's port checks (``port_…``) its latest observation reported link_down."""
        return self._ports_down.get(switch_id, set())

    def on_change(self, change: Change) -> list[TicketEvent]:
        device = self._devices.get(change.device_id)
        if device is None:
            return []
        link = self._link_of[device.id]
        if device.kind is DeviceKind.SWITCH:
            if change.state is State.DOWN:
                self._switches_down.add(device.id)
            elif change.state is not State.UNKNOWN:
                self._switches_down.discard(device.id)
        if change.state is State.UNKNOWN:
            return []  # not seeing a device repairs nothing and breaks nothing
        if change.state is State.DOWN:
            if link is not None:
                self._down_since.setdefault(link, {})[device.id] = change.since
            return self._went_down(device, link, change)
        if link is not None:
            self._down_since.get(link, {}).pop(device.id, None)
        events = self._came_back(device.id, change)
        ticketed = change.state is State.DEGRADED and change.reason in TICKETED_DEGRADED
        if ticketed and device.id not in self._open_by_device:
            events += self._open_front_end(device.id, change)
        return events

    def acknowledge(self, ticket_id: str, by: str, at: datetime) -> TicketEvent:
        ticket = self.tickets.get(ticket_id)
        if ticket is None or ticket.merged_into is not None:
            raise UnknownTicketError(f"no ticket {ticket_id!r}")
        if ticket.acknowledged_at is None:
            ticket.acknowledged_at, ticket.acknowledged_by = max(at, ticket.detected_at), by
        return TicketEvent(TicketEventKind.ACKNOWLEDGED, ticket.acknowledged_at, ticket, detail=by)

    def ticket_for_device(self, device_id: str) -> Ticket | None:
        ticket_id = self._open_by_device.get(device_id)
        return self.tickets[ticket_id] if ticket_id else None

    def _went_down(self, device: Device, link: str | None, change: Change) -> list[TicketEvent]:
        if link is not None and link in self._open_by_link:
            return [self._attach(self.tickets[self._open_by_link[link]], device.id, change)]
        if link is not None and self._network_evidence(device):
            # Devices behind the link that went down just before the evidence arrived
            # (a camera's timeout confirmed before its switch's) belong to the same fault.
            window = self._policy.network_fault.window
            recent = [
                device_id
                for device_id, since in self._down_since.get(link, {}).items()
                if device_id != device.id and abs(change.since - since) <= window
            ]
            return self._open_network(link, [*sorted(recent), device.id], change)
        if link is not None:
            together = self._down_together(link, change)
            if together is not None:
                return self._open_network(link, together, change)
        if device.id in self._open_by_device:
            return []  # already in a ticket (a degraded condition that got worse)
        return self._open_front_end(device.id, change)

    def _network_evidence(self, device: Device) -> bool:
        if device.kind is DeviceKind.SWITCH:
            return True
        uplink = device.uplink
        if uplink is None or uplink.switch is None:
            return False
        if uplink.switch in self._switches_down:
            return True
        if uplink.port is None:
            return False
        return port_check(uplink.port) in self._ports_down.get(uplink.switch, set())

    def _down_together(self, link: str, change: Change) -> list[str] | None:
        rule = self._policy.network_fault
        in_service = self._in_service_count(link, change.since.astimezone(self._zone).date())
        recent = [
            device_id
            for device_id, since in self._down_since.get(link, {}).items()
            if abs(change.since - since) <= rule.window
        ]
        if len(recent) < rule.min_devices or len(recent) < rule.share * in_service:
            return None
        return sorted(recent)

    def _in_service_count(self, link: str, day: date) -> int:
        if day != self._counted_day:
            self._counted_day, self._in_service_behind = day, {}
        count = self._in_service_behind.get(link)
        if count is None:
            behind = self._behind.get(link, [])
            count = self._in_service_behind[link] = sum(_in_service(d, day) for d in behind)
        return count

    def _open_network(self, link: str, device_ids: list[str], change: Change) -> list[TicketEvent]:
        backup = self._backup.get(link, False)
        starts = [self._down_since.get(link, {}).get(d, change.since) for d in device_ids]
        absorbed = [
            self.tickets[ticket_id]
            for ticket_id in dict.fromkeys(self._open_by_device.get(d) for d in device_ids)
            if ticket_id is not None
        ]
        # The contractor knew of the fault at the first confirmation among its devices.
        detected = min([change.confirmed_at, *(t.detected_at for t in absorbed)])
        policy = min(
            {self._judged_by[d].id: self._judged_by[d] for d in device_ids}.values(),
            key=lambda p: (_repair_within(p, backup), p.response_deadline, p.id),
        )
        ticket = self._new_ticket(
            FaultClass.NETWORK,
            change.reason,
            link,
            backup,
            min(starts),
            detected,
            policy,
            _repair_within(policy, backup),
            link,
        )
        acknowledged = [t for t in absorbed if t.acknowledged_at is not None]
        if acknowledged:
            first = min(acknowledged, key=lambda t: (t.acknowledged_at, t.id))
            ticket.acknowledged_at, ticket.acknowledged_by = (
                first.acknowledged_at,
                first.acknowledged_by,
            )
        self._open_by_link[link] = ticket.id
        events = [TicketEvent(TicketEventKind.OPENED, change.confirmed_at, ticket)]
        for device_id in device_ids:
            previous = self._open_by_device.get(device_id)
            if previous is not None:
                merged = self.tickets[previous]
                merged.merged_into = ticket.id
                events.append(
                    TicketEvent(TicketEventKind.MERGED, change.confirmed_at, merged, device_id)
                )
            events.append(self._attach(ticket, device_id, change))
        return events

    def _attach(self, ticket: Ticket, device_id: str, change: Change) -> TicketEvent:
        if device_id not in ticket.device_ids:
            ticket.device_ids.append(device_id)
        policy = self._judged_by[device_id]
        if ticket.fault_class is FaultClass.NETWORK and policy.id not in ticket.deadlines:
            ticket.deadlines[policy.id] = (
                ticket.detected_at + policy.response_deadline,
                ticket.detected_at + _repair_within(policy, bool(ticket.backup_fiber)),
            )
        ticket.still_down.add(device_id)
        self._open_by_device[device_id] = ticket.id
        return TicketEvent(TicketEventKind.ATTACHED, change.confirmed_at, ticket, device_id)

    def _open_front_end(self, device_id: str, change: Change) -> list[TicketEvent]:
        last = self.tickets.get(self._last_by_device.get(device_id, ""))
        window = self._policy.debounce.flap_window
        if (
            last is not None
            and last.fault_class is FaultClass.FRONT_END
            and last.resolved_at is not None
            and change.since - last.resolved_at <= window
        ):
            last.resolved_at = None
            last.still_down = {device_id}
            self._open_by_device[device_id] = last.id
            return [TicketEvent(TicketEventKind.REOPENED, change.confirmed_at, last, device_id)]
        policy = self._judged_by[device_id]
        link = self._link_of[device_id]
        ticket = self._new_ticket(
            FaultClass.FRONT_END,
            change.reason,
            link,
            None,
            change.since,
            change.confirmed_at,
            policy,
            policy.repair_deadlines.front_end,
            device_id,
        )
        ticket.device_ids.append(device_id)
        ticket.still_down.add(device_id)
        self._open_by_device[device_id] = ticket.id
        return [TicketEvent(TicketEventKind.OPENED, change.confirmed_at, ticket, device_id)]

    def _came_back(self, device_id: str, change: Change) -> list[TicketEvent]:
        ticket_id = self._open_by_device.get(device_id)
        if ticket_id is None:
            return []
        ticket = self.tickets[ticket_id]
        if (
            change.state is State.DEGRADED
            and change.reason in TICKETED_DEGRADED
            and ticket.fault_class is FaultClass.FRONT_END
        ):
            return []  # still the same device fault, only less severe
        del self._open_by_device[device_id]
        self._last_by_device[device_id] = ticket.id
        ticket.still_down.discard(device_id)
        if ticket.still_down:
            return []
        ticket.resolved_at = change.since
        if ticket.link is not None and self._open_by_link.get(ticket.link) == ticket.id:
            del self._open_by_link[ticket.link]
        return [TicketEvent(TicketEventKind.RESOLVED, change.since, ticket, device_id)]

    def _new_ticket(
        self,
        fault_class: FaultClass,
        reason: Reason,
        link: str | None,
        backup: bool | None,
        started_at: datetime,
        detected: datetime,
        policy: Policy,
        repair: timedelta,
        subject: str,
    ) -> Ticket:
        base = f"F{detected:%Y%m%d%H%M%S}-{subject}"
        ticket_id, n = base, 1
        while ticket_id in self.tickets:
            n += 1
            ticket_id = f"{base}-{n}"
        ticket = Ticket(
            id=ticket_id,
            fault_class=fault_class,
            reason=reason,
            link=link,
            backup_fiber=backup,
            device_ids=[],
            started_at=started_at,
            detected_at=detected,
            response_deadline=detected + policy.response_deadline,
            repair_deadline=detected + repair,
            policy=policy.id,
        )
        self.tickets[ticket_id] = ticket
        return ticket


def _repair_within(policy: Policy, backup: bool) -> timedelta:
    deadlines = policy.repair_deadlines
    return deadlines.network_backup_fiber if backup else deadlines.network_no_backup


def _in_service(device: Device, day: date) -> bool:
    return device.service_start <= day and (device.service_end is None or day < device.service_end)
