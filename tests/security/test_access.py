"""Every route of the API and console against every kind of caller, from a table of what
each may do (docs/security.md prints the same table): nobody reads anything without a
session or a token, except the wall where the settings open it, and that wall shows no
addresses and no user names."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from simulator.local_servers import Mosquitto
from slawatch.config.inventory import Inventory
from tests.collector.web.console.conftest import API_TOKEN, Console, browser, console
from tests.collector.web.console.test_access import logged_in, open_a_ticket

CALLERS = [
    "anonymous", "viewer", "operator", "admin", "evaluator", "viewer_token", "service_token"
]  # fmt: skip
LEVEL = {
    "viewer": 1, "viewer_token": 1, "evaluator": 1, "operator": 2, "admin": 3, "service_token": 3
}  # fmt: skip
SESSION_USER = {"viewer": "li", "operator": "zhang", "admin": "wang", "evaluator": "zhao"}
BUREAU = 4  # not a level: the bureau's evaluators alone, whatever the contractor's role

# Route → the lowest role that may use it (1 viewer, 2 operator, 3 admin).
READS = {
    "/": 1,
    "/faults": 1,
    "/faults/{ticket}": 1,
    "/fleet": 1,
    "/fleet/{device}": 1,
    "/sla": 1,
    "/maintenance": 1,
    "/docs": 1,
    "/openapi.json": 1,
    "/tickets": 1,
    "/devices/{device}": 1,
    "/healthz": 1,
    "/metrics": 1,
    "/alerts/deliveries": 1,
    "/faults.json": 1,
    "/faults.xlsx": 1,
    "/handover": 1,
    "/map": 1,
    "/scope.json?q=a": 1,
    "/wall.json": 1,
    "/deliveries": 1,
    "/security": 3,
}
WINDOW = {
    "start": "2030-01-01T00:00",
    "end": "2030-01-01T01:00",
    "reason": "t",
    "scope": "{device}",
}
# Forms and calls that change state, with a body each route accepts.
CHANGES: dict[str, tuple[int, dict[str, str] | None, dict[str, str] | None]] = {
    "/maintenance": (2, WINDOW, None),
    "/maintenance/none/end": (2, {}, None),
    "/sla/export": (2, {"period": "2026-01-01"}, None),
    "/inventory": (3, {}, None),
    "/security/lift": (3, {"key": "user:nobody"}, None),
    "/security/end-sessions": (3, {"name": "nobody"}, None),
    "/faults/{ticket}/ack": (2, {"note": "seen"}, None),
    "/faults/ack": (2, {"ticket": "{ticket}", "note": "seen"}, None),
    "/maintenance/service-end": (
        2,
        {"day": "2030-01-01", "cause": "demolition", "reason": "t", "scope": "{device}"},
        None,
    ),
    "/maintenance/ticket": (2, {"ticket": "{ticket}", "cause": "grid", "reason": "t"}, None),
    "/ledger/heads/0": (2, None, {}),
    "/tickets/{ticket}/ack": (2, None, {"by": "script"}),
    "/inventory/reload": (3, None, {}),
    "/maintenance/none/decide": (BUREAU, {"decision": "reject"}, None),
}


def client_for(live: Console, caller: str) -> httpx.AsyncClient:
    headers = {
        "viewer_token": {"authorization": f"Bearer {live.tokens['li']}"},
        "service_token": {"authorization": f"Bearer {API_TOKEN}"},
    }.get(caller, {})
    client = browser(live)
    client.headers.update(headers)
    return client


async def sign_in(client: httpx.AsyncClient, caller: str) -> str:
    """Log a session caller in: the CSRF token its forms carry ("" for the others)."""
    if caller not in SESSION_USER:
        return ""
    csrf = await logged_in(client, SESSION_USER[caller])
    client.headers["x-csrf-token"] = csrf  # as Swagger UI's calls in a session would
    return csrf


@pytest.mark.timeout(180)
async def test_every_route_answers_each_caller_as_the_table_says(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    async with console(tmp_path, broker.port, agent=False) as live:
        ticket = await open_a_ticket(live, broker.port, inventory)
        names = {"ticket": ticket.id, "device": ticket.device_ids[0]}
        for caller in CALLERS:
            level = LEVEL.get(caller, 0)
            async with client_for(live, caller) as client:
                csrf = await sign_in(client, caller)
                for route, needs in READS.items():
                    reply = await client.get(route.format(**names))
                    if level >= needs:
                        assert reply.status_code == 200, (caller, route, reply.status_code)
                    else:
                        assert reply.status_code in (401, 403), (caller, route, reply.status_code)
                for route, (needs, form, body) in CHANGES.items():
                    path = route.format(**names)
                    if form is not None:
                        data = {k: v.format(**names) for k, v in form.items()} | {"csrf": csrf}
                        reply = await client.post(path, data=data)
                    else:
                        reply = await client.post(path, json=body)
                    if (caller == "evaluator") if needs == BUREAU else level >= needs:
                        assert reply.status_code not in (401, 403), (caller, route, reply.text)
                    else:
                        expected = 401 if caller == "anonymous" else 403
                        assert reply.status_code == expected, (caller, route, reply.text)
        # The events stream, as its own case: it never ends by itself.
        async with browser(live) as anonymous:
            assert (await anonymous.get("/events")).status_code == 401


async def test_the_open_wall_shows_no_addresses_and_no_user_names_and_opens_nothing_else(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    async with console(tmp_path, broker.port, open_read=True, agent=False) as live:
        ticket = await open_a_ticket(live, broker.port, inventory)
        async with browser(live) as operator:
            csrf = await logged_in(operator, "zhang")
            ack = await operator.post(f"/faults/{ticket.id}/ack", data={"csrf": csrf})
            assert ack.status_code == 303
            seen_by_operator = (await operator.get("/")).text
        camera = next(d for d in inventory.devices if d.id == ticket.device_ids[0])
        assert camera.address in seen_by_operator
        assert "张工" in seen_by_operator
        async with browser(live) as wall:
            page = await wall.get("/")
            assert page.status_code == 200
            assert camera.name in page.text  # what is down, and where
            assert camera.address not in page.text
            assert "张工" not in page.text
            assert 'http-equiv="refresh"' in page.text  # no stream: it reloads itself
            for route in ("/faults", "/fleet", f"/fleet/{camera.id}", "/events", "/tickets"):
                assert (await wall.get(route)).status_code == 401, route


async def test_metrics_and_health_open_for_a_scraper_only_when_the_settings_say_so(
    tmp_path: Path, broker: Mosquitto, inventory: Inventory
) -> None:
    opened = {"open_metrics": True, "open_health": True}
    async with (
        console(tmp_path, broker.port, agent=False, api=opened) as live,
        httpx.AsyncClient(base_url=live.url) as scraper,
    ):
        assert (await scraper.get("/metrics")).status_code == 200
        assert (await scraper.get("/healthz")).status_code == 200
        assert (await scraper.get("/tickets")).status_code == 401
        assert (await scraper.get("/alerts/deliveries")).status_code == 401


async def test_every_change_refuses_a_session_form_from_elsewhere_or_without_its_token(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    """Each state-changing route, by a session of a role that may use it: from another
    origin (with the right token), or from its own without the token: 403 both."""
    async with console(tmp_path, broker.port, agent=False) as live:
        ticket = await open_a_ticket(live, broker.port, inventory)
        names = {"ticket": ticket.id, "device": ticket.device_ids[0]}
        who = {2: "operator", 3: "admin", BUREAU: "evaluator"}
        for route, (needs, form, body) in CHANGES.items():
            async with client_for(live, who[needs]) as client:
                csrf = await sign_in(client, who[needs])
                path = route.format(**names)
                data = {k: v.format(**names) for k, v in (form or {}).items()}
                del client.headers["x-csrf-token"]
                elsewhere = await client.post(
                    path,
                    headers={"origin": "http://evil.example", "x-csrf-token": csrf},
                    json=body,
                    data=None if body is not None else data | {"csrf": csrf},
                )
                assert elsewhere.status_code == 403, (route, elsewhere.text)
                tokenless = await client.post(
                    path, json=body, data=None if body is not None else data
                )
                assert tokenless.status_code == 403, (route, tokenless.text)
