"""Tickets: one per broken camera, one per broken link, and a flapping camera is one fault."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from agent.wire import Health, Observation, Reason, port_check
from collector.ledger.chain import Ledger
from collector.pipeline.faults import FaultClass, TicketEventKind
from collector.pipeline.pipeline import Pipeline
from slawatch.config.inventory import Inventory, Uplink
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from tests.collector.conftest import CAMERAS_ON_SW1, DISTRICT_HEADER, at, camera, seen


def run(pipeline: Pipeline, observations: list[Observation]) -> None:
    with pipeline.ledger.transaction():
        for observation in sorted(observations, key=lambda o: o.observed_at):
            pipeline.observe(observation)


def everyone_up(minute: float, cameras: range = range(1, 44)) -> list[Observation]:
    return [seen(f"CAM{n:03d}", minute) for n in cameras] + [seen("SW1", minute)]


def pipeline_for(district: Inventory, policy: Policy, ledger: Ledger) -> Pipeline:
    return Pipeline(district, PolicyBook.only(policy), ledger)


def test_forty_cameras_dropping_behind_one_link_are_one_network_ticket(
    district: Inventory, policy: Policy, ledger: Ledger
) -> None:
    pipeline = pipeline_for(district, policy, ledger)
    down = range(1, CAMERAS_ON_SW1 + 1)
    observations = everyone_up(0) + everyone_up(1)
    for minute in (2, 3, 4):
        observations += [seen(f"CAM{n:03d}", minute, Health.DOWN, Reason.TIMEOUT) for n in down]
    for minute in (60, 61):
        observations += everyone_up(minute)
    run(pipeline, observations)

    tickets = [t for t in pipeline.faults.tickets.values() if t.merged_into is None]
    assert len(tickets) == 1
    (ticket,) = tickets
    assert (ticket.fault_class, ticket.link, ticket.backup_fiber) == (
        FaultClass.NETWORK,
        "L1",
        True,
    )
    assert sorted(ticket.device_ids) == [f"CAM{n:03d}" for n in down]
    assert ticket.started_at == at(2)
    assert ticket.repair_deadline - ticket.detected_at == timedelta(hours=4)
    assert ticket.resolved_at == at(60)


def test_a_reported_port_down_makes_even_one_camera_a_network_fault_on_a_link_without_backup(
    district: Inventory, policy: Policy, ledger: Ledger
) -> None:
    pipeline = pipeline_for(district, policy, ledger)
    port_down = {"port_7": Reason.LINK_DOWN}
    observations = [
        *everyone_up(0),
        seen("SW1", 1, checks=port_down),
        seen("CAM007", 1, Health.DOWN, Reason.TIMEOUT),
        seen("CAM007", 2, Health.DOWN, Reason.TIMEOUT),
    ]
    run(pipeline, observations)
    (ticket,) = pipeline.faults.open_tickets()
    assert (ticket.fault_class, ticket.link, ticket.device_ids) == (
        FaultClass.NETWORK,
        "L1",
        ["CAM007"],
    )


def test_one_camera_down_is_a_front_end_ticket_with_the_policy_deadlines(
    district: Inventory, policy: Policy, ledger: Ledger
) -> None:
    pipeline = pipeline_for(district, policy, ledger)
    run(
        pipeline,
        everyone_up(0)
        + [seen("CAM041", m, Health.DOWN, Reason.REFUSED) for m in (1, 2)]
        + [seen("CAM041", 90)],
    )
    (ticket,) = pipeline.faults.tickets.values()
    assert (ticket.fault_class, ticket.reason, ticket.device_ids) == (
        FaultClass.FRONT_END,
        Reason.REFUSED,
        ["CAM041"],
    )
    assert (ticket.started_at, ticket.detected_at, ticket.resolved_at) == (at(1), at(2), at(90))
    assert ticket.response_deadline == at(32)
    assert ticket.repair_deadline == at(2) + timedelta(hours=4)


def test_a_flapping_camera_is_one_fault_not_many(
    district: Inventory, policy: Policy, ledger: Ledger
) -> None:
    pipeline = pipeline_for(district, policy, ledger)
    observations = everyone_up(0)
    for start in (10, 20, 30, 40):
        observations += [seen("CAM042", start + m, Health.DOWN, Reason.TIMEOUT) for m in (0, 1)]
        observations.append(seen("CAM042", start + 5))
    observations.append(seen("CAM042", 300, Health.DOWN, Reason.TIMEOUT))
    observations.append(seen("CAM042", 301, Health.DOWN, Reason.TIMEOUT))
    run(pipeline, observations)
    tickets = list(pipeline.faults.tickets.values())
    assert len(tickets) == 2  # four flaps within the hour, then a new fault hours later
    assert tickets[0].resolved_at == at(45)


def test_acknowledging_records_who_and_when_once(
    district: Inventory, policy: Policy, ledger: Ledger
) -> None:
    pipeline = pipeline_for(district, policy, ledger)
    run(pipeline, everyone_up(0) + [seen("CAM041", m, Health.DOWN, Reason.TIMEOUT) for m in (1, 2)])
    (ticket,) = pipeline.faults.open_tickets()
    with pipeline.ledger.transaction():
        first = pipeline.acknowledge(ticket.id, "张工", at(12))
        again = pipeline.acknowledge(ticket.id, "李工", at(20))
    assert first.kind is TicketEventKind.ACKNOWLEDGED
    assert (again.ticket.acknowledged_at, again.ticket.acknowledged_by) == (at(12), "张工")
    rows = [row.body for row in pipeline.ledger.rows(("ticket",))]
    assert [row["event"] for row in rows] == ["opened", "acknowledged", "acknowledged"]


def test_a_degraded_stream_opens_a_ticket_and_a_forced_door_does_not(
    district: Inventory, policy: Policy, ledger: Ledger
) -> None:
    pipeline = pipeline_for(district, policy, ledger)
    stream = Reason.STREAM_UNAVAILABLE
    run(
        pipeline,
        [
            *everyone_up(0),
            seen("CAM001", 15, Health.DEGRADED, stream, {"stream": stream}),
            seen("CAM002", 15, Health.DEGRADED, Reason.DOOR_FORCED, {"door": Reason.DOOR_FORCED}),
            seen("CAM001", 30, Health.DEGRADED, stream, {"stream": stream}),  # confirmed
            seen("CAM001", 45, checks={"stream": Reason.OK}),
        ],
    )
    (ticket,) = pipeline.faults.tickets.values()
    assert (ticket.device_ids, ticket.reason) == (["CAM001"], stream)
    assert (ticket.started_at, ticket.resolved_at) == (at(15), at(45))


def test_a_camera_ticketed_just_before_its_switch_died_folds_into_the_network_ticket(
    district: Inventory, policy: Policy, ledger: Ledger
) -> None:
    pipeline = pipeline_for(district, policy, ledger)
    observations = everyone_up(0)
    # CAM001's timeout is confirmed at minute 2; SW1's own at minute 2.5 (same outage).
    for minute in (1, 2):
        observations.append(seen("CAM001", minute, Health.DOWN, Reason.TIMEOUT))
    for switch_minute in (1.5, 2.5):
        observations.append(seen("SW1", switch_minute, Health.DOWN, Reason.TIMEOUT))
    run(pipeline, observations)
    open_tickets = list(pipeline.faults.open_tickets())
    assert [(t.fault_class, t.link, t.device_ids) for t in open_tickets] == [
        (FaultClass.NETWORK, "L1", ["CAM001", "SW1"])
    ]
    assert open_tickets[0].started_at == at(1)


def test_in_service_behind_a_link_is_counted_on_the_local_calendar_day(
    policy: Policy, tmp_path: Path, ledger: Ledger
) -> None:
    """Four cameras of eight leave service at local midnight, 1 July (Beijing time: 16:00
    UTC the day before). The other four dropping together at noon on 30 June are half the
    link, four front-end faults; at 1 am on 1 July they are all of it, one network fault,
    though it is still 30 June in UTC."""
    ended = "service_start: 2026-01-01, service_end: 2026-07-01"
    text = DISTRICT_HEADER + "links: [{id: L1, name: 城关汇聚, backup_fiber: true}]\ndevices:\n"
    text += "".join(camera(n, "{link: L1}") for n in range(1, 5))
    text += "".join(camera(n, "{link: L1}", ended) for n in range(5, 9))
    (tmp_path / "district.yaml").write_text(text, encoding="utf-8")
    pipeline = pipeline_for(load_config(tmp_path / "district.yaml", Inventory), policy, ledger)
    noon_local, one_am_local = -20 * 60, -7 * 60  # minutes from START, 1 July 00:00 UTC
    staying = range(1, 5)
    observations = everyone_up(noon_local - 2, range(1, 9))
    for start in (noon_local, one_am_local):
        observations += everyone_up(start - 1, staying)
        for minute in (start, start + 1):
            observations += [
                seen(f"CAM{n:03d}", minute, Health.DOWN, Reason.TIMEOUT) for n in staying
            ]
        observations += everyone_up(start + 5, staying)
    run(pipeline, observations)

    tickets = [t for t in pipeline.faults.tickets.values() if t.merged_into is None]
    by_class = {c: [t for t in tickets if t.fault_class is c] for c in FaultClass}
    assert [t.started_at for t in by_class[FaultClass.FRONT_END]] == [at(noon_local)] * 4
    [network] = by_class[FaultClass.NETWORK]
    assert (network.link, network.started_at) == ("L1", at(one_am_local))
    assert sorted(network.device_ids) == [f"CAM{n:03d}" for n in staying]


def test_a_network_ticket_merged_from_staggered_drops_keeps_the_first_detection_and_ack(
    district: Inventory, policy: Policy, ledger: Ledger
) -> None:
    """The contractor knew of the fault when CAM001 was confirmed down and acknowledged
    it: folding it into the link's ticket a minute later must not push the deadlines back."""
    pipeline = pipeline_for(district, policy, ledger)
    first = [seen("CAM001", minute, Health.DOWN, Reason.TIMEOUT) for minute in (2, 3)]
    run(pipeline, everyone_up(0) + everyone_up(1) + first)
    (front_end,) = pipeline.faults.open_tickets()
    assert front_end.detected_at == at(3)  # down_after 2: confirmed by the second poll
    with pipeline.ledger.transaction():
        pipeline.acknowledge(front_end.id, "张工", at(3.5))
    # The rest of SW1's cameras go dark a minute later (within the 2-minute window).
    rest = range(2, CAMERAS_ON_SW1 + 1)
    later = [seen(f"CAM{n:03d}", m, Health.DOWN, Reason.TIMEOUT) for n in rest for m in (4, 5)]
    run(pipeline, later)

    (network,) = pipeline.faults.open_tickets()
    assert (network.fault_class, network.link) == (FaultClass.NETWORK, "L1")
    assert front_end.merged_into == network.id
    assert network.detected_at == at(3)
    assert (network.acknowledged_at, network.acknowledged_by) == (at(3.5), "张工")
    assert network.response_deadline == at(3) + timedelta(minutes=30)
    assert network.repair_deadline == at(3) + timedelta(hours=4)  # L1 has a backup fibre
    assert network.policy == policy.id


def test_a_port_named_in_the_inventory_is_read_from_the_switchs_check_of_that_name(
    district: Inventory, policy: Policy, ledger: Ledger
) -> None:
    # The inventory names CAM007's port as the switch does ("GigabitEthernet0/0/7"); the
    # agent reports it as the check port_check("GigabitEthernet0/0/7").
    named = Uplink(switch="SW1", port="GigabitEthernet0/0/7")
    devices = [
        replace(device, uplink=named) if device.id == "CAM007" else device
        for device in district.devices
    ]
    pipeline = pipeline_for(district.model_copy(update={"devices": devices}), policy, ledger)
    observations = [
        *everyone_up(0),
        seen("SW1", 1, checks={port_check("GigabitEthernet0/0/7"): Reason.LINK_DOWN}),
        seen("CAM007", 1, Health.DOWN, Reason.TIMEOUT),
        seen("CAM007", 2, Health.DOWN, Reason.TIMEOUT),
    ]
    run(pipeline, observations)
    (ticket,) = pipeline.faults.open_tickets()
    assert (ticket.fault_class, ticket.device_ids) == (FaultClass.NETWORK, ["CAM007"])
