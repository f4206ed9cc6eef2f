"""From the contractor's request to the evaluator's bundle, in a real browser: the
operator asks for a back-dated window and for a ticket to be excluded (the grid's power
cut); neither moves a figure while it waits (the SLA page shows what they would change);
the bureau's evaluator approves the window and rejects the exclusion; the operator's
export lists both, with the window's effect on its contract, in the CSV, the workbook
and the PDF, and every row of the bundle is covered by a head signed with the collector's
key. The pages and the PDF are kept as PNGs (var/artefacts) to be looked at."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess  # nosec B404  # pdftotext and pdftoppm, fixed arguments
import sys
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.async_api import async_playwright

from collector.evidence.heads import SignedHead
from collector.evidence.verify import verify_bundle
from simulator.local_servers import Mosquitto
from slawatch.config.inventory import Inventory
from slawatch.keys import load_public, new_pair
from tests.collector.web.console.conftest import Console, console
from tests.collector.web.console.test_access import open_a_ticket
from tests.collector.web.console.test_browser import ARTEFACTS, CHROMIUM, log_in, shot
from tests.collector.web.console.test_exemptions import device_figures, request_window
from tests.conftest import REPO
from tests.ledgers import ledger_in


def rows_of(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def check_bundle(bundle: Path, public: Path, ticket_id: str, folder: Path) -> None:
    """Both requests listed, the approved one's effect, every row anchored; the PDF's
    pages kept as PNGs."""
    verified = verify_bundle(bundle, load_public(public))
    assert verified.anchored_through == verified.rows - 1  # every row under a signed head
    with zipfile.ZipFile(bundle) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    listed = {row["豁免类别"]: row for row in rows_of(files["exemptions.csv"])}
    window, excluded = listed["维护窗口"], listed["工单免责"]
    assert (window["审批状态"], window["补报"]) == ("甲方已批准", "补报")
    assert (window["申请人"], window["审批人"]) == ("张工", "赵科长")
    assert window["审批意见"] == "已核实停电通知"
    assert (excluded["审批状态"], excluded["范围"]) == ("甲方已驳回", ticket_id)
    assert excluded["原因类别"] == "供电部门停电"
    [effect] = rows_of(files["exemption_effects.csv"])  # the approved one only
    assert effect["豁免编号"] == window["豁免编号"]
    assert effect["在线率"] != effect["无此豁免：在线率"]  # its down time left the figure
    book = load_workbook(io.BytesIO(files["figures.xlsx"]))
    assert book["考核豁免"].max_row == 1 + 2
    assert book["豁免影响"]["A2"].value == window["豁免编号"]
    pdf = folder / "report.pdf"
    pdf.write_bytes(files["report.pdf"])
    said = subprocess.run(  # nosec B603 B607
        ["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    assert "已批准豁免的影响" in said
    assert window["豁免编号"] in said
    assert "本次导出时签署" in said  # the report says which head covers the slice
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # nosec B603 B607
        ["pdftoppm", "-png", "-r", "70", str(pdf), str(ARTEFACTS / "exemption-report")],
        check=True,
    )


@pytest.mark.timeout(240)
async def test_an_approved_back_dated_window_is_in_the_evidence_with_its_effect(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    key = tmp_path / "collector.pem"
    public = new_pair(key)
    signing = {"key": str(key), "every_rows": 1_000_000, "every": "1h"}
    async with (
        console(tmp_path, broker.port, agent=False, signing=signing) as live,
        async_playwright() as playwright,
    ):
        ticket = await open_a_ticket(live, broker.port, inventory)
        camera = ticket.device_ids[0]
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = await chromium.new_page(
            viewport={"width": 1400, "height": 900}, accept_downloads=True
        )

        # The contractor's operator: a window that began two hours ago, and the ticket
        # excluded as the grid's doing.
        await log_in(page, live.url, "zhang")
        await page.wait_for_selector("section.figures")
        started = datetime.now(live.collector.zone) - timedelta(hours=2)
        await request_window(page, live.url, camera, started)
        await page.fill("form.ticket-exclusion input[name=ticket]", ticket.id)
        await page.select_option("form.ticket-exclusion select[name=cause]", "grid_power")
        await page.fill("form.ticket-exclusion input[name=reason]", "供电局计划停电")
        await page.click("form.ticket-exclusion button[type=submit]")
        assert await page.locator("tr[data-exemption=pending]").count() == 2
        assert "2 项豁免申请待甲方审批" in await page.inner_text("main")
        assert device_figures(live, tmp_path, camera)["exposure"]["maintenance"] == 0
        await page.goto(f"{live.url}/sla?kind=day")
        await page.wait_for_selector("table.what-if", timeout=90_000)
        await shot(page, "sla-pending-exemptions")
        await page.click("form[action='/logout'] button[type=submit]")

        # The bureau's evaluator decides.
        await log_in(page, live.url, "zhao")
        await page.wait_for_selector("section.figures")
        await page.goto(f"{live.url}/maintenance")
        await shot(page, "exemptions-pending")
        window_row = page.locator("tr[data-what=maintenance]")
        await window_row.locator("input[name=note]").fill("已核实停电通知")
        await window_row.locator("button[value=approve]").click()
        ticket_row = page.locator("tr[data-what=ticket]")
        await ticket_row.locator("input[name=note]").fill("无供电部门停电证明")
        await ticket_row.locator("button[value=reject]").click()
        assert "甲方已批准" in await page.locator("tr[data-what=maintenance]").inner_text()
        assert "甲方已驳回" in await page.locator("tr[data-what=ticket]").inner_text()
        await shot(page, "exemptions-decided")
        await page.goto(live.url)
        await page.wait_for_selector("section.figures")
        await shot(page, "wall-after-exemptions")
        await page.click("form[action='/logout'] button[type=submit]")
        assert device_figures(live, tmp_path, camera)["exposure"]["maintenance"] > 0

        # The operator exports the day's evidence.
        await log_in(page, live.url, "zhang")
        await page.wait_for_selector("section.figures")
        await page.goto(f"{live.url}/sla?kind=day")
        await page.wait_for_selector("table.sla", timeout=90_000)
        await page.click("form.export button")
        download = page.locator("#download")
        await download.wait_for(timeout=120_000)
        async with page.expect_download() as downloading:
            await download.click()
        bundle = tmp_path / "bundle.zip"
        await (await downloading.value).save_as(bundle)
        await chromium.close()

    check_bundle(bundle, public, ticket.id, tmp_path)


async def export_by_hand(live: Console, out: Path, *extra: str) -> tuple[int, str]:
    """The export command as someone on the collector's host runs it, without the key."""
    today = datetime.now(live.collector.zone).date().isoformat()
    folder = live.folder
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "collector.cli", "evidence", "export",
        "--ledger", ledger_in(folder), "--inventory", str(folder / "inventory.yaml"),
        "--policy", str(folder / "site-policy.yaml"), "--policy", str(REPO / "config" / "policies"),
        "--period", today, "--out", str(out), *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    said, complaint = await process.communicate()
    return process.returncode or 0, (said + complaint).decode()


