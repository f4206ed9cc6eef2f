"""Large inventories are written one device per line; problems there still name their line."""

from __future__ import annotations

import io
import re
from pathlib import Path

from simulator.fleet import FleetSize, fleet_devices, fleet_sets, inventory_header
from slawatch.config.check import EXIT_INVALID, EXIT_OK, check_files
from slawatch.config.inventory import DeviceKind, Inventory
from slawatch.config.loader import load_config
from slawatch.config.writer import write_inventory
from tests.agent_keys import registered

SIZE = FleetSize(cameras=40, door_sets=5, checkpoints=3, switches=4)


def write_fleet(folder: Path) -> Path:
    file = folder / "inventory.yaml"
    write_inventory(file, inventory_header(SIZE), fleet_devices(SIZE), fleet_sets(SIZE))
    return file


def test_a_generated_fleet_loads_with_every_device_and_set(tmp_path: Path) -> None:
    inventory = load_config(write_fleet(tmp_path), Inventory)
    assert len(inventory.devices) == SIZE.devices == 40 + 15 + 3 + 4
    assert len(inventory.sets) == 5
    kinds = {device.kind for device in inventory.devices}
    assert kinds == set(DeviceKind)
    backup = {link.backup_fiber for link in inventory.links}
    assert backup == {True}  # one link for four switches: the first has backup fibre


def test_a_bad_row_is_reported_at_its_own_line(tmp_path: Path) -> None:
    file = write_fleet(tmp_path)
    lines = file.read_text(encoding="utf-8").splitlines()
    target = next(n for n, line in enumerate(lines) if '"id": "CAM000007"' in line)
    original = lines[target]
    lines[target] = re.sub(r'"point_class": \d', '"point_class": 7', original)
    duplicate = next(n for n, line in enumerate(lines) if '"id": "CAM000012"' in line)
    lines[duplicate] = lines[duplicate].replace("CAM000012", "CAM000011")
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")

    out = io.StringIO()
    assert check_files([file], {"inventory"}, out) == EXIT_INVALID
    report = out.getvalue().splitlines()
    assert any(
        line.startswith(f"{file}:{target + 1}: devices[10].point_class: 应为以下之一：1 / 2 / 3")
        for line in report
    ), report
    assert len(report) == 1  # the duplicate is found once the rows themselves are valid

    lines[target] = original
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = io.StringIO()
    assert check_files([file], {"inventory"}, out) == EXIT_INVALID
    assert (
        f"{file}:{duplicate + 1}: devices[15].id: 编号重复（填的是 'CAM000011'）" in out.getvalue()
    )


def test_hand_edited_flow_rows_take_the_general_path(tmp_path: Path) -> None:
    file = write_fleet(tmp_path)
    text = file.read_text(encoding="utf-8").replace(
        '  - {"id": "CAM000001"', "  - {id: CAM000001, ", 1
    )
    text = text.replace('{id: CAM000001, , "name"', '{id: CAM000001, "name"')
    file.write_text(text, encoding="utf-8")
    inventory = load_config(file, Inventory)
    assert inventory.devices[4].id == "CAM000001"


def test_an_agent_registered_without_a_key_is_refused_naming_site_agent_and_line(
    tmp_path: Path,
) -> None:
    file = tmp_path / "inventory.yaml"
    header = inventory_header(SIZE, agents=["edge-01", "edge-02"])
    header["sites"][0]["agent_keys"] = registered("edge-01")["agent_keys"]
    write_inventory(file, header, fleet_devices(SIZE), fleet_sets(SIZE))
    out = io.StringIO()
    assert check_files([file], {"inventory"}, out) == EXIT_INVALID
    [problem] = out.getvalue().splitlines()
    line = file.read_text(encoding="utf-8").splitlines().index("  - edge-02") + 1
    assert problem.startswith(
        f"{file}:{line}: sites[0].agents[1]: 站点 sim 的代理 edge-02 未在 "
        "sites[0].agent_keys 登记公钥"
    ), problem
    assert "allow_unsigned_agents" in problem  # the migration's way out is named

    # Migration only: the site opts in; the file loads, and check-config warns.
    header["sites"][0]["allow_unsigned_agents"] = True
    write_inventory(file, header, fleet_devices(SIZE), fleet_sets(SIZE))
    out = io.StringIO()
    assert check_files([file], {"inventory"}, out) == EXIT_OK
    warning = out.getvalue().splitlines()[1]
    assert warning.startswith(
        f"{file}: 警告：站点 sim 设置了 allow_unsigned_agents，代理 edge-02 "
    ), warning
