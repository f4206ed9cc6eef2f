"""Hand-built line protocol says exactly what influxdb-client's ``Point`` would say."""

from __future__ import annotations

from datetime import timedelta

from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from agent.wire import Health, Reason, Status
from collector.pipeline.faults import FaultClass, Ticket, TicketEvent, TicketEventKind
from collector.pipeline.lines import (
    device_tags,
    fault_line,
    millis,
    state_line,
    status_line,
    status_prefix,
    unknown_device_tags,
)
from collector.pipeline.state import Change, State
from slawatch.config.inventory import Inventory
from tests.collector.conftest import START, at


def parsed(line: str) -> tuple[str, dict[str, str], dict[str, str], str]:
    """Measurement, tags, fields, timestamp: order-free, so two writers can be compared."""
    head, fields, stamp = line.rsplit(" ", 2)
    measurement, *tags = head.split(",")
    return (
        measurement,
        dict(tag.split("=", 1) for tag in tags),
        dict(field.split("=", 1) for field in fields.split(",")),
        stamp,
    )


def point_line(measurement: str, tags: dict[str, str], fields: dict[str, object], ms: int) -> str:
    point = Point(measurement)
    for key, tag in tags.items():
        point.tag(key, tag)
    for key, field in fields.items():
        point.field(key, field)
    return str(point.time(ms, WritePrecision.MS).to_line_protocol())


def test_a_status_line_matches_point(district: Inventory) -> None:
    camera = district.devices[1]
    status = Status(
        device_id=camera.id,
        observed_at=START + timedelta(milliseconds=250),
        health=Health.DEGRADED,
        reason=Reason.CLOCK_SKEW,
        metrics={"rtt_ms": 12.5, "clock_offset_s": -41.0, "tiny": 1e-05},
    )
    expected = point_line(
        "device_status",
        {
            "class": "2",
            "contract": "cam-rent",
            "device": camera.id,
            "kind": "camera",
            "region": "R1",
            "site": "d1",
            "health": "degraded",
            "reason": "clock_skew",
        },
        {"health_code": 1, "rtt_ms": 12.5, "clock_offset_s": -41.0, "tiny": 1e-05},
        1782864000250,
    )
    prefix = status_prefix(device_tags(camera), status.health, status.reason)
    assert parsed(status_line(prefix, status)) == parsed(expected)


def test_tag_values_with_spaces_commas_and_equals_are_escaped_like_point() -> None:
    status = Status(device_id="CAM-1", observed_at=START, health=Health.UP, reason=Reason.OK)
    tags = unknown_device_tags("CAM-1", "edge 1,a=b")
    line = status_line(status_prefix(tags, status.health, status.reason), status)
    expected = point_line(
        "device_status",
        {"agent": "edge 1,a=b", "device": "CAM-1", "health": "up", "reason": "ok"},
        {"health_code": 0},
        millis(START),
    )
    assert line.split(",agent=")[1].split(",device")[0] == r"edge\ 1\,a\=b"
    assert parsed(line) == parsed(expected)


def test_a_state_change_line_is_stamped_with_when_the_state_began(district: Inventory) -> None:
    camera = district.devices[1]
    change = Change(camera.id, State.DOWN, Reason.TIMEOUT, at(10), at(11), State.UP)
    line = state_line(device_tags(camera), change)
    expected = point_line(
        "device_state",
        {
            "class": "2",
            "contract": "cam-rent",
            "device": camera.id,
            "kind": "camera",
            "region": "R1",
            "site": "d1",
            "previous": "up",
            "reason": "timeout",
            "state": "down",
        },
        {"state_code": 3, "detection_delay_s": 60.0},
        millis(at(10)),
    )
    assert parsed(line) == parsed(expected)


def test_a_fault_line_names_the_ticket_and_its_class() -> None:
    ticket = Ticket(
        id="F20260701001000-L1",
        fault_class=FaultClass.NETWORK,
        reason=Reason.TIMEOUT,
        link="L1",
        backup_fiber=True,
        device_ids=["CAM001", "CAM002", "CAM003"],
        started_at=at(9),
        detected_at=at(10),
        response_deadline=at(40),
        repair_deadline=at(250),
        policy="pingshan-door-access",
    )
    line = fault_line(TicketEvent(TicketEventKind.OPENED, at(10), ticket))
    expected = point_line(
        "fault",
        {
            "event": "opened",
            "fault_class": "network",
            "link": "L1",
            "reason": "timeout",
            "ticket": "F20260701001000-L1",
        },
        {"devices": 3},
        millis(at(10)),
    )
    assert parsed(line) == parsed(expected)
