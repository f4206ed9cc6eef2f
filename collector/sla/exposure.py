"""How long (or at how many inspections) each unit spent in each category during a period.

Vectorised with numpy over the ledger's projection: a quarter of ten million state rows is
one sort and a few passes, where a Python loop would take minutes. A unit is a device or a
door-access set; its counted time is the period ∩ its service life, minus maintenance.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from itertools import repeat
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from collector.ledger.backend import Target
from collector.ledger.projection import Bounds, Category, StateColumns, read_states, reading
from collector.sla.derived import per_input
from collector.sla.period import Period, local_midnight
from slawatch.config.inventory import Device, Inventory, link_of
from slawatch.config.policy import MaintenanceWindow, Policy
from slawatch.epoch import epoch_ms

CATEGORIES = len(Category)
_SHIFT = 42  # key = unit << 42 | epoch ms: ms up to year 2109, 2 million units
_NEVER = np.int64(1) << 62
ONLINE = (Category.UP, Category.DEGRADED, Category.NO_STREAM, Category.NO_RECORDING)

Int64s = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Units:
    """What figures are counted over, and when each one counts."""

    ids: list[str]
    counted_from: Int64s  # max(period start, service start), epoch ms
    counted_to: Int64s  # min(period end, service end)
    # Units sharing the same maintenance windows, with those windows merged: (units, spans).
    maintenance: list[tuple[npt.NDArray[np.bool_], list[tuple[int, int]]]]
    # Each unit's index by its id, built once: sets, set members and tickets look it up.
    position: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.position and self.ids:
            object.__setattr__(self, "position", {unit: n for n, unit in enumerate(self.ids)})


@dataclass(frozen=True, slots=True)
class Timeline:
    """State rows per unit, sorted by unit then time; each unit opens UNKNOWN at epoch 0."""

    unit: Int64s
    category: npt.NDArray[np.int8]
    since: Int64s
    keys: Int64s  # unit << 42 | since: sorted, for finding a unit's state at a moment

    def at(self, units: Int64s, moments: Int64s) -> npt.NDArray[np.int8]:
        """Each unit's category at the moment beside it."""
        found = np.searchsorted(self.keys, (units << _SHIFT) | moments, side="right") - 1
        return self.category[found]


@dataclass(frozen=True, slots=True)
class Exposure:
    """Per unit: milliseconds (or inspections) by Category, in service, under maintenance."""

    amount: Int64s  # shape (units, CATEGORIES)
    in_service: Int64s
    maintenance: Int64s


@cache
def _midnight_ms(day: date, zone: ZoneInfo) -> int:
    return epoch_ms(local_midnight(day, zone))


def _service_ms(day: date | None, zone: ZoneInfo, default: int) -> int:
    return default if day is None else _midnight_ms(day, zone)


