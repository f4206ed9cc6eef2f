"""Who may change what: without a valid session or token nothing changes (401/403), bad
input is refused naming its field (422), and an acknowledgement records the user."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from agent.wire import Health, Reason, Status
from collector.pipeline.faults import Ticket
from simulator.local_servers import Mosquitto
from slawatch.config.inventory import Inventory
from tests.collector.live import FakeAgent
from tests.collector.web.console.conftest import API_TOKEN, PASSWORDS, Console, browser, console
from tests.conftest import wait_for


async def logged_in(client: httpx.AsyncClient, name: str) -> str:
    page = await client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    reply = await client.post(
        "/login", data={"name": name, "password": PASSWORDS[name], "csrf": csrf.group(1)}
    )
    assert reply.status_code == 303
    assert reply.headers["location"] == "/"
    home = await client.get("/", headers={"accept": "text/html"})
    found = re.search(r'name="csrf" value="([^"]+)"', home.text)
    assert found is not None
    return found.group(1)


async def open_a_ticket(live: Console, broker_port: int, inventory: Inventory) -> Ticket:
    """Three polls of one camera down (the test policy confirms at two): its ticket."""
    agent = FakeAgent(broker_port, agent_id="edge-t", site="sim")
    camera = next(d for d in inventory.devices if d.kind.value == "camera")
    for second in range(3):
        status = Status(
            device_id=camera.id,
            # In order, and never after its batch is sent (the ingest refuses that).
            observed_at=datetime.now(UTC) - timedelta(milliseconds=3 - second),
            health=Health.DOWN,
            reason=Reason.TIMEOUT,
        )
        await agent.publish(agent.batch([status]))
    faults = live.collector.pipeline.faults
    await wait_for(lambda: any(t.open for t in faults.tickets.values()), 20)
    return next(t for t in faults.tickets.values() if t.open)


async def test_nothing_changes_without_a_session_or_token_and_the_user_is_recorded(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    async with console(tmp_path, broker.port, agent=False) as live:
        ticket = await open_a_ticket(live, broker.port, inventory)
        ack = f"/faults/{ticket.id}/ack"
        async with browser(live) as anonymous:
            refusal = await anonymous.post(ack, data={"note": "x"})
            assert refusal.status_code == 401, refusal.text
            page = await anonymous.get("/", headers={"accept": "text/html"})
            assert page.status_code == 303
            assert page.headers["location"].startswith("/login")
            assert (await anonymous.get("/events")).status_code == 401
            for read in ("/faults.json", "/wall.json", "/faults.xlsx", "/handover", "/map",
                         "/scope.json?q=a", f"/fleet/{ticket.device_ids[0]}"):  # fmt: skip
                assert (await anonymous.get(read)).status_code == 401, read
            bulk = await anonymous.post("/faults/ack", data={"ticket": ticket.id, "note": "x"})
            assert bulk.status_code == 401
            refused = await anonymous.post(
                f"/tickets/{ticket.id}/ack",
                json={"by": "x"},
                headers={"authorization": "Bearer wrong"},
            )
            assert refused.status_code == 401, refused.text
            # The viewer's token may read, not acknowledge.
            viewer = {"authorization": f"Bearer {live.tokens['li']}"}
            assert (
                await anonymous.post(f"/tickets/{ticket.id}/ack", json={"by": "x"}, headers=viewer)
            ).status_code == 403
        async with browser(live) as viewer_session:
            csrf = await logged_in(viewer_session, "li")
            assert (await viewer_session.post(ack, data={"csrf": csrf})).status_code == 403
        async with browser(live) as operator:
            csrf = await logged_in(operator, "zhang")
            assert (await operator.post(ack, data={"note": "x"})).status_code == 403  # no CSRF
            assert (await operator.post(ack, data={"csrf": "forged"})).status_code == 403
            too_long = await operator.post(ack, data={"csrf": csrf, "note": "x" * 501})
            assert too_long.status_code == 422
            assert "note" in too_long.text
            assert ticket.acknowledged_at is None  # nothing above changed anything
            done = await operator.post(ack, data={"csrf": csrf, "note": "到场处理"})
            assert done.status_code == 303
        assert ticket.acknowledged_by == "张工"
        history = live.collector.ledger.connection.execute(
            "SELECT body FROM ledger WHERE kind = 'ticket' ORDER BY seq DESC LIMIT 1"
        ).fetchone()[0]
        assert '"note":"到场处理"' in history


async def test_a_personal_token_acknowledges_as_its_user_and_the_service_token_as_told(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    async with console(tmp_path, broker.port, agent=False) as live:
        ticket = await open_a_ticket(live, broker.port, inventory)
        async with httpx.AsyncClient(base_url=live.url) as script:
            reply = await script.post(
                f"/tickets/{ticket.id}/ack",
                json={"by": "someone else", "note": "脚本确认"},
                headers={"authorization": f"Bearer {live.tokens['zhang']}"},
            )
            assert reply.status_code == 200, reply.text
            assert reply.json()["acknowledged_by"] == "张工"
            # The service token still works for scripts that name who acts.
            again = await script.post(
                f"/tickets/{ticket.id}/ack",
                json={"by": "nightly-script"},
                headers={"authorization": f"Bearer {API_TOKEN}"},
            )
            assert again.status_code == 200
            assert again.json()["acknowledged_by"] == "张工"  # acknowledged once, by its first
            viewer = {"authorization": f"Bearer {live.tokens['li']}"}
            openapi = await script.get("/openapi.json", headers=viewer)
            assert "/tickets/{ticket_id}/ack" in openapi.json()["paths"]
            docs = await script.get("/docs", headers=viewer)
            assert "/static/vendor/swagger-ui-5.17.14/swagger-ui-bundle.js" in docs.text
            assert "cdn" not in docs.text.lower()


async def test_a_wall_screen_reads_without_logging_in_when_the_settings_say_so(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    async with (
        console(tmp_path, broker.port, open_read=True, agent=False) as live,
        browser(live) as wall,
    ):
        page = await wall.get("/", headers={"accept": "text/html"})
        assert page.status_code == 200
        assert "总览" in page.text
        assert (await wall.get("/fleet?state=bogus")).status_code == 422
        # The open wall reloads itself: its live feeds, like the stream, need a login.
        assert (await wall.get("/faults.json")).status_code == 401
        assert (await wall.get("/wall.json")).status_code == 401
        english = await wall.get("/?lang=en", headers={"accept": "text/html"})
        assert "Wall" in english.text


async def test_the_wall_shows_missing_batches_and_refused_clocks_to_the_engineer_on_duty(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    """Issue 16's findings on the screen people watch: a gap in an agent's sequence, and
    statuses refused because their clock ran ahead."""
    async with (
        console(tmp_path, broker.port, open_read=True, agent=False) as live,
        browser(live) as wall,
    ):
        agent = FakeAgent(broker.port, agent_id="edge-t", site="sim")
        camera = next(d for d in inventory.devices if d.kind.value == "camera")
        now = datetime.now(UTC)
        up = Status(device_id=camera.id, observed_at=now, health=Health.UP, reason=Reason.OK)
        ahead = Status(
            device_id=camera.id,
            observed_at=now + timedelta(hours=3),
            health=Health.UP,
            reason=Reason.OK,
        )
        await agent.publish(agent.batch([up], seq=0), agent.batch([ahead], seq=4))
        await wait_for(lambda: live.collector.counters.clock_refused == 1, 20)
        page = (await wall.get("/", headers={"accept": "text/html"})).text
        gaps = page.split("缺失批次", 1)[1].split("</tr>", 1)[0]
        assert "edge-t" in gaps
        assert "1–3" in gaps
        refused = page.split("时钟超差拒收", 1)[1].split("</tr>", 1)[0]
        assert ">1<" in refused


async def test_only_an_admin_puts_a_new_inventory_in_force_from_the_console(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    async with console(tmp_path, broker.port, agent=False) as live:
        rows = "SELECT COUNT(*) FROM ledger WHERE kind = 'inventory'"
        async with browser(live) as operator:
            csrf = await logged_in(operator, "zhang")
            assert (await operator.post("/inventory", data={"csrf": csrf})).status_code == 403
        async with browser(live) as admin:
            csrf = await logged_in(admin, "wang")
            assert (await admin.post("/inventory", data={})).status_code == 403  # no CSRF
            assert live.collector.ledger.connection.execute(rows).fetchone()[0] == 0
            assert (await admin.post("/inventory", data={"csrf": csrf})).status_code == 303
        assert live.collector.ledger.connection.execute(rows).fetchone()[0] == 1
