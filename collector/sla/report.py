"""Every contract figure for a period and a grouping, explained and compared with its target.

The report is plain data (dicts, lists, strings, numbers) built in a fixed order, so the
same ledger, inventory, policy and period always give byte-identical JSON.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from agent.wire import format_timestamp
from collector.ledger.projection import Category
from collector.sla.derived import per_input
from collector.sla.exposure import (
    CATEGORIES,
    ONLINE,
    Exposure,
    Int64s,
    LedgerTimeline,
    Timeline,
    Units,
    daily_time_weighted,
    device_timeline,
    device_units,
    inspection_moments,
    set_members,
    set_timeline,
    set_units,
    snapshots,
    sorted_distinct,
    time_weighted,
)
from collector.sla.period import Period, local_midnight
from collector.sla.settlement import month_overlaps, months, settle, unit_months
from collector.sla.tickets import IN_TIME, LATE, UNDECIDED, Tickets
from slawatch.config.inventory import (
    Contract,
    ContractUnit,
    Device,
    DeviceKind,
    DoorAccessSet,
    Inventory,
    Phase,
    Region,
)
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy, RateMethod, UnknownTime
from slawatch.epoch import epoch_ms

GROUPINGS = (
    "contract",
    "region",
    "station",
    "class",
    "kind",
    "phase",
    "vendor",
    "set",
    "device",
    "all",
)
ALONE = ("set", "device", "all")  # groupings that do not combine with another
NONE_KEY = "-"
# Plain ints and names, not the enums: read 126,000 times over in a per-device report,
# where each enum member lookup costs more than the sum it indexes.
_CATEGORY_NAMES = [category.name.lower() for category in Category]
_ONLINE = [int(category) for category in ONLINE]
_UNKNOWN, _UP, _DOWN = int(Category.UNKNOWN), int(Category.UP), int(Category.DOWN)
_NO_STREAM, _NO_RECORDING = int(Category.NO_STREAM), int(Category.NO_RECORDING)
_EXCLUDE, _AS_UP = UnknownTime.EXCLUDE, UnknownTime.UP
WORST = 5
RATE_SCALE = 10**8  # rates carry 8 decimals
MONEY = ("base", "due", "prepaid", "balance")
_DEVICE_KEYS: dict[str, Callable[[Device, Mapping[str, Region]], str | None]] = {
    "contract": lambda d, _: d.contract,
    "region": lambda d, _: d.region,
    "station": lambda d, regions: _station(d, regions),
    "class": lambda d, _: f"class-{d.point_class}",
    "kind": lambda d, _: d.kind.value,
    "phase": lambda d, _: d.phase,
    "vendor": lambda d, _: d.vendor,
    "device": lambda d, _: d.id,
    "all": lambda d, _: "all",
}


def _station(device: Device, regions: Mapping[str, Region]) -> str | None:
    region = regions.get(device.region or "")
    return region.police_station if region is not None else None


class GroupingError(ValueError):
    """A --group-by that cannot be read; the message names the accepted forms."""


def parse_grouping(text: str) -> tuple[str, ...]:
    """``contract``, or dimensions joined by commas (``contract,region``)."""
    dims = tuple(part.strip() for part in text.split(","))
    unknown = [dim for dim in dims if dim not in GROUPINGS]
    if unknown:
        raise GroupingError(f"{unknown[0]!r} is not one of {', '.join(GROUPINGS)}")
    if len(set(dims)) != len(dims):
        raise GroupingError(f"{text!r} names a dimension twice")
    if len(dims) > 1 and any(dim in ALONE for dim in dims):
        raise GroupingError(f"{', '.join(ALONE)} do not combine with another dimension")
    return dims


@dataclass(frozen=True, slots=True)
class Scope:
    """Units of one kind (devices or sets) with what they were exposed to."""

    unit: ContractUnit
    units: Units
    exposure: Exposure
    # The devices behind each unit (itself, or a set's host and cameras): positions in the
    # inventory, -1 where a set has fewer cameras than the widest.
    members: npt.NDArray[np.int64]
    cameras: npt.NDArray[np.bool_]  # units whose video figures count
    watched: npt.NDArray[np.int64] = field(init=False)  # in service, not under maintenance

    def __post_init__(self) -> None:
        watched = self.exposure.in_service - self.exposure.maintenance
        object.__setattr__(self, "watched", watched)


@dataclass(frozen=True, slots=True)
class Group:
    keys: tuple[str, ...]  # one per dimension of the grouping
    scope: Scope
    indices: npt.NDArray[np.int64]

    @property
    def key(self) -> str:
        return "/".join(self.keys)


def rate(part: int, whole: int) -> float | None:
    """``part / whole`` to 8 decimals, exactly rounded half to even; None when nothing was
    counted. Integer arithmetic: a Fraction cost 9 µs a rate, 10 s for 126,000 groups."""
    if whole <= 0:
        return None
    quotient, remainder = divmod(part * RATE_SCALE, whole)
    if 2 * remainder > whole or (2 * remainder == whole and quotient % 2):
        quotient += 1
    return quotient / RATE_SCALE  # int / int: the float nearest the exact decimal


class PolicyReport:
    """The figures of the contracts one policy judges (its share of the inventory)."""

    def __init__(
        self,
        inventory: Inventory,
        policy: Policy,
        period: Period,
        states: Callable[[], LedgerTimeline],
        tickets: Callable[[], Tickets],
        district: Inventory,
    ) -> None:
        """``states`` gives ``ledger_states`` of the ledger and ``tickets`` its
        ``period_tickets``: each is asked for when needed, so the command can compute them
        meanwhile in another process. ``district`` is the whole inventory: a camera's
        switch may belong to another contract. What depends on the inventory and policy
        alone is worked out once per pair of them (``derived``)."""
        self.inventory, self.policy, self.period = inventory, policy, period
        self._zone = ZoneInfo(policy.timezone)
        self._named = _lookups(inventory).named
        devices = device_units(inventory, policy, period, district)
        timeline = device_timeline(states(), devices)
        self.devices = Scope(
            ContractUnit.DEVICE,
            devices,
            self._measure(devices, timeline),
            np.arange(len(devices.ids), dtype=np.int64)[:, np.newaxis],
            _cameras(inventory),
        )
        sets = set_units(inventory, policy, period, district)
        set_line = set_timeline(inventory, devices, timeline, policy.door_access.min_cameras)
        self._timelines = {ContractUnit.DEVICE: timeline}
        self.sets = Scope(
            ContractUnit.SET,
            sets,
            self._measure(sets, set_line),
            set_members(inventory),
            np.zeros(len(inventory.sets), dtype=np.bool_),
        )
        self._timelines[ContractUnit.SET] = set_line
        self._price_codes = {unit: _prices(inventory, policy, unit) for unit in ContractUnit}
        self._calendar = months(period, self._zone)
        self._lost_online = {scope.unit: self._lost(scope) for scope in (self.devices, self.sets)}
        self._month_ms = {
            scope.unit: month_overlaps(
                scope.units.counted_from, scope.units.counted_to, self._calendar
            )
            for scope in (self.devices, self.sets)
        }
        judged = tickets().judged_by(policy.id)  # a shared ticket by this policy's deadlines
        position = devices.position
        at = np.array([position.get(d, -1) for d in judged.devices] or [-1], dtype=np.int64)
        found = at[judged.pair_device]
        # A fault is nobody's to repair unless one of its devices was in service (in the
        # inventory, and inside its service life) when it was detected.
        detected = judged.detected_ms[judged.pair_ticket]
        serving = (found >= 0) & (devices.counted_from[found] <= detected)
        serving &= detected < devices.counted_to[found]
        keep = np.zeros(len(judged.ids), dtype=np.bool_)
        keep[judged.pair_ticket[serving]] = True
        self.kept = keep  # of the period's tickets, those this share's devices had
        self.tickets = judged if keep.all() else judged.select(keep)
        # Each (ticket, device) pair as two flat columns, for grouping without dicts.
        found = at[self.tickets.pair_device]
        self._ticket_of_pair = self.tickets.pair_ticket[found >= 0]
        self._device_of_pair = found[found >= 0]

    def _measure(self, units: Units, timeline: Timeline) -> Exposure:
        if self.policy.method is RateMethod.SNAPSHOT:
            return snapshots(units, timeline, inspection_moments(self.policy, self.period))
        return time_weighted(units, timeline)

    def groups(self, dims: tuple[str, ...]) -> list[Group]:
        return [
            Group(keys, self.sets if unit is ContractUnit.SET else self.devices, found)
            for keys, unit, found in _grouping(self.inventory, self.policy, dims)
        ]

    def _name(self, dim: str, key: str) -> str | None:
        """What people call a group: the contract's, region's, phase's or unit's name."""
        if dim == "station" and key != NONE_KEY:
            return key
        found = self._named.get(dim, {}).get(key)
        return found.name if found is not None else None

    def build(self, dims: tuple[str, ...], settle: bool = True) -> list[dict[str, Any]]:
        """Each group's figures, judged under this policy; without ``settle`` (a per-device
        table, which shows none of them) no group's money, targets or worst units and
        tickets are worked out: 126,000 of each cost seconds."""
        groups = self.groups(dims)
        group_of, unit_of = self._claims(groups)
        hit_group = group_of[self._device_of_pair]
        claimed = hit_group >= 0
        ticket_pairs = _distinct_pairs(hit_group[claimed], self._ticket_of_pair[claimed])
        unit_pairs = _distinct_pairs(hit_group[claimed], unit_of[self._device_of_pair][claimed])
        sums = self._sums(groups, ticket_pairs, unit_pairs, settle)
        tickets = _split(ticket_pairs, len(groups))
        return [
            self._group(group, dims, found, sums[n], settle)
            for n, (group, found) in enumerate(zip(groups, tickets, strict=True))
        ]

    def judgements(self, dims: tuple[str, ...]) -> list[tuple[int, str, int, int]]:
        """One row per (ticket, group) a ticket counts in: the ticket's position among the
        period's tickets, the group's key, and this policy's verdicts (response, repair):
        the rows each group's ticket counts are the number of."""
        groups = self.groups(dims)
        group_of, _ = self._claims(groups)
        hit_group = group_of[self._device_of_pair]
        claimed = hit_group >= 0
        group, ticket = _distinct_pairs(hit_group[claimed], self._ticket_of_pair[claimed])
        everywhere = np.nonzero(self.kept)[0][ticket]
        return list(
            zip(
                everywhere.tolist(),
                [groups[n].key for n in group.tolist()],
                self.tickets.responded[ticket].tolist(),
                self.tickets.repaired[ticket].tolist(),
                strict=True,
            )
        )

    def daily(self, dims: tuple[str, ...]) -> list[dict[str, Any]]:
        """Each group's online rate on each local day of the period, under the policy's
        method and unknown-time rule (maintenance left in): the trend behind the figure."""
        days = self.period.days(self._zone)
        bounds = [epoch_ms(local_midnight(day, self._zone)) for day in days[1:]]
        edges = np.array([self.period.start_ms, *bounds, self.period.end_ms], dtype=np.int64)
        groups = self.groups(dims)
        totals = np.zeros((len(groups), len(days), CATEGORIES), dtype=np.int64)
        moments = np.array(
            inspection_moments(self.policy, self.period)
            if self.policy.method is RateMethod.SNAPSHOT
            else [],
            dtype=np.int64,
        )
        for scope in (self.devices, self.sets):
            group_of = np.full(len(scope.units.ids), -1, dtype=np.int64)
            for n, group in enumerate(groups):
                if group.scope is scope:
                    group_of[group.indices] = n
            if not (group_of >= 0).any():
                continue
            timeline = self._timelines[scope.unit]
            if self.policy.method is not RateMethod.SNAPSHOT:
                totals += daily_time_weighted(scope.units, timeline, group_of, len(groups), edges)
                continue
            day_of = np.searchsorted(edges, moments, side="right") - 1
            grouped = group_of >= 0
            for day in range(len(days)):
                found = snapshots(scope.units, timeline, moments[day_of == day].tolist())
                for category in range(CATEGORIES):
                    totals[:, day, category] += np.bincount(
                        group_of[grouped],
                        weights=found.amount[grouped, category],
                        minlength=len(groups),
                    ).astype(np.int64)
        listed = totals.tolist()
        return [
            {
                "key": group.key,
                "name": self._name(dims[0], group.key) if len(dims) == 1 else None,
                "policy": self.policy.id,
                "days": [day.isoformat() for day in days],
                "online_rate": [
                    rate(online, counted) for online, _, counted in map(self._counted, listed[n])
                ],
            }
            for n, group in enumerate(groups)
        ]

    def _claims(self, groups: list[Group]) -> tuple[Int64s, Int64s]:
        """Per device: the group it counts in (the first group naming it through one of
        its units), and that unit; -1 for devices no group names. As columns: a
        per-device report has 126,000 groups."""
        devices, groups_at, units_at = [], [], []
        for scope in (self.devices, self.sets):
            mine = [n for n, group in enumerate(groups) if group.scope is scope]
            if not mine:
                continue
            units = np.concatenate([groups[n].indices for n in mine])
            lengths = [len(groups[n].indices) for n in mine]
            members = scope.members[units]
            present = members >= 0
            devices.append(members[present])
            groups_at.append(
                np.broadcast_to(np.repeat(mine, lengths)[:, None], members.shape)[present]
            )
            units_at.append(np.broadcast_to(units[:, None], members.shape)[present])
        group_of = np.full(len(self.devices.units.ids), -1, dtype=np.int64)
        unit_of = np.full(len(self.devices.units.ids), -1, dtype=np.int64)
        if devices:
            device, group, unit = (np.concatenate(c) for c in (devices, groups_at, units_at))
            order = np.lexsort((group, device))  # by device, then group: the first one wins
            device, group, unit = device[order], group[order], unit[order]
            first = np.r_[True, device[1:] != device[:-1]]
            group_of[device[first]], unit_of[device[first]] = group[first], unit[first]
        return group_of, unit_of

    def _sums(
        self,
        groups: list[Group],
        ticket_pairs: tuple[Int64s, Int64s],
        unit_pairs: tuple[Int64s, Int64s],
        settle: bool = True,
    ) -> list[dict[str, Any]]:
        """Per group, the sums its figures come from, in one numpy pass over all groups
        (a per-device report has 126,000 groups: numpy calls per group took a minute)."""
        count = len(groups)
        totals = np.zeros((count, CATEGORIES), dtype=np.int64)
        camera_totals = np.zeros((count, CATEGORIES), dtype=np.int64)
        columns = {
            name: np.zeros(count, dtype=np.int64)
            for name in ("units", "networked", "watched", "in_service", "maintenance", "faulty")
        }
        hit_group, hit_unit = unit_pairs
        rent: list[list[tuple[int, list[int]]]] = [[] for _ in range(count)]
        is_set = np.array([group.scope is self.sets for group in groups], dtype=np.bool_)
        for scope in (self.devices, self.sets):
            mine = np.array([n for n, g in enumerate(groups) if g.scope is scope], dtype=np.int64)
            if not len(mine):
                continue
            units = np.concatenate([groups[n].indices for n in mine])
            lengths = np.array([len(groups[n].indices) for n in mine], dtype=np.int64)
            starts = np.cumsum(lengths) - lengths
            amount = scope.exposure.amount[units]
            watched = scope.watched[units]
            serving = watched > 0
            online = self._lost_online[scope.unit][1][units] > 0
            totals[mine] = np.add.reduceat(amount, starts, axis=0)
            camera_totals[mine] = np.add.reduceat(amount * scope.cameras[units, None], starts)
            for name, values in (
                ("units", serving),
                ("networked", serving & online),
                ("watched", watched),
                ("in_service", scope.exposure.in_service[units]),
                ("maintenance", scope.exposure.maintenance[units]),
            ):
                columns[name][mine] = np.add.reduceat(values.astype(np.int64), starts)
            if settle:  # the rent is what money is worked out from, and only that
                for n, priced in zip(mine.tolist(), self._rent(scope, units, lengths), strict=True):
                    rent[n] = priced
            of_scope = is_set[hit_group] == (scope is self.sets)
            faulty = of_scope & (scope.watched[np.where(of_scope, hit_unit, 0)] > 0)
            columns["faulty"] += np.bincount(hit_group[faulty], minlength=count)
        ticket_group, ticket = ticket_pairs
        repaired = self.tickets.repaired[ticket]
        responded = self.tickets.responded[ticket]
        for name, hits in (
            ("tickets", np.ones(len(ticket), dtype=np.bool_)),
            ("decided", repaired != UNDECIDED),
            ("repaired_in_time", repaired == IN_TIME),
            ("answered", responded != UNDECIDED),
            ("responded_in_time", responded == IN_TIME),
        ):
            columns[name] = np.bincount(ticket_group[hits], minlength=count)
        listed = {name: values.tolist() for name, values in columns.items()}
        totals_listed, cameras_listed = totals.tolist(), camera_totals.tolist()
        return [
            {
                "totals": totals_listed[n],
                "camera_totals": cameras_listed[n],
                "rent": rent[n],
                **{name: values[n] for name, values in listed.items()},
            }
            for n in range(count)
        ]

    def _rent(
        self, scope: Scope, units: Int64s, lengths: Int64s
    ) -> list[list[tuple[int, list[int]]]]:
        """Per group (of ``lengths`` units each, in order): for each unit price its rented
        units pay, the milliseconds they are counted in each calendar month."""
        prices, price_of = self._price_codes[scope.unit]
        if not prices:
            return [[] for _ in lengths]
        codes = price_of[units]
        rented = codes >= 0
        slots = len(lengths) * len(prices)
        slot = (np.repeat(np.arange(len(lengths)), lengths) * len(prices) + codes)[rented]
        month_ms = self._month_ms[scope.unit][units[rented]]
        # bincount sums in float64: exact, a quarter's milliseconds of 126,000 units < 2^53.
        sums = np.rint(
            [np.bincount(slot, weights=column, minlength=slots) for column in month_ms.T]
        ).astype(np.int64)
        present = np.bincount(slot, minlength=slots).reshape(len(lengths), len(prices)) > 0
        by_slot = sums.T.reshape(len(lengths), len(prices), -1).tolist()
        return [
            [(code, by_slot[n][code]) for code in np.nonzero(present[n])[0].tolist()]
            for n in range(len(lengths))
        ]

    def _group(
        self,
        group: Group,
        dims: tuple[str, ...],
        tickets: npt.NDArray[np.int64],
        sums: dict[str, Any],
        settle: bool,
    ) -> dict[str, Any]:
        scope, indices = group.scope, group.indices
        totals: list[int] = sums["totals"]
        online, up, counted = self._counted(totals)
        camera_online, _, camera_counted = self._counted(sums["camera_totals"])
        serving, decided, answered = sums["units"], sums["decided"], sums["answered"]
        repaired_in_time, responded_in_time = sums["repaired_in_time"], sums["responded_in_time"]
        names = [self._name(dim, key) for dim, key in zip(dims, group.keys, strict=True)]
        figures: dict[str, Any] = {
            "key": group.key,
            "keys": dict(zip(dims, group.keys, strict=True)),
            "name": "/".join(name or key for name, key in zip(names, group.keys, strict=True)),
            "policy": self.policy.id,
            "unit": scope.unit.value,
            "units": serving,
            "online_rate": rate(online, counted),
            "coverage": rate(sum(totals) - totals[_UNKNOWN], sums["watched"]),
            "intact_rate": rate(up, counted),
            "networking_rate": rate(sums["networked"], serving),
            "realtime_video_availability": rate(
                camera_online - sums["camera_totals"][_NO_STREAM], camera_counted
            ),
            "historical_video_availability": rate(
                camera_online - sums["camera_totals"][_NO_RECORDING], camera_counted
            ),
            "fault_rate": rate(counted - online, counted),
            "faulty_unit_share": rate(sums["faulty"], serving),
            "tickets": sums["tickets"],
            "responded_in_time": responded_in_time,
            "response_timeliness_rate": rate(responded_in_time, answered),
            "repaired_in_time": repaired_in_time,
            "late": decided - repaired_in_time,
            "pending": sums["tickets"] - decided,
            "repair_timeliness_rate": rate(repaired_in_time, decided),
            "exposure": {
                "measure": "inspections" if self.policy.method is RateMethod.SNAPSHOT else "ms",
                **dict(zip(_CATEGORY_NAMES, totals, strict=True)),
                "in_service": sums["in_service"],
                "maintenance": sums["maintenance"],
                "watched": sums["watched"],
                # online_rate = online ÷ counted (unknown time as the policy says).
                "online": online,
                "counted": counted,
            },
        }
        if not settle:  # a row of a per-unit table: its figures are all it shows
            figures["settlement"] = None
            return figures
        figures["targets"] = self._targets(figures)
        figures["worst_units"] = self._worst_units(scope, indices)
        overrun = self.tickets.overrun_ms[tickets]
        figures["worst_tickets"] = [
            {"id": str(self.tickets.ids[tickets[n]]), "overrun_s": int(overrun[n]) / 1000}
            for n in _largest(overrun)
        ]
        exact_online = Fraction(online, counted) if counted else None
        money = self._settlement(group, exact_online, sums["rent"]) if settle else None
        if money is not None:
            # What carries money under the rule (the online rate, whichever rule), and the
            # targeted figures that are reported only: no policy deducts for them.
            money["reported_only"] = [name for name in figures["targets"] if name != "online_rate"]
        figures["settlement"] = money
        return figures

    def _counted(self, totals: list[int]) -> tuple[int, int, int]:
        """(online, up, counted) amounts, unknown time treated as the policy says."""
        unknown = totals[_UNKNOWN]
        online = sum([totals[category] for category in _ONLINE])
        up = totals[_UP]
        counted = online + totals[_DOWN]
        rule = self.policy.unknown
        if rule is not _EXCLUDE:
            counted += unknown
        if rule is _AS_UP:
            online, up = online + unknown, up + unknown
        return online, up, counted

    def _targets(self, figures: dict[str, Any]) -> dict[str, Any]:
        targets = self.policy.targets
        wanted: list[tuple[str, float | None, bool]] = [
            ("online_rate", targets.online_rate, True),
            ("intact_rate", targets.intact_rate, True),
            ("networking_rate", targets.networking_rate, True),
            ("realtime_video_availability", targets.realtime_video_availability, True),
            ("historical_video_availability", targets.historical_video_availability, True),
            ("fault_rate", targets.max_fault_rate, False),
            ("response_timeliness_rate", targets.response_timeliness_rate, True),
            ("repair_timeliness_rate", targets.repair_timeliness_rate, True),
        ]
        verdicts = {}
        for name, target, at_least in wanted:
            value = figures[name]
            if target is None or value is None:
                continue
            met = value >= target if at_least else value <= target
            verdicts[name] = {"target": target, "at_least": at_least, "met": met}
        return verdicts

    def _lost(self, scope: Scope) -> tuple[Int64s, Int64s]:
        """Per unit: the time it lost (down, and unknown where the policy counts it down),
        and the time it was online."""
        amount = scope.exposure.amount
        lost = amount[:, Category.DOWN].copy()
        if self.policy.unknown is UnknownTime.DOWN:
            lost += amount[:, Category.UNKNOWN]
        return lost, amount[:, list(ONLINE)].sum(axis=1)

    def _worst_units(self, scope: Scope, indices: Int64s) -> list[dict[str, Any]]:
        every_lost, every_online = self._lost_online[scope.unit]
        lost, online = every_lost[indices], every_online[indices]
        return [
            {
                "id": scope.units.ids[indices[i]],
                "lost": int(lost[i]),
                "online_rate": rate(int(online[i]), int(online[i] + lost[i])),
            }
            for i in _largest(lost)
        ]

    def _settlement(
        self, group: Group, online_rate: Fraction | None, rent: list[tuple[int, list[int]]]
    ) -> dict[str, Any] | None:
        rule = self.policy.settlement
        prices, _ = self._price_codes[group.scope.unit]
        priced = [(prices[code], unit_months(month_ms, self._calendar)) for code, month_ms in rent]
        if not priced or online_rate is None:
            return None
        money = settle(rule, priced, online_rate, self.policy.targets.online_rate)
        return {
            "rule": rule.rule.value,
            "currency": rule.currency,
            "unit_months": f"{float(money.unit_months):.4f}",
            "rate": rate(online_rate.numerator, online_rate.denominator),
            "base": str(money.base),
            "due": str(money.due),
            "prepaid": str(money.prepaid),
            "balance": str(money.balance),
            # top_up: paid to the contractor (补); refund: paid back to the bureau (退).
            "direction": "top_up" if money.balance > 0 else "refund" if money.balance else "none",
            "paid_on": "online_rate",
            # A period in progress: the rent so far, settled on the rate so far.
            "provisional": self.period.in_progress,
        }


