"""Two parties, one console: a back-dated maintenance window the contractor's operator asks
for changes no figure until the bureau's evaluator approves it, in a real browser; the
contractor's admin cannot approve it, whatever its role."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.async_api import Page, async_playwright

from collector.cli import main
from collector.pipeline.exemptions import exemptions
from simulator.local_servers import Mosquitto
from slawatch.config.inventory import Inventory
from tests.collector.web.console.conftest import Console, browser, console
from tests.collector.web.console.test_access import logged_in, open_a_ticket
from tests.collector.web.console.test_browser import CHROMIUM, log_in, shot
from tests.conftest import REPO
from tests.ledgers import ledger_in


def device_figures(live: Console, folder: Path, device_id: str) -> dict[str, Any]:
    """The device's figures today, as the sla command computes them from the live ledger."""
    today = datetime.now(live.collector.zone).date().isoformat()
    out = folder / f"figures-{len(list(folder.glob('figures-*')))}.json"
    command = [
        "sla", "--ledger", ledger_in(folder),
        "--inventory", str(folder / "inventory.yaml"), "--policy", str(folder / "site-policy.yaml"),
        "--policy", str(REPO / "config" / "policies"), "--period", today,
        "--group-by", "device", "-o", str(out),
    ]  # fmt: skip
    assert main(command) == 0
    groups = {g["key"]: g for g in json.loads(out.read_text(encoding="utf-8"))["groups"]}
    return dict(groups[device_id])


async def request_window(page: Page, url: str, device_id: str, start: datetime) -> None:
    await page.goto(f"{url}/maintenance")
    await page.fill("input[name=start]", f"{start:%Y-%m-%dT%H:%M}")
    await page.fill("input[name=end]", f"{start + timedelta(hours=4):%Y-%m-%dT%H:%M}")
    await page.fill("input[name=reason]", "供电局计划停电")
    await page.fill("input[name=scope]", device_id)
    await page.click("form[action='/maintenance'] button[type=submit]")


