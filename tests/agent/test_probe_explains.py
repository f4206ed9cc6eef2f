"""``slawatch-agent probe`` says first, in one sentence, where the fault is: a wrong
community on a host that is there, a camera whose switch port is dormant, a dead camera
behind a port that is up. Against the simulated fleet, whose switches and checkpoints
also have a management TCP port (``tcp: {port: 2323}``)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from simulator.devices import LAN_ADDRESS, Fault, Quirk
from simulator.fleet import fleet_devices, fleet_sets, inventory_header
from simulator.fleet_runner import FaultSpec, Fleet
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.writer import write_inventory
from tests.conftest import REPO, SIZE
from tests.language import ALLOWED, english_words

# What stays as the protocols name it in a Chinese probe table: operations, elements and
# objects (GetSystemDateAndTime, UTCDateTime, ifOperStatus), the schemes and services a
# device answered with, SNMP's error names, the wire's codes (in brackets after the words).
PROTOCOL_WORDS = ALLOWED | {
    *("GetSystemDateAndTime", "UTCDateTime", "LocalDateTime", "TimeZone", "Location", "SDP"),
    *("Media", "digest", "basic", "ws", "security", "ifIndex"),
    *("GETBULK", "GETNEXT", "GET", "OID", "tooBig", "genErr", "CST", "SW", "NAT"),
}
# The wire's codes (in brackets after the words) and the device's own addresses.
VERBATIM = re.compile(r"\((?:[a-z]+(?:_[a-z]+)*)[,)]|rtsp://[^\s：）]+|ifOperStatus \w+\(\d\)")


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
        # This host's time service is not ours to ask: its clock is declared kept, so
        # that the camera's clock is judged. Two seconds: a machine busy with other tests'
        # work slows the fleet's answers.
        "poll: {timeout: 2s, retries: 0}\nclock: trusted\n",
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
    assert "degraded    reason host reachable, SNMP silent (snmp_silent)" in output
    assert "TCP 2323 accepts connections (open)" in output
    assert await probe(settings, "KK00002") == 1
    output = capsys.readouterr().out
    assert output.startswith("结论     主机可达，SNMP 无应答：检查团体名"), output
    assert "原因 主机可达，SNMP 无应答 (snmp_silent)" in output


async def test_a_camera_behind_a_dormant_port_blames_the_port(
    settings: Path, inventory: Inventory, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    camera = next(d for d in inventory.devices if d.id == "CAM000003")
    assert camera.uplink is not None
    port = f"port:{camera.uplink.switch}/{camera.uplink.port}"
    await fleet.inject(port, FaultSpec(Fault.DOWN, "dormant"))
    assert await probe(settings, "CAM000003", "--lang", "en") == 1
    output = capsys.readouterr().out
    first = output.splitlines()[0]
    assert first.startswith("verdict  Uplink port link down (link_down, ifIndex"), output
    assert first.endswith("ifOperStatus dormant(5)): the fault is the line or the switch")
    assert await probe(settings, "CAM000003", "--json") == 1
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["reach"]["port_state"] == "link_down"
    assert "dormant(5)" in verdict["reach"]["port_note"]
    assert verdict["conclusion"].startswith("上联端口 端口断开 (link_down, ifIndex")
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
    name = f"port {camera.uplink.port}"  # as the inventory spells it, in full
    assert f"\n{name} link down " in output, output
    assert f"\n{'liveness':<{len(name)}} OK" in output
    assert "ifOperStatus down(2)" in output.split(f"\n{name} ")[1].splitlines()[0]
    assert await probe(settings, str(camera.uplink.switch)) == 0
    output = capsys.readouterr().out
    assert f"\n端口 {camera.uplink.port} 端口断开 (link_down) " in output, output
    assert "\n存活 (liveness) " in output
    assert "往返时延 (rtt_ms)" in output
    assert " 毫秒\n" in output


@pytest.mark.parametrize(
    ("quirks", "fault", "check", "en", "zh"),
    [
        (
            [Quirk.ONVIF_DEVICE_INFO_GBK],
            None,
            "device_info",
            "device information (device_info) check not supported (unsupported) "
            "GetDeviceInformation: not XML: Invalid bytes in character encoding",
            "设备信息 (device_info) 设备不支持该检查 (unsupported) "
            "GetDeviceInformation：不是 XML：Invalid bytes in character encoding",
        ),
        (
            [Quirk.ONVIF_LOCAL_TIME_ONLY],
            None,
            "clock",
            "clock               OK     no UTCDateTime: clock from local time and TZ CST-8:00:00",
            "时钟 (clock)           正常 (ok) "
            "应答无 UTCDateTime：按本地时间和时区 CST-8:00:00（UTC+8）推算时钟",
        ),
        (
            [Quirk.RTSP_REDIRECT],
            FaultSpec(Fault.STREAM_UNAVAILABLE, "refused"),
            "stream",
            "live video (stream) live video unavailable (stream_unavailable) rtsp://",
            "实时视频 (stream)      实时视频不可用 (stream_unavailable) rtsp://",
        ),
    ],
)
async def test_each_check_that_is_not_ok_says_why_in_both_languages(
    settings: Path,
    fleet: Fleet,
    capsys: pytest.CaptureFixture[str],
    quirks: list[Quirk],
    fault: FaultSpec | None,
    check: str,
    en: str,
    zh: str,
) -> None:
    for quirk in quirks:
        fleet.give("CAM000004", quirk)
    if fault is not None:
        await fleet.inject("CAM000004", fault)
    expected = 1 if fault is not None else 0
    assert await probe(settings, "CAM000004", "--lang", "en") == expected
    output = capsys.readouterr().out
    assert f"\n{en}" in output, output
    assert await probe(settings, "CAM000004") == expected
    output = capsys.readouterr().out
    assert f"\n{zh}" in output, output
    assert await probe(settings, "CAM000004", "--json") == expected
    verdict = json.loads(capsys.readouterr().out)
    for name, reason in verdict["checks"].items():
        assert reason == "ok" or verdict["notes"].get(name), (name, verdict)
    if fault is not None:  # the redirect followed, and the refusal after it
        assert "RTSP 503（重定向后：RTSP 302 Location: rtsp://" in verdict["notes"]["stream"]


async def test_the_rewrite_made_behind_nat_and_why(
    settings: Path, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet.give("CAM000005", Quirk.NAT)
    assert await probe(settings, "CAM000005", "--lang", "en") == 0
    output = capsys.readouterr().out
    line = next(x for x in output.splitlines() if x.startswith("stream URI rewritten"))
    assert f"camera advertises {LAN_ADDRESS}:554, used " in line
    assert line.endswith("(NAT: the advertised address is not the inventory's)")
    assert await probe(settings, "CAM000005") == 0
    output = capsys.readouterr().out
    line = next(x for x in output.splitlines() if x.startswith("视频地址改写 (stream_uri) "))
    assert f"摄像机通告 {LAN_ADDRESS}:554，改用 " in line
    assert line.endswith("（NAT：通告的地址不是台账中的地址）")


async def test_timeout_and_retries_for_the_engineer_at_the_device(
    settings: Path, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    await fleet.inject("CAM000002", FaultSpec(Fault.DOWN, "slow", seconds=2.5))
    # The settings' 2 s is too short for this camera; the engineer gives it 5 s.
    assert await probe(settings, "CAM000002", "--lang", "en", "--retries", "0") == 1
    output = capsys.readouterr().out
    assert "reason no answer (timeout)" in output
    assert "\nmetric" not in output  # nothing measured: no empty table
    # Its ONVIF answers in 2.5 s (its RTSP not at all): alive, not down.
    await probe(settings, "CAM000002", "--json", "--timeout", "5", "--retries", "0")
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["health"] != "down", verdict
    assert verdict["checks"]["liveness"] == "ok"
    assert verdict["metrics"]["rtt_ms"] >= 2500
    with pytest.raises(SystemExit):
        main(["probe", "CAM000002", "-c", str(settings), "--timeout", "0"])
    assert "seconds between 0 and 60" in capsys.readouterr().err


async def test_the_probe_table_is_all_chinese_by_default_and_all_english_on_request(
    settings: Path, inventory: Inventory, fleet: Fleet, capsys: pytest.CaptureFixture[str]
) -> None:
    """Verdict, checks, metrics and the notes that say why (a clock worked out from local
    time, a rewrite behind NAT, a refusal after a redirect, a silent SNMP agent, a port
    down): no English word of the agent's own in Chinese, and no Chinese in English."""
    fleet.give("CAM000002", Quirk.ONVIF_LOCAL_TIME_ONLY)
    fleet.give("CAM000005", Quirk.NAT)
    fleet.give("CAM000004", Quirk.RTSP_REDIRECT)
    await fleet.inject("CAM000004", FaultSpec(Fault.STREAM_UNAVAILABLE, "refused"))
    await fleet.inject("KK00002", FaultSpec(Fault.WRONG_CREDENTIALS))
    camera = next(d for d in inventory.devices if d.id == "CAM000003")
    assert camera.uplink is not None
    await fleet.inject(f"port:{camera.uplink.switch}/{camera.uplink.port}", FaultSpec(Fault.DOWN))
    for device in ("CAM000002", "CAM000005", "CAM000004", "KK00002", "CAM000003"):
        await probe(settings, device)
        chinese = capsys.readouterr().out
        assert english_words(VERBATIM.sub("(", chinese), PROTOCOL_WORDS) == [], chinese
        await probe(settings, device, "--lang", "en")
        english = capsys.readouterr().out
        assert not re.search(r"[\u3000-\u9fff\uff00-\uffef]", english), english
