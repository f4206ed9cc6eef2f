"""A fleet's past, written into a new ledger: the demo opens on a quarter of figures.

Outages are drawn per device (about one every six days, half an hour to a few hours; a
few flaky devices every day or two) and
per link (a few a quarter, every device behind it at once), three in four acknowledged
10 to 40 minutes after detection. Rows come from the real FaultTracker and Ledger, in
event time, all over before ``end``; the collector's checkpoint is then saved so the
live collector starts on this ledger (with every device unknown until first polled).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from agent.wire import Reason, format_timestamp
from collector.ledger.chain import Ledger
from collector.ledger.snapshot import midnights, next_midnight
from collector.pipeline.checkpoint import Checkpoint
from collector.pipeline.faults import FaultTracker, Ticket
from collector.pipeline.pipeline import Pipeline, state_body, ticket_body
from collector.pipeline.state import Change, State
from slawatch.config.inventory import Inventory, link_of
from slawatch.config.policies import PolicyBook

DEVICE_MEAN_GAP = timedelta(days=6)
# One device in thirty is flaky: down every day or two, for longer (the worst-devices list).
FLAKY_SHARE, FLAKY_MEAN_GAP = 1 / 30, timedelta(days=1.5)
LINK_OUTAGES = 3  # per link over the span, on average


def _outages(
    rng: random.Random, start: datetime, end: datetime, mean_gap: timedelta
) -> list[tuple[datetime, datetime]]:
    found: list[tuple[datetime, datetime]] = []
    moment = start
    while True:
        moment += timedelta(seconds=rng.expovariate(1 / mean_gap.total_seconds()))
        length = timedelta(minutes=min(600.0, rng.lognormvariate(4.0, 0.9)))
        if moment + length >= end:
            return found
        found.append((moment, moment + length))
        moment += length


def answered(rng: random.Random) -> timedelta | None:
    """Three tickets in four acknowledged, 10 to 40 minutes after detection."""
    return timedelta(minutes=rng.uniform(10, 40)) if rng.random() < 0.75 else None


def record(
    ledger: Ledger,
    faults: FaultTracker,
    change: Change,
    by: str,
    acknowledged_after: Callable[[Ticket], timedelta | None],
) -> None:
    """A state change as the collector records it: its row, the ticket events it causes,
    and each new ticket's acknowledgement, ``acknowledged_after`` its detection (or none)."""
    ledger.append("state", format_timestamp(change.since), state_body(change))
    for event in faults.on_change(change):
        body = {"event": event.kind.value, "ticket": ticket_body(event.ticket)}
        ledger.append("ticket", format_timestamp(event.at), body)
        after = acknowledged_after(event.ticket) if event.kind.value == "opened" else None
        if after is not None:
            at = event.ticket.detected_at + after
            acked = faults.acknowledge(event.ticket.id, by, at)
            body = {"event": acked.kind.value, "ticket": ticket_body(acked.ticket)}
            ledger.append("ticket", format_timestamp(at), body)


def write_history(
    inventory: Inventory, policies: PolicyBook, ledger_file: Path, days: int, end: datetime
) -> tuple[int, int]:
    """(state changes, tickets) written for ``days`` days up to ``end``."""
    if ledger_file.exists():
        raise FileExistsError(f"{ledger_file}: exists; history goes into a new ledger")
    rng = random.Random(20260701)  # nosec B311  # noqa: S311  (a simulated past, the same for the same fleet)
    start = end - timedelta(days=days)
    stop = end - timedelta(minutes=15)
    by_id = {device.id: device for device in inventory.devices}
    behind: dict[str, list[str]] = {}
    for device in inventory.devices:
        link = link_of(device, by_id)
        if link is not None:
            behind.setdefault(link, []).append(device.id)
    # (moment, order, device, state, reason): every device up at the start.
    events: list[tuple[datetime, int, str, State, Reason]] = []
    order = 0
    for device in inventory.devices:
        events.append((start, order, device.id, State.UP, Reason.OK))
        order += 1
        flaky = rng.random() < FLAKY_SHARE
        for down, up in _outages(rng, start, stop, FLAKY_MEAN_GAP if flaky else DEVICE_MEAN_GAP):
            events += [
                (down, order, device.id, State.DOWN, Reason.TIMEOUT),
                (up, order + 1, device.id, State.UP, Reason.OK),
            ]
            order += 2
    for devices in behind.values():
        for down, up in _outages(rng, start, stop, timedelta(days=days / LINK_OUTAGES)):
            for n, device_id in enumerate(devices):
                events += [
                    (
                        down + timedelta(seconds=n % 20),
                        order,
                        device_id,
                        State.DOWN,
                        Reason.TIMEOUT,
                    ),
                    (up + timedelta(seconds=n % 20), order + 1, device_id, State.UP, Reason.OK),
                ]
                order += 2
    heapq.heapify(events)
    ledger = Ledger(ledger_file)
    faults = FaultTracker(inventory, policies)
    now: dict[str, State] = {}
    down_since: dict[str, int] = {}
    changes = 0
    zone, last = ZoneInfo(policies.default.timezone), start
    upcoming = next_midnight(start, zone)
    while events:
        with ledger.transaction():
            for _ in range(min(len(events), 20_000)):
                moment, _, device_id, state, reason = heapq.heappop(events)
                if moment >= upcoming:  # as the pipeline does, before the first row past it
                    for midnight in midnights(last, moment, zone):
                        ledger.snapshot(format_timestamp(midnight))
                    upcoming = next_midnight(moment, zone)
                last = moment
                previous = now.get(device_id, State.UNKNOWN)
                # A device-level outage inside a link outage (or the other way) adds no row.
                if state is State.DOWN:
                    down_since[device_id] = down_since.get(device_id, 0) + 1
                    if down_since[device_id] > 1:
                        continue
                elif previous is State.DOWN:
                    down_since[device_id] -= 1
                    if down_since[device_id] > 0:
                        continue
                if state is previous:
                    continue
                confirmed = moment + timedelta(minutes=1) if state is State.DOWN else moment
                change = Change(device_id, state, reason, moment, confirmed, previous)
                now[device_id] = state
                record(ledger, faults, change, "值班员", lambda _: answered(rng))
                changes += 1
    with ledger.transaction():
        for midnight in midnights(last, end, zone):
            ledger.snapshot(format_timestamp(midnight))
        ledger.observed_through = end
        Checkpoint(ledger).save(Pipeline(inventory, policies, ledger))
    ledger.close()
    tickets = sum(1 for ticket in faults.tickets.values() if ticket.merged_into is None)
    return changes, tickets
