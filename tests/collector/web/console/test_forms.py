"""Forms in people's words: a maintenance window's scope by name, address or police
station; a refusal is a sentence in the page's language naming the field; a bad SLA
period is said once, not recomputed every two seconds."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from collector.pipeline.exemptions import exemptions
from simulator.local_servers import Mosquitto
from slawatch.config.inventory import Inventory
from tests.collector.web.console.conftest import browser, console
from tests.collector.web.console.test_access import logged_in
from tests.conftest import wait_for
from tests.language import english_words
from tests.ledgers import ledger_in, open_ledger

PAGE = {"accept": "text/html"}


async def test_scope_by_name_address_and_station_and_refusals_in_words(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    camera = next(d for d in inventory.devices if d.kind.value == "camera")
    switch = next(d for d in inventory.devices if d.kind.value == "switch")
    region = inventory.regions[0]
    async with console(tmp_path, broker.port, agent=False) as live, browser(live) as operator:
        csrf = await logged_in(operator, "zhang")
        form = {"csrf": csrf, "start": "2030-01-01T22:00", "end": "2030-01-02T02:00",
                "reason": "光缆割接"}  # fmt: skip
        scope = f"{camera.name}、{switch.address}，{region.police_station}"
        made = await operator.post("/maintenance", data=form | {"scope": scope}, headers=PAGE)
        assert made.status_code == 303
        [window] = exemptions(live.collector.ledger.connection)
        assert set(window.window.devices) == {camera.id, switch.id}
        assert window.window.regions == [region.id]

        wrong = await operator.post(
            "/maintenance", data=form | {"scope": "不存在的点位"}, headers=PAGE
        )
        assert wrong.status_code == 422
        assert "未保存：范围" in wrong.text
        assert "“不存在的点位”不是台账中的设备" in wrong.text
        assert "返回修改" in wrong.text
        backwards = await operator.post(
            "/maintenance",
            data=form | {"scope": camera.id, "end": "2030-01-01T21:00"},
            headers=PAGE,
        )
        assert "结束时间须晚于开始时间" in backwards.text
        missing = await operator.post("/maintenance", data={"csrf": csrf}, headers=PAGE)
        assert missing.status_code == 422
        assert "此项必填" in missing.text
        english = await operator.post(
            "/maintenance?lang=en", data=form | {"scope": "nowhere"}, headers=PAGE
        )
        assert "Not saved" in english.text
        script = await operator.post("/maintenance", data=form | {"scope": "nowhere"})
        assert script.json()["detail"][0]["loc"] == ["body", "scope"]
        assert len(exemptions(live.collector.ledger.connection)) == 1

        # Refusals other than a form's: a page in the reader's language for a browser,
        # JSON for a script.
        forbidden = await operator.get("/security?lang=zh", headers=PAGE)
        assert forbidden.status_code == 403
        assert "<h1>无权操作</h1>" in forbidden.text
        assert "需要“管理员”权限" in forbidden.text
        assert (await operator.get("/security")).json() == {"detail": "needs the admin role"}
        stale = await operator.post("/faults/ack", data={"note": "x"}, headers=PAGE)
        assert stale.status_code == 403
        assert "表单已过期或缺少校验码" in stale.text
        gone = await operator.get("/fleet/NO-SUCH", headers=PAGE)
        assert gone.status_code == 404
        assert "设备清单中没有设备 NO-SUCH" in gone.text
        nowhere = await operator.get("/no/such/page", headers=PAGE)
        assert (nowhere.status_code, "没有这个页面" in nowhere.text) == (404, True)
        assert (await operator.get("/no/such/page")).json() == {"detail": "Not Found"}

        bad = await operator.get("/sla?kind=custom&period=2026-13&lang=zh", headers=PAGE)
        assert bad.status_code == 200
        assert "考核期间无法识别：2026-13" in bad.text
        assert 'http-equiv="refresh"' not in bad.text
        english = await operator.get("/fleet/NO-SUCH?lang=en", headers=PAGE)
        assert "no device NO-SUCH in the inventory" in english.text


async def test_a_fault_of_the_console_is_a_page_with_a_number_the_log_holds(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """The ledger's table renamed under a running console (a damaged database): the page
    that reads it fails; the reader gets a page in their language with the incident's
    number, not a bare "Internal Server Error", and never the SQL error's text."""
    async with console(tmp_path, broker.port, agent=False) as live, browser(live) as operator:
        await logged_in(operator, "zhang")
        with open_ledger(ledger_in(tmp_path)) as db:
            db.execute("ALTER TABLE ledger RENAME TO ledger_gone")
        shown = await operator.get("/maintenance", headers=PAGE)
        assert shown.status_code == 500
        assert "控制台内部错误" in shown.text
        [incident] = re.findall(r"编号 ([0-9a-f]{8})", shown.text)
        assert f"console error {incident} on GET /maintenance" in caplog.text
        assert "ledger" not in shown.text.split("<main", 1)[-1].lower()
        english = await operator.get("/maintenance?lang=en", headers=PAGE)
        assert "The console failed" in english.text
        script = await operator.get("/maintenance")
        assert script.status_code == 500
        assert set(script.json()) == {"detail", "incident"}
        # The alert sinks' next look at the ledger meets the same damage: they pause and
        # say so, and the collector lives on (the first such look took it down before).
        await wait_for(lambda: "paused: the ledger cannot be read" in caplog.text, 20)
        assert (await operator.get("/maintenance", headers=PAGE)).status_code == 500
        with open_ledger(ledger_in(tmp_path)) as db:  # repaired: the collector stops cleanly
            db.execute("ALTER TABLE ledger_gone RENAME TO ledger")


async def test_figures_that_cannot_be_computed_are_said_so_in_words(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    """An admin saved a broken inventory under a running console: the SLA page says the
    figures failed, in the reader's language, and stops asking; the worker's own words
    (an exception's English) go to the log only."""
    async with console(tmp_path, broker.port, agent=False) as live, browser(live) as operator:
        await logged_in(operator, "zhang")
        live.collector.settings.inventory.write_text("sites: [\n", encoding="utf-8")
        for _ in range(120):
            shown = await operator.get("/sla?kind=day&lang=zh", headers=PAGE)
            if "计算中" not in shown.text:
                break
            await asyncio.sleep(0.5)
        [said] = re.findall(r'<p class="muted" id="computing">(.*?)</p>', shown.text)
        assert said == "这一期间的考核数字未能算出，原因已记入采集端日志"
        assert english_words(said) == []
        assert 'http-equiv="refresh"' not in shown.text
        assert "the figures for " in caplog.text
