"""What changed between two inventories' devices, counted one way for the import's
preview and the collector's reload log, so the two always agree."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from slawatch.config.inventory import Device

_DEVICE = TypeAdapter(Device)


@dataclass
class DeviceChanges:
    """Ids added, removed and changed, with each changed field's old and new value.

    A device that gains a ``service_end`` left the ledger (it is kept for its history):
    it counts as removed, not changed, as does one that is gone from the file."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[tuple[str, Any, Any]]] = field(default_factory=dict)


def device_changes(before: Iterable[Device], after: Iterable[Device]) -> DeviceChanges:
    old = {d.id: _DEVICE.dump_python(d, exclude_defaults=True) for d in before}
    new = {d.id: _DEVICE.dump_python(d, exclude_defaults=True) for d in after}
    changes = DeviceChanges(added=sorted(new.keys() - old.keys()))
    for device_id in sorted(old):
        was, now = old[device_id], new.get(device_id)
        if now is None or ("service_end" in now and "service_end" not in was):
            changes.removed.append(device_id)
            continue
        fields = [(name, was.get(name), now.get(name)) for name in sorted(set(was) | set(now))]
        differ = [item for item in fields if item[1] != item[2]]
        if differ:
            changes.changed[device_id] = differ
    return changes
