"""Script in every string a user, an inventory or an operator can send: in a real browser
(Debian's chromium through Playwright) nothing runs, the CSP is never even tested, and
the text shows literally, on every page of the console."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, async_playwright

from agent.wire import format_timestamp
from collector.web.console.app import HERE, templates_environment
from collector.web.console.users import add_user
from simulator.local_servers import Mosquitto
from slawatch.config.inventory import Inventory
from tests.collector.live import FakeAgent
from tests.collector.web.console.conftest import console
from tests.collector.web.console.test_access import open_a_ticket
from tests.collector.web.console.test_browser import CHROMIUM, log_in
from tests.conftest import wait_for
from tests.security.conftest import PAYLOAD, hostile_console

EVE_PASSWORD = "eve-password-1"


async def visit(page: Page, url: str) -> str:
    """The page's visible text, once loaded; fails if any script of the payload ran."""
    await page.goto(url)
    await page.wait_for_load_state("load")
    ran = await page.evaluate("window.__xss === undefined ? null : window.__xss")
    assert ran is None, f"{url}: injected script ran ({ran})"
    return await page.inner_text("body")


@pytest.mark.timeout(180)
async def test_markup_in_names_notes_reasons_and_display_names_shows_as_text(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    async with (
        hostile_console(tmp_path, broker.port, open_read=True) as live,
        async_playwright() as playwright,
    ):
        ticket = await open_a_ticket(live, broker.port, inventory)
        camera = ticket.device_ids[0]
        add_user(tmp_path / "users.yaml", "eve", "operator", EVE_PASSWORD, PAYLOAD)
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        page = await context.new_page()
        dialogs: list[str] = []
        violations: list[str] = []
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        page.on(
            "console",
            lambda message: (
                violations.append(message.text)
                if "Content Security Policy" in message.text
                else None
            ),
        )

        # The open wall, before anyone logs in: names shown, nothing run.
        wall = await visit(page, live.url)
        assert PAYLOAD in wall

        # An operator whose display name is markup acknowledges with a note of markup and
        # announces maintenance with a reason of markup.
        await page.goto(f"{live.url}/login")
        await page.fill("input[name=name]", "eve")
        await page.fill("input[name=password]", EVE_PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_selector("section.figures")
        assert PAYLOAD in await page.inner_text("header")
        await page.goto(f"{live.url}/faults/{ticket.id}")
        await page.fill("textarea[name=note], input[name=note]", f"note {PAYLOAD}")
        await page.click("form[action$='/ack'] button[type=submit]")
        await page.goto(f"{live.url}/maintenance")
        await page.fill("input[name=reason]", f"reason {PAYLOAD}")
        await page.fill("textarea[name=scope], input[name=scope]", camera)
        await page.click("form[action='/maintenance'] button[type=submit]")
        await page.click("form[action='/logout'] button[type=submit]")

        # Everyone else reads all of it, as an admin sees the most.
        await log_in(page, live.url, "wang")
        await page.wait_for_selector("section.figures")
        pages = {
            "/": PAYLOAD,
            "/faults": PAYLOAD,
            f"/faults/{ticket.id}": f"note {PAYLOAD}",
            "/fleet": PAYLOAD,
            f"/fleet/{camera}": PAYLOAD,
            "/maintenance": f"reason {PAYLOAD}",
            "/handover": f"note {PAYLOAD}",
            "/map": "",
        }
        for path, expected in pages.items():
            text = await visit(page, f"{live.url}{path}")
            assert expected in text, f"{path} does not show the text literally"
        # The fault list patched live from JSON: still text.
        await visit(page, f"{live.url}/faults")
        await page.evaluate("refreshFaults(document.querySelector('table.faults'))")
        await page.wait_for_function("() => document.body.dataset.liveReady === 'yes'")
        patched = await page.inner_text("table.faults")
        assert f"note {PAYLOAD}" in patched
        assert PAYLOAD in patched
        assert await page.evaluate("window.__xss === undefined")
        # The scope search's choices: the words as sent.
        found = await page.evaluate(
            "fetch('/scope.json?q=' + encodeURIComponent('<script')).then((r) => r.json())"
        )
        assert any(PAYLOAD in choice["label"] for choice in found)
        history = await visit(page, f"{live.url}/faults/{ticket.id}")
        assert history.count(PAYLOAD) >= 3  # the device, the note, eve's name as "by"
        await browser.close()
    assert dialogs == []
    assert violations == []  # no injected script even reached the CSP


def test_every_console_template_is_autoescaped() -> None:
    """A template added under templates/ is rendered by the one environment, escaped:
    each one given markup in a variable it prints renders it as text."""
    environment = templates_environment()
    names = sorted(path.name for path in (HERE / "templates").iterdir())
    assert names, "no templates found"
    for name in names:
        template = environment.get_template(name)
        escapes = environment.autoescape
        assert escapes is True or (callable(escapes) and escapes(name)), name
        assert template.environment is environment
    probe = environment.from_string("{{ value }}")
    assert probe.render(value=PAYLOAD) == (
        "&lt;script&gt;window.__xss=1&lt;/script&gt;&lt;img src=x "
        "onerror=&#34;window.__xss=2&#34;&gt;&#39;&#34;&amp;amp;"
    )


def test_no_template_or_script_bypasses_escaping() -> None:
    """No ``|safe``, ``Markup`` or ``autoescape false`` in the console, and its JavaScript
    builds no HTML from strings (live updates insert text)."""
    templates = "".join(path.read_text() for path in (HERE / "templates").iterdir())
    assert not re.search(r"\|\s*safe\b|autoescape\s+false|Markup\(", templates)
    python = "".join(path.read_text() for path in HERE.glob("*.py"))
    assert "Markup(" not in python
    scripts = sorted((HERE / "static").glob("*.js"))
    assert {"app.js", "live.js"} <= {path.name for path in scripts}
    for path in scripts:
        script = path.read_text()
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", script)


async def test_markup_from_an_agent_is_refused_at_the_wire_and_never_reaches_a_page(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    """Ids, check names and reasons are all a device or an agent can put on a page; the
    wire contract admits none with markup, and the refusal is counted, not shown."""
    async with console(tmp_path, broker.port, agent=False) as live:
        camera = next(d for d in inventory.devices if d.kind.value == "camera")
        agent = FakeAgent(broker.port, agent_id="edge-t", site="sim")
        stamp = format_timestamp(datetime.now(UTC))
        hostile = [
            {"device_id": camera.id, "observed_at": stamp, "health": "down",
             "reason": "timeout", "checks": {"<script>x</script>": "timeout"}},
            {"device_id": "<img src=x onerror=alert(1)>", "observed_at": stamp,
             "health": "down", "reason": "timeout"},
            {"device_id": camera.id, "observed_at": stamp, "health": "down",
             "reason": "<b>bold</b>"},
        ]  # fmt: skip
        for n, status in enumerate(hostile):
            batch = {"v": 1, "agent_id": "edge-t", "site": "sim", "seq": n, "sent_at": stamp,
                     "statuses": [status]}  # fmt: skip
            await agent.publish(json.dumps(batch).encode())
        await wait_for(lambda: live.collector.counters.dead_letters >= len(hostile))
        viewer = {"authorization": f"Bearer {live.tokens['li']}"}
        async with httpx.AsyncClient(base_url=live.url, headers=viewer) as client:
            for path in ("/", "/faults", "/fleet", f"/fleet/{camera.id}", "/tickets"):
                text = (await client.get(path)).text
                for marker in ("script>x", "script&gt;x", "onerror", "bold</b>", "bold&lt;"):
                    assert marker not in text, (path, marker)
