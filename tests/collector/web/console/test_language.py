"""One language at a time: every console page, read in chromium as the operator sees it
(its visible text), holds no English word outside the allow-list (tests/language.py):
as served, after the live stream has patched it (rows in, state cells), and its
refusals (404, 403, 405, a stale form's 403, a form's 422) too.

PAGES is the list to extend as pages come.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from collector.pipeline.faults import FaultClass
from simulator.devices import Fault
from simulator.fleet_runner import FaultSpec, Fleet
from simulator.local_servers import Mosquitto
from slawatch.config.inventory import Inventory
from tests.collector.web.console.conftest import console
from tests.collector.web.console.test_browser import CHROMIUM, POST_FORM, log_in, shot
from tests.conftest import wait_for
from tests.language import english_words

# Paths, with {ticket} and {device} filled in from the live district.
PAGES = (
    "/",
    "/faults",
    "/faults/{ticket}",
    "/fleet",
    "/fleet?state=down",
    "/fleet/{device}",
    "/map",
    "/handover",
    "/sla",
    "/maintenance",
    "/deliveries",
    "/security",
    "/fleet/NO-SUCH-DEVICE",  # a refusal: a page in words, not English JSON
    "/no/such/page",
    "/logout",  # a form's target read as a page: 405
)


@pytest.mark.timeout(240)
async def test_every_console_page_is_in_chinese_only(
    tmp_path: Path, inventory: Inventory, fleet: Fleet, broker: Mosquitto
) -> None:
    async with console(tmp_path, broker.port) as live, async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        admin = await browser.new_context(viewport={"width": 1366, "height": 768})
        page = await admin.new_page()
        await log_in(page, live.url, "wang")  # the admin sees every page
        await asyncio.sleep(2.5)  # every device seen up
        await fleet.inject(f"link:{inventory.links[0].id}", FaultSpec(Fault.DOWN))
        faults = live.collector.pipeline.faults
        await wait_for(lambda: any(t.open for t in faults.tickets.values()), 30)
        ticket = next(t for t in faults.tickets.values() if t.open)
        found: dict[str, list[str]] = {}
        for path in PAGES:
            filled = path.format(ticket=ticket.id, device=ticket.device_ids[0])
            await page.goto(f"{live.url}{filled}")
            await page.wait_for_load_state("networkidle")
            # The admin's login name (he has no display name) is data, not words.
            words = english_words((await page.inner_text("body")).replace("wang", ""))
            if words:
                found[path] = sorted(set(words))

        # A form refused, as the browser posts it: a stale CSRF token (403), a note too
        # long (422), each a page in words that names what to do.
        for fields, status, meant in (
            ({"csrf": "stale"}, 403, "表单已过期"),
            ({"csrf": await page.input_value("input[name=csrf]"), "note": "长" * 501}, 422, ""),
        ):
            async with page.expect_navigation() as posted:
                await page.evaluate(POST_FORM, [f"/faults/{ticket.id}/ack", fields])
            answer = await posted.value
            assert answer is not None
            assert answer.status == status
            said = (await page.inner_text("body")).replace("wang", "")
            assert meant in said, said
            await shot(page, f"refused-{status}-form")
            if english_words(said):
                found[f"refused form {status}"] = sorted(set(english_words(said)))

        # Live: the fault list gains a row and the fleet's state cells change, both
        # patched in by the stream (text from the catalogue's words in the page).
        await page.goto(f"{live.url}/faults")
        listing = await admin.new_page()
        await listing.goto(f"{live.url}/fleet?state=down")
        for shown in (page, listing):
            await shown.wait_for_selector("body[data-live-ready=yes]")
        # The link comes back (the state cells turn up), then one camera fails on its
        # own: a ticket of its own, live. Every device is behind the link, and a camera
        # that failed during the link fault would stay in the link's ticket.
        await fleet.clear(f"link:{inventory.links[0].id}")
        await wait_for(lambda: not any(t.open for t in faults.tickets.values()), 60)
        lone = next(d for d in inventory.devices if d.onvif is not None)
        await fleet.inject(lone.id, FaultSpec(Fault.DOWN))
        await wait_for(lambda: faults.ticket_for_device(lone.id) is not None, 60)
        own = faults.ticket_for_device(lone.id)
        assert own is not None
        assert own.fault_class is FaultClass.FRONT_END
        await page.wait_for_selector(f"tr[data-ticket='{own.id}']", timeout=20_000)
        await listing.wait_for_selector("td.state.up", timeout=20_000)
        for path, shown in (("/faults live", page), ("/fleet live", listing)):
            words = english_words((await shown.inner_text("body")).replace("wang", ""))
            if words:
                found[path] = sorted(set(words))

        # A refusal for want of a role, as the viewer meets it.
        viewer = await browser.new_page(viewport={"width": 1366, "height": 768})
        await viewer.goto(f"{live.url}/login")
        words = english_words(await viewer.inner_text("body"))
        if words:
            found["/login"] = sorted(set(words))
        await log_in(viewer, live.url, "li")
        refused = await viewer.goto(f"{live.url}/security")
        assert refused is not None
        assert refused.status == 403
        said = await viewer.inner_text("body")
        await shot(viewer, "refused-403")
        assert "需要“管理员”权限" in said, said
        if english_words(said):
            found["/security as a viewer"] = sorted(set(english_words(said)))
        await browser.close()
    assert found == {}, found
