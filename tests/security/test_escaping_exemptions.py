"""Script in what the newer surfaces carry, in a real browser (Debian's chromium): the
reasons of an end of service and of a ticket's exclusion, the bureau's decision note,
the map's tooltip (ECharts renders HTML tooltips by default: here the text is drawn on
the canvas) and the scope search's choices. Nothing runs, the text shows literally."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from simulator.local_servers import Mosquitto
from slawatch.config.inventory import Inventory
from tests.collector.web.console.conftest import browser as client
from tests.collector.web.console.test_access import logged_in, open_a_ticket
from tests.collector.web.console.test_browser import CHROMIUM, log_in
from tests.security.conftest import PAYLOAD, hostile_console
from tests.security.test_escaping import visit


@pytest.mark.timeout(180)
async def test_exemption_reasons_decision_notes_and_the_map_tooltip_show_as_text(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    async with (
        hostile_console(tmp_path, broker.port) as live,
        async_playwright() as playwright,
    ):
        ticket = await open_a_ticket(live, broker.port, inventory)
        camera = ticket.device_ids[0]
        async with client(live) as operator:
            csrf = await logged_in(operator, "zhang")
            ended = await operator.post(
                "/maintenance/service-end",
                data={"day": "2030-01-01", "cause": "demolition", "reason": f"end {PAYLOAD}",
                      "scope": camera, "csrf": csrf},
            )  # fmt: skip
            assert ended.status_code == 303, ended.text
            excluded = await operator.post(
                "/maintenance/ticket",
                data={"ticket": ticket.id, "cause": "grid_power", "reason": f"grid {PAYLOAD}",
                      "csrf": csrf},
            )  # fmt: skip
            assert excluded.status_code == 303, excluded.text
        async with client(live) as evaluator:
            csrf = await logged_in(evaluator, "zhao")
            listed = await evaluator.get("/maintenance", headers={"accept": "text/html"})
            pending = re.findall(r'action="/maintenance/([0-9a-f]+)/decide"', listed.text)
            assert len(pending) == 2
            for exemption_id in pending:
                decided = await evaluator.post(
                    f"/maintenance/{exemption_id}/decide",
                    data={"decision": "reject", "note": f"no {PAYLOAD}", "csrf": csrf},
                )
                assert decided.status_code == 303, decided.text
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await (
            await chromium.new_context(viewport={"width": 1400, "height": 900})
        ).new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        await log_in(page, live.url, "zhao")
        await page.wait_for_selector("section.figures")
        shown = await visit(page, f"{live.url}/maintenance")
        for text in (f"end {PAYLOAD}", f"grid {PAYLOAD}", f"no {PAYLOAD}"):
            assert text in shown, text
        # The map: hover the hostile camera's point; its tooltip must not become markup.
        await visit(page, f"{live.url}/map")
        await page.wait_for_function("() => document.getElementById('map').dataset.ready")
        where = await page.evaluate(
            """(id) => {
                const element = document.getElementById('map');
                const chart = echarts.getInstanceByDom(element);
                const point = JSON.parse(element.dataset.points).find((p) => p[4] === id);
                const [x, y] = chart.convertToPixel({seriesIndex: 0}, [point[0], point[1]]);
                const box = element.getBoundingClientRect();
                return [box.left + x, box.top + y];
            }""",
            camera,
        )
        await page.mouse.move(where[0], where[1])
        await page.wait_for_timeout(500)
        assert await page.evaluate("window.__xss === undefined")
        assert await page.evaluate("document.querySelectorAll('#map img, #map script').length") == 0
        await chromium.close()
    assert dialogs == []
