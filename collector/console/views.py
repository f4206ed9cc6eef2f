"""What each page shows, from the live collector: plain data, rendered by the templates."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
from fastapi.exceptions import RequestValidationError

from collector.faults import Ticket
from collector.projection import Category, read_states, reading
from collector.state import State
from slawatch.config.inventory import Device, Inventory
from slawatch.config.policy import MaintenanceWindow

if TYPE_CHECKING:
    from collector.service import Collector

PAGE_ROWS = 50
# An agent not heard from for this long is shown silent (its devices go unknown as their
# observations go stale).
SILENT_AFTER = timedelta(minutes=2)
STATE_OF = {
    Category.UNKNOWN: "unknown",
    Category.UP: "up",
    Category.DEGRADED: "degraded",
    Category.NO_STREAM: "degraded",
    Category.NO_RECORDING: "degraded",
    Category.DOWN: "down",
}


@dataclass(frozen=True, slots=True)
class DeviceRow:
    id: str
    name: str
    kind: str
    region: str
    address: str
    contract: str | None
    state: str
    reason: str
    last_seen: datetime | None


class DeviceIndex:
    """The inventory as columns, for filtering 126,000 devices per request: a text match
    is one pass over prepared lower-case strings, the rest are list comprehensions."""

    def __init__(self, inventory: Inventory) -> None:
        self.devices = list(inventory.devices)
        self.by_id = {device.id: device for device in self.devices}
        self.regions = {region.id: region for region in inventory.regions}
        self.contracts = {contract.id: contract for contract in inventory.contracts}
        self.links = {link.id: link for link in inventory.links}
        self._text = [f"{d.id}\n{d.name}\n{d.address}".lower() for d in self.devices]

    def region_name(self, region_id: str) -> str:
        region = self.regions.get(region_id)
        return region.name if region else region_id

    def query(
        self,
        collector: Collector,
        *,
        text: str = "",
        state: str = "",
        kind: str = "",
        region: str = "",
        contract: str = "",
        reason: str = "",
        page: int = 1,
    ) -> tuple[list[DeviceRow], int]:
        """One page of the devices that match, and how many match."""
        chosen: Sequence[int] = range(len(self.devices))
        if text:
            needle = text.lower()
            chosen = [n for n in chosen if needle in self._text[n]]
        devices = self.devices
        if kind:
            chosen = [n for n in chosen if devices[n].kind.value == kind]
        if region:
            chosen = [n for n in chosen if devices[n].region == region]
        if contract:
            chosen = [n for n in chosen if devices[n].contract == contract]
        states = collector.pipeline.states
        if state or reason:
            found = []
            for n in chosen:
                now, why, _ = states.now_of(devices[n].id)
                if (not state or now.value == state) and (not reason or why.value == reason):
                    found.append(n)
            chosen = found
        total = len(chosen)
        first = (max(1, page) - 1) * PAGE_ROWS
        return [self.row(collector, devices[n]) for n in chosen[first : first + PAGE_ROWS]], total

    def row(self, collector: Collector, device: Device) -> DeviceRow:
        now, why, seen = collector.pipeline.states.now_of(device.id)
        return DeviceRow(
            device.id,
            device.name,
            device.kind.value,
            self.region_name(device.region),
            device.address,
            device.contract,
            now.value,
            why.value,
            seen,
        )


def pages(total: int) -> int:
    return max(1, math.ceil(total / PAGE_ROWS))


def open_faults(collector: Collector) -> list[Ticket]:
    """Unacknowledged first, then the oldest."""
    tickets = [t for t in collector.pipeline.faults.open_tickets() if t.merged_into is None]
    return sorted(tickets, key=lambda t: (t.acknowledged_at is not None, t.detected_at))


def online_now(collector: Collector, index: DeviceIndex) -> dict[str, Any]:
    """Per contract and per region: devices in service, and how many are online now
    (up or degraded) among those whose state is known."""
    states = collector.pipeline.states
    today = datetime.now(UTC).date()
    by_contract: dict[str, Counter[str]] = {}
    by_region: dict[str, Counter[str]] = {}
    for device in index.devices:
        if device.service_start > today or (device.service_end and device.service_end <= today):
            continue
        now = states.state_of(device.id).value
        for key, table in ((device.contract or "-", by_contract), (device.region, by_region)):
            table.setdefault(key, Counter())[now] += 1
    return {"contracts": by_contract, "regions": by_region}


def share(counts: Counter[str]) -> float | None:
    known = counts["up"] + counts["degraded"] + counts["down"]
    return None if not known else (counts["up"] + counts["degraded"]) / known


def agents(collector: Collector) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    found = []
    for agent_id in collector.pipeline.agents:
        heard = collector.agent_heard.get(agent_id)
        status = "never" if heard is None else "silent" if now - heard > SILENT_AFTER else "ok"
        found.append(
            {
                "id": agent_id,
                "devices": len(collector.pipeline.devices_of(agent_id)),
                "heard": heard,
                "status": status,
            }
        )
    return found


def ticket_history(collector: Collector, ticket_id: str) -> list[dict[str, Any]]:
    """Every ledger row of the ticket, in order (through the projection's index)."""
    db = collector.ledger.connection
    rows = db.execute(
        "SELECT l.at, l.body FROM projection_tickets p JOIN ledger l ON l.seq = p.seq "
        "WHERE p.ticket_id = ? ORDER BY p.seq",
        (ticket_id,),
    ).fetchall()
    history = []
    for at, body in rows:
        found = json.loads(body)
        history.append(
            {
                "at": at,
                "event": found.get("event"),
                "by": found.get("ticket", {}).get("acknowledged_by"),
                "note": found.get("note"),
                "detail": found.get("detail"),
            }
        )
    return history


def timeline(collector: Collector, device_id: str, days: int = 7) -> list[dict[str, Any]]:
    """The device's states over the last ``days`` days (epoch ms), from the projection."""
    with reading(collector.settings.ledger) as db:
        columns = read_states(db)
    try:
        index = columns.device_ids.index(device_id)
    except ValueError:
        return []
    mine = np.nonzero(columns.device == index)[0]
    since = columns.since[mine].tolist()
    categories = columns.category[mine].tolist()
    end = int(datetime.now(UTC).timestamp() * 1000)
    start = end - days * 86_400_000
    spans = []
    for n, (begin, category) in enumerate(zip(since, categories, strict=True)):
        until = since[n + 1] if n + 1 < len(since) else end
        if until <= start:
            continue
        spans.append(
            {"from": max(begin, start), "to": until, "state": STATE_OF[Category(category)]}
        )
    return spans


def tickets_of(collector: Collector, device_id: str) -> list[Ticket]:
    found = [
        t
        for t in collector.pipeline.faults.tickets.values()
        if device_id in t.device_ids and t.merged_into is None
    ]
    return sorted(found, key=lambda t: t.detected_at, reverse=True)[:20]


ALL_STATES = [state.value for state in State]


def window_from_form(
    index: DeviceIndex, start: datetime, end: datetime, reason: str, scope: str, zone: ZoneInfo
) -> MaintenanceWindow:
    """A window from the console's form: times local to the policy unless they say
    otherwise; each scope id a device, region or link of the inventory (422 naming the
    field for one that is none, or for an end not after the start)."""
    start, end = (m if m.tzinfo else m.replace(tzinfo=zone) for m in (start, end))
    devices, regions, links = [], [], []
    for item in (part.strip() for part in scope.replace("，", ",").split(",")):
        if not item:
            continue
        if item in index.by_id:
            devices.append(item)
        elif item in index.regions:
            regions.append(item)
        elif item in index.links:
            links.append(item)
        else:
            raise RequestValidationError(
                [
                    {
                        "loc": ("body", "scope"),
                        "msg": f"{item!r} is no device, region or link",
                        "type": "value_error",
                    }
                ]
            )
    if not (devices or regions or links):
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "scope"),
                    "msg": "name at least one device, region or link",
                    "type": "value_error",
                }
            ]
        )
    if end <= start:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "end"),
                    "msg": "the end must be after the start",
                    "type": "value_error",
                }
            ]
        )
    return MaintenanceWindow(
        start=start, end=end, reason=reason, devices=devices, regions=regions, links=links
    )
