"""The simulator's SNMP quirks and faults of real firmware, probed by the agent.

Each behaviour is also read by Net-SNMP's tools in ``tests/simulator/test_snmp_agents.py``
and, where third-party software shows it, replayed in ``test_snmp_real_agents.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

from agent.probes.base import Target
from agent.probes.snmp import SnmpProbe
from agent.probes.snmp_lean import LeanSnmpClient
from agent.profiles import SYS_UPTIME, load_profiles
from agent.wire import Health, Reason, port_check
from simulator.devices import Fault, Quirk
from simulator.fleet import fleet_devices, fleet_sets, inventory_header
from simulator.fleet_runner import FaultSpec, Fleet
from slawatch.config.inventory import Inventory, TcpSettings
from slawatch.config.loader import load_config
from slawatch.config.writer import write_inventory
from tests.conftest import REPO, SIZE, FakeClock
from tests.simulator.test_snmp_agents import net_snmp

MANAGEMENT_PORT = 2323  # the checkpoint hosts' and switches' management port (Telnet/SSH)


@pytest.fixture
def inventory(tmp_path: Path, secrets_in_env: None) -> Inventory:
    """The small fleet, with a management TCP port on its switches and checkpoints."""
    file = tmp_path / "inventory.yaml"
    write_inventory(file, inventory_header(SIZE), fleet_devices(SIZE), fleet_sets(SIZE))
    district = load_config(file, Inventory)
    devices = [
        replace(d, tcp=TcpSettings(port=MANAGEMENT_PORT)) if d.id[:2] in ("SW", "KK") else d
        for d in district.devices
    ]
    return district.model_copy(update={"devices": devices})


@pytest.fixture
def probe(lean: LeanSnmpClient, snmp_engine: SnmpEngine, clock: FakeClock) -> Iterator[SnmpProbe]:
    profiles = load_profiles(REPO / "config" / "profiles")
    profiles["checkpoint-multihomed"] = profiles["checkpoint-generic"].model_copy(
        update={"id": "checkpoint-multihomed", "replies_from_any_address": True}
    )
    made = SnmpProbe(lean, snmp_engine, profiles, timeout_s=0.5, retries=1, clock=clock)
    yield made
    made.close()


def with_profile(target: Target, profile: str) -> Target:
    snmp = target.device.snmp
    assert snmp is not None
    return replace(target, device=replace(target.device, snmp=replace(snmp, profile=profile)))


async def test_an_old_switch_answering_toobig_is_read_in_smaller_requests(
    probe: SnmpProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    fleet.give("SW00001", Quirk.SNMP_MAX_MESSAGE_484)
    # All 24 ports watched: one GET of their two states each does not fit 484 bytes.
    switch = replace(targets["SW00001"], ports=tuple(range(1, 25)))
    await fleet.inject(f"port:SW00001/{switch.ports[0]}", FaultSpec(Fault.DOWN))
    result = await probe.probe(switch, deep=False)
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert result.checks[port_check(switch.ports[0])] is Reason.LINK_DOWN
    assert result.metrics["ports_down"] == 1
    assert "tooBig" in result.notes["snmp_walk"]
    assert "tooBig" in result.notes["snmp_get"]
    again = await probe.probe(switch, deep=False)  # what fits is remembered
    assert again.checks == result.checks


async def test_a_switch_without_getbulk_is_walked_by_getnext(
    probe: SnmpProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    fleet.give("SW00002", Quirk.SNMP_GETBULK_GENERR)
    switch = targets["SW00002"]
    await fleet.inject(f"port:SW00002/{switch.ports[0]}", FaultSpec(Fault.DOWN))
    result = await probe.probe(switch, deep=False)
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert result.checks[port_check(switch.ports[0])] is Reason.LINK_DOWN
    assert "genErr: walks by GETNEXT" in result.notes["snmp_walk"]


async def test_a_switch_silent_at_first_contact_is_walked_by_getbulk_once_back(
    probe: SnmpProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    """Its GETBULK went unanswered because nothing was, not because the reply was too long."""
    await fleet.inject("SW00001", FaultSpec(Fault.DOWN))
    silent = await probe.probe(targets["SW00001"], deep=False)
    assert (silent.health, silent.reason) == (Health.DOWN, Reason.TIMEOUT)
    await fleet.clear("SW00001")
    back = await probe.probe(targets["SW00001"], deep=False)
    assert back.health is Health.UP
    assert back.metrics["ports_watched"] == len(targets["SW00001"].ports)
    assert "snmp_walk" not in back.notes


@pytest.mark.alone  # real seconds timed: neighbours would slow its devices or agent
async def test_a_multi_homed_device_is_read_only_where_its_profile_says_so(
    probe: SnmpProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    """Net-SNMP's snmpget takes the answer from the other address; the agent only where
    the device's profile says so (a safe default: an answer from elsewhere may be forged)."""
    fleet.give("KK00001", Quirk.SNMP_REPLY_FROM_OTHER_ADDRESS)
    code, output = await net_snmp("snmpget", fleet, "KK00001", SYS_UPTIME)
    assert code == 0, output
    assert "Timeticks" in output
    strict = await probe.probe(targets["KK00001"], deep=False)
    # Its answers come from elsewhere and are dropped (safe default); its management port
    # still answers, and the note says where the answers came from and what to set.
    assert strict.reason is Reason.SNMP_SILENT, strict
    assert "answered from 127." in strict.notes["snmp_reply"], strict.notes
    assert "replies_from_any_address: true" in strict.notes["snmp_reply"]
    taken = await probe.probe(with_profile(targets["KK00001"], "checkpoint-multihomed"), False)
    assert (taken.health, taken.reason) == (Health.UP, Reason.OK), taken
    assert "answered from 127." in taken.notes["snmp_reply"]


