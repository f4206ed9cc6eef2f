"""The agent runs on uvloop in production (``slawatch-agent`` starts it): so do its tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest
import uvloop

from simulator.local_servers import Mosquitto


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    if item.get_closest_marker("stdlib_loop"):
        return {"asyncio": asyncio.new_event_loop}
    return {"uvloop": uvloop.new_event_loop}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """Debian's mosquitto on a free loopback port, with persistence (restartable)."""
    server = Mosquitto(tmp_path / "broker")
    server.start()
    try:
        yield server
    finally:
        server.stop()
