"""The broker's ACL (mosquitto's ``acl_file``), written from the inventory's agents.

Each agent (its broker username is its agent id) may publish only on its own site's
``status`` and ``alive`` topics and read only its own ``ack``: named topic by topic, so
an agent cannot publish under another site (a ``%u`` pattern cannot bind the site). The
collector reads every site's messages and writes the acks, alerts, dead letters and its
signed ledger head; the operators' account sends acknowledgement commands and reads the
alerts; the bureau's account reads the signed heads (its own subscriber keeps them where
the contractor cannot rewrite them: docs/evidence.md), and nobody else may write one.
An agent the inventory does not list gets nothing. Written again whenever agents are registered:
``slawatch-collector broker-acl INVENTORY > /etc/mosquitto/acl``.
"""

from __future__ import annotations

from agent.wire import TOPIC_ROOT, ack_topic, alive_topic, status_topic
from slawatch.config.inventory import Inventory
from slawatch.mqtt import HEAD_TOPIC_ROOT

COLLECTOR_USER = "slawatch-collector"
OPS_USER = "slawatch-ops"
BUREAU_USER = "slawatch-bureau"
HEAD_TOPICS = f"{HEAD_TOPIC_ROOT}/#"  # each district's own (slawatch.mqtt)


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
        f"topic write {HEAD_TOPICS}",
        f"user {OPS_USER}",
        f"topic write {TOPIC_ROOT}/commands/ack",
        f"topic read {TOPIC_ROOT}/alerts/#",
        f"user {BUREAU_USER}",
        f"topic read {HEAD_TOPICS}",
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
