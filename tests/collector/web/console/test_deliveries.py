"""The alert deliveries page: which channels fail, and by receiver the alerts nobody was
told, for whoever may read the console (a viewer here), with what the receivers answered
shown as text, never as markup."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import httpx

from simulator.local_servers import Mosquitto, free_port
from tests.collector.conftest import Receiver
from tests.collector.live import FakeAgent, load_collector, running, until_serving, write_settings
from tests.collector.test_service import minute_of
from tests.collector.web.console.conftest import write_users
from tests.collector.web.console.test_access import logged_in
from tests.conftest import wait_for

ANSWER = '<script>alert("x")</script> token expired'


async def test_a_viewer_sees_the_alerts_nobody_received_by_receiver(
    tmp_path: Path, broker: Mosquitto, receiver: Receiver
) -> None:
    # The duty room's webhook refuses (403) and its fallback is down: nobody gets the alert.
    receiver.answer["duty"] = (403, ANSWER)
    receiver.answer["noc"] = (503, "Service Unavailable")
    port = free_port()
    config = {
        "receivers": [
            {
                "id": "duty",
                "name": "值班室",
                "failing_after": "1s",
                "fallback": "noc",
                "channels": [{"type": "webhook", "url": receiver.url("duty")}],
            },
            {
                "id": "noc",
                "name": "网管中心",
                "channels": [{"type": "webhook", "url": receiver.url("noc")}],
            },
        ],
        "routes": [{"notify": ["duty"]}],
    }
    settings_file = write_settings(tmp_path, broker.port, alerting=config, api_port=port)
    users, _ = write_users(tmp_path)
    (tmp_path / "session-secret").write_text(secrets.token_urlsafe(48) + "\n", encoding="utf-8")
    settings = json.loads(settings_file.read_text(encoding="utf-8"))
    settings["console"] = {
        "users": str(users),
        "session_secret": {"file": str(tmp_path / "session-secret")},
    }
    settings_file.write_text(json.dumps(settings, ensure_ascii=False), encoding="utf-8")
    agent = FakeAgent(broker.port)
    base = f"http://127.0.0.1:{port}"
    async with running(load_collector(settings_file)) as collector:
        await until_serving(base)
        down = frozenset({"CAM041"})
        await agent.publish(
            *(agent.batch(minute_of(m, down if m >= 1 else frozenset())) for m in range(8))
        )
        await wait_for(lambda: collector.status()["alerts"]["reaching_no_one"] == ["duty"])
        [ticket] = [t.id for t in collector.pipeline.faults.tickets.values()]
        async with httpx.AsyncClient(base_url=base, follow_redirects=False) as anonymous:
            refused = await anonymous.get("/deliveries", headers={"accept": "text/html"})
            assert refused.status_code == 303
            assert refused.headers["location"].startswith("/login")
        async with httpx.AsyncClient(base_url=base, headers={"origin": base}) as viewer:
            await logged_in(viewer, "li")
            page = await viewer.get("/deliveries")
            assert page.status_code == 200
            nobody = page.text
            # The fallback is back: the page says who got the alert after all.
            del receiver.answer["noc"]
            await wait_for(
                lambda: any(p["alert"] == "handed_over" for p in receiver.posts.get("noc", []))
            )
            await wait_for(lambda: collector.status()["alerts"]["reaching_no_one"] == [])
            told = (await viewer.get("/deliveries?lang=en")).text
    assert 'href="/deliveries"' in nobody  # in the navigation
    for words in (
        "告警无法送达任何人",
        "值班室",
        "duty/0-webhook",
        "认证被拒：令牌错误或已过期",
        "新故障",
        f'href="/faults/{ticket}"',
        "无人收到",
    ):
        assert words in nobody, words
    # What the receiver answered is shown as text, not run as markup.
    assert "<script>" not in nobody
    assert "&lt;script&gt;" in nobody
    assert "Alerts are reaching no one" not in told
    assert "authorisation refused" in told
    assert "nobody" not in told.split("Alerts not delivered", 1)[1]
    assert "网管中心" in told.split("Alerts not delivered", 1)[1]
