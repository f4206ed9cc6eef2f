"""What each page shows, from the live collector: plain data, rendered by the templates."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from fastapi.exceptions import RequestValidationError
from pydantic_core import ErrorDetails

from agent.wire import Reason
from collector.ledger.chain import Row
from collector.ledger.projection import Category, period_bounds, read_states, reading
from collector.pipeline.faults import FaultClass, Ticket
from collector.pipeline.state import State
from slawatch.config.inventory import Device, DeviceKind, Inventory, Link
from slawatch.config.policy import MaintenanceWindow
from slawatch.config.schema_words import said_for
from slawatch.messages import Language, said_in, text

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
    """The inventory as columns, with each device's current state and reason kept from
    the committed state rows: a filtered page of 126,000 devices is a few numpy masks
    (and one pass over lower-case strings for a text search), not a Python loop."""

    def __init__(self, inventory: Inventory, collector: Collector) -> None:
        self.build(inventory, collector)

    def build(self, inventory: Inventory, collector: Collector) -> None:
        """Index ``inventory`` (again, when a new one is put in force)."""
        self.devices = list(inventory.devices)
        self.by_id = {device.id: device for device in self.devices}
        self.position = {device.id: n for n, device in enumerate(self.devices)}
        self.regions = {region.id: region for region in inventory.regions}
        self.contracts = {contract.id: contract for contract in inventory.contracts}
        self.links = {link.id: link for link in inventory.links}
        # A door-access set's members count under the set's contract, as the SLA engine
        # counts them: their own device rows name none.
        self.contract_of = {
            member: found.contract
            for found in inventory.sets
            if found.contract is not None
            for member in (found.host, *found.cameras)
        } | {d.id: d.contract for d in self.devices if d.contract is not None}
        self._text = [f"{d.id}\n{d.name}\n{d.address}".lower() for d in self.devices]
        self.kinds = [kind.value for kind in DeviceKind]
        self.region_ids = sorted({d.region for d in self.devices})
        self.contract_ids = sorted({self.contract_of.get(d.id, NO_CONTRACT) for d in self.devices})
        self._kind = self._codes([d.kind.value for d in self.devices], self.kinds)
        self._region = self._codes([d.region for d in self.devices], self.region_ids)
        self._contract = self._codes(
            [self.contract_of.get(d.id, NO_CONTRACT) for d in self.devices], self.contract_ids
        )
        never = date.max.toordinal()
        self._from = np.array([d.service_start.toordinal() for d in self.devices])
        self._to = np.array(
            [d.service_end.toordinal() if d.service_end else never for d in self.devices]
        )
        self._state = np.zeros(len(self.devices), dtype=np.int8)
        self._reason = np.zeros(len(self.devices), dtype=np.int16)
        for n, device in enumerate(self.devices):
            now, why, _ = collector.pipeline.states.now_of(device.id)
            self._state[n], self._reason[n] = STATES.index(now), REASONS.index(why)

    @staticmethod
    def _codes(values: list[str], known: list[str]) -> npt.NDArray[np.int32]:
        at = {value: n for n, value in enumerate(known)}
        return np.array([at[value] for value in values], dtype=np.int32)

    def apply(self, rows: Iterable[Row]) -> None:
        """Committed state rows: the devices' current state and reason."""
        for row in rows:
            if row.kind == "state":
                n = self.position.get(row.body["device_id"])
                if n is not None:
                    self._state[n] = STATES.index(State(row.body["state"]))
                    self._reason[n] = REASONS.index(Reason(row.body["reason"]))

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
        mask = np.ones(len(self.devices), dtype=np.bool_)
        for value, known, codes in (
            (kind, self.kinds, self._kind),
            (region, self.region_ids, self._region),
            (contract, self.contract_ids, self._contract),
        ):
            if value:
                mask &= codes == (known.index(value) if value in known else -1)
        if state:
            mask &= self._state == STATES.index(State(state))
        if reason:
            try:
                mask &= self._reason == REASONS.index(Reason(reason))
            except ValueError:
                mask[:] = False
        chosen = np.nonzero(mask)[0].tolist()
        if text:
            needle = text.lower()
            chosen = [n for n in chosen if needle in self._text[n]]
        first = (max(1, page) - 1) * PAGE_ROWS
        rows = [self.row(collector, self.devices[n]) for n in chosen[first : first + PAGE_ROWS]]
        return rows, len(chosen)

    def row(self, collector: Collector, device: Device) -> DeviceRow:
        now, why, seen = collector.pipeline.states.now_of(device.id)
        return DeviceRow(
            device.id,
            device.name,
            device.kind.value,
            self.region_name(device.region),
            device.address,
            self.contract_of.get(device.id),
            now.value,
            why.value,
            seen,
        )

    def online_now(self, today: date) -> dict[str, dict[str, Counter[str]]]:
        """Per contract and per region: devices in service today by current state."""
        serving = (self._from <= today.toordinal()) & (today.toordinal() < self._to)
        found: dict[str, dict[str, Counter[str]]] = {}
        for name, codes, keys in (
            ("contracts", self._contract, self.contract_ids),
            ("regions", self._region, self.region_ids),
        ):
            cells = np.bincount(
                codes[serving] * len(STATES) + self._state[serving],
                minlength=len(keys) * len(STATES),
            ).reshape(len(keys), len(STATES))
            found[name] = {
                key: Counter({state.value: int(cells[n, s]) for s, state in enumerate(STATES)})
                for n, key in enumerate(keys)
                if cells[n].sum()
            }
        return found


