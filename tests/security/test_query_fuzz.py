"""Every query parameter and path part of the console's and API's reads, given what a
hostile or clumsy reader types: an answer (200, 303, 404 or 422 naming the field),
never a server error."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from simulator.local_servers import Mosquitto
from slawatch.config.inventory import Inventory
from tests.collector.web.console.conftest import browser, console
from tests.collector.web.console.test_access import logged_in, open_a_ticket

NASTY = [
    "", " ", "\x00", "\u202e", "%ff", "-1", "0", "9" * 30, "1e999", "NaN",
    "<script>", "../../etc/passwd", "a" * 65, "a" * 101, "2026-02-30", "9999-12-31",
    "0001-01-01", "0000", "9999-Q4", "2026-01-01/9999-12-31T23:59:59+14:00", "2026-13",
    "yes", "no", "day", "custom", "front_end", "down", "camera",
]  # fmt: skip
ROUTES = {
    "/": ["lang"],
    "/faults": ["region", "class", "acknowledged", "contract"],
    "/faults.json": ["region", "class", "acknowledged", "contract", "limit"],
    "/faults.xlsx": ["region", "class", "acknowledged", "contract"],
    "/handover": ["hours"],
    "/fleet": ["q", "state", "kind", "region", "contract", "reason", "page"],
    "/map": ["region"],
    "/scope.json": ["q"],
    "/sla": ["kind", "period"],
    "/wall.json": ["lang"],
    "/tickets": ["state"],
}
PATHS = ["/fleet/{}", "/faults/{}", "/sla/export/{}", "/sla/export/{}/bundle.zip",
         "/devices/{}"]  # fmt: skip


@pytest.mark.timeout(300)
async def test_no_query_or_path_makes_a_server_error(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    async with console(tmp_path, broker.port, agent=False) as live, browser(live) as operator:
        await open_a_ticket(live, broker.port, inventory)
        await logged_in(operator, "zhang")
        failures: list[tuple[str, int]] = []
        for route, names in ROUTES.items():
            for name in names:
                for value in NASTY:
                    for accept in ("text/html", "application/json"):
                        query = f"{route}?{name}={quote(value, safe='')}"
                        if route == "/sla" and name == "period":
                            query += "&kind=custom"
                        reply = await operator.get(query, headers={"accept": accept})
                        if reply.status_code >= 500:
                            failures.append((query, reply.status_code))
        for path in PATHS:
            for value in NASTY:
                if not value.strip("./") or "/" in value:
                    continue  # another route, not this one's part
                reply = await operator.get(path.format(quote(value, safe="")))
                if reply.status_code >= 500:
                    failures.append((path.format(value), reply.status_code))
        assert not failures, failures
