"""The console in a real browser (Debian's chromium, driven by Playwright) against a live
collector fed by the simulator: what the engineer on duty does during a link cut."""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path

import pytest
from playwright.async_api import Page, async_playwright

from collector.evidence.verify import verify_bundle
from simulator.devices import Fault
from simulator.fleet_runner import FaultSpec, Fleet
from simulator.local_servers import Mosquitto
from slawatch.config.inventory import Inventory
from tests.collector.web.console.conftest import PASSWORDS, console
from tests.conftest import REPO

ARTEFACTS = REPO / "var" / "artefacts"
CHROMIUM = "/usr/bin/chromium"


async def log_in(page: Page, url: str, name: str) -> None:
    await page.goto(f"{url}/login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORDS[name])
    await page.click("button[type=submit]")


# A browser's own form post (not fetch): it navigates to what the server answers.
POST_FORM = """([action, fields]) => {
    const form = document.createElement("form");
    form.method = "post";
    form.action = action;
    for (const [name, value] of Object.entries(fields)) {
        const field = document.createElement("textarea");
        field.name = name;
        field.value = value;
        form.appendChild(field);
    }
    document.body.appendChild(form);
    form.submit();
}"""


async def shot(page: Page, name: str) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTEFACTS / f"console-{name}.png"), full_page=True)


@pytest.mark.timeout(180)
async def test_the_engineer_on_duty_sees_a_link_cut_acknowledges_it_and_exports_the_evidence(
    tmp_path: Path, inventory: Inventory, fleet: Fleet, broker: Mosquitto
) -> None:
    async with console(tmp_path, broker.port) as live, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await browser.new_page(
            viewport={"width": 1400, "height": 900}, accept_downloads=True
        )
        await page.goto(live.url)
        assert page.url.startswith(f"{live.url}/login")  # nothing without logging in
        await log_in(page, live.url, "zhang")
        await page.wait_for_selector("section.figures .figure")
        assert "张工" in await page.inner_text("header")
        await asyncio.sleep(2.5)  # every device seen up
        link = inventory.links[0].id
        await fleet.inject(f"link:{link}", FaultSpec(Fault.DOWN))
        # The wall patches itself on the tickets' live events: a camera confirmed down
        # before its switch may show as a front-end fault for a moment, until the link's
        # network fault absorbs it; that one arrives, unacknowledged, without a reload.
        row = page.locator("table.faults tr.fault.unacked", has_text="网络故障").first
        await row.wait_for(timeout=30_000)
        await shot(page, "wall")
        ticket_id = await row.get_attribute("data-ticket")
        assert ticket_id is not None
        await page.click(f"a[href='/faults/{ticket_id}']")
        respond = page.locator("td.countdown").first
        await page.wait_for_function(
            "() => /\\d+分 \\d+秒/.test(document.querySelector('td.countdown').textContent)"
        )
        await page.fill("input[name=note]", "已派人去汇聚机房")
        await page.click("form.ack button")
        acked = page.locator("#acked-by")
        await acked.wait_for()
        assert "张工" in await acked.inner_text()
        assert "stopped" in (await respond.get_attribute("class") or "")
        ticket = live.collector.pipeline.faults.tickets[ticket_id]
        assert ticket.acknowledged_by == "张工"  # the user, not free text
        assert "已派人去汇聚机房" in await page.inner_text("body")  # the note, in the history
        await shot(page, "fault")

        device = ticket.device_ids[0]
        await page.goto(f"{live.url}/fleet/{device}")
        await page.wait_for_selector("#timeline canvas")
        await shot(page, "device")

        await page.goto(f"{live.url}/fleet?state=down")
        await page.wait_for_selector("table.fleet tbody tr")
        assert device in await page.inner_text("table.fleet")

        await page.goto(f"{live.url}/sla?kind=day")
        await page.wait_for_selector("table.sla", timeout=60_000)
        await page.wait_for_selector("#trend canvas")
        await shot(page, "sla")
        await page.click("form.export button")
        download_link = page.locator("#download")
        await download_link.wait_for(timeout=90_000)
        async with page.expect_download() as downloading:
            await download_link.click()
        bundle = tmp_path / "bundle.zip"
        await (await downloading.value).save_as(bundle)
        await browser.close()
    assert zipfile.is_zipfile(bundle)
    assert verify_bundle(bundle, None).rows > 0