STATES = list(State)
REASONS = list(Reason)
NO_CONTRACT = "-"


@dataclass(frozen=True, slots=True)
class Cause:
    """What a network ticket's devices went dark behind, named as the duty room knows it."""

    kind: str  # "switch" or "link"
    name: str
    address: str | None  # a switch's
    backup_fiber: bool | None  # a link's: it decides the repair deadline
    repair_hours: float
    behind: int  # devices of the ticket besides the switch


def cause_of(
    ticket: Ticket, devices: Mapping[str, Device], links: Mapping[str, Link]
) -> Cause | None:
    """One switch of the ticket down with every other device of it behind that switch:
    the switch is the cause. Otherwise the link is (its name, and whether it has the
    backup fibre that decides the repair deadline)."""
    if ticket.fault_class is not FaultClass.NETWORK:
        return None
    hours = (ticket.repair_deadline - ticket.detected_at).total_seconds() / 3600
    members = [devices[d] for d in ticket.device_ids if d in devices]
    switches = [d for d in members if d.kind is DeviceKind.SWITCH]
    if len(switches) == 1 and all(
        d.uplink is not None and d.uplink.switch == switches[0].id
        for d in members
        if d is not switches[0]
    ):
        switch = switches[0]
        return Cause("switch", switch.name, switch.address, None, hours, len(members) - 1)
    link = links.get(ticket.link or "")
    name = (link.name or link.id) if link else (ticket.link or "—")
    backup = link.backup_fiber if link else ticket.backup_fiber
    return Cause("link", name, None, backup, hours, len(ticket.device_ids))


def pages(total: int) -> int:
    return max(1, math.ceil(total / PAGE_ROWS))


def share(counts: Counter[str]) -> float | None:
    known = counts["up"] + counts["degraded"] + counts["down"]
    return None if not known else (counts["up"] + counts["degraded"]) / known


def agents(collector: Collector) -> list[dict[str, Any]]:
    """Each agent heard: its devices, when, its clock's offset from the collector's
    (``clock_s``; ``clock_off`` beyond the tolerance), its own load as it last
    reported it (``overload``, while it says it is behind), and whether it is heard
    unsigned (``unsigned``: its site's migration opt-in)."""
    now = datetime.now(UTC)
    found = []
    clocks = collector.clocks.readings()
    for agent_id in sorted({*collector.pipeline.agents, *clocks, *collector.unsigned_agents}):
        heard = collector.agent_heard.get(agent_id)
        status = "never" if heard is None else "silent" if now - heard > SILENT_AFTER else "ok"
        reading = clocks.get(agent_id)
        load = collector.agent_load.get(agent_id)
        found.append(
            {
                "id": agent_id,
                "devices": len(collector.pipeline.devices_of(agent_id)),
                "heard": heard,
                "status": status,
                "clock_s": None if reading is None else reading.offset.total_seconds(),
                "clock_off": agent_id in collector.clocks_off,
                "unsigned": agent_id in collector.unsigned_agents,
                "overload": None
                if load is None or not load.overloaded
                else {
                    "stalled": load.stalled_results,
                    "late": load.late,
                    "missed": load.missed,
                    "deferred": load.deep_deferred,
                    "window": f"{load.window_s:g}",
                    "lag": f"{load.lag_max_s:.2f}",
                },
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
                "device_id": found.get("device_id"),
            }
        )
    return history