class Report:
    """Every contract judged and settled under the policy it names, in one run: each
    policy's share of the inventory is a PolicyReport of its own, and only money (in one
    currency) is summed across them; rates are per contract, never blended."""

    def __init__(
        self,
        inventory: Inventory,
        policies: PolicyBook,
        period: Period,
        states: Callable[[], LedgerTimeline],
        tickets: Callable[[], Tickets],
    ) -> None:
        self.policies, self.period, self._tickets = policies, period, tickets
        self.parts = [
            PolicyReport(share, policy, period, states, tickets, inventory)
            for policy, share in shares(inventory, policies)
        ]

    def _kept(self) -> npt.NDArray[np.bool_]:
        """Of the period's tickets, those some policy's share had (the listed ones)."""
        kept = np.zeros(len(self._tickets().ids), dtype=np.bool_)
        for part in self.parts:
            kept |= part.kept
        return kept

    def judgements(
        self, dims: tuple[str, ...]
    ) -> list[tuple[int, str, str, bool | None, bool | None]]:
        """Each ticket in each group it counts in, judged under that group's policy, in
        detection order: (its position in the report's ``tickets``, the group's key, the
        policy, responded in time, repaired in time), None where still undecided."""
        verdict = {IN_TIME: True, LATE: False, UNDECIDED: None}
        listed = (np.cumsum(self._kept()) - 1).tolist()  # position among the listed tickets
        rows = [
            (listed[ticket], key, part.policy.id, verdict[responded], verdict[repaired])
            for part in self.parts
            for ticket, key, responded, repaired in part.judgements(dims)
        ]
        rows.sort(key=lambda row: (row[0], row[1]))
        return rows

    def daily(self, dims: tuple[str, ...]) -> list[dict[str, Any]]:
        """Each group's online rate per local day (PolicyReport.daily), every policy's."""
        return [trend for part in self.parts for trend in part.daily(dims)]

    def figures(self, dims: tuple[str, ...], trend: bool = False) -> dict[str, Any]:
        """``build``, with each group's online rate per local day (``trend``) before the
        ticket list, which stays last: the sla command's JSON, and the console's."""
        built = self.build(dims)
        if trend:
            built = {**built, "trend": self.daily(dims)}
            built["tickets"] = built.pop("tickets")
        return built

    def build(self, dims: tuple[str, ...], settle: bool = True) -> dict[str, Any]:
        groups = [group for part in self.parts for group in part.build(dims, settle)]
        period = self.period
        return {
            "period": {
                "label": period.label,
                "start": format_timestamp(period.start),
                "end": format_timestamp(period.end),
                "timezone": self.policies.default.timezone,
                "in_progress": period.in_progress,
                # Where a period in progress will end; its figures stop at "end" (the
                # ledger's watermark) and its settlement is provisional.
                "scheduled_end": format_timestamp(period.scheduled_end or period.end),
            },
            "policies": [
                {
                    "id": part.policy.id,
                    "name": part.policy.name,
                    "imposed": self.policies.imposed,
                    "method": part.policy.method.value,
                    "unknown": part.policy.unknown.value,
                    "contracts": [contract.id for contract in part.inventory.contracts],
                }
                for part in self.parts
            ],
            "group_by": ",".join(dims),
            "groups": groups,
            "total": _total(groups, period.in_progress),
            # One ticket per line, copied from its file when written (see render.py).
            "tickets": self._tickets().entries.select(self._kept()),
        }


