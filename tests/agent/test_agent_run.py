"""The whole agent against the simulated fleet and a real broker: every device, on time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import aiomqtt
import pytest

from agent.cli import main
from agent.runner import Agent
from agent.wire import Batch, Health, Reason, decode_batch
from simulator.devices import Fault, Quirk
from simulator.fleet_runner import FaultSpec, Fleet
from simulator.local_servers import Mosquitto, free_port
from slawatch.config.inventory import Inventory
from slawatch.config.settings import AgentSettings
from tests.agent_keys import agent_key_file, collector_key_file
from tests.conftest import REPO, wait_for


def agent_settings(
    tmp_path: Path, inventory: Inventory, broker_port: int, metrics_port: int
) -> AgentSettings:
    inventory_file = tmp_path / "inventory.yaml"
    assert inventory_file.exists()
    return AgentSettings.model_validate(
        {
            "kind": "agent",
            "agent_id": "edge-t",
            "site": "sim",
            "inventory": str(inventory_file),
            "profiles": str(REPO / "config" / "profiles"),
            "broker": {"port": broker_port},
            "key": str(agent_key_file(tmp_path, "edge-t")),
            "collector_key": f"{collector_key_file(tmp_path)}.pub",
            "outbox": {"dir": str(tmp_path / "outbox")},
            "poll": {"interval": "2s", "timeout": "400ms", "retries": 0, "deep_interval": "4s"},
            "metrics_bind": f"127.0.0.1:{metrics_port}",
        }
    )


def settings_on_disk(tmp_path: Path, extra: str) -> Path:
    """The agent's settings file beside the fleet's inventory, plus one line of ``extra``."""
    file = tmp_path / "agent.yaml"
    file.write_text(
        "kind: agent\nagent_id: edge-t\nsite: sim\ninventory: inventory.yaml\n"
        f"profiles: {REPO / 'config' / 'profiles'}\noutbox: {{dir: outbox}}\n"
        f"key: {agent_key_file(tmp_path, 'edge-t')}\n"
        f"collector_key: {collector_key_file(tmp_path)}.pub\n{extra}\n",
        encoding="utf-8",
    )
    return file


async def collect(port: int, into: list[Batch]) -> None:
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.subscribe("slawatch/v1/+/+/status", qos=1)
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            into.append(decode_batch(message.payload))


@contextlib.asynccontextmanager
async def running_agent(settings: AgentSettings) -> AsyncIterator[Agent]:
    agent = Agent(settings)
    task = asyncio.create_task(agent.run())
    try:
        yield agent
    finally:
        agent.stop()
        await asyncio.wait_for(task, 20)


async def test_every_device_is_polled_and_a_silent_one_delays_nobody(
    tmp_path: Path, inventory: Inventory, fleet: Fleet, broker: Mosquitto
) -> None:
    await fleet.inject("CAM000001", FaultSpec(Fault.DOWN, "silent"))
    await fleet.inject("DH000001", FaultSpec(Fault.DOWN, "silent"))
    for camera in fleet.devices:
        if camera.spec.onvif is not None:  # up, and metrics say which check is unsupported
            fleet.give(camera.id, Quirk.ONVIF_DEVICE_INFO_PROHIBITED)
    batches: list[Batch] = []
    metrics_port = free_port()
    listener = asyncio.create_task(collect(broker.port, batches))
    await asyncio.sleep(0.3)
    started = time.time()
    async with running_agent(agent_settings(tmp_path, inventory, broker.port, metrics_port)):
        await asyncio.sleep(7.5)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{metrics_port}/metrics") as reply,
        ):
            exposition = await reply.text()
    listener.cancel()

    statuses = [status for batch in batches for status in batch.statuses]
    by_device: dict[str, list[float]] = {}
    for status in statuses:
        by_device.setdefault(status.device_id, []).append(status.observed_at.timestamp() - started)
    # The simulator shares this test's loop and stalls it while it warms up (SNMPv3 key
    # localisation): a timeout that overlaps such a stall is the agent's, not published
    # but counted (per protocol), so every cycle shows either way.
    own = {
        protocol: float(count)
        for protocol, count in re.findall(
            r'^slawatch_agent_stalled_results_total\{protocol="(\w+)"\} (\S+)$',
            exposition,
            re.MULTILINE,
        )
    }
    for device in inventory.devices:
        # 2 s interval over 7.5 s: polled on schedule (published, or the agent's own),
        # one cycle spare for the simulator's warm-up
        stalled = own.get("onvif" if device.onvif is not None else "snmp", 0)
        assert len(by_device.get(device.id, [])) + stalled >= 2, device.id
    dead = [s for s in statuses if s.device_id in ("CAM000001", "DH000001")]
    assert {(s.health, s.reason) for s in dead} == {(Health.DOWN, Reason.TIMEOUT)}
    live = [s for s in statuses if s.device_id not in ("CAM000001", "DH000001")]
    assert all(s.health is Health.UP for s in live), [s for s in live if s.health is not Health.UP]
    deep = [s for s in statuses if "credentials" in s.checks]
    assert deep, "deep checks ran on their own cadence"
    assert all(s.checks.get("device_info") is Reason.UNSUPPORTED for s in deep), deep
    assert (
        'slawatch_agent_probes_total{health="down",protocol="onvif",reason="timeout"}' in exposition
    )
    # No collector confirms them in this test: the outbox keeps every batch it published.
    kept = re.search(r"^slawatch_agent_outbox_batches (\S+)$", exposition, re.MULTILINE)
    assert kept is not None
    assert float(kept.group(1)) > 0
    assert (
        'slawatch_agent_unsupported_checks_total{check="device_info",protocol="onvif"}'
        in exposition
    )


async def test_a_reload_adds_devices_without_resetting_the_others(
    tmp_path: Path, inventory: Inventory, fleet: Fleet, broker: Mosquitto
) -> None:
    inventory_file = tmp_path / "inventory.yaml"
    full = inventory_file.read_text(encoding="utf-8")
    without_checkpoints = "\n".join(line for line in full.splitlines() if '"id": "KK' not in line)
    inventory_file.write_text(without_checkpoints + "\n", encoding="utf-8")
    settings = agent_settings(tmp_path, inventory, broker.port, free_port())
    async with running_agent(settings) as agent:
        await wait_for(lambda: agent.scheduler is not None)
        assert agent.scheduler is not None
        assert agent.scheduler.devices == len(inventory.devices) - 2
        inventory_file.write_text(full, encoding="utf-8")
        agent.reload()
        scheduler = agent.scheduler
        await wait_for(lambda: scheduler.devices == len(inventory.devices))
        assert agent.scheduler is scheduler, "a reload keeps the scheduler and its state"


async def test_the_probe_command_prints_every_check_of_one_device(
    tmp_path: Path, inventory: Inventory, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    # The simulated camera keeps this host's time, which the test vouches for.
    settings_file = settings_on_disk(tmp_path, "poll: {timeout: 1s, retries: 0}\nclock: trusted")
    code = await asyncio.to_thread(
        main, ["probe", "CAM000003", "-c", str(settings_file), "--lang", "en"]
    )
    assert code == 0
    output = capsys.readouterr().out
    assert "health   up    reason OK" in output
    for check in ("liveness", "clock", "credentials", "live video (stream)"):
        row = next(x for x in output.splitlines() if x.startswith(f"{check} "))
        assert row.split()[-1] == "OK", output
    assert "round trip (rtt_ms)" in output
    address = next(d for d in inventory.devices if d.id == "CAM000003").address
    assert f"address  {address}" in output
    assert "accepts connections (open)" in output  # its TCP port answered
    # Its switch port, read from the switch: the cable is fine.
    assert "uplink   SW0000" in output
    assert output.split("uplink", 1)[1].splitlines()[0].endswith(": OK")
    # Chinese by default, the codes kept beside the words, columns lined up.
    assert await asyncio.to_thread(main, ["probe", "CAM000003", "-c", str(settings_file)]) == 0
    output = capsys.readouterr().out
    assert "状态     在线 (up)    原因 正常 (ok)" in output, output
    assert "\n检查项                 结果      说明\n" in output, output
    assert "\n实时视频 (stream)      正常 (ok)\n" in output
    assert "\n往返时延 (rtt_ms) " in output


async def test_probe_tells_a_dead_camera_from_a_dead_port_and_says_so_in_its_exit_status(
    tmp_path: Path, inventory: Inventory, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_file = settings_on_disk(tmp_path, "poll: {timeout: 1s, retries: 0}")
    camera = next(d for d in inventory.devices if d.id == "CAM000003")
    assert camera.uplink is not None
    await fleet.inject("CAM000003", FaultSpec(Fault.DOWN, mode="refused"))
    code = await asyncio.to_thread(main, ["probe", "CAM000003", "-c", str(settings_file), "--json"])
    assert code == 1  # not up: the shell can tell
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["health"] == "down"
    assert verdict["reach"]["reached"] == "refused"
    assert verdict["reach"]["switch"] == camera.uplink.switch
    assert verdict["reach"]["port_state"] == "ok"  # the camera, not its cable
    await fleet.clear("CAM000003")
    await fleet.inject(f"port:{camera.uplink.switch}/{camera.uplink.port}", FaultSpec(Fault.DOWN))
    code = await asyncio.to_thread(main, ["probe", "CAM000003", "-c", str(settings_file), "--json"])
    assert code == 1
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["reach"]["port_state"] == "link_down"  # its switch port is down


async def test_the_probe_command_explains_how_a_quirky_camera_answered(
    tmp_path: Path, inventory: Inventory, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    # A Digest-only camera that refuses GetDeviceInformation until its password is changed.
    fleet.give("CAM000003", Quirk.ONVIF_DIGEST_ONLY)
    fleet.give("CAM000003", Quirk.ONVIF_DEVICE_INFO_PROHIBITED)
    settings_file = settings_on_disk(tmp_path, "poll: {timeout: 1s, retries: 0}")
    code = await asyncio.to_thread(main, ["probe", "CAM000003", "-c", str(settings_file)])
    assert code == 0
    output = capsys.readouterr().out
    assert "状态     在线 (up)" in output, output
    row = next(x for x in output.splitlines() if x.startswith("设备信息 (device_info) "))
    assert "设备不支持该检查 (unsupported)" in row
    assert row.endswith("Too weak password.")  # what the camera said, beside the check
    assert "\nONVIF 认证方式 (onvif_auth)  http-digest\n" in output, output
    assert "\n媒体服务版本 (media)         Media" in output


def test_a_missing_broker_password_stops_the_agent_at_start_with_its_name(
    tmp_path: Path, inventory: Inventory, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_file = settings_on_disk(
        tmp_path, "broker: {username: edge, password: {env: SLAWATCH_TEST_NO_SUCH_PASSWORD}}"
    )
    assert main(["run", "-c", str(settings_file)]) == 2
    assert "环境变量 SLAWATCH_TEST_NO_SUCH_PASSWORD 未设置" in capsys.readouterr().err
    assert not (tmp_path / "outbox" / "outbox.sqlite").exists()  # nothing polled into it


def test_a_new_agent_key_prints_only_its_public_line_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``$(slawatch-agent keys new KEY)`` is the line an inventory registers: the words
    for the person go to stderr, in the command's language."""
    key = tmp_path / "agent-key.pem"
    assert main(["keys", "new", str(key)]) == 0
    said = capsys.readouterr()
    assert said.out.startswith("ed25519:")
    assert said.out.count("\n") == 1
    assert f"{key}：私钥（权限 0600）" in said.err
    assert main(["keys", "new", str(key)]) == 2
    assert capsys.readouterr().err.strip() == f"slawatch-agent: {key}：文件已存在；密钥从不覆盖"
    assert main(["keys", "new", "--lang", "en", str(key)]) == 2
    assert "exists; a key is never overwritten" in capsys.readouterr().err