def timeline(collector: Collector, device_id: str, days: int = 7) -> list[dict[str, Any]]:
    """The device's states over the last ``days`` days (epoch ms), from the projection:
    from the midnight snapshot before them on, not the whole ledger."""
    end = int(datetime.now(UTC).timestamp() * 1000)
    start = end - days * 86_400_000
    with reading(collector.ledger.where) as db:
        columns = read_states(db, period_bounds(db, start, end))
    try:
        index = columns.device_ids.index(device_id)
    except ValueError:
        return []
    mine = np.nonzero(columns.device == index)[0]
    since = columns.since[mine].tolist()
    categories = columns.category[mine].tolist()
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


ALL_STATES = [state.value for state in STATES]


def form_error(field: str, key: str, **values: str) -> RequestValidationError:
    """A refusal naming the field, its sentence from the catalogue (``key``): the API
    shows the English, a page the sentence in its own language."""
    message = text(key, "en", **values)
    return RequestValidationError(
        [
            {
                "loc": ("body", field),
                "msg": message,
                "type": "value_error",
                "ctx": {"key": key, **values},
            }
        ]
    )


def scope_items(index: DeviceIndex, item: str) -> tuple[list[str], list[str], list[str]]:
    """What one entry of a window's scope names, as people write it: a device by id, name
    or address; a region by id, name, street or police station; a link by id or name."""
    devices = [
        d.id for d in index.devices if item in (d.id, d.name, d.address)
    ] if item not in index.by_id else [item]  # fmt: skip
    regions = [
        r.id for r in index.regions.values() if item in (r.id, r.name, r.street, r.police_station)
    ]
    links = [link.id for link in index.links.values() if item in (link.id, link.name)]
    return devices, regions, links


# The moments an exemption may name. A browser's form takes years 1 to 9999, but the
# ledger keeps UTC and every page shows local time, and both must hold each moment: year
# 1 in UTC+8 is before year 1 in UTC, 9999-12-31 evening in UTC is 10000 in Beijing.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def in_calendar(field: str, moment: datetime) -> datetime:
    """``moment`` (aware), or a 422 naming ``field`` when it lies outside the span above."""
    try:
        inside = EARLIEST <= moment.astimezone(UTC) < LATEST
    except OverflowError:
        inside = False
    if not inside:
        raise form_error(field, "form.out_of_range")
    return moment


def window_from_form(
    index: DeviceIndex, start: datetime, end: datetime, reason: str, scope: str, zone: ZoneInfo
) -> MaintenanceWindow:
    """A window from the console's form: times local to the policy unless they say
    otherwise; each scope entry a device, region or link as people name them (422 naming
    the field for one that is none, or for an end not after the start)."""
    start, end = (
        in_calendar(field, m if m.tzinfo else m.replace(tzinfo=zone))
        for field, m in (("start", start), ("end", end))
    )
    devices: list[str] = []
    regions: list[str] = []
    links: list[str] = []
    for item in (part.strip() for part in scope.replace("，", ",").replace("、", ",").split(",")):
        if not item:
            continue
        found = scope_items(index, item)
        if not any(found):
            raise form_error("scope", "form.scope_unknown", item=item)
        for into, ids in zip((devices, regions, links), found, strict=True):
            into.extend(i for i in ids if i not in into)
    if not (devices or regions or links):
        raise form_error("scope", "form.scope_empty")
    if end <= start:
        raise form_error("end", "form.end_before_start")
    return MaintenanceWindow(
        start=start, end=end, reason=reason, devices=devices, regions=regions, links=links
    )


# The form fields a refusal names, in the page's language.
FIELD_LABELS = {
    "start": "console.window_start",
    "end": "console.window_end",
    "reason": "console.window_reason",
    "scope": "console.window_scope",
    "day": "console.service_end_day",
    "cause": "console.exemption_cause",
    "note": "console.note",
    "ticket": "column.id",
    "period": "console.period",
    "name": "console.user",
    "password": "console.password",  # nosec B105  # a catalogue key, not a password
}


def form_problem(error: Mapping[str, Any], language: Language) -> str:
    """One refused field as a sentence: our own refusals from the catalogue, pydantic's
    by their kind (slawatch/config/schema_words.py)."""
    field = str(error["loc"][-1])
    label = text(FIELD_LABELS[field], language) if field in FIELD_LABELS else field
    context = dict(error.get("ctx") or {})
    key = context.pop("key", None)
    if isinstance(key, str):
        problem = text(key, language, **context)
    elif error["type"] == "missing":
        problem = text("form.missing", language)
    else:
        problem = said_in(said_for(cast(ErrorDetails, error)), language)
    return text("form.refused", language, field=label, problem=problem)