def _windows_of(
    windows: Sequence[MaintenanceWindow], applies: Sequence[tuple[int, ...]]
) -> list[tuple[npt.NDArray[np.bool_], list[tuple[int, int]]]]:
    """``applies``: per unit, the indexes of the windows that cover it."""
    by_windows: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for unit, covering in enumerate(applies):
        if covering:
            by_windows[covering].append(unit)
    groups = []
    for covering, members in by_windows.items():
        mask = np.zeros(len(applies), dtype=np.bool_)
        mask[members] = True
        spans = sorted((epoch_ms(windows[n].start), epoch_ms(windows[n].end)) for n in covering)
        merged: list[tuple[int, int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        groups.append((mask, merged))
    return groups


def _applies(window: MaintenanceWindow, ids: set[str], device: Device, link: str | None) -> bool:
    return (
        bool(ids & set(window.devices))
        or device.region in window.regions
        or (link is not None and link in window.links)
    )


@dataclass(frozen=True, slots=True)
class _Spans:
    """Per unit, what the period does not change: its id, service life (epoch ms, 0 and
    ``_NEVER`` where open) and maintenance windows."""

    ids: list[str]
    service_from: Int64s
    service_to: Int64s
    maintenance: list[tuple[npt.NDArray[np.bool_], list[tuple[int, int]]]]
    position: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "position", {unit: n for n, unit in enumerate(self.ids)})

    def units(self, period: Period) -> Units:
        return Units(
            ids=self.ids,
            counted_from=np.maximum(self.service_from, period.start_ms),
            counted_to=np.minimum(self.service_to, period.end_ms),
            maintenance=self.maintenance,
            position=self.position,
        )


@per_input
def _everyone(district: Inventory) -> dict[str, Device]:
    return {device.id: device for device in district.devices}


@per_input
def _device_spans(inventory: Inventory, policy: Policy, district: Inventory) -> _Spans:
    zone = ZoneInfo(policy.timezone)
    windows = policy.maintenance_windows
    everyone = _everyone(district)
    applies = [
        tuple(
            n
            for n, window in enumerate(windows)
            if _applies(window, {device.id}, device, link_of(device, everyone))
        )
        if windows
        else ()
        for device in inventory.devices
    ]
    return _Spans(
        ids=[device.id for device in inventory.devices],
        service_from=np.array(
            [_service_ms(d.service_start, zone, 0) for d in inventory.devices], dtype=np.int64
        ),
        service_to=np.array(
            [_service_ms(d.service_end, zone, int(_NEVER)) for d in inventory.devices],
            dtype=np.int64,
        ),
        maintenance=_windows_of(windows, applies),
    )


def device_units(
    inventory: Inventory, policy: Policy, period: Period, district: Inventory
) -> Units:
    """``district``: the whole inventory, for the links of a share's devices."""
    return _device_spans(inventory, policy, district).units(period)


@per_input
def _set_spans(inventory: Inventory, policy: Policy, district: Inventory) -> _Spans:
    """A set is in service while its host is; a window on the host or the set covers it."""
    devices = _device_spans(inventory, policy, district)
    position = _positions(inventory)
    hosts = [position[door_set.host] for door_set in inventory.sets]
    windows = policy.maintenance_windows
    everyone = _everyone(district)
    applies = []
    for door_set in inventory.sets:
        host = everyone[door_set.host]
        ids, link = {door_set.id, host.id}, link_of(host, everyone)
        applies.append(tuple(n for n, w in enumerate(windows) if _applies(w, ids, host, link)))
    return _Spans(
        ids=[door_set.id for door_set in inventory.sets],
        service_from=devices.service_from[hosts],
        service_to=devices.service_to[hosts],
        maintenance=_windows_of(windows, applies),
    )


def set_units(inventory: Inventory, policy: Policy, period: Period, district: Inventory) -> Units:
    """A set counts while its host is in service; a window on the host or the set covers it."""
    return _set_spans(inventory, policy, district).units(period)


@dataclass(frozen=True, slots=True)
class LedgerTimeline:
    """The ledger's state rows sorted by device, then ledger order, before the inventory is
    known: the sort is the heavy part, and it runs while the inventory loads elsewhere."""

    device_ids: list[str]  # the projection's devices, by their index
    rows: Int64s  # per device index: how many rows it has
    packed: Int64s  # since << 3 | category, since clamped so no state starts before the last


def ledger_states(ledger: Target, bounds: Bounds | None = None) -> LedgerTimeline:
    """The state rows of a ledger (those of ``bounds``, from its opening snapshot, or
    every one), read-only, sorted (the command's second process)."""
    with reading(ledger) as db:
        return ledger_timeline(read_states(db, bounds))


def ledger_timeline(columns: StateColumns) -> LedgerTimeline:
    device = columns.device.astype(np.int64)
    # Sort by (device, ledger order) as one int64 key, and move since and category together
    # in one packed gather: 2.5x faster than a stable argsort and three gathers.
    row_bits = max(1, len(device).bit_length())
    keys = np.sort((device << row_bits) | np.arange(len(device), dtype=np.int64))
    packed = ((columns.since << 3) | columns.category)[keys & ((1 << row_bits) - 1)]
    device = keys >> row_bits
    # A state never starts before the one it follows (the state machine guarantees it; a
    # hand-made ledger might not): clamp, so every span has a non-negative length.
    clamped = np.maximum.accumulate((device << _SHIFT) | (packed >> 3)) - (device << _SHIFT)
    return LedgerTimeline(
        device_ids=columns.device_ids,
        rows=np.bincount(device, minlength=len(columns.device_ids)),
        packed=(clamped << 3) | (packed & 7),
    )


def device_timeline(line: LedgerTimeline, units: Units) -> Timeline:
    """Each unit's rows in inventory order, opening UNKNOWN at epoch 0; devices the ledger
    knows but the inventory does not are left out."""
    source = _sources(_ledger_index(line.device_ids), units.ids)
    known = source >= 0
    starts = np.cumsum(line.rows) - line.rows
    rows = np.where(known, line.rows[np.maximum(source, 0)] if len(line.rows) else 0, 0)
    lengths = 1 + rows
    first = np.cumsum(lengths) - lengths  # where each unit's opening row goes
    unit = np.repeat(np.arange(len(units.ids), dtype=np.int64), lengths)
    packed = np.zeros(len(unit), dtype=np.int64)  # 0: UNKNOWN since epoch 0
    if len(line.packed):
        # Each unit's rows are one block of the ledger timeline: move blocks, not rows.
        shift = np.where(known, starts[np.maximum(source, 0)], 0) - 1 - first
        take = np.arange(len(unit), dtype=np.int64) + np.repeat(shift, lengths)
        take[first] = 0
        packed = line.packed[take]
        packed[first] = 0
    since = packed >> 3
    return Timeline(unit, (packed & 7).astype(np.int8), since, (unit << _SHIFT) | since)


@per_input
def _positions(inventory: Inventory) -> dict[str, int]:
    return {device.id: n for n, device in enumerate(inventory.devices)}


@dataclass(frozen=True, slots=True, weakref_slot=True)
class _LedgerIndex:
    device_ids: list[str]
    position: dict[str, int]


_last_index: list[_LedgerIndex] = []


def _ledger_index(device_ids: list[str]) -> _LedgerIndex:
    """Each device's index in the ledger's timeline. The projection only ever appends a
    device, so a long-lived process finds the last ledger's list again (one comparison,
    not a dict of 126,000 ids and a lookup per unit)."""
    if _last_index and _last_index[0].device_ids == device_ids:
        return _last_index[0]
    found = _LedgerIndex(device_ids, {device_id: n for n, device_id in enumerate(device_ids)})
    _last_index[:] = [found]
    return found


@per_input
def _sources(index: _LedgerIndex, unit_ids: list[str]) -> Int64s:
    """Each unit's device index in the ledger's timeline; -1 for those it never saw."""
    position = index.position
    return np.fromiter(map(position.get, unit_ids, repeat(-1)), np.int64, len(unit_ids))


@per_input
def set_members(inventory: Inventory) -> Int64s:
    """Per set, its host's and cameras' positions among the inventory's devices; -1 pads
    short sets."""
    position = _positions(inventory)
    sets = inventory.sets
    width = max((len(s.cameras) for s in sets), default=0)
    members = np.full((len(sets), 1 + width), -1, dtype=np.int64)
    for n, door_set in enumerate(sets):
        ids = [door_set.host, *door_set.cameras]
        members[n, : len(ids)] = [position[i] for i in ids]
    return members


def set_timeline(
    inventory: Inventory, devices: Units, timeline: Timeline, min_cameras: int
) -> Timeline:
    """Door-access sets: up while the host is up and at least ``min_cameras`` cameras are."""
    members = set_members(inventory)
    set_of = np.full(len(devices.ids), -1, dtype=np.int64)
    for column in range(members.shape[1]):
        present = members[:, column] >= 0
        set_of[members[present, column]] = np.nonzero(present)[0]
    owner = set_of[timeline.unit]
    mine = owner >= 0
    # Only the members' rows matter: look states up among those (cache-sized, not 10M).
    members_line = Timeline(
        timeline.unit[mine], timeline.category[mine], timeline.since[mine], timeline.keys[mine]
    )
    breaks = sorted_distinct((owner[mine] << _SHIFT) | members_line.since)
    at_set, at_time = breaks >> _SHIFT, breaks & ((1 << _SHIFT) - 1)
    is_online = np.isin(np.arange(CATEGORIES + 1), ONLINE)  # index -1: no such member

    def member_category(column: int) -> npt.NDArray[np.int8]:
        member = members[at_set, column]
        found = members_line.at(np.maximum(member, 0), at_time)
        return np.where(member >= 0, found, np.int8(-1)).astype(np.int8)

    host = member_category(0)
    online_cameras = np.zeros(len(breaks), dtype=np.int64)
    up_cameras = np.zeros(len(breaks), dtype=np.int64)
    unknown_cameras = np.zeros(len(breaks), dtype=np.int64)
    for column in range(1, members.shape[1]):
        camera = member_category(column)
        online_cameras += is_online[camera]
        up_cameras += camera == Category.UP
        unknown_cameras += camera == Category.UNKNOWN
    online = is_online[host] & (online_cameras >= min_cameras)
    intact = (host == Category.UP) & (up_cameras >= min_cameras)
    down = (host == Category.DOWN) | (online_cameras + unknown_cameras < min_cameras)
    category = np.select(
        [intact, online, down],
        [Category.UP, Category.DEGRADED, Category.DOWN],
        default=Category.UNKNOWN,
    ).astype(np.int8)
    return Timeline(at_set, category, at_time, breaks)


def sorted_distinct(keys: Int64s) -> Int64s:
    """np.unique by hand: numpy's hashes first, 15x slower on 2 million keys here."""
    keys = np.sort(keys)
    distinct: Int64s = keys[np.concatenate([keys[:1] == keys[:1], keys[1:] != keys[:-1]])]
    return distinct


def _ends(timeline: Timeline) -> Int64s:
    ends = np.empty_like(timeline.since)
    ends[:-1] = timeline.since[1:]
    ends[-1:] = _NEVER
    ends[:-1][timeline.unit[1:] != timeline.unit[:-1]] = _NEVER
    return ends


def time_weighted(units: Units, timeline: Timeline) -> Exposure:
    count = len(units.ids)
    starts = np.maximum(timeline.since, units.counted_from[timeline.unit])
    ends = np.minimum(_ends(timeline), units.counted_to[timeline.unit])
    spans = np.clip(ends - starts, 0, None)
    excluded = np.zeros_like(spans)
    for mask, windows in units.maintenance:
        hit = np.nonzero(mask[timeline.unit])[0]
        for window_start, window_end in windows:
            overlap = np.minimum(ends[hit], window_end) - np.maximum(starts[hit], window_start)
            excluded[hit] += np.clip(overlap, 0, None)
    # bincount sums in float64: exact, since a year is 3.2e10 ms and floats are exact to 9e15.
    cells = timeline.unit * CATEGORIES + timeline.category
    amount = np.bincount(cells, weights=spans - excluded, minlength=count * CATEGORIES)
    maintenance = np.bincount(timeline.unit, weights=excluded, minlength=count)
    return Exposure(
        amount=np.rint(amount).astype(np.int64).reshape(count, CATEGORIES),
        in_service=np.clip(units.counted_to - units.counted_from, 0, None),
        maintenance=np.rint(maintenance).astype(np.int64),
    )


def inspection_moments(policy: Policy, period: Period) -> list[int]:
    """定时巡检: the policy's times of day, on every local day of the period."""
    zone = ZoneInfo(policy.timezone)
    moments = []
    for day in period.days(zone):
        for moment in policy.snapshot_times:
            instant = epoch_ms(datetime.combine(day, moment, tzinfo=zone))
            if period.start_ms <= instant < period.end_ms:
                moments.append(instant)
    return moments


def snapshots(units: Units, timeline: Timeline, moments: list[int]) -> Exposure:
    count = len(units.ids)
    every_unit = np.arange(count, dtype=np.int64)
    amount = np.zeros(count * CATEGORIES, dtype=np.int64)
    in_service = np.zeros(count, dtype=np.int64)
    maintenance = np.zeros(count, dtype=np.int64)
    for moment in moments:
        serving = (units.counted_from <= moment) & (moment < units.counted_to)
        paused = np.zeros(count, dtype=np.bool_)
        for mask, windows in units.maintenance:
            if any(start <= moment < end for start, end in windows):
                paused |= mask
        paused &= serving
        counted = serving & ~paused
        categories = timeline.at(every_unit, np.full(count, moment, dtype=np.int64))
        amount += np.bincount(
            every_unit[counted] * CATEGORIES + categories[counted], minlength=count * CATEGORIES
        )
        in_service += serving
        maintenance += paused
    return Exposure(amount.reshape(count, CATEGORIES), in_service, maintenance)


def daily_time_weighted(
    units: Units, timeline: Timeline, group_of: Int64s, groups: int, bounds: Int64s
) -> Int64s:
    """Milliseconds by (group, day, Category) for units grouped by ``group_of`` (-1: none),
    days being [bounds[k], bounds[k + 1]). One pass, no sort: a state row adds its first
    and last partial days, and the whole days between through a running count. Maintenance
    windows are not taken out (the trend is read against the period's figure, which is)."""
    days = len(bounds) - 1
    group = group_of[timeline.unit]
    starts = np.maximum(np.maximum(timeline.since, units.counted_from[timeline.unit]), bounds[0])
    ends = np.minimum(np.minimum(_ends(timeline), units.counted_to[timeline.unit]), bounds[-1])
    keep = (ends > starts) & (group >= 0)
    cell = (group * CATEGORIES + timeline.category)[keep]
    starts, ends = starts[keep], ends[keep]
    first = np.searchsorted(bounds, starts, side="right") - 1
    last = np.searchsorted(bounds, ends, side="left") - 1  # the day holding the end's last ms
    cells = groups * CATEGORIES
    slot_first, slot_last = cell * days + first, cell * days + last
    size = cells * days
    # bincount sums in float64: exact, a day of 126,000 units is 1.1e13 ms, below 2^53.
    same = first == last
    # A float array even when no span starts and ends on one day (bincount of nothing
    # with weights gives integers): every state of a day read from its snapshot spans it.
    amount = np.bincount(slot_first[same], weights=(ends - starts)[same], minlength=size)
    amount = amount.astype(np.float64, copy=False)
    span = ~same
    amount += np.bincount(
        slot_first[span], weights=(bounds[first + 1] - starts)[span], minlength=size
    )
    amount += np.bincount(slot_last[span], weights=(ends - bounds[last])[span], minlength=size)
    # Whole days strictly between: +1 from the day after the first, -1 from the last.
    whole = span & (last > first + 1)
    running = np.bincount(slot_first[whole] + 1, minlength=size + 1)[:size]
    running -= np.bincount(slot_last[whole], minlength=size + 1)[:size]
    covering = np.cumsum(running.reshape(cells, days), axis=1)
    totals = np.rint(amount).astype(np.int64).reshape(cells, days) + covering * np.diff(bounds)
    return totals.reshape(groups, CATEGORIES, days).transpose(0, 2, 1)
