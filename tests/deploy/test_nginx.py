"""The shipped reverse proxy (deploy/nginx/slawatch.conf) on Debian's nginx, with a
certificate made by openssl, in front of a live console bound to loopback: the browser
speaks https only, the session cookie is Secure, the collector's security headers come
through once each, HSTS is added, and a form posted from the proxy's own https origin
is accepted while the plain-http origin is not."""

from __future__ import annotations

import asyncio
import re
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from playwright.async_api import async_playwright

from simulator.local_servers import Mosquitto, free_port
from tests.collector.web.console.conftest import PASSWORDS, console
from tests.collector.web.console.test_browser import CHROMIUM, POST_FORM, log_in, shot
from tests.conftest import REPO
from tests.language import english_words

SHIPPED = REPO / "deploy" / "nginx" / "slawatch.conf"
UNAVAILABLE = REPO / "deploy" / "nginx" / "unavailable"

pytestmark = [
    pytest.mark.skipif(shutil.which("nginx") is None, reason="Debian's nginx is not installed"),
    pytest.mark.usefixtures("inventory"),
]


def certificate(folder: Path) -> tuple[Path, Path]:
    key, cert = folder / "privkey.pem", folder / "fullchain.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext",
         "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return key, cert


def configure(folder: Path, upstream: str, also: str) -> tuple[Path, str, ssl.SSLContext]:
    """The shipped file with this test's ports, certificate and pages (and ``also``, a
    directive added to its server), checked by ``nginx -t``: the main config, the https
    base URL and a client context trusting the certificate."""
    folder.mkdir()
    key, cert = certificate(folder)
    https, http = free_port(), free_port()
    site = (
        SHIPPED.read_text(encoding="utf-8")
        .replace("listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;")
        .replace("listen 80;", f"listen 127.0.0.1:{http};")
        .replace("/etc/slawatch/tls/fullchain.pem", str(cert))
        .replace("/etc/slawatch/tls/privkey.pem", str(key))
        .replace("http://127.0.0.1:8080", f"http://{upstream}")
        .replace("/etc/nginx/slawatch/", f"{UNAVAILABLE}/")
        .replace("    proxy_http_version 1.1;\n", f"    proxy_http_version 1.1;\n    {also}\n")
    )
    assert site.count(upstream) == 4  # every location of the shipped file was re-pointed
    (folder / "site.conf").write_text(site, encoding="utf-8")
    main = folder / "nginx.conf"
    main.write_text(
        # Workers as root here: the test's folders are root's alone.
        f"user root;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\nevents {{}}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {folder};\n"
        f"  proxy_temp_path {folder};\n  include {folder}/site.conf;\n}}\n",
        encoding="utf-8",
    )
    checked = subprocess.run(
        ["nginx", "-t", "-p", str(folder), "-c", str(main)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    return main, f"https://localhost:{https}", ssl.create_default_context(cafile=str(cert))


@asynccontextmanager
async def proxy(
    folder: Path, upstream: str, also: str = ""
) -> AsyncIterator[tuple[str, ssl.SSLContext]]:
    """nginx running the shipped file in front of ``upstream`` (host:port): the https base
    URL, and the context to trust it."""
    main, base, trust = configure(folder, upstream, also)
    server = await asyncio.create_subprocess_exec(
        "nginx", "-p", str(folder), "-c", str(main), "-g", "daemon off;"
    )
    try:
        async with httpx.AsyncClient(verify=trust) as probe:
            for _ in range(100):
                try:
                    await probe.get(f"{base}/login")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        yield base, trust
    finally:
        server.terminate()
        await server.wait()


async def test_the_console_behind_the_shipped_tls_proxy(tmp_path: Path, broker: Mosquitto) -> None:
    async with (
        console(tmp_path, broker.port, agent=False) as live,
        proxy(tmp_path / "nginx", live.url.removeprefix("http://")) as (base, trust),
        httpx.AsyncClient(base_url=base, verify=trust) as web,
    ):
        page = await web.get("/login")
        assert page.status_code == 200
        cookie = page.headers["set-cookie"].lower()
        assert "; secure" in cookie
        assert "httponly" in cookie
        assert len(page.headers.get_list("content-security-policy")) == 1
        assert page.headers["strict-transport-security"] == "max-age=31536000"
        assert page.headers["x-frame-options"] == "DENY"
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        form = {"name": "zhang", "password": PASSWORDS["zhang"], "csrf": csrf.group(1)}
        plain_origin = base.replace("https://", "http://")
        refused = await web.post("/login", data=form, headers={"origin": plain_origin})
        assert refused.status_code == 403
        accepted = await web.post("/login", data=form, headers={"origin": base})
        assert accepted.status_code == 303
        assert accepted.headers["location"] == "/"
        assert (await web.get("/faults")).status_code == 200

        # nginx's own refusals: JSON to a script, the status kept ...
        big = {"note": "x" * (1 << 20)}
        sent = await web.post("/faults/ack", data=big, headers={"origin": base})
        assert sent.status_code == 413
        assert sent.headers["content-type"] == "application/json"
        # ... and to a browser the console's page in the reader's language.
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox"]
            )
            tab = await browser.new_page(ignore_https_errors=True)
            await log_in(tab, base, "zhang")
            await tab.wait_for_url(f"{base}/")
            async with tab.expect_navigation() as posted:
                await tab.evaluate(
                    POST_FORM, ["/faults/ack", {"note": "x" * (1 << 20), "csrf": "x"}]
                )
            said = await tab.inner_text("main")
            assert (await posted.value).status == 413
            assert "提交的内容过大" in said, said
            await shot(tab, "refused-413")
            assert english_words(said) == [], said
            statuses = []
            for _ in range(20):  # the login flood limit: 10 at once, then 30 a minute
                shown = await tab.goto(f"{base}/login")
                assert shown is not None
                statuses.append(shown.status)
                if shown.status == 429:
                    break
            said = await tab.inner_text("main")
            assert statuses[-1] == 429, statuses
            assert "请求过于频繁" in said, said
            await shot(tab, "refused-429")
            assert english_words(said) == [], said
            await browser.close()


async def test_a_stopped_collector_is_nginxs_own_page_chinese_first(tmp_path: Path) -> None:
    """Nothing answers where the collector listens (it is stopped): nginx says so itself,
    status 502 kept: a page to a browser, Chinese with no English word, then English;
    JSON to a script."""
    stopped = f"127.0.0.1:{free_port()}"
    async with (
        proxy(tmp_path / "nginx", stopped) as (base, trust),
        httpx.AsyncClient(base_url=base, verify=trust) as web,
    ):
        script = await web.get("/api/v1/faults")
        assert script.status_code == 502
        assert script.headers["content-type"] == "application/json"
        assert "not answering" in script.json()["detail"]
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox"]
            )
            tab = await browser.new_page(ignore_https_errors=True)
            shown = await tab.goto(f"{base}/faults")
            assert shown is not None
            assert shown.status == 502
            assert shown.headers["strict-transport-security"] == "max-age=31536000"
            chinese = await tab.inner_text("section[lang='zh-CN']")
            english = await tab.inner_text("section[lang='en']")
            await shot(tab, "unavailable-502")
            await browser.close()
        assert "采集器暂时没有应答" in chinese, chinese
        assert english_words(chinese) == [], chinese
        assert "The collector is not answering" in english, english
        assert re.search(r"[\u4e00-\u9fff]", english) is None, english


async def test_a_collector_too_slow_to_answer_is_the_same_page(tmp_path: Path) -> None:
    """A collector that takes the connection and never answers: 504 after the proxy's read
    timeout (cut to a second here), the same page and JSON."""

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until nginx gives up and hangs up
        writer.close()

    silent = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    async with (
        silent,
        proxy(tmp_path / "nginx", f"127.0.0.1:{port}", "proxy_read_timeout 1s;") as (base, trust),
        httpx.AsyncClient(base_url=base, verify=trust, timeout=30) as web,
    ):
        script = await web.get("/api/v1/faults")
        assert script.status_code == 504
        assert "not answering" in script.json()["detail"]
        page = await web.get("/faults", headers={"accept": "text/html"})
        assert page.status_code == 504
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert "采集器暂时没有应答" in page.text
