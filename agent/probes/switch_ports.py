"""Which interface of a switch is the port the inventory names (``uplink: {port: …}``).

Real switches do not number ports by ifIndex: a Cisco C3560's Gi0/3 is ifIndex 10103, a
Huawei S5720's GigabitEthernet0/0/3 is ifIndex 8 (after InLoopBack0, NULL0, Console and
MEth0/0/1). The rule, also in ``docs/agent.md``:

- a name (``"GigabitEthernet0/0/3"``, ``"Gi1/0/3"``, ``"GE0/0/3"``) matches ifName or
  ifDescr exactly, ignoring case, or in its abbreviated form (same numbers, and the
  letters of one are the start of the other's, or a common alias such as GE);
- a number N is the Nth front-panel Ethernet port: interfaces of Ethernet type
  (ifType 6, 62 or 117) in ifIndex order, management ports (MEth, Mgmt) left out.
  On a stacked or modular switch, give the name.

A port is judged by its ifOperStatus while its administrator keeps it up: anything but
up(1) and unknown(4) is ``link_down`` (``OPER_DOWN``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_TYPE = "1.3.6.1.2.1.2.2.1.3"
IF_ADMIN_STATUS = "1.3.6.1.2.1.2.2.1.7"
IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
ETHERNET_TYPES = frozenset({6, 62, 117})  # ethernetCsmacd, fastEther, gigabitEthernet
_MANAGEMENT = ("meth", "mgmt", "m-", "management")
_ALIASES = {
    "ge": "gigabitethernet",
    "xge": "xgigabitethernet",
    "fe": "fastethernet",
    "te": "tengigabitethernet",
    "eth": "ethernet",
}
_SPLIT = re.compile(r"^([A-Za-z-]*)\s*(\d.*)$")
ADMIN_DOWN = 2
# ifOperStatus (RFC 2863). With the port administratively up, only up(1) passes traffic:
# down, lowerLayerDown, notPresent (its module or SFP is missing), dormant (waiting, e.g.
# for 802.1X authentication) and testing all cut off the device behind the port.
OPER_UNKNOWN = 4
OPER_DOWN = frozenset({2, 3, 5, 6, 7})
OPER_NAMES = {
    1: "up",
    2: "down",
    3: "testing",
    4: "unknown",
    5: "dormant",
    6: "notPresent",
    7: "lowerLayerDown",
}


@dataclass(frozen=True, slots=True)
class Interface:
    index: int
    name: str
    descr: str
    type: int


def front_panel(interfaces: list[Interface]) -> list[Interface]:
    return [
        i
        for i in sorted(interfaces, key=lambda i: i.index)
        if i.type in ETHERNET_TYPES and not i.name.lower().startswith(_MANAGEMENT)
    ]


def _abbreviated(spec: str, name: str) -> bool:
    wanted, have = _SPLIT.match(spec.strip()), _SPLIT.match(name.strip())
    if wanted is None or have is None or wanted.group(2) != have.group(2):
        return False
    short, long = wanted.group(1).lower(), have.group(1).lower()
    if not short or not long:
        return False
    return long.startswith(short) or short.startswith(long) or _ALIASES.get(short) == long


def resolve(spec: int | str, interfaces: list[Interface]) -> Interface | None:
    """The interface ``spec`` names, or None when none (or more than one) matches."""
    if isinstance(spec, int):
        ports = front_panel(interfaces)
        return ports[spec - 1] if 0 < spec <= len(ports) else None
    wanted = spec.strip().lower()
    exact = [i for i in interfaces if wanted in (i.name.lower(), i.descr.strip().lower())]
    if len(exact) == 1:
        return exact[0]
    short = [i for i in interfaces if _abbreviated(spec, i.name)]
    return short[0] if len(short) == 1 else None
