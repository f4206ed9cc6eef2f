"""A live collector with its console, fed by the simulated fleet through a real agent."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from collector.service import Collector
from collector.web.console.users import add_user, new_token
from simulator.local_servers import free_port
from tests.collector.live import (
    field_agent,
    field_collector,
    field_policy,
    load_collector,
    running,
    until_serving,
)
from tests.conftest import wait_for

API_TOKEN = "console-test-api-token-0123456789"
PASSWORDS = {
    "zhang": "zhang-password-1",
    "li": "li-password-1",
    "wang": "wang-password-1",
    "zhao": "zhao-password-1",
}


@dataclass
class Console:
    url: str
    collector: Collector
    tokens: dict[str, str]
    folder: Path


def write_users(folder: Path) -> tuple[Path, dict[str, str]]:
    users = folder / "users.yaml"
    add_user(users, "zhang", "operator", PASSWORDS["zhang"], "张工")
    add_user(users, "li", "viewer", PASSWORDS["li"], "李工")
    add_user(users, "wang", "admin", PASSWORDS["wang"], None)
    add_user(users, "zhao", "evaluator", PASSWORDS["zhao"], "赵科长")  # the bureau's
    return users, {name: new_token(users, name) for name in ("zhang", "li")}


@asynccontextmanager
async def console(
    folder: Path,
    broker_port: int,
    *,
    open_read: bool = False,
    agent: bool = True,
    api: dict[str, Any] | None = None,
    signing: dict[str, Any] | None = None,
    **console_settings: Any,
) -> AsyncIterator[Console]:
    """The console on a live collector; ``api`` and ``console_settings`` add to those
    sections of its settings, ``signing`` is its signing section (none: the test key)."""
    users, tokens = write_users(folder)
    (folder / "session-secret").write_text(secrets.token_urlsafe(48) + "\n", encoding="utf-8")
    (folder / "api-token").write_text(API_TOKEN + "\n", encoding="utf-8")
    port = free_port()
    policy = field_policy(
        folder,
        debounce={"down_after": 2, "up_after": 1},
        network_fault={"min_devices": 3, "share": 0.8, "window": "2s"},
    )
    settings = field_collector(
        folder,
        broker_port,
        policy,
        api={"bind": f"127.0.0.1:{port}", "token": {"file": str(folder / "api-token")}}
        | (api or {}),
        console={
            "users": str(users),
            "session_secret": {"file": str(folder / "session-secret")},
            "open_read": open_read,
        }
        | console_settings,
        **({} if signing is None else {"signing": signing}),
    )
    collector = load_collector(settings)
    async with running(collector):
        if agent:
            async with field_agent(folder, broker_port):
                await wait_for(lambda: collector.pipeline.watermark is not None, 20)
                yield Console(f"http://127.0.0.1:{port}", collector, tokens, folder)
        else:
            await until_serving(f"http://127.0.0.1:{port}")
            yield Console(f"http://127.0.0.1:{port}", collector, tokens, folder)


def browser(live: Console) -> httpx.AsyncClient:
    """A client that posts as the console's own pages do: from the console's origin."""
    return httpx.AsyncClient(base_url=live.url, headers={"origin": live.url})
