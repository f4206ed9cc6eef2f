"""InfluxDB line protocol for the measurements ``device_status``, ``device_state`` and ``fault``.

Lines are built by hand, not with influxdb-client's ``Point``: at 50,000 statuses/s a
``Point`` costs ~22 µs to build against ~4 µs for a string, so each device's tag set is
escaped once and reused. ``tests/collector/pipeline/test_lines.py`` proves the output equals
``Point``'s. Reason codes, health and state are tags (a small enum: right for InfluxDB,
and the only way a server that keeps numbers only, like VictoriaMetrics, keeps them).
Timestamps are milliseconds, the wire's precision.
"""

from __future__ import annotations

from datetime import datetime

from agent.wire import Health, Reason, Status
from collector.pipeline.faults import TicketEvent
from collector.pipeline.state import Change, State
from slawatch.config.inventory import Device

HEALTH_CODE = {Health.UP: "0i", Health.DEGRADED: "1i", Health.DOWN: "2i"}
# A status line's health and reason texts, built once: an enum's ``.value`` is a
# Python-level property (~0.45 µs a read), and a status line is built 50,000 times a second.
_HEALTH_TEXT = {
    health: (f",health={health.value}", f" health_code={HEALTH_CODE[health]}") for health in Health
}
_REASON_TAG = {reason: f",reason={reason.value}" for reason in Reason}
STATE_CODE = {State.UNKNOWN: "0i", State.UP: "1i", State.DEGRADED: "2i", State.DOWN: "3i"}
_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n"})


def escape_tag(value: str) -> str:
    return value.translate(_TAG_ESCAPES)


def millis(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)  # aware: (moment − epoch) in seconds, in C


def device_tags(device: Device) -> str:
    """The tag set every line about this device carries, escaped, sorted by key."""
    tags = {
        "class": str(device.point_class),
        "contract": device.contract,
        "device": device.id,
        "kind": device.kind.value,
        "region": device.region,
        "site": device.site,
    }
    return "".join(f",{key}={escape_tag(value)}" for key, value in tags.items() if value)


def unknown_device_tags(device_id: str, agent_id: str) -> str:
    """A device the inventory does not list: kept in the time series, tagged by its agent."""
    return f",agent={escape_tag(agent_id)},device={escape_tag(device_id)}"


def number(value: float) -> str:
    """A float field as ``Point`` writes it: shortest repr, without a trailing ``.0``."""
    return repr(value).removesuffix(".0")


def status_prefix(tags: str, health: Health, reason: Reason) -> str:
    """What a device's status lines share while its health and reason stay the same (the
    pipeline keeps it per device: most statuses repeat their device's last ones)."""
    health_tag, health_field = _HEALTH_TEXT[health]
    return f"device_status{tags}{health_tag}{_REASON_TAG[reason]}{health_field}"


def status_line(prefix: str, status: Status) -> str:
    """``prefix`` is ``status_prefix`` of the status's own tags, health and reason."""
    # ``number`` and ``millis`` written out in place, and a loop rather than a list
    # comprehension (a function call of its own before Python 3.12): one or two metrics.
    fields = ""
    for name, value in status.metrics.items():
        fields += f",{name}={repr(value).removesuffix('.0')}"
    return f"{prefix}{fields} {round(status.observed_at.timestamp() * 1000)}"


def state_line(tags: str, change: Change) -> str:
    delay = (change.confirmed_at - change.since).total_seconds()
    return (
        f"device_state{tags},previous={change.previous},reason={change.reason},"
        f"state={change.state} detection_delay_s={number(delay)},"
        f"state_code={STATE_CODE[change.state]} {millis(change.since)}"
    )


def fault_line(event: TicketEvent) -> str:
    ticket = event.ticket
    tags = {
        "device": event.device_id,
        "event": event.kind.value,
        "fault_class": ticket.fault_class.value,
        "link": ticket.link,
        "reason": ticket.reason.value,
        "ticket": ticket.id,
    }
    tag_text = "".join(f",{key}={escape_tag(value)}" for key, value in tags.items() if value)
    return f"fault{tag_text} devices={len(ticket.device_ids)}i {millis(event.at)}"
