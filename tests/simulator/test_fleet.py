"""An operator generates a simulated fleet and gets an inventory the config checker accepts."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

from simulator.cli import main
from simulator.fleet import device_address
from slawatch.config.check import EXIT_OK, check_files
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config


def test_fleet_command_writes_a_valid_inventory_with_realistic_topology(tmp_path: Path) -> None:
    code = main(
        [
            "fleet",
            "--cameras",
            "300",
            "--door-sets",
            "20",
            "--checkpoints",
            "6",
            "--switches",
            "16",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    file = tmp_path / "inventory.yaml"
    assert check_files([file], {"inventory"}, io.StringIO()) == EXIT_OK

    inventory = load_config(file, Inventory)
    assert len(inventory.devices) == 300 + 60 + 6 + 16
    assert len({device.address for device in inventory.devices}) == len(inventory.devices)
    assert {link.backup_fiber for link in inventory.links} == {True, False}
    per_switch = Counter(d.uplink.switch for d in inventory.devices if d.uplink and d.uplink.switch)
    assert len(per_switch) == 16
    assert max(per_switch.values()) - min(per_switch.values()) <= 1


def test_addresses_skip_network_and_broadcast_host_parts() -> None:
    hosts = {int(device_address(i).rsplit(".", 1)[1]) for i in range(2000)}
    assert 0 not in hosts
    assert 255 not in hosts
    assert len({device_address(i) for i in range(2000)}) == 2000
