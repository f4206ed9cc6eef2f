"""Device state from observations, in event time: UNKNOWN / UP / DEGRADED / DOWN.

Pure and deterministic: the same observations in the same order give the same changes,
whatever the consumer's clock says. ``docs/sla-semantics.md`` states the rules; the SLA
figures are computed from the changes this module emits.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from operator import attrgetter
from typing import Any

from agent.wire import Health, Reason, Status
from slawatch.config.policy import Debounce


class State(StrEnum):
    UNKNOWN = "unknown"
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"


@dataclass(frozen=True, slots=True)
class Change:
    """A device entered ``state`` at ``since``; we knew it at ``confirmed_at``."""

    device_id: str
    state: State
    reason: Reason
    since: datetime
    confirmed_at: datetime
    previous: State


@dataclass(slots=True)
class _Tracker:
    state: State = State.UNKNOWN
    reason: Reason = Reason.OK
    last_seen: datetime | None = None
    # A run of observations that would change the state once long enough (debounce).
    run_state: State | None = None
    run_reason: Reason = Reason.OK
    run_start: datetime | None = None
    run_length: int = 0
    # Deep checks (stream, recording…) report only every deep cycle: a degraded verdict
    # holds until a later observation carries the same check again.
    sticky: dict[str, Reason] = field(default_factory=dict)


# Degradations that are faults to repair (they open tickets): confirmed after
# ``debounce.degraded_after`` deep checks that say so. Alarms and events (a forced door,
# tamper, a reboot, a clock off) take effect at once.
REPAIRABLE = frozenset(
    {Reason.STREAM_UNAVAILABLE, Reason.NO_RECENT_RECORDING, Reason.CAPTURES_STALLED}
)

_TRACKER_FIELDS = attrgetter(*_Tracker.__slots__)
# Read for every observation: module names, not class attribute lookups.
_HEALTH_UP, _UP, _DEGRADED, _OK = Health.UP, State.UP, State.DEGRADED, Reason.OK


class StateMachine:
    def __init__(self, debounce: Debounce) -> None:
        self._down_after = debounce.down_after
        self._up_after = debounce.up_after
        self._degraded_after = debounce.degraded_after
        self._stale_after = debounce.stale_after
        self._devices: dict[str, _Tracker] = {}
        self.late = 0

    def __getstate__(self) -> dict[str, Any]:
        """Checkpoints pickle this every few seconds: each tracker goes as a plain tuple.

        A slotted dataclass pickles through a generated Python ``__getstate__`` per
        instance (96 ms for 20,000 devices); ``attrgetter`` reads them all in C.
        """
        state = dict(self.__dict__)
        state["_devices"] = (
            list(self._devices),
            list(map(_TRACKER_FIELDS, self._devices.values())),
        )
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        devices = state.pop("_devices")
        self.__dict__.update(state)
        if isinstance(devices, dict):  # a checkpoint saved before trackers went as tuples
            self._devices = devices
            return
        trackers = zip(*devices, strict=True)
        self._devices = {device_id: _Tracker(*row) for device_id, row in trackers}

    def state_of(self, device_id: str) -> State:
        tracker = self._devices.get(device_id)
        return tracker.state if tracker else State.UNKNOWN

    def now_of(self, device_id: str) -> tuple[State, Reason, datetime | None]:
        """A device's confirmed state, its reason and when it was last observed."""
        tracker = self._devices.get(device_id)
        if tracker is None:
            return State.UNKNOWN, Reason.OK, None
        return tracker.state, tracker.reason, tracker.last_seen

    def keep_only(self, device_ids: Collection[str]) -> None:
        """Forget the devices an inventory no longer lists: no row is written for them."""
        for device_id in [d for d in self._devices if d not in device_ids]:
            del self._devices[device_id]

    def failing_checks(self, device_id: str) -> dict[str, Reason]:
        """The deep checks (stream, recording…) whose last verdict was not OK."""
        tracker = self._devices.get(device_id)
        return dict(tracker.sticky) if tracker else {}

    def observe(self, status: Status) -> Change | None:
        """Feed one observation; return the state change it confirms, if any."""
        device_id, observed_at = status.device_id, status.observed_at
        tracker = self._devices.get(device_id)
        if tracker is None:
            tracker = self._devices[device_id] = _Tracker()
        if tracker.last_seen is not None and observed_at <= tracker.last_seen:
            self.late += 1  # out of order or duplicate: state only moves forward in time
            return None
        tracker.last_seen = observed_at
        health = status.health
        if health is _HEALTH_UP and not tracker.sticky:
            state, reason = _UP, _OK  # what _effective gives, without the call
        else:
            state, reason = self._effective(tracker, health, status.reason, status.checks)
        if state is tracker.state and (state is not _DEGRADED or reason is tracker.reason):
            tracker.run_state, tracker.run_length = None, 0
            return None
        if state is State.DOWN:
            needed = self._down_after
        elif tracker.state is State.DOWN:
            needed = self._up_after
        elif state is _DEGRADED and reason in REPAIRABLE:
            needed = self._degraded_after
        else:
            needed = 1  # UP and leaving UNKNOWN take effect at once
        if tracker.run_state is state and (state is State.DOWN or tracker.run_reason is reason):
            # A degraded run grows only with observations that say so themselves: the
            # polls between two deep checks carry the verdict, they do not repeat it.
            if state is not _DEGRADED or reason not in REPAIRABLE or health is Health.DEGRADED:
                tracker.run_length += 1
        else:
            tracker.run_state, tracker.run_reason = state, reason
            tracker.run_start, tracker.run_length = observed_at, 1
        if tracker.run_length < needed:
            return None
        assert tracker.run_start is not None
        return self._enter(device_id, tracker, state, reason, tracker.run_start, observed_at)

    def expire(self, watermark: datetime) -> list[Change]:
        """Devices silent for ``stale_after`` before ``watermark`` become UNKNOWN."""
        changes = []
        # Every device is looked at, every 10 s of event time: one comparison each, with
        # the cut-off computed once (a deadline per device cost twice as much).
        cutoff = watermark - self._stale_after
        unknown = State.UNKNOWN
        for device_id, tracker in self._devices.items():
            last_seen = tracker.last_seen
            if last_seen is None or last_seen >= cutoff or tracker.state is unknown:
                continue
            deadline = last_seen + self._stale_after
            changes.append(self._enter(device_id, tracker, unknown, Reason.OK, deadline, deadline))
        return changes

    def lose(self, device_ids: Iterable[str]) -> list[Change]:
        """The agent watching these devices died: nothing after its last observation counts."""
        changes = []
        for device_id in device_ids:
            tracker = self._devices.get(device_id)
            if tracker is None or tracker.state is State.UNKNOWN or tracker.last_seen is None:
                continue
            at = tracker.last_seen
            changes.append(self._enter(device_id, tracker, State.UNKNOWN, Reason.OK, at, at))
        return changes

    @staticmethod
    def _effective(
        tracker: _Tracker, health: Health, reason: Reason, checks: Mapping[str, Reason]
    ) -> tuple[State, Reason]:
        sticky = tracker.sticky
        for name, verdict in checks.items():
            if verdict is Reason.OK:
                sticky.pop(name, None)
            elif health is Health.DEGRADED and verdict is reason:
                sticky[name] = verdict
        if health is Health.DOWN:
            return State.DOWN, reason
        if health is Health.DEGRADED:
            return State.DEGRADED, reason
        if sticky:
            return State.DEGRADED, sticky[min(sticky)]
        return State.UP, Reason.OK

    @staticmethod
    def _enter(
        device_id: str,
        tracker: _Tracker,
        state: State,
        reason: Reason,
        since: datetime,
        confirmed_at: datetime,
    ) -> Change:
        change = Change(device_id, state, reason, since, confirmed_at, tracker.state)
        tracker.state, tracker.reason = state, reason
        tracker.run_state, tracker.run_length, tracker.run_start = None, 0, None
        if state is State.UNKNOWN:
            tracker.sticky.clear()
        return change