@per_input
def shares(inventory: Inventory, policies: PolicyBook) -> list[tuple[Policy, Inventory]]:
    """Each policy with the part of the inventory it judges (``PolicyBook.of_devices``)."""
    judged = policies.of_devices(inventory)
    found = []
    for policy in policies.policies:
        devices = [device for device in inventory.devices if judged[device.id] is policy]
        if not devices:
            continue
        sets = [door_set for door_set in inventory.sets if judged[door_set.host] is policy]
        named = {device.contract for device in devices} | {s.contract for s in sets}
        share = inventory.model_copy(
            update={
                "devices": devices,
                "sets": sets,
                "contracts": [c for c in inventory.contracts if c.id in named],
            }
        )
        found.append((policy, share))
    return found


@dataclass(frozen=True, slots=True)
class _Lookups:
    """The inventory's contracts, regions and devices by id, and what groups are named
    after (those, phases and sets) by dimension."""

    contracts: dict[str, Contract]
    regions: dict[str, Region]
    devices: dict[str, Device]
    named: dict[str, Mapping[str, Contract | Region | Phase | Device | DoorAccessSet]]


@per_input
def _lookups(inventory: Inventory) -> _Lookups:
    contracts = {contract.id: contract for contract in inventory.contracts}
    regions = {region.id: region for region in inventory.regions}
    devices = {device.id: device for device in inventory.devices}
    named: dict[str, Mapping[str, Contract | Region | Phase | Device | DoorAccessSet]] = {
        "contract": contracts,
        "region": regions,
        "phase": {phase.id: phase for phase in inventory.phases},
        "device": devices,
        "set": {door_set.id: door_set for door_set in inventory.sets},
    }
    return _Lookups(contracts, regions, devices, named)


