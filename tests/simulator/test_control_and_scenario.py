"""Operators and tests break the simulated network from outside: HTTP control and YAML timelines."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from simulator.control import control_app
from simulator.fleet_runner import Fleet
from simulator.scenario import load_scenario, play
from slawatch.config.errors import ConfigError


@pytest.fixture
async def control(fleet: Fleet) -> AsyncIterator[str]:
    runner = web.AppRunner(control_app(fleet))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()  # a free port
    try:
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


async def test_faults_are_injected_and_cleared_over_http(fleet: Fleet, control: str) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{control}/faults", json={"target": "CAM000002", "fault": "down", "mode": "refused"}
        ) as reply:
            assert reply.status == 200
            assert (await reply.json())["devices"] == ["CAM000002"]
        async with session.get(f"{control}/devices/CAM000002") as reply:
            state = await reply.json()
            assert state["faults"] == ["down"]
            assert state["unreachable"] == "refused"
        async with session.post(
            f"{control}/faults", json={"target": "switch:SW00001", "fault": "down"}
        ) as reply:
            cut = (await reply.json())["devices"]
            assert "SW00001" in cut
            assert len(cut) > 1
        async with session.post(f"{control}/power-restored") as reply:
            assert reply.status == 200
        async with session.get(f"{control}/devices/CAM000002") as reply:
            assert (await reply.json())["unreachable"] is None
        assert all(device.reachable_mode() is None for device in fleet.devices)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"target": "CAM999999", "fault": "down"}, 404),
        ({"target": "CAM000001", "fault": "meltdown"}, 400),
        ({"target": "link:L9999", "fault": "down"}, 404),
        ({"target": "CAM000001", "fault": "down", "mode": "sideways"}, 400),
        ({"target": "port:SW00001/3", "fault": "down", "mode": "sideways"}, 400),
    ],
)
async def test_bad_fault_requests_are_refused_clearly(
    fleet: Fleet, control: str, body: dict[str, str], status: int
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{control}/faults", json=body) as reply,
    ):
        assert reply.status == status


async def test_a_camera_learns_a_real_firmwares_quirk_over_http(fleet: Fleet, control: str) -> None:
    quirk = {"target": "CAM000002", "quirk": "onvif_digest_only"}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{control}/quirks", json=quirk) as reply:
            assert reply.status == 200
        async with session.get(f"{control}/devices/CAM000002") as reply:
            assert (await reply.json())["quirks"] == ["onvif_digest_only"]
        async with session.delete(f"{control}/quirks", json=quirk) as reply:
            assert reply.status == 200
        async with session.get(f"{control}/devices/CAM000002") as reply:
            assert (await reply.json())["quirks"] == []
        wrong = {"target": "CAM000002", "quirk": "speaks_klingon"}
        async with session.post(f"{control}/quirks", json=wrong) as reply:
            assert reply.status == 400


async def test_a_timeline_plays_link_down_then_up(fleet: Fleet, tmp_path: Path) -> None:
    file = tmp_path / "scenario.yaml"
    file.write_text(
        "kind: scenario\n"
        "events:\n"
        "  - {at: +10m, do: link L0001 down}\n"
        "  - {at: +20m, do: device DH000001 reboot}\n"
        "  - {at: +2h, do: link L0001 up}\n"
        "  - {at: +3h, do: device KK00001 captures_stall}\n"
        "  - {at: +4h, do: port SW00002/3 down dormant}\n",
        encoding="utf-8",
    )
    steps = load_scenario(file)
    await play(fleet, steps[:2], speed=6000)  # 20 minutes in 0.2 s
    assert all(device.cut_off for device in fleet.devices)
    await play(fleet, steps[2:4], speed=1e9)
    assert not any(device.cut_off for device in fleet.devices)
    assert "captures_stall" in fleet.by_id["KK00001"].faults
    await play(fleet, steps[4:], speed=1e9)
    assert fleet.by_id["SW00002"].port_states == {3: 5}  # dormant(5)
    behind = [d for d in fleet.devices if d.spec.uplink and d.spec.uplink.switch == "SW00002"]
    assert {d.cut_off for d in behind if d.spec.uplink and d.spec.uplink.port == 3} == {True}


def test_an_unknown_timeline_step_names_its_line(tmp_path: Path) -> None:
    file = tmp_path / "scenario.yaml"
    file.write_text(
        "kind: scenario\nevents:\n  - {at: +1m, do: link L1 down}\n  - {at: +2m, do: dance}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_scenario(file)
    assert str(caught.value).startswith(f"{file}:4: events[1].do: cannot understand")
