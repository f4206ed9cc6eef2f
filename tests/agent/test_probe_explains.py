"""``slawatch-agent probe`` says first, in one sentence, where the fault is: a wrong
community on a host that is there, a camera whose switch port is dormant, a dead camera
behind a port that is up. Against the simulated fleet, whose switches and checkpoints
also have a management TCP port (``tcp: {port: 2323}``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from simulator.devices import Fault
from simulator.fleet import fleet_devices, fleet_sets, inventory_header
from simulator.fleet_runner import FaultSpec, Fleet
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.writer import write_inventory
from tests.conftest import REPO, SIZE


def with_management_port(rows: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Switches and checkpoints get a management port; CAM000001's uplink port is named
    as the H3C switch names it (a 台账 often does)."""
    for row in rows:
        if row["id"].startswith(("SW", "KK")):
            row = row | {"tcp": {"port": 2323}}
        if row["id"] == "CAM000001":
            uplink = row["uplink"]
            row = row | {"uplink": uplink | {"port": f"GigabitEthernet1/0/{uplink['port']}"}}
        yield row


@pytest.fixture
def inventory(tmp_path: Path, secrets_in_env: None) -> Inventory:
    file = tmp_path / "inventory.yaml"
    write_inventory(
        file, inventory_header(SIZE), with_management_port(fleet_devices(SIZE)), fleet_sets(SIZE)
    )
    return load_config(file, Inventory)


@pytest.fixture
def settings(tmp_path: Path) -> Path:
    file = tmp_path / "agent.yaml"
    file.write_text(
        "kind: agent\nagent_id: edge-t\nsite: sim\ninventory: inventory.yaml\n"
        f"profiles: {REPO / 'config' / 'profiles'}\noutbox: {{dir: outbox}}\n"
        "poll: {timeout: 500ms, retries: 0}\n",
        encoding="utf-8",
    )
    return file


async def probe(settings: Path, device: str, *options: str) -> int:
    return await asyncio.to_thread(main, ["probe", device, "-c", str(settings), *options])


async def test_a_wrong_community_reads_host_reachable_snmp_silent(
    settings: Path, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    await fleet.inject("KK00002", FaultSpec(Fault.WRONG_CREDENTIALS))
    assert await probe(settings, "KK00002", "--lang", "en") == 1
    output = capsys.readouterr().out
    first = output.splitlines()[0]
    assert first.startswith("verdict  Host reachable, SNMP silent: check the community"), output
    assert "degraded    reason snmp_silent (host reachable, SNMP silent)" in output
    assert "TCP 2323 accepts connections" in output
    assert await probe(settings, "KK00002") == 1
    output = capsys.readouterr().out
    assert output.startswith("结论     主机可达，SNMP 无应答：检查团体名"), output
    assert "原因 snmp_silent (主机可达，SNMP 无应答)" in output


async def test_a_camera_behind_a_dormant_port_blames_the_port(
    settings: Path, inventory: Inventory, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    camera = next(d for d in inventory.devices if d.id == "CAM000003")
    assert camera.uplink is not None
    port = f"port:{camera.uplink.switch}/{camera.uplink.port}"
    await fleet.inject(port, FaultSpec(Fault.DOWN, "dormant"))
    assert await probe(settings, "CAM000003", "--lang", "en") == 1
    output = capsys.readouterr().out
    assert output.splitlines()[0].startswith("verdict  Uplink port link_down (ifIndex"), output
    assert "ifOperStatus dormant(5)): the fault is the line or the switch" in output
    assert await probe(settings, "CAM000003", "--json") == 1
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["reach"]["port_state"] == "link_down"
    assert "dormant(5)" in verdict["reach"]["port_note"]
    assert verdict["conclusion"].startswith("上联端口 link_down")
    assert verdict["conclusion"].endswith("：故障在线路或交换机")


async def test_a_dead_camera_behind_a_port_that_is_up_blames_the_camera(
    settings: Path, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    await fleet.inject("CAM000003", FaultSpec(Fault.DOWN, "silent"))
    assert await probe(settings, "CAM000003") == 1
    output = capsys.readouterr().out
    first = output.splitlines()[0]
    assert first == "结论     摄像机无应答，但其上联交换机端口正常：故障在摄像机或其电源", output


async def test_long_check_names_are_shown_in_full(
    settings: Path, inventory: Inventory, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    camera = next(d for d in inventory.devices if d.id == "CAM000001")
    assert camera.uplink is not None
    assert isinstance(camera.uplink.port, str)
    await fleet.inject(f"port:{camera.uplink.switch}/{camera.uplink.port}", FaultSpec(Fault.DOWN))
    assert await probe(settings, str(camera.uplink.switch), "--lang", "en") == 0
    output = capsys.readouterr().out
    assert output.startswith("verdict  The device is up"), output
    name = "port_" + camera.uplink.port.lower().replace("/", "_")
    assert f"\n{name} link_down (link down)" in output, output
    assert f"\n{'liveness':<{len(name)}} ok" in output
