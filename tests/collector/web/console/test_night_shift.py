"""A night shift in a real browser (Debian's chromium through Playwright), at the duty
room's two screen sizes, against a live collector fed by the simulated fleet through a
real agent: small faults come in, then a link is cut. The link's fault arrives at the top
of the list by impact without a reload, highlighted, with the sound on; it is
acknowledged with a note shown at the top of its ticket; the device page shows its
camera's uplink port down; the map shows the link's devices red; after recovery the
handover lists the closed ticket; the XLSX export has the rows the page shows."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openpyxl
import pytest
from playwright.async_api import Page, async_playwright

from simulator.devices import Fault
from simulator.fleet import FleetSize, fleet_devices, fleet_sets, inventory_header
from simulator.fleet_runner import FaultSpec, Fleet
from simulator.local_servers import Mosquitto
from slawatch.config.inventory import Inventory, link_of
from slawatch.config.loader import load_config
from slawatch.config.writer import write_inventory
from tests.agent_keys import registered
from tests.collector.live import field_agent
from tests.collector.web.console.conftest import Console, console
from tests.collector.web.console.test_browser import CHROMIUM, log_in
from tests.conftest import REPO, wait_for
from tests.language import english_words

ARTEFACTS = REPO / "var" / "artefacts"
# Four links of four switches each; the cut one (the second) carries switches 5-8, the
# cameras on them and a checkpoint. An open network ticket on a link takes in every later
# fault on it: the small faults are each on a link of their own.
NIGHT = FleetSize(cameras=24, door_sets=2, checkpoints=4, switches=16)
CUT = "L0002"
# What a user types is shown as typed, never run or parsed as markup.
NOTE = '已派人去汇聚机房 <img src=x onerror="document.title=1"> & 李工'


@pytest.fixture
def inventory(tmp_path: Path, secrets_in_env: None) -> Inventory:
    file = tmp_path / "inventory.yaml"
    header = inventory_header(NIGHT, **registered("edge-t"))
    write_inventory(file, header, fleet_devices(NIGHT), fleet_sets(NIGHT))
    return load_config(file, Inventory)


async def shot(page: Page, name: str, full: bool = False) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"night-{name}.png"
    await page.screenshot(path=str(path), full_page=full)
    return path


def open_ticket(live: Console, device_id: str) -> str | None:
    ticket = live.collector.pipeline.faults.ticket_for_device(device_id)
    return ticket.id if ticket else None


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("width", "height"), [(1366, 768), (1920, 1080)])
async def test_a_night_shift_link_cut_from_alarm_to_handover(
    tmp_path: Path,
    inventory: Inventory,
    fleet: Fleet,
    broker: Mosquitto,
    width: int,
    height: int,
) -> None:
    size = f"{width}x{height}"
    devices = {d.id: d for d in inventory.devices}
    behind = sorted(d.id for d in inventory.devices if link_of(d, devices) == CUT)
    async with (
        console(tmp_path, broker.port, agent=False) as live,
        field_agent(tmp_path, broker.port, poll_s=2.0, timeout="1500ms"),
        async_playwright() as playwright,
    ):
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = await browser.new_context(
            viewport={"width": width, "height": height}, accept_downloads=True
        )
        await context.grant_permissions(["notifications"], origin=live.url)
        page = await context.new_page()
        await log_in(page, live.url, "zhang")
        await page.goto(f"{live.url}/faults")
        await page.wait_for_function("() => document.body.dataset.liveReady === 'yes'")
        await page.click("#sound")  # a click: the browser lets the page make sound
        assert await page.get_attribute("#sound", "aria-pressed") == "true"
        await page.wait_for_function(
            "() => document.getElementById('sound').textContent.includes('开')"
        )
        navigations: list[str] = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        await page.evaluate("window.shiftMark = 'still here'")
        states = live.collector.pipeline.states
        try:
            # Up to two minutes: on a busy machine the agent discards what overlapped its
            # own stall (those devices stay unknown, rightly) until a cycle reads clean.
            await wait_for(
                lambda: all(states.now_of(d)[0].value != "unknown" for d in devices), 120
            )
        except AssertionError:
            raise AssertionError({d: states.now_of(d) for d in devices}) from None

        # Small faults first: a camera's switch port (link 1), four cameras and a
        # checkpoint (links 3 and 4).
        await fleet.inject("port:SW00001/1", FaultSpec(Fault.DOWN))
        singles = ["CAM000009", "CAM000010", "CAM000011", "CAM000012", "KK00003"]
        for device in singles:
            await fleet.inject(device, FaultSpec(Fault.DOWN))
        small = ["CAM000001", *singles]
        try:
            await wait_for(lambda: all(open_ticket(live, d) for d in small), 30)
        except AssertionError:  # say which, and what the collector thinks of them
            said = {d: (open_ticket(live, d), states.now_of(d)) for d in small}
            raise AssertionError(said) from None
        await page.wait_for_function(
            f"() => document.querySelectorAll('table.faults tr.fault').length >= {len(small)}",
            timeout=15_000,
        )
        # Then the link: it goes to the top by impact, though it came last.
        await fleet.inject(f"link:{CUT}", FaultSpec(Fault.DOWN))
        await wait_for(lambda: open_ticket(live, "SW00005") is not None, 30)
        tickets = live.collector.pipeline.faults.tickets
        await wait_for(
            lambda: set(tickets[open_ticket(live, "SW00005") or ""].device_ids) == set(behind), 30
        )
        cut = open_ticket(live, "SW00005")
        await page.wait_for_function(
            "([id, n]) => { const top = document.querySelector('table.faults tr.fault');"
            " return top && top.dataset.ticket === id && top.dataset.count === String(n); }",
            arg=[cut, len(behind)],
            timeout=15_000,
        )
        top = page.locator("table.faults tr.fault").first
        assert "new" in (await top.get_attribute("class") or "")  # highlighted
        assert "网络故障" in await top.inner_text()
        assert navigations == []  # no reload: patched in place
        assert await page.evaluate("window.shiftMark") == "still here"
        assert int(await page.evaluate("document.body.dataset.beeps || '0'")) >= 1  # it sounded
        assert await page.inner_text("#open-count") == str(len(small) + 1)
        # At the duty room's smaller screen, more than four faults above the fold, and
        # no ticket id wraps.
        rows = await page.evaluate(
            "[...document.querySelectorAll('table.faults tr.fault')].map((r) => {"
            " const a = r.querySelector('td.id a');"
            " return [r.getBoundingClientRect().bottom, a.getClientRects().length]; })"
        )
        assert sum(1 for bottom, _ in rows if bottom <= height) > 4, rows
        assert all(lines == 1 for _, lines in rows), rows
        await shot(page, f"faults-{size}")

        # Acknowledge the link's ticket with a note: it heads the ticket's page.
        assert int(await page.evaluate("document.body.dataset.notified || '0'")) >= 1
        await top.locator("td.id a").click()
        # The toggle is remembered; the button says whether the browser lets this page
        # sound yet (it may want a click on it first).
        assert await page.get_attribute("#sound", "aria-pressed") == "true"
        running = await page.evaluate("audio !== null && audio.state === 'running'")
        assert await page.inner_text("#sound") == ("声音：开" if running else "声音：点击启用")
        await page.click("h1")
        await page.wait_for_function(
            "() => document.getElementById('sound').textContent === '声音：开'"
        )
        await page.fill("form.ack input[name=note]", NOTE)
        await page.click("form.ack button")
        note = page.locator("#ack-note")
        await note.wait_for()
        assert NOTE in await note.inner_text()
        assert await page.locator("#ack-note img").count() == 0
        members = await page.locator("details.members").first.bounding_box()
        box = await note.bounding_box()
        assert box is not None
        assert members is not None
        assert box["y"] < members["y"]
        assert await page.get_attribute("details.members", "open") is None  # folded
        await shot(page, f"ticket-{size}", full=True)

        # Bulk: the three cameras' tickets with one note.
        await page.goto(f"{live.url}/faults?class=front_end")
        cameras = [open_ticket(live, d) for d in singles[:3]]
        for ticket_id in cameras:
            await page.check(f"input[name=ticket][value='{ticket_id}']")
        await page.fill("#bulk input[name=note]", "夜班统一响应")
        await page.click("#bulk button")
        await page.wait_for_load_state()
        for ticket_id in cameras:
            assert live.collector.pipeline.faults.tickets[ticket_id or ""].acknowledged_by == "张工"
        assert await page.locator("tr.fault .note").count() >= len(cameras)

        # The camera on the dead port: its uplink port is down, its checks not "正常".
        await page.goto(f"{live.url}/fleet/CAM000001")
        port = page.locator("#port-state")
        assert "down" in (await port.get_attribute("class") or "")
        assert "端口断开" in await port.inner_text()
        assert "接入交换机 1" in await page.inner_text("#uplink")
        assert "正常" not in await page.inner_text("#checks")
        assert "高清摄像机租赁" in await page.inner_text("table.facts")
        await page.wait_for_selector("#timeline canvas")
        await shot(page, f"device-{size}", full=True)

        # The map: the link's devices red.
        await page.goto(f"{live.url}/map")
        await page.wait_for_selector("#map[data-ready=yes] canvas")
        red = await page.evaluate(
            "() => { const o = echarts.getInstanceByDom(document.getElementById('map'))"
            ".getOption(); const s = o.series.find((x) => x.itemStyle.color === '#d2453b');"
            " return s.data.map((p) => p[4]); }"
        )
        assert set(behind) <= set(red)
        await shot(page, f"map-{size}")

        # The XLSX export holds the rows the list shows, in its order.
        await page.goto(f"{live.url}/faults")
        shown = await page.eval_on_selector_all(
            "table.faults tr.fault", "(rows) => rows.map((r) => r.dataset.ticket)"
        )
        async with page.expect_download() as downloading:
            await page.click("#export")
        saved = tmp_path / "faults.xlsx"
        await (await downloading.value).save_as(saved)
        book = openpyxl.load_workbook(saved)
        sheet = book.active
        assert sheet is not None
        cells = [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)]
        assert cells == shown
        assert sheet.cell(1, 1).value == "工单号"
        words = [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c]
        # The sheet too, in one language (the note is the operator's own words).
        assert english_words("\n".join(words).replace(NOTE, "")) == []

        # Recovery, watched on the wall: its figures and list change in place; the
        # handover then lists the ticket closed.
        await page.goto(live.url)
        await page.wait_for_function("() => document.body.dataset.liveReady === 'yes'")
        offline = page.locator('.figure[data-contract="cam-rent"] .offline')
        before = await offline.inner_text()
        assert before != "离线 0 台"
        # More than half the rented cameras dark: the wall says so in a banner.
        dark = len([d for d in behind if d.startswith("CAM")]) + 5  # and the small faults'
        banner = f"大面积离线：高清摄像机租赁 {NIGHT.cameras} 台中 {dark} 台离线"
        assert banner in await page.inner_text("#outage")
        await shot(page, f"wall-outage-{size}")
        navigations.clear()
        await fleet.clear(f"link:{CUT}")
        assert cut is not None
        await wait_for(
            lambda: live.collector.pipeline.faults.tickets[cut].resolved_at is not None, 40
        )
        await page.wait_for_function(
            "(id) => !document.querySelector(`tr.fault[data-ticket='${id}']`)", arg=cut
        )
        await page.wait_for_function(
            "(before) => document.querySelector('.figure[data-contract=\"cam-rent\"] .offline')"
            ".textContent !== before",
            arg=before,
        )
        await page.wait_for_function("() => document.getElementById('outage').hidden")
        assert navigations == []  # the wall too: patched in place
        await page.goto(f"{live.url}/handover")
        closed = page.locator(f"table.handover tr[data-ticket='{cut}']")
        assert "closed" in (await closed.get_attribute("class") or "")
        assert "已恢复" in await closed.inner_text()
        assert NOTE in await closed.inner_text()
        await shot(page, f"handover-{size}", full=True)
        await page.emulate_media(media="print")
        await shot(page, f"handover-print-{size}", full=True)
        await page.emulate_media(media="screen")
        await page.goto(live.url)
        await page.wait_for_selector("section.figures .figure")
        await asyncio.sleep(0.5)
        await shot(page, f"wall-{size}")
        # A maintenance scope found by the words people use: the region by its station.
        await page.goto(f"{live.url}/maintenance")
        await page.fill("input[name=scope]", "城关派")
        await page.wait_for_function(
            "() => document.querySelectorAll('#scope-choices option').length > 0"
        )
        choice = page.locator("#scope-choices option").first
        assert await choice.get_attribute("value") == "城关街道"
        # One language at a time: the same pages in English.
        await page.goto(f"{live.url}/faults?lang=en")
        assert "Open faults" in await page.inner_text("h1")
        await shot(page, f"faults-en-{size}")
        await page.goto(f"{live.url}/fleet/CAM000001")
        assert "Uplink switch" in await page.inner_text("#uplink")
        await shot(page, f"device-en-{size}")
        await browser.close()
