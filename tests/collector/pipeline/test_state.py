"""Device state follows the observations' own timestamps, with debounce and staleness."""

from __future__ import annotations

import pickle

from agent.wire import Health, Reason
from collector.pipeline.state import Change, State, StateMachine
from slawatch.config.policy import Debounce
from tests.collector.conftest import at, seen


def feed(machine: StateMachine, *observations: tuple[str, float, Health, Reason]) -> list[Change]:
    changes = []
    for device_id, minute, health, reason in observations:
        change = machine.observe(seen(device_id, minute, health, reason))
        if change is not None:
            changes.append(change)
    return changes


UP, DOWN = (Health.UP, Reason.OK), (Health.DOWN, Reason.TIMEOUT)


def test_an_outage_starts_at_its_first_failed_poll_and_is_detected_at_the_confirming_one() -> None:
    machine = StateMachine(Debounce(down_after=3, up_after=2))
    changes = feed(
        machine,
        *[("CAM001", m, *UP) for m in (0, 1)],
        *[("CAM001", m, *DOWN) for m in (2, 3, 4, 5)],
        *[("CAM001", m, *UP) for m in (6, 7, 8)],
    )
    assert [(c.state, c.since, c.confirmed_at) for c in changes] == [
        (State.UP, at(0), at(0)),
        (State.DOWN, at(2), at(4)),
        (State.UP, at(6), at(7)),
    ]
    assert changes[1].reason is Reason.TIMEOUT


def test_a_single_failed_poll_is_a_blip_not_an_outage() -> None:
    machine = StateMachine(Debounce(down_after=2))
    changes = feed(machine, ("CAM001", 0, *UP), ("CAM001", 1, *DOWN), ("CAM001", 2, *UP))
    assert [c.state for c in changes] == [State.UP]
    assert machine.state_of("CAM001") is State.UP


def test_late_and_duplicate_observations_never_move_state_backwards() -> None:
    machine = StateMachine(Debounce(down_after=1))
    changes = feed(
        machine, ("CAM001", 5, *UP), ("CAM001", 3, *DOWN), ("CAM001", 5, *DOWN), ("CAM001", 6, *UP)
    )
    assert [c.state for c in changes] == [State.UP]
    assert machine.late == 2


def test_a_silent_device_becomes_unknown_once_its_last_observation_is_stale() -> None:
    machine = StateMachine(Debounce(stale_after=at(5) - at(0)))
    feed(machine, ("CAM001", 0, *UP), ("CAM002", 0, *UP), ("CAM002", 4, *UP))
    assert machine.expire(at(4)) == []
    stale = machine.expire(at(6))
    assert [(c.device_id, c.state, c.since) for c in stale] == [("CAM001", State.UNKNOWN, at(5))]
    back = feed(machine, ("CAM001", 30, *UP))
    assert [(c.state, c.since, c.previous) for c in back] == [(State.UP, at(30), State.UNKNOWN)]


def test_a_dead_agent_makes_its_devices_unknown_never_down() -> None:
    machine = StateMachine(Debounce())
    feed(machine, ("CAM001", 0, *UP), ("CAM001", 1, *UP))
    lost = machine.lose(["CAM001", "CAM999"])
    assert [(c.device_id, c.state, c.since) for c in lost] == [("CAM001", State.UNKNOWN, at(1))]


def test_a_failed_deep_check_keeps_the_camera_degraded_between_deep_cycles() -> None:
    machine = StateMachine(Debounce())

    def observe(minute: float, health: Health, reason: Reason, **checks: Reason) -> State:
        machine.observe(seen("CAM001", minute, health, reason, checks))
        return machine.state_of("CAM001")

    assert observe(0, Health.UP, Reason.OK, liveness=Reason.OK) is State.UP
    stream_gone = Reason.STREAM_UNAVAILABLE
    # One failed deep check is not yet a fault (degraded_after: 2), however many polls
    # carry it until the next deep check; the second failed one confirms it, from the first.
    assert observe(15, Health.DEGRADED, stream_gone, liveness=Reason.OK, stream=stream_gone) is (
        State.UP
    )
    assert observe(16, Health.UP, Reason.OK, liveness=Reason.OK) is State.UP
    assert observe(17, Health.UP, Reason.OK, liveness=Reason.OK) is State.UP
    change = machine.observe(
        seen(
            "CAM001",
            30,
            Health.DEGRADED,
            stream_gone,
            {"liveness": Reason.OK, "stream": stream_gone},
        )
    )
    assert change is not None
    assert (change.state, change.since) == (State.DEGRADED, at(15))
    assert observe(31, Health.UP, Reason.OK, liveness=Reason.OK) is State.DEGRADED
    assert observe(45, Health.UP, Reason.OK, liveness=Reason.OK, stream=Reason.OK) is State.UP


def test_one_transient_stream_failure_is_no_fault() -> None:
    machine = StateMachine(Debounce())
    stream_gone = Reason.STREAM_UNAVAILABLE
    feed(machine, ("CAM001", 0, *UP))
    machine.observe(seen("CAM001", 15, Health.DEGRADED, stream_gone, {"stream": stream_gone}))
    assert machine.observe(seen("CAM001", 30, Health.UP, Reason.OK, {"stream": Reason.OK})) is None
    assert machine.state_of("CAM001") is State.UP


def test_a_forced_door_is_degraded_at_once() -> None:
    machine = StateMachine(Debounce())
    forced = Reason.DOOR_FORCED
    feed(machine, ("DH001", 0, *UP))
    change = machine.observe(seen("DH001", 1, Health.DEGRADED, forced, {"door_state": forced}))
    assert change is not None
    assert change.state is State.DEGRADED


def test_a_machine_restored_from_a_checkpoint_carries_on_mid_debounce() -> None:
    machine = StateMachine(Debounce(down_after=3))
    stream_gone = Reason.STREAM_UNAVAILABLE
    feed(machine, ("CAM001", 0, *UP), ("CAM001", 1, *DOWN), ("CAM001", 2, *DOWN))
    machine.observe(seen("CAM002", 0, Health.DEGRADED, stream_gone, {"stream": stream_gone}))
    restored = pickle.loads(pickle.dumps(machine))  # what the collector's checkpoint does
    changes = feed(restored, ("CAM001", 3, *DOWN), ("CAM002", 1, *UP))
    assert [(c.device_id, c.state, c.since) for c in changes] == [("CAM001", State.DOWN, at(1))]
    # CAM002's failed deep check still holds, one short of confirming: the next does.
    confirmed = restored.observe(
        seen("CAM002", 2, Health.DEGRADED, stream_gone, {"stream": stream_gone})
    )
    assert confirmed is not None
    assert (confirmed.state, confirmed.since) == (State.DEGRADED, at(0))
    assert feed(restored, ("CAM001", 3, *UP)) == []  # and a repeated time is still late
    assert restored.late == 1


def test_a_checkpoint_saved_by_an_earlier_version_still_restores() -> None:
    machine = StateMachine(Debounce(down_after=3))
    feed(machine, ("CAM001", 0, *UP), ("CAM001", 1, *DOWN))
    earlier = StateMachine.__new__(StateMachine)  # trackers pickled as the objects themselves
    earlier.__setstate__({**vars(machine), "_devices": dict(machine._devices)})
    changes = feed(earlier, ("CAM001", 2, *DOWN), ("CAM001", 3, *DOWN))
    assert [(c.state, c.since) for c in changes] == [(State.DOWN, at(1))]