@per_input
def _cameras(inventory: Inventory) -> npt.NDArray[np.bool_]:
    """Per device: a camera (whose video figures count)."""
    return np.array([d.kind is DeviceKind.CAMERA for d in inventory.devices], dtype=np.bool_)


def _set_contract(inventory: Inventory, index: int) -> str | None:
    door_set = inventory.sets[index]
    return door_set.contract or _lookups(inventory).devices[door_set.host].contract


def _contract_unit(inventory: Inventory, policy: Policy, contract_id: str | None) -> ContractUnit:
    contract = _lookups(inventory).contracts.get(contract_id or "")
    if contract is not None and "unit" in contract.model_fields_set:
        return contract.unit
    return ContractUnit(policy.settlement.unit)


@per_input
def _grouping(
    inventory: Inventory, policy: Policy, dims: tuple[str, ...]
) -> list[tuple[tuple[str, ...], ContractUnit, Int64s]]:
    """The groups of ``dims``, in key order: their keys, unit, and units' positions."""
    regions = _lookups(inventory).regions

    def key(dim: str, device: Device) -> str:
        return _DEVICE_KEYS[dim](device, regions) or NONE_KEY

    keyed: dict[tuple[tuple[str, ...], ContractUnit], list[int]] = {}
    if dims == ("set",):
        for n, door_set in enumerate(inventory.sets):
            keyed.setdefault(((door_set.id,), ContractUnit.SET), []).append(n)
    else:
        in_set_contracts: set[int] = set()
        if "contract" in dims:
            # A set rented as one unit is grouped as its set, not as its devices.
            members = set_members(inventory)
            by_id = _lookups(inventory).devices
            for n in range(len(inventory.sets)):
                contract = _set_contract(inventory, n)
                if _contract_unit(inventory, policy, contract) is ContractUnit.SET:
                    host = by_id[inventory.sets[n].host]
                    keys = tuple(
                        contract or NONE_KEY if dim == "contract" else key(dim, host)
                        for dim in dims
                    )
                    keyed.setdefault((keys, ContractUnit.SET), []).append(n)
                    in_set_contracts.update(int(m) for m in members[n] if m >= 0)
        for n, device in enumerate(inventory.devices):
            if n not in in_set_contracts:
                keys = tuple(key(dim, device) for dim in dims)
                keyed.setdefault((keys, ContractUnit.DEVICE), []).append(n)
    return [
        (keys, unit, np.array(found, dtype=np.int64))
        for (keys, unit), found in sorted(keyed.items())
    ]


