"""Exemptions applied to a measurement, and the same measurement without any one of them.

The one place the three kinds (collector/pipeline/exemptions.py) reach the figures: a
window joins every policy's maintenance windows, a service end shortens its devices'
service life (as the inventory's ``service_end`` would), an excluded ticket leaves the
period's tickets and its devices' outage leaves their online time; a back-dated
inventory change counts the other way round: the file already holds it, so until it is
approved its devices are measured as they were before it. The evidence
measures the period again without each counted exemption to show what it changed; that
is one more Report per exemption, so it costs what a contract report costs (a second or
two at 126,000 devices) times their number.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np

from collector.pipeline.exemptions import ROWS, Exemption
from collector.sla.exposure import LedgerTimeline
from collector.sla.period import Period
from collector.sla.report import Report
from collector.sla.tickets import Tickets
from slawatch.config.inventory import Inventory
from slawatch.config.policies import PolicyBook


def _ended(inventory: Inventory, ends: dict[str, date]) -> Inventory:
    """Each named device's service ending on its day (or earlier, where it already did)."""
    if not ends:
        return inventory
    devices = [
        replace(device, service_end=min(ends[device.id], device.service_end or ends[device.id]))
        if device.id in ends
        else device
        for device in inventory.devices
    ]
    return inventory.model_copy(update={"devices": devices})


def _reverted(inventory: Inventory, undone: Sequence[Exemption], zone: ZoneInfo) -> Inventory:
    """The inventory with the back-dated changes not (yet) approved undone for what moves
    money, the latest first: a removed device back as it was, a changed one's service
    start, end and contract as they were, an added one counted from the day it was
    added (the change reaches no further back)."""
    if not undone:
        return inventory
    devices = {device.id: device for device in inventory.devices}
    for found in reversed(undone):
        added_on = (found.requested_at or found.start).astimezone(zone).date()
        for change in found.changes:
            before, now = change["before"], devices.get(change["device"])
            if before is None:
                if now is not None and now.service_start < added_on:
                    devices[now.id] = replace(now, service_start=added_on)
                continue
            was = ROWS.validate_python(before)
            devices[was.id] = (
                was
                if now is None
                else replace(
                    now,
                    service_start=was.service_start,
                    service_end=was.service_end,
                    contract=was.contract,
                )
            )
    return inventory.model_copy(update={"devices": list(devices.values())})


def _excluding(tickets: Callable[[], Tickets], ids: set[str]) -> Callable[[], Tickets]:
    """The period's tickets less the excluded ones (computed once, when first asked)."""

    @cache
    def kept() -> Tickets:
        found = tickets()
        keep = ~np.isin(found.ids, sorted(ids))
        return found if keep.all() else found.select(keep)

    return kept


@dataclass(frozen=True, slots=True)
class Exempted:
    """A period's inputs before any exemption, and the exemptions it lists and counts."""

    inventory: Inventory
    policies: PolicyBook
    period: Period
    states: Callable[[], LedgerTimeline]
    tickets: Callable[[], Tickets]
    listed: list[Exemption]  # every request touching the period, whatever its status
    counted: list[Exemption]  # those the figures apply

    def report(self, counted: Sequence[Exemption]) -> Report:
        zone = ZoneInfo(self.policies.default.timezone)
        ends: dict[str, date] = {}
        for found in counted:
            if found.what == "service_end":
                day = found.start.astimezone(zone).date()
                for device in found.devices:
                    ends[device] = min(day, ends.get(device, day))
        excluded = {f.ticket for f in counted if f.what == "ticket" and f.ticket is not None}
        windows = [
            found.window_until(found.end or self.period.end)
            for found in counted
            if found.what in ("maintenance", "ticket")
        ]
        kept = {found.id for found in counted}
        undone = [f for f in self.listed if f.what == "inventory" and f.id not in kept]
        return Report(
            _ended(_reverted(self.inventory, undone, zone), ends),
            self.policies.with_maintenance(windows),
            self.period,
            self.states,
            _excluding(self.tickets, excluded) if excluded else self.tickets,
        )

    def without(self, left_out: Exemption) -> Report:
        """The period measured as if ``left_out`` had never been approved."""
        return self.report([found for found in self.counted if found.id != left_out.id])
