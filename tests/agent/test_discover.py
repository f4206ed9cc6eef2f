"""`slawatch-agent discover` against simulated cameras answering WS-Discovery, in a network
namespace of its own (`unshare -n`) so the multicast stays inside the test."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent.discover import Answer, findings_csv, findings_table, reconcile
from simulator.fleet import FIRST_ADDRESS
from slawatch.config.inventory import Inventory
from tests.conftest import REPO
from tests.language import english_words

WALKED = ipaddress.ip_network(f"{FIRST_ADDRESS}/28", strict=False)

# Runs inside the namespace: the simulator serves the whole fleet and answers probes;
# one listed camera is silent; the agent's inventory lacks one camera and lists another
# with a model it does not have.
INSIDE = r"""
import asyncio, dataclasses, json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from agent.cli import main
from agent.discover import listen, reconcile, walk
from simulator.devices import Fault
from simulator.fleet_runner import Fleet, FaultSpec
from simulator.ws_discovery import serve_discovery
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config

async def run(fleet_file, agent_inventory, settings, csv_out):
    fleet = Fleet(load_config(Path(fleet_file), Inventory))
    await fleet.start()
    discovery, responder = await serve_discovery(lambda: fleet.devices)
    await fleet.inject(sys.argv[6], FaultSpec(Fault.DOWN))
    findings = reconcile(load_config(Path(agent_inventory), Inventory), await listen(1.5))
    command = ["discover", "-c", settings, "--wait", "1.5", "--csv", csv_out, "--lang", "en"]
    code = await asyncio.to_thread(main, command)
    walked = [answer.address for answer in await walk(sys.argv[7], 8000, 1.0)]
    discovery.close()
    await fleet.close()
    found = [dataclasses.asdict(f) for f in findings]
    result = {"code": code, "probes": responder.probes, "findings": found, "walked": walked}
    print(json.dumps(result))

asyncio.run(run(*sys.argv[2:6]))
"""


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux)")
def test_discover_finds_the_unlisted_the_silent_and_the_wrong_model(
    tmp_path: Path, inventory: Inventory
) -> None:
    fleet_file = tmp_path / "inventory.yaml"
    cameras = [d for d in inventory.devices if d.onvif is not None]
    unlisted, silent, wrong = cameras[0], cameras[1], cameras[2]
    listed = yaml.safe_load(fleet_file.read_text(encoding="utf-8"))
    listed["devices"] = [d for d in listed["devices"] if d["id"] != unlisted.id]
    for device in listed["devices"]:
        if device["id"] == wrong.id:
            device["model"] = "NO-SUCH-MODEL"
    listed["sets"] = [
        s for s in listed.get("sets", []) if unlisted.id not in (s["host"], *s["cameras"])
    ]
    agent_inventory = tmp_path / "agent-inventory.yaml"
    agent_inventory.write_text(yaml.safe_dump(listed, allow_unicode=True), encoding="utf-8")
    settings = tmp_path / "agent.yaml"
    settings.write_text(
        json.dumps(
            {
                "kind": "agent", "agent_id": "edge-t", "site": "sim",
                "inventory": str(agent_inventory), "profiles": str(REPO / "config" / "profiles"),
                "broker": {"port": 1}, "outbox": {"dir": str(tmp_path / "outbox")},
            }
        ),
        encoding="utf-8",
    )  # fmt: skip
    csv_out = tmp_path / "findings.csv"
    # Loopback carries the multicast in the namespace; the script comes in as sh's $0.
    shell = " ".join(
        ["ip link set lo up multicast on && ip route add 224.0.0.0/4 dev lo &&",
         "exec", sys.executable, "-c", '"$0"', str(REPO), str(fleet_file),
         str(agent_inventory), str(settings), str(csv_out), silent.id, str(WALKED)]
    )  # fmt: skip
    run = subprocess.run(
        ["unshare", "-n", "sh", "-c", shell, INSIDE],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    status = {(f["device_id"] or f["address"]): f["status"] for f in result["findings"]}
    assert status[unlisted.address] == "unlisted"
    assert status[silent.id] == "silent"
    assert status[wrong.id] == "model"
    others = [c.id for c in cameras[3:]]  # the fleet's 台账 lists no models
    assert all(status[device_id] == "no_model" for device_id in others)
    assert result["probes"] >= 2  # the library's probe and the command's
    assert result["code"] == 1  # not everything is in order
    rows = csv_out.read_text(encoding="utf-8-sig").splitlines()
    assert rows[0] == "status,device_id,name,address,listed_model,answered_model,serial,xaddr"
    assert any(row.startswith(f"unlisted,,,{unlisted.address},") for row in rows)
    # A listed camera that answers was asked GetDeviceInformation: its serial, to fill in.
    serials = [row.split(",")[6] for row in rows if row.startswith("no_model,")]
    assert serials
    assert all(serials), rows
    # A range walked with GetSystemDateAndTime finds the cameras multicast cannot reach
    # (here the same ones): every camera up in the walked /28, not the silent one.
    in_range = {
        c.address
        for c in cameras
        if ipaddress.ip_address(c.address) in WALKED and c.id != silent.id
    }
    assert set(result["walked"]) == in_range


def test_silence_outside_the_ranges_asked_is_not_death_and_no_model_is_no_match(
    inventory: Inventory,
) -> None:
    cameras = [d for d in inventory.devices if d.onvif is not None]
    first, second, third = cameras[0], cameras[1], cameras[2]
    listed = inventory.model_copy(
        update={
            "devices": [
                dataclasses.replace(d, model="DS-2CD2T47G2") if d.id == first.id else d
                for d in inventory.devices
            ]
        }
    )
    answers = [
        Answer(first.address, f"http://{first.address}/onvif/device_service", "DS-2CD2T47G2"),
        Answer(second.address, f"http://{second.address}/onvif/device_service", "DS-2CD2T47G2"),
    ]
    asked = [ipaddress.ip_network(f"{third.address}/32"), ipaddress.ip_network("10.99.0.0/24")]
    found = {f.device_id: f.status for f in reconcile(listed, answers, asked)}
    assert found[first.id] == "ok"
    assert found[second.id] == "no_model"  # the 台账 lists none: nothing to compare
    assert found[third.id] == "silent"  # asked and dead
    assert {found[c.id] for c in cameras[3:]} == {"unasked"}  # never asked
    sheet = findings_csv(reconcile(listed, answers, asked)).decode("utf-8-sig").splitlines()
    assert sheet[0] == "结论,设备编号,设备名称,IP地址,台账型号,应答型号,序列号,服务地址"
    assert sheet[1].startswith(f"一致,{first.id},")
    assert sheet[2].startswith(f"无型号可比,{second.id},")
    assert sheet[3].startswith(f"无应答,{third.id},")
    assert sheet[4].startswith(f"不在探测范围,{cameras[3].id},")
    assert english_words("\n".join(sheet)) == []
    table = findings_table(reconcile(listed, answers, asked))
    assert table[-1].startswith(f"{len(cameras) - 3} 台不在本机网段")  # give --subnet
    assert english_words("\n".join(table)) == []