@per_input
def _prices(
    inventory: Inventory, policy: Policy, unit: ContractUnit
) -> tuple[list[Decimal], npt.NDArray[np.int64]]:
    """The distinct unit prices, and each unit's index into them (-1: not rented)."""
    if unit is ContractUnit.SET:
        contract_ids = [_set_contract(inventory, n) for n in range(len(inventory.sets))]
    else:
        contract_ids = [device.contract for device in inventory.devices]
    price_by_contract = {
        contract.id: contract.unit_price
        if contract.unit_price is not None
        else policy.settlement.unit_price
        for contract in inventory.contracts
    }
    prices = sorted({p for p in price_by_contract.values() if p is not None})
    code = {price: n for n, price in enumerate(prices)}
    # Units without a contract (switches) or without a price are nobody's rent.
    price_of = [code.get(price_by_contract.get(c or "") or Decimal(-1), -1) for c in contract_ids]
    return prices, np.array(price_of, dtype=np.int64)


def _total(groups: list[dict[str, Any]], provisional: bool) -> dict[str, Any] | None:
    """The money of every group, summed: each unit's rent is in exactly one group."""
    settled = [group["settlement"] for group in groups if group["settlement"]]
    if not settled:
        return None
    return {
        "currency": settled[0]["currency"],  # CNY: the only currency a policy takes
        **{name: str(sum(Decimal(s[name]) for s in settled)) for name in MONEY},
        "provisional": provisional,
    }


def _distinct_pairs(group: Int64s, value: Int64s) -> tuple[Int64s, Int64s]:
    """The distinct (group, value) pairs, by group then value: one sort, not a dict a row."""
    shift = max(1, int(value.max(initial=0)).bit_length())
    keys = sorted_distinct((group << shift) | value)
    return keys >> shift, keys & ((1 << shift) - 1)


def _split(pairs: tuple[Int64s, Int64s], groups: int) -> list[Int64s]:
    """Each group's values, ascending."""
    group, value = pairs
    bounds = np.searchsorted(group, np.arange(groups + 1))
    return [value[bounds[n] : bounds[n + 1]] for n in range(groups)]


def _largest(values: npt.NDArray[np.int64]) -> list[int]:
    """Positions of the WORST largest positive values, largest first, ties in order.

    Lists, not numpy: most groups of a per-device report hold one unit, where numpy's cost
    per call rules; at 355,000 values this is 65 ms against numpy's 43.
    """
    listed = values.tolist()
    positive = [n for n, value in enumerate(listed) if value > 0]
    return heapq.nlargest(WORST, positive, key=listed.__getitem__)
