"""Where a device hangs and stands: its uplink switch and port (with the port's state
now), link and backup fibre, install location and coordinates; the map's points; and
the search that finds a maintenance scope by the words people use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from agent.wire import port_check
from collector.pipeline.state import State
from collector.web.console.views import DeviceIndex
from slawatch.config.inventory import Device, DeviceKind, link_of
from slawatch.messages import Language, text

if TYPE_CHECKING:
    from collector.service import Collector

SEARCH_RESULTS = 20


@dataclass(frozen=True, slots=True)
class Uplink:
    switch_id: str | None
    switch: str  # its name, or "—"
    port: str
    port_state: str  # up, down, unknown: the page's colour
    port_text: str
    link: str
    backup_fiber: str


def uplink_of(
    device: Device, index: DeviceIndex, collector: Collector, language: Language
) -> Uplink | None:
    """The device's uplink as the duty room reads it; the port's state from its switch's
    latest port checks (unknown while the switch itself cannot be read)."""
    if device.kind is DeviceKind.SWITCH:
        switch_id, port, state, port_text = None, "—", "unknown", "—"
    elif device.uplink is None:
        return None
    elif device.uplink.switch is None:
        switch_id, port, state, port_text = None, "—", "unknown", "—"
    else:
        switch_id, port = device.uplink.switch, str(device.uplink.port or "—")
        switch_state, _, _ = collector.pipeline.states.now_of(switch_id)
        down = collector.pipeline.faults.ports_down(switch_id)
        if device.uplink.port is not None and port_check(device.uplink.port) in down:
            state, port_text = "down", text("device.port_down", language)
        elif switch_state in (State.UP, State.DEGRADED):
            state, port_text = "up", text("device.port_up", language)
        else:
            state = "unknown"
            port_text = text(
                "device.port_unknown", language, state=text(f"state.{switch_state}", language)
            )
    switch = index.by_id.get(switch_id or "")
    link_id = link_of(device, index.by_id)
    link = index.links.get(link_id or "")
    fiber = "unknown" if link is None else "yes" if link.backup_fiber else "no"
    return Uplink(
        switch_id=switch_id,
        switch=switch.name if switch else (switch_id or "—"),
        port=port,
        port_state=state,
        port_text=port_text,
        link=(link.name or link.id) if link else (link_id or "—"),
        backup_fiber=text(f"console.fiber_{fiber}", language),
    )


def retired(device: Device | None, today: date) -> bool:
    """Gone from the inventory, or its service over: no longer judged."""
    return device is None or (device.service_end is not None and device.service_end <= today)


def points(index: DeviceIndex, collector: Collector, region: str) -> tuple[list[list[Any]], int]:
    """The map's points: [longitude, latitude, state, name, id, region name] for each
    device with coordinates (of ``region``, or all); and how many have none."""
    found: list[list[Any]] = []
    missing = 0
    for device in index.devices:
        if region and device.region != region:
            continue
        if device.latitude is None or device.longitude is None:
            missing += 1
            continue
        state, _, _ = collector.pipeline.states.now_of(device.id)
        found.append(
            [
                device.longitude,
                device.latitude,
                state.value,
                device.name,
                device.id,
                index.region_name(device.region),
            ]
        )
    return found, missing


def search(index: DeviceIndex, query: str, language: Language) -> list[dict[str, str]]:
    """What a maintenance scope entry could name: regions (name, street, police station),
    links and devices (name, address, location) containing ``query``; each with the
    words the scope field takes back (a name it resolves)."""
    needle = query.strip().lower()
    if not needle:
        return []
    found: list[dict[str, str]] = []
    for region in index.regions.values():
        words = [region.name, region.street or "", region.police_station or ""]
        if any(needle in w.lower() for w in words):
            label = " · ".join(w for w in dict.fromkeys(words) if w)
            found.append(
                {"value": region.name, "label": f"{text('scope.region', language)}: {label}"}
            )
    for link in index.links.values():
        if needle in (link.name or "").lower() or needle in link.id.lower():
            name = link.name or link.id
            found.append({"value": name, "label": f"{text('scope.link', language)}: {name}"})
    for device in index.devices:
        if len(found) >= SEARCH_RESULTS:
            break
        if any(needle in w.lower() for w in (device.name, device.address, device.location or "")):
            found.append(
                {
                    "value": device.name,
                    "label": f"{text('scope.device', language)}: {device.name} · "
                    f"{device.address}" + (f" · {device.location}" if device.location else ""),
                }
            )
    return found[:SEARCH_RESULTS]