@pytest.mark.timeout(180)
async def test_a_back_dated_window_counts_only_once_the_bureau_approves_it(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    async with (
        console(tmp_path, broker.port, agent=False) as live,
        async_playwright() as playwright,
    ):
        ticket = await open_a_ticket(live, broker.port, inventory)
        camera = ticket.device_ids[0]
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await chromium.new_page(viewport={"width": 1400, "height": 900})

        # The contractor's operator asks for a window that began two hours ago.
        await log_in(page, live.url, "zhang")
        await page.wait_for_selector("section.figures")
        started = datetime.now(live.collector.zone) - timedelta(hours=2)
        await request_window(page, live.url, camera, started)
        row = page.locator("tr[data-exemption=pending]")
        assert "待甲方审批" in await row.inner_text()
        assert "补报" in await row.inner_text()
        assert await page.locator("form.decide").count() == 0  # an operator cannot decide
        [requested] = exemptions(live.collector.ledger.connection)
        assert device_figures(live, tmp_path, camera)["exposure"]["maintenance"] == 0
        await page.click("form[action='/logout'] button[type=submit]")

        # The contractor's admin may do everything the contractor may, but not this.
        async with browser(live) as admin:
            csrf = await logged_in(admin, "wang")
            refused = await admin.post(
                f"/maintenance/{requested.id}/decide", data={"decision": "approve", "csrf": csrf}
            )
            assert refused.status_code == 403
            assert "待甲方审批" in (await admin.get("/maintenance")).text
        assert device_figures(live, tmp_path, camera)["exposure"]["maintenance"] == 0

        # The bureau's evaluator approves it, with a note.
        await log_in(page, live.url, "zhao")
        await page.wait_for_selector("section.figures")
        await page.goto(f"{live.url}/maintenance")
        await shot(page, "exemption-pending")
        await page.fill("form.decide input[name=note]", "已核实停电通知")
        await page.click("form.decide button[value=approve]")
        row = page.locator("tr[data-exemption=approved]")
        decided = await row.inner_text()
        assert "甲方已批准" in decided
        assert "赵科长" in decided
        assert "已核实停电通知" in decided
        await shot(page, "exemption-approved")
        await chromium.close()
        after = device_figures(live, tmp_path, camera)
        assert after["exposure"]["maintenance"] > 0
        [approved] = exemptions(live.collector.ledger.connection)
        assert approved.decision is not None
        assert approved.decision.by == "赵科长"
        rows = live.collector.ledger.connection.execute(
            "SELECT body FROM ledger WHERE kind = 'exemption' ORDER BY seq"
        ).fetchall()
        assert [json.loads(body)["event"] for (body,) in rows] == ["announced", "approved"]


async def test_a_back_dated_inventory_reload_is_a_request_for_the_bureau(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    """The admin puts in force an inventory that ended a camera's service yesterday: the
    reload is taken, and the change of yesterday's money waits for the bureau."""
    async with console(tmp_path, broker.port, agent=False) as live:
        camera = next(d for d in inventory.devices if d.kind.value == "camera")
        file = tmp_path / "inventory.yaml"
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
        yesterday = datetime.now(live.collector.zone).date() - timedelta(days=1)
        next(row for row in data["devices"] if row["id"] == camera.id)["service_end"] = yesterday
        file.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        async with browser(live) as admin:
            csrf = await logged_in(admin, "wang")
            assert (await admin.post("/inventory", data={"csrf": csrf})).status_code == 303
            page = (await admin.get("/maintenance")).text
        [found] = exemptions(live.collector.ledger.connection)
        assert (found.what, found.status, found.devices) == ("inventory", "pending", (camera.id,))
        assert found.back_dated
        assert found.by == "wang"
        [change] = found.changes
        assert (change["before"]["service_end"], change["after"]["service_end"]) == (
            None,
            yesterday.isoformat(),
        )
        assert "台账补录变更" in page


async def test_an_end_of_service_and_a_ticket_exclusion_are_requested_in_peoples_words(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    """A device by its name, a cause from the lists; a wrong one refused naming the field."""
    async with console(tmp_path, broker.port, agent=False) as live:
        ticket = await open_a_ticket(live, broker.port, inventory)
        camera = next(d for d in inventory.devices if d.id == ticket.device_ids[0])
        yesterday = (datetime.now(live.collector.zone).date() - timedelta(days=1)).isoformat()
        async with browser(live) as operator:
            csrf = await logged_in(operator, "zhang")
            form = {"csrf": csrf, "day": yesterday, "cause": "demolition", "reason": "旧城改造"}
            wrong = await operator.post(
                "/maintenance/service-end", data={**form, "scope": "没有这台"},
                headers={"accept": "text/html"},
            )  # fmt: skip
            assert wrong.status_code == 422
            assert "没有这个设备：没有这台" in wrong.text
            made = await operator.post(
                "/maintenance/service-end", data={**form, "scope": camera.name}
            )
            assert made.status_code == 303
            bad_cause = {"csrf": csrf, "ticket": ticket.id, "cause": "cosmic_rays", "reason": "x"}
            refused = await operator.post(
                "/maintenance/ticket", data=bad_cause, headers={"accept": "text/html"}
            )
            assert refused.status_code == 422
            assert "不是考核规则所列的原因" in refused.text
            unknown = {**bad_cause, "cause": "road_works", "ticket": "F-none"}
            assert (await operator.post("/maintenance/ticket", data=unknown)).status_code == 422
            excluded = {**bad_cause, "cause": "road_works", "reason": "市政挖断光缆"}
            assert (await operator.post("/maintenance/ticket", data=excluded)).status_code == 303
        ended, dropped = exemptions(live.collector.ledger.connection)
        assert (ended.what, ended.devices, ended.cause) == (
            "service_end",
            (camera.id,),
            "demolition",
        )
        assert ended.back_dated  # from yesterday, asked today
        assert ended.start.astimezone(live.collector.zone).isoformat().endswith("T00:00:00+08:00")
        assert (dropped.what, dropped.ticket, dropped.cause) == ("ticket", ticket.id, "road_works")
        assert list(dropped.devices) == list(ticket.device_ids)
        assert dropped.end is None  # still open: it runs to the period's end
        async with browser(live) as evaluator:
            csrf = await logged_in(evaluator, "zhao")
            decided = await evaluator.post(
                f"/maintenance/{ended.id}/decide", data={"decision": "approve", "csrf": csrf}
            )
            assert decided.status_code == 303
        assert exemptions(live.collector.ledger.connection)[0].status == "approved"
