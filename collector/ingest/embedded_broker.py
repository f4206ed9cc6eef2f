"""A pure-Python MQTT broker (amqtt) inside the collector, for the demo and small sites.

Bound to the configured host (127.0.0.1 by default) and never to 0.0.0.0, which is
amqtt's own default. Production points the agents and the collector at mosquitto or
EMQX instead (``deploy/``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from amqtt.broker import Broker

from slawatch.config.settings import BrokerSettings


@asynccontextmanager
async def embedded_broker(settings: BrokerSettings) -> AsyncIterator[None]:
    for name in ("amqtt", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
    broker = Broker(
        {
            "listeners": {
                "default": {"type": "tcp", "bind": f"{settings.host}:{settings.port}"},
            },
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    try:
        yield
    finally:
        await broker.shutdown()
