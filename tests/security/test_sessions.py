"""Sessions end when they should, logins are throttled, forms come from the console only,
and every response carries the headers that keep a browser safe."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import httpx
import pytest

from collector.web.console.users import add_user
from collector.web.headers import CONTENT_SECURITY_POLICY
from simulator.local_servers import Mosquitto
from tests.collector.web.console.conftest import PASSWORDS, browser, console
from tests.collector.web.console.test_access import logged_in

pytestmark = pytest.mark.usefixtures("inventory")  # the simulated fleet's inventory.yaml


async def test_logout_ends_the_session_on_the_server_and_the_old_cookie_is_worthless(
    tmp_path: Path, broker: Mosquitto
) -> None:
    async with console(tmp_path, broker.port, agent=False) as live, browser(live) as client:
        csrf = await logged_in(client, "zhang")
        stolen = dict(client.cookies)
        assert (await client.get("/faults")).status_code == 200
        assert (await client.post("/logout", data={"csrf": csrf})).status_code == 303
        async with browser(live) as thief:
            thief.cookies.update(stolen)
            assert (await thief.get("/faults")).status_code == 401


async def test_a_new_password_or_a_removed_user_ends_every_session_of_that_user(
    tmp_path: Path, broker: Mosquitto
) -> None:
    async with console(tmp_path, broker.port, agent=False) as live:
        async with browser(live) as laptop, browser(live) as phone:
            await logged_in(laptop, "zhang")
            await logged_in(phone, "zhang")
            assert (await phone.get("/faults")).status_code == 200
            await asyncio.sleep(0.01)  # the users file's new mtime differs from the first
            add_user(tmp_path / "users.yaml", "zhang", "operator", "a-new-password-2", "张工")
            assert (await laptop.get("/faults")).status_code == 401
            assert (await phone.get("/faults")).status_code == 401
        async with browser(live) as client:
            await logged_in(client, "li")
            users = (tmp_path / "users.yaml").read_text(encoding="utf-8")
            kept = re.sub(r"- name: li\n(  .*\n)+", "", users)
            assert kept != users
            (tmp_path / "users.yaml").write_text(kept, encoding="utf-8")
            assert (await client.get("/faults")).status_code == 401


async def test_a_session_left_idle_ends(tmp_path: Path, broker: Mosquitto) -> None:
    async with (
        console(tmp_path, broker.port, agent=False, idle_timeout="1s") as live,
        browser(live) as client,
    ):
        await logged_in(client, "li")
        assert (await client.get("/faults")).status_code == 200
        await asyncio.sleep(1.5)
        assert (await client.get("/faults")).status_code == 401


async def test_wrong_passwords_lock_the_name_until_an_admin_lifts_it(
    tmp_path: Path, broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="slawatch.audit")
    async with console(tmp_path, broker.port, agent=False) as live, browser(live) as attacker:
        page = await attacker.get("/login")
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found is not None
        csrf = found.group(1)
        for _ in range(5):
            reply = await attacker.post(
                "/login", data={"name": "zhang", "password": "guess", "csrf": csrf}
            )
            assert "failed=1" in reply.headers["location"]
        right = {"name": "zhang", "password": PASSWORDS["zhang"], "csrf": csrf}
        refused = await attacker.post("/login", data=right)
        assert "locked=1" in refused.headers["location"]
        assert (await attacker.get("/faults")).status_code == 401
        async with browser(live) as admin:
            admin_csrf = await logged_in(admin, "wang")
            security = await admin.get("/security")
            assert "user:zhang" in security.text
            lifted = await admin.post(
                "/security/lift", data={"key": "user:zhang", "csrf": admin_csrf}
            )
            assert lifted.status_code == 303
        accepted = await attacker.post("/login", data=right)
        assert accepted.headers["location"] == "/"
    audit = [r.getMessage() for r in caplog.records if r.name == "slawatch.audit"]
    assert sum("login failed: user='zhang'" in line for line in audit) == 5
    assert any("locked out user:zhang" in line for line in audit)
    assert any("lockout lifted: user:zhang by 'wang'" in line for line in audit)
    assert any("login: user='zhang'" in line for line in audit)
    assert not any(PASSWORDS["zhang"] in line or "guess" in line for line in audit)


async def test_one_address_guessing_many_names_is_locked_out_not_the_others(
    tmp_path: Path, broker: Mosquitto
) -> None:
    async with (
        console(tmp_path, broker.port, agent=False, max_failures_per_address=3) as live,
        browser(live) as client,
    ):
        page = await client.get("/login")
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found is not None
        csrf = found.group(1)
        spraying = {"x-forwarded-for": "198.51.100.7"}  # through the trusted local proxy
        for name in ("a1", "a2", "a3"):
            await client.post(
                "/login", data={"name": name, "password": "x", "csrf": csrf}, headers=spraying
            )
        right = {"name": "li", "password": PASSWORDS["li"], "csrf": csrf}
        refused = await client.post("/login", data=right, headers=spraying)
        assert "locked=1" in refused.headers["location"]
        elsewhere = await client.post("/login", data=right, headers={"x-forwarded-for": "10.9.9.9"})
        assert elsewhere.headers["location"] == "/"


async def test_a_form_posted_from_another_origin_changes_nothing(
    tmp_path: Path, broker: Mosquitto
) -> None:
    async with console(tmp_path, broker.port, agent=False) as live, browser(live) as client:
        csrf = await logged_in(client, "zhang")
        form = {"start": "2030-01-01T00:00", "end": "2030-01-01T01:00", "reason": "x",
                "scope": "R01", "csrf": csrf}  # fmt: skip
        evil = await client.post(
            "/maintenance", data=form, headers={"origin": "http://evil.example"}
        )
        assert evil.status_code == 403
        del client.headers["origin"]
        bare = await client.post("/maintenance", data=form)
        assert bare.status_code == 403  # neither Origin nor Referer: refused
        page = (await client.get("/maintenance")).text
        assert "2030-01-01" not in page
        referred = await client.post(
            "/maintenance", data=form, headers={"referer": f"{live.url}/maintenance"}
        )
        assert referred.status_code == 303


async def test_every_response_carries_the_security_headers_and_https_cookies_are_secure(
    tmp_path: Path, broker: Mosquitto
) -> None:
    async with console(tmp_path, broker.port, agent=False) as live, browser(live) as client:
        for path in ("/login", "/static/app.js", "/healthz", "/nowhere"):
            reply = await client.get(path)
            assert reply.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
            assert (
                "'unsafe-inline'"
                not in CONTENT_SECURITY_POLICY.split("script-src")[1].split(";")[0]
            )
            assert reply.headers["x-content-type-options"] == "nosniff"
            assert reply.headers["referrer-policy"] == "same-origin"
            assert "frame-ancestors 'none'" in reply.headers["content-security-policy"]
        async with httpx.AsyncClient(base_url=live.url) as fresh:
            plain = await fresh.get("/login")
            assert "secure" not in plain.headers["set-cookie"].lower()
        async with httpx.AsyncClient(base_url=live.url) as proxied:
            # The TLS proxy on this host says the browser came over https.
            tls = await proxied.get("/login", headers={"x-forwarded-proto": "https"})
            cookie = tls.headers["set-cookie"].lower()
            assert "; secure" in cookie
            assert "httponly" in cookie
            assert "samesite=strict" in cookie
