"""The console of a standby collector in a real browser (Debian's chromium, Playwright):
two collectors (processes) on one PostgreSQL ledger, an agent publishing through
mosquitto. The standby shows what the active one committed, read-only and saying so
(Chinese by default, English on request), refuses a change with a page saying why, and
drops the banner once it has taken over."""

from __future__ import annotations

import asyncio
import secrets
import signal
from pathlib import Path

import httpx
from playwright.async_api import async_playwright

from collector.ledger.backend import target
from simulator.local_servers import Mosquitto
from tests.collector.live import API_TOKEN, until_serving
from tests.collector.test_crash import progress
from tests.collector.test_failover import two_collectors
from tests.collector.web.console.conftest import write_users
from tests.collector.web.console.test_browser import CHROMIUM, log_in, shot
from tests.conftest import wait_for

MINUTES = 60  # CAM042 goes down at minute 30: a ticket open at the end


def open_tickets(port: int) -> list[str]:
    reply = httpx.get(
        f"http://127.0.0.1:{port}/tickets", headers={"authorization": f"Bearer {API_TOKEN}"}
    )
    return sorted(ticket["id"] for ticket in reply.json())


def healthy(port: int) -> bool:
    try:
        reply = httpx.get(
            f"http://127.0.0.1:{port}/healthz", headers={"authorization": f"Bearer {API_TOKEN}"}
        )
    except httpx.HTTPError:
        return False
    return reply.status_code == 200 and reply.json()["role"] == "active"


async def test_the_standby_serves_the_console_read_only_and_says_so(
    tmp_path: Path, broker: Mosquitto, postgres: str, started: list[asyncio.subprocess.Process]
) -> None:
    users, _ = write_users(tmp_path)
    secret = tmp_path / "session-secret"
    secret.write_text(secrets.token_urlsafe(48) + "\n", encoding="utf-8")
    console = {"users": str(users), "session_secret": {"file": str(secret)}}
    pair = await two_collectors(tmp_path, broker, postgres, started, console=console)
    await pair.agent.publish(*pair.batches[:MINUTES])
    await wait_for(lambda: progress(target(postgres)) == MINUTES - 1, seconds=60)
    active_port, standby_port = pair.ports
    url = f"http://127.0.0.1:{standby_port}"
    await until_serving(url)
    # The standby's view follows the active collector's commits (within seconds).
    await wait_for(lambda: open_tickets(standby_port) == open_tickets(active_port) != [], 30)
    (ticket_id, *_) = open_tickets(standby_port)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page(viewport={"width": 1400, "height": 900})
        await log_in(page, url, "zhang")  # an operator: on the active one, he could ack
        await page.goto(f"{url}/faults")
        banner = page.locator("div.standby")
        assert "备用采集服务（双机热备）· 只读" in await banner.inner_text()
        assert ticket_id in await page.inner_text("table.faults")
        assert await page.locator("input[name=ticket]").count() == 0  # no acknowledging here
        await shot(page, "standby-faults")
        # A change sent all the same (a page left open from before): refused, saying why.
        async with page.expect_navigation():
            await page.evaluate(
                """(id) => { const form = document.createElement('form');
                form.method = 'post'; form.action = `/faults/${id}/ack`;
                document.body.append(form); form.submit(); }""",
                ticket_id,
            )
        assert "本机是备用采集服务，只读：此操作未执行" in await page.inner_text("main")
        await shot(page, "standby-refused")
        await page.goto(f"{url}/faults?lang=en")
        assert "Standby collector (hot standby) · read-only" in await banner.inner_text()

        pair.active.send_signal(signal.SIGKILL)  # the standby takes over: no banner
        await pair.active.wait()
        await wait_for(lambda: healthy(standby_port), 30)
        await log_in(page, url, "zhang")  # sessions are each server's own
        await page.goto(f"{url}/faults")
        assert await page.locator("div.standby").count() == 0
        assert await page.locator("input[name=ticket]").count() >= 1
        await browser.close()
