"""``slawatch-sim run`` serves an inventory and plays a scenario, as the demo does."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from simulator.cli import main
from simulator.fleet import device_address
from simulator.local_servers import free_port
from tests.conftest import COMMUNITY, REPO


async def snmp_name(address: str, retries: int = 0) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "snmpget",
        "-v2c",
        "-c",
        COMMUNITY,
        "-t",
        "1",
        "-r",
        str(retries),
        "-Oqv",
        address,
        "1.3.6.1.2.1.1.5.0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    # The value is the last line: Net-SNMP's first run on a machine prints a notice
    # ("Created directory: /var/lib/snmp/cert_indexes") before it.
    lines = output.decode().strip().splitlines() or [""]
    return process.returncode or 0, lines[-1]


@pytest.mark.alone  # real seconds timed: neighbours would slow its devices or agent
async def test_the_demo_site_runs_and_its_scenario_takes_switch_links_down(
    tmp_path: Path, secrets_in_env: None, demo_inventory_text: str
) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        "kind: scenario\nevents:\n  - {at: +60m, do: link L2 down}\n", encoding="utf-8"
    )
    # The demo's devices, on this run's own loopback address (a neighbour's demo or test
    # run may hold 127.0.0.1's ports).
    host = device_address(0)
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        demo_inventory_text.replace("address: 127.0.0.1", f"address: {host}"), encoding="utf-8"
    )
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("slawatch-sim")),
        "run",
        "--inventory",
        str(inventory),
        "--scenario",
        str(scenario),
        "--speed",
        "900",
        "--control",
        f"127.0.0.1:{free_port()}",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(os.environ),
    )
    try:
        assert process.stdout is not None
        banner = await asyncio.wait_for(process.stdout.readline(), 30)
        assert banner.startswith(b"serving 10 devices")
        served = asyncio.get_running_loop().time()
        # +60 min at 900x is 4 s: asked before then (a retry for a busy machine's first
        # answer), and again once the link is down.
        code, name = await snmp_name(f"{host}:16102", retries=1)
        assert (code, name) == (0, '"SW02"')
        await asyncio.sleep(max(0.0, served + 5.0 - asyncio.get_running_loop().time()))
        code, output = await snmp_name(f"{host}:16102")
        assert code != 0
        assert "Timeout" in output
        code, _ = await snmp_name(f"{host}:16101", retries=2)  # SW01 rides link L1: still up
        assert code == 0
    finally:
        process.terminate()
        assert await asyncio.wait_for(process.wait(), 30) == 0


def test_a_missing_secret_stops_the_simulator_with_its_name(tmp_path: Path, capsys: object) -> None:
    os.environ.pop("SLAWATCH_TEST_NEVER_SET", None)
    inventory = (REPO / "config" / "demo" / "inventory.yaml").read_text(encoding="utf-8")
    file = tmp_path / "inventory.yaml"
    file.write_text(
        inventory.replace("SLAWATCH_CAMERA_PASSWORD", "SLAWATCH_TEST_NEVER_SET"), encoding="utf-8"
    )
    assert main(["run", "--inventory", str(file)]) == 2
    assert "SLAWATCH_TEST_NEVER_SET is not set" in capsys.readouterr().err  # type: ignore[attr-defined]
