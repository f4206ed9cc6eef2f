"""The broker's ACL (mosquitto's ``acl_file``), written from the inventory's agents.

Each agent (its broker username is its agent id) may publish only on its own site's
``status`` and ``alive`` topics and read only its own ``ack``: named topic by topic, so
an agent cannot publish under another site (a ``%u`` pattern cannot bind the site). The
collector reads its own sites' messages and writes their acks, the alerts, dead letters
and its own district's signed ledger head (``slawatch.mqtt.head_topic_for``); the
operators' account sends acknowledgement commands and reads the alerts; the bureau's
account reads the signed heads (its own subscriber keeps them where the contractor cannot
rewrite them: docs/evidence.md), and nobody else may write one. An agent the inventory
does not list gets nothing.

Districts sharing one broker give one inventory each: each district's collector then has
an account of its own, named from its sites as its client ids are
(``slawatch-collector-<sites>``), so neither can read the other's agents, ack them, or
overwrite the other's retained head. Written again whenever agents are registered:
``slawatch-collector broker-acl INVENTORY [INVENTORY…] > /etc/mosquitto/acl``.
"""

from __future__ import annotations

from agent.wire import TOPIC_ROOT, ack_topic, alive_topic, status_topic
from slawatch.config.inventory import Inventory
from slawatch.messages import text
from slawatch.mqtt import HEAD_TOPIC_ROOT, district_of, head_topic_for

COLLECTOR_USER = "slawatch-collector"
OPS_USER = "slawatch-ops"
BUREAU_USER = "slawatch-bureau"
HEAD_TOPICS = f"{HEAD_TOPIC_ROOT}/#"  # each district's own (slawatch.mqtt)


def collector_user(sites: list[str], shared: bool) -> str:
    """The collector's account: ``slawatch-collector``, or on a broker districts share,
    one of the district's own."""
    return f"{COLLECTOR_USER}-{district_of(sites)}" if shared else COLLECTOR_USER


def broker_acl(*inventories: Inventory) -> str:
    """The ACL for one district's broker, or for districts sharing one (an inventory
    each); ValueError if two of them list the same site or agent."""
    _disjoint(inventories)
    lines = [
        "# Written by `slawatch-collector broker-acl` from the inventory: edit the inventory",
        "# (sites[].agents) and write it again, not this file.",
    ]
    for inventory in inventories:
        sites = [site.id for site in inventory.sites]
        lines.append(f"user {collector_user(sites, len(inventories) > 1)}")
        for site_id in sorted(sites):
            lines += [
                f"topic read {TOPIC_ROOT}/{site_id}/+/status",
                f"topic read {TOPIC_ROOT}/{site_id}/+/alive",
            ]
        lines += [f"topic read {TOPIC_ROOT}/commands/ack"]
        lines += [f"topic write {TOPIC_ROOT}/{site_id}/+/ack" for site_id in sorted(sites)]
        lines += [
            f"topic write {TOPIC_ROOT}/alerts/#",
            f"topic write {TOPIC_ROOT}/deadletter",
            f"topic write {head_topic_for(sites)}",
        ]
    lines += [
        f"user {OPS_USER}",
        f"topic write {TOPIC_ROOT}/commands/ack",
        f"topic read {TOPIC_ROOT}/alerts/#",
        f"user {BUREAU_USER}",
        f"topic read {HEAD_TOPICS}",
    ]
    for inventory in inventories:
        for site in inventory.sites:
            for agent in site.agents:
                lines += [
                    f"user {agent}",
                    f"topic write {status_topic(site.id, agent)}",
                    f"topic write {alive_topic(site.id, agent)}",
                    f"topic read {ack_topic(site.id, agent)}",
                ]
    return "\n".join(lines) + "\n"


def _disjoint(inventories: tuple[Inventory, ...]) -> None:
    """Districts sharing a broker share no site and no agent (each is one district's)."""
    seen: dict[tuple[str, str], int] = {}
    for number, inventory in enumerate(inventories, 1):
        for site in inventory.sites:
            for what, name in (("site", site.id), *(("agent", a) for a in site.agents)):
                first = seen.setdefault((what, name), number)
                if first != number:
                    said = text(f"inventory.what.{what}")
                    raise ValueError(
                        text("acl.shared", what=said, name=name, first=first, second=number)
                    )