async def test_a_changed_community_is_snmp_silent_and_a_host_gone_is_down(
    probe: SnmpProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    await fleet.inject("KK00002", FaultSpec(Fault.WRONG_CREDENTIALS))
    result = await probe.probe(targets["KK00002"], deep=False)
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.SNMP_SILENT), result
    assert f"TCP {MANAGEMENT_PORT}" in result.notes["snmp"]
    await fleet.inject("KK00002", FaultSpec(Fault.DOWN))  # now the host itself is gone
    result = await probe.probe(targets["KK00002"], deep=False)
    assert (result.health, result.reason) == (Health.DOWN, Reason.TIMEOUT), result


@pytest.mark.parametrize(
    ("mode", "words"), [("dormant", "dormant(5)"), ("not_present", "notPresent(6)")]
)
async def test_a_port_dormant_or_not_present_is_link_down(
    probe: SnmpProbe, targets: dict[str, Target], fleet: Fleet, mode: str, words: str
) -> None:
    switch = targets["SW00002"]
    port = switch.ports[0]
    await fleet.inject(f"port:SW00002/{port}", FaultSpec(Fault.DOWN, mode))
    result = await probe.probe(switch, deep=False)
    assert result.health is Health.UP
    assert result.checks[port_check(port)] is Reason.LINK_DOWN
    assert words in result.notes[port_check(port)]


async def test_a_slow_v3_door_host_is_read_as_net_snmp_reads_it(
    probe: SnmpProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    """v3 goes through pysnmp, whose retries forget the earlier send; each send now waits
    to the common deadline. It answers after 0.75 s; timeout 0.5 s, one retry."""
    door = targets["DH000001"]
    assert (await probe.probe(door, deep=False)).health is Health.UP
    await fleet.inject("DH000001", FaultSpec(Fault.DOWN, "slow", 0.75))
    result = await probe.probe(door, deep=False)
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert "past the 0.5 s timeout" in result.notes["snmp_slow"]
