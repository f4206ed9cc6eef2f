"""A console whose inventory, users and operators speak in markup: every free-text field a
user, an inventory or an operator can fill carries script."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml

from tests.collector.web.console.conftest import Console, console

# Script three ways (a tag, an event handler, a broken-out attribute) plus the characters
# escaping must keep: if any of it is parsed as markup, the text is not shown literally.
PAYLOAD = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">\'"&amp;'


def hostile_inventory(folder: Path) -> str:
    """Put PAYLOAD into every free-text field of ``folder/inventory.yaml``; the id of the
    first camera (the one whose ticket the tests open)."""
    file = folder / "inventory.yaml"
    inventory: dict[str, Any] = yaml.safe_load(file.read_text(encoding="utf-8"))
    for region in inventory["regions"]:
        region["name"] = f"{PAYLOAD} {region['id']}"
        region["police_station"] = PAYLOAD
    for contract in inventory["contracts"]:
        contract["name"] = f"{PAYLOAD} {contract['id']}"
    for link in inventory.get("links", []):
        link["name"] = PAYLOAD
    camera = next(d for d in inventory["devices"] if d["kind"] == "camera")
    camera["name"] = PAYLOAD
    camera["vendor"] = PAYLOAD
    camera["location"] = PAYLOAD
    file.write_text(json.dumps(inventory, ensure_ascii=False), encoding="utf-8")
    return str(camera["id"])


@asynccontextmanager
async def hostile_console(folder: Path, broker_port: int, **options: Any) -> AsyncIterator[Console]:
    hostile_inventory(folder)
    async with console(folder, broker_port, agent=False, **options) as live:
        yield live