@pytest.mark.timeout(180)
async def test_an_export_without_the_key_asks_the_running_collector_to_sign(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    key = tmp_path / "collector.pem"
    public = new_pair(key)
    signing = {"key": str(key), "every_rows": 1_000_000, "every": "1h"}
    async with console(tmp_path, broker.port, agent=False, signing=signing) as live:
        await open_a_ticket(live, broker.port, inventory)
        alone = tmp_path / "alone.zip"
        code, said = await export_by_hand(live, alone)
        assert code == 0, said
        asked = tmp_path / "asked.zip"
        code, said = await export_by_hand(
            live, asked, "--collector", live.url, "--token-file", str(tmp_path / "api-token")
        )
        assert code == 0, said
        refused = await export_by_hand(
            live,
            tmp_path / "no.zip",
            "--collector",
            live.url,
            "--token-file",
            str(key.with_suffix(".x")),
        )
        assert refused[0] == 2
        assert "--collector" in refused[1]
    unsigned = verify_bundle(alone, None)
    assert unsigned.anchored_through is None or unsigned.anchored_through < unsigned.rows - 1
    covered = verify_bundle(asked, None)
    assert covered.anchored_through == covered.rows - 1
    with zipfile.ZipFile(asked) as archive:
        report = archive.read("report.html").decode()
        heads = [SignedHead.parse(line, "heads.jsonl") for line in
                 archive.read("heads.jsonl").decode().splitlines()]  # fmt: skip
    assert heads[-1].seq == covered.rows - 1
    assert heads[-1].holds_for(load_public(public))  # signed with the collector's key
    assert f"第 0–{covered.rows - 1} 行由第 {covered.rows - 1} 行的签名链头覆盖" in report
