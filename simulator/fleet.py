"""Generate a realistic fleet inventory: links, switches, cameras, door-access sets, checkpoints.

Every device gets its own loopback address (127.16.0.0 upward) and standard-looking
ports, so one simulator process can serve thousands of devices the way a real network
would present them: the address tells which device answers. Topology follows a district
network: links (half with backup fibre) carry access switches, cameras and door-access
sets hang off switch ports, checkpoints sit directly on a link.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from ipaddress import IPv4Address
from typing import Any

# Another base (SLAWATCH_SIM_FIRST_ADDRESS) lets two simulators share one machine.
FIRST_ADDRESS = IPv4Address(os.environ.get("SLAWATCH_SIM_FIRST_ADDRESS", "127.16.0.1"))
ONVIF_PORT = 8000
RTSP_PORT = 8554
SNMP_PORT = 16100
SWITCH_PORTS = 24
SWITCHES_PER_LINK = 4
SERVICE_START = date(2026, 1, 1)
VENDORS = ("Hikvision", "Dahua", "Uniview", "Axis")
POLICE_STATIONS = ("城关", "新城", "东湖", "西山", "南岗", "北苑", "滨江", "高新")


@dataclass(frozen=True, slots=True)
class FleetSize:
    cameras: int
    door_sets: int
    checkpoints: int
    switches: int

    @property
    def devices(self) -> int:
        return self.cameras + 3 * self.door_sets + self.checkpoints + self.switches


def device_address(index: int) -> str:
    """The loopback address of the index-th device; skips .0 and .255 host parts."""
    return str(FIRST_ADDRESS + index + 2 * (index // 254))


def inventory_header(
    size: FleetSize, site: str = "sim", agents: list[str] | None = None
) -> dict[str, Any]:
    """The inventory's head; ``agents``: the edge agents registered for the site (the
    collector then takes batches from those only)."""
    links = max(1, -(-size.switches // SWITCHES_PER_LINK))
    regions = min(len(POLICE_STATIONS), max(1, size.devices // 500 + 1))
    return {
        "kind": "inventory",
        "sites": [
            {"id": site, "name": "Simulated district", **({"agents": agents} if agents else {})}
        ],
        "regions": [
            {
                "id": f"R{r + 1:02d}",
                "name": f"{POLICE_STATIONS[r]}街道",
                "street": f"{POLICE_STATIONS[r]}街道",
                "police_station": f"{POLICE_STATIONS[r]}派出所",
            }
            for r in range(regions)
        ],
        "contracts": [
            {
                "id": "cam-rent",
                "name": "高清摄像机租赁",
                "unit": "device",
                "policy": "xinjian-2020",
            },
            {
                "id": "door-rent",
                "name": "视频门禁租赁",
                "unit": "set",
                "policy": "pingshan-door-access",
            },
            {
                "id": "kk-service",
                "name": "道路卡口运维",
                "unit": "device",
                "policy": "panyu-checkpoints",
            },
        ],
        "phases": [{"id": "P1", "name": "一期"}, {"id": "P2", "name": "二期"}],
        "links": [
            {"id": f"L{n + 1:04d}", "name": f"汇聚光纤 {n + 1}", "backup_fiber": n % 2 == 0}
            for n in range(links)
        ],
        "credentials": {
            "cam-default": {"username": "admin", "password": {"env": "SLAWATCH_CAMERA_PASSWORD"}},
            "snmp-v2c": {"snmp_community": {"env": "SLAWATCH_SNMP_COMMUNITY"}},
            "door-v3": {
                "snmp_v3": {
                    "user": "slawatch",
                    "auth_protocol": "SHA",
                    "auth_key": {"env": "SLAWATCH_SNMP_AUTH_KEY"},
                    "priv_protocol": "AES",
                    "priv_key": {"env": "SLAWATCH_SNMP_PRIV_KEY"},
                }
            },
        },
    }


def fleet_devices(size: FleetSize, site: str = "sim") -> Iterator[dict[str, Any]]:
    """Yield device rows in inventory order: switches first, then what hangs off them."""
    header = inventory_header(size, site)
    regions = [region["id"] for region in header["regions"]]
    index = 0

    def base(device_id: str, name: str, kind: str) -> dict[str, Any]:
        nonlocal index
        row = {
            "id": device_id,
            "name": name,
            "kind": kind,
            "site": site,
            "address": device_address(index),
            "region": regions[index % len(regions)],
            "service_start": SERVICE_START,
        }
        index += 1
        return row

    for s in range(size.switches):
        row = base(f"SW{s + 1:05d}", f"接入交换机 {s + 1}", "switch")
        row |= {
            "snmp": {"port": SNMP_PORT, "profile": "if-mib-switch"},
            "credentials": "snmp-v2c",
            "ports": SWITCH_PORTS,
            "link": f"L{s // SWITCHES_PER_LINK + 1:04d}",
        }
        yield row

    ports = _switch_ports(size.switches)
    for c in range(size.cameras):
        row = base(f"CAM{c + 1:06d}", f"视频点位 {c + 1}", "camera")
        row |= _camera_fields(c) | {"contract": "cam-rent", "point_class": 1 + c % 3}
        row |= {"phase": "P1" if c % 4 else "P2", "uplink": next(ports)}
        yield row
    for d in range(size.door_sets):
        host = base(f"DH{d + 1:06d}", f"门禁主机 {d + 1}", "door_host")
        host |= {
            "snmp": {"port": SNMP_PORT, "version": "3", "profile": "door-host-generic"},
            "credentials": "door-v3",
            "uplink": next(ports),
        }
        yield host
        for k in (1, 2):
            camera = base(f"DC{d + 1:06d}-{k}", f"门禁摄像机 {d + 1}-{k}", "camera")
            camera |= _camera_fields(d * 2 + k) | {"uplink": next(ports)}
            yield camera
    links = len(header["links"])
    for k in range(size.checkpoints):
        row = base(f"KK{k + 1:05d}", f"卡口 {k + 1}", "checkpoint")
        row |= {
            "snmp": {"port": SNMP_PORT, "profile": "checkpoint-generic"},
            "credentials": "snmp-v2c",
            "contract": "kk-service",
            "point_class": 1,
            "uplink": {"link": f"L{k % links + 1:04d}"},
        }
        yield row


def fleet_sets(size: FleetSize) -> Iterator[dict[str, Any]]:
    for d in range(size.door_sets):
        yield {
            "id": f"SET{d + 1:06d}",
            "name": f"视频门禁 {d + 1}",
            "host": f"DH{d + 1:06d}",
            "cameras": [f"DC{d + 1:06d}-1", f"DC{d + 1:06d}-2"],
            "contract": "door-rent",
        }


def _camera_fields(n: int) -> dict[str, Any]:
    return {
        "onvif": {"port": ONVIF_PORT},
        "rtsp": {"port": RTSP_PORT},
        "credentials": "cam-default",
        "vendor": VENDORS[n % len(VENDORS)],
    }


def _switch_ports(switches: int) -> Iterator[dict[str, Any]]:
    """Fill switch ports round-robin so load and blast radius are spread like a real site."""
    if switches == 0:
        raise ValueError("cameras and door sets need at least one switch")
    port = 0
    while True:
        yield {
            "switch": f"SW{port % switches + 1:05d}",
            "port": port // switches % SWITCH_PORTS + 1,
        }
        port += 1
