"""The broker's ACL (mosquitto's ``acl_file``), written from the inventory's agents.

Each agent (its broker username is its agent id) may publish only on its own site's
``status`` and ``alive`` topics and read only its own ``ack``: named topic by topic, so
an agent cannot publish under another site (a ``%u`` pattern cannot bind the site). The
collector reads every site's messages and writes the acks, alerts and dead letters; the
operators' account sends acknowledgement commands and reads the alerts. An agent the
inventory does not list gets nothing. Written again whenever agents are registered:
``slawatch-collector broker-acl INVENTORY > /etc/mosquitto/acl``.
"""

from __future__ import annotations

from agent.wire import TOPIC_ROOT, ack_topic, alive_topic, status_topic
from slawatch.config.inventory import Inventory

COLLECTOR_USER = "slawatch-collector"
OPS_USER = "slawatch-ops"


def broker_acl(inventory: Inventory) -> str:
    lines = [
        "# Written by `slawatch-collector broker-acl` from the inventory: edit the inventory",
        "# (sites[].agents) and write it again, not this file.",
        f"user {COLLECTOR_USER}",
        f"topic read {TOPIC_ROOT}/+/+/status",
        f"topic read {TOPIC_ROOT}/+/+/alive",
        f"topic read {TOPIC_ROOT}/commands/ack",
        f"topic write {TOPIC_ROOT}/+/+/ack",
        f"topic write {TOPIC_ROOT}/alerts/#",
        f"topic write {TOPIC_ROOT}/deadletter",
        f"user {OPS_USER}",
        f"topic write {TOPIC_ROOT}/commands/ack",
        f"topic read {TOPIC_ROOT}/alerts/#",
    ]
    for site in inventory.sites:
        for agent in site.agents:
            lines += [
                f"user {agent}",
                f"topic write {status_topic(site.id, agent)}",
                f"topic write {alive_topic(site.id, agent)}",
                f"topic read {ack_topic(site.id, agent)}",
            ]
    return "\n".join(lines) + "\n"
