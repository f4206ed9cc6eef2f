"""Writing inventories that stay readable at 100,000 devices.

Sections are written as block YAML; each device and set goes on one line as a JSON flow
mapping (JSON is valid YAML), which keeps a 130,000-device file diff-friendly, lets
error messages point at one line per device, and is fast to write and to parse.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def write_inventory(
    file: Path,
    header: Mapping[str, Any],
    devices: Iterable[Mapping[str, Any]],
    sets: Iterable[Mapping[str, Any]] = (),
) -> None:
    """Write ``header`` (kind, sites, regions, …) then one line per device and per set."""
    with file.open("w", encoding="utf-8") as out:
        out.write(yaml.safe_dump(_plain(dict(header)), allow_unicode=True, sort_keys=False))
        for section, rows in (("devices", devices), ("sets", sets)):
            out.write(f"{section}:\n")
            empty = True
            for row in rows:
                out.write(f"  - {json.dumps(_plain(row), ensure_ascii=False)}\n")
                empty = False
            if empty:
                out.write("  []\n")
