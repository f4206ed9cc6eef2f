"""Switches numbered the vendors' way in the simulator: a cut port is found by number or name.

SW00001 is a Cisco C3560 (Gi0/N at ifIndex 101NN) and SW00002 a Huawei S5720
(GigabitEthernet0/0/N after InLoopBack0, NULL0, Console9/0/0, MEth0/0/1 and Vlanif1),
served from their real recordings. Before ports were resolved, the inventory's port 3
was compared with ifIndex 3 (a VLAN on the Cisco, the console on the Huawei).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from agent.probes.base import Target
from agent.probes.snmp import SnmpProbe
from agent.wire import Health, Reason, port_check
from simulator.devices import Fault
from simulator.fleet import fleet_devices, fleet_sets, inventory_header
from simulator.fleet_runner import FaultSpec, Fleet
from slawatch.config.inventory import Inventory, Uplink
from slawatch.config.loader import load_config
from slawatch.config.writer import write_inventory
from tests.conftest import SIZE

VENDORS = {"SW00001": "Cisco", "SW00002": "Huawei"}


@pytest.fixture
def inventory(tmp_path: Path, secrets_in_env: None) -> Inventory:
    file = tmp_path / "inventory.yaml"
    write_inventory(file, inventory_header(SIZE), fleet_devices(SIZE), fleet_sets(SIZE))
    district = load_config(file, Inventory)
    devices = [replace(d, vendor=VENDORS.get(d.id, d.vendor)) for d in district.devices]
    return district.model_copy(update={"devices": devices})


def on_port(targets: dict[str, Target], switch: str) -> tuple[str, int]:
    """A device of the fleet hanging off ``switch``, and its port number."""
    for target in targets.values():
        uplink = target.device.uplink
        if uplink is not None and uplink.switch == switch and isinstance(uplink.port, int):
            return target.device.id, uplink.port
    raise AssertionError(f"nothing on {switch}")


@pytest.mark.parametrize(
    ("switch", "interface"), [("SW00001", "Gi0/{}"), ("SW00002", "GigabitEthernet0/0/{}")]
)
async def test_a_cut_port_is_found_by_its_number_on_the_vendors_table(
    snmp_probe: SnmpProbe, targets: dict[str, Target], fleet: Fleet, switch: str, interface: str
) -> None:
    _, port = on_port(targets, switch)
    result = await snmp_probe.probe(targets[switch], deep=False)
    assert (result.health, result.metrics["ports_down"]) == (Health.UP, 0), result
    await fleet.inject(f"port:{switch}/{port}", FaultSpec(Fault.DOWN))
    result = await snmp_probe.probe(targets[switch], deep=False)
    assert result.checks[port_check(port)] is Reason.LINK_DOWN
    # The same port named the way the switch names it, as a 台账 often does.
    named = interface.format(port)
    by_name = Target(targets[switch].device, targets[switch].credentials, (named,))
    result = await snmp_probe.probe(by_name, deep=True)
    assert result.checks[port_check(named)] is Reason.LINK_DOWN
    assert result.metrics["ports_down"] == 1


async def test_a_port_cut_by_name_silences_the_device_named_on_it(
    fleet: Fleet, targets: dict[str, Target]
) -> None:
    device_id, port = on_port(targets, "SW00001")
    spec = fleet.by_id[device_id].spec
    fleet.by_id[device_id].spec = replace(spec, uplink=Uplink(switch="SW00001", port=f"Gi0/{port}"))
    reached = await fleet.inject(f"port:SW00001/Gi0/{port}", FaultSpec(Fault.DOWN))
    assert device_id in reached
