"""Net-SNMP's own tools read the simulated door hosts, checkpoints and switches (v2c and v3)."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from agent.probes.snmp_lean import encode_get
from agent.probes.tcp import reach
from simulator.devices import Fault, Quirk
from simulator.fleet_runner import FaultSpec, Fleet
from simulator.snmp_agent import other_address
from slawatch.config.inventory import Inventory, TcpSettings
from tests.conftest import AUTH_KEY, COMMUNITY, PRIV_KEY, FakeClock, wait_for

SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
DOOR_STATE = "1.3.6.1.4.1.32473.1.1.0"
DOOR_TAMPER = "1.3.6.1.4.1.32473.1.2.0"
CAPTURES = "1.3.6.1.4.1.32473.2.1.0"
BACKLOG = "1.3.6.1.4.1.32473.2.2.0"
IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"


async def net_snmp(tool: str, fleet: Fleet, device_id: str, *args: str) -> tuple[int, str]:
    spec = fleet.by_id[device_id].spec
    assert spec.snmp is not None
    if spec.snmp.version == "3":
        auth = ["-v3", "-l", "authPriv", "-u", "slawatch", "-a", "SHA", "-A", AUTH_KEY]
        auth += ["-x", "AES", "-X", PRIV_KEY]
    else:
        auth = ["-v2c", "-c", COMMUNITY]
    process = await asyncio.create_subprocess_exec(
        tool,
        *auth,
        "-On",
        # Two seconds: snmpsim and the fleet answer in milliseconds, but not on a machine
        # busy with other tests' work.
        "-t",
        "2",
        "-r",
        "0",
        f"{spec.address}:{spec.snmp.port}",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode()


def value_of(output: str, oid: str) -> str:
    for line in output.splitlines():
        if line.startswith(f".{oid} = "):
            return line.split(" = ", 1)[1]
    raise AssertionError(f"{oid} not in {output!r}")


async def test_door_host_answers_snmpv3_authpriv_with_door_state(fleet: Fleet) -> None:
    code, output = await net_snmp("snmpget", fleet, "DH000001", SYS_NAME, DOOR_STATE, DOOR_TAMPER)
    assert code == 0, output
    assert value_of(output, SYS_NAME) == 'STRING: "DH000001"'
    assert value_of(output, DOOR_STATE) == "INTEGER: 1"

    await fleet.inject("DH000001", FaultSpec(Fault.DOOR_FORCED))
    await fleet.inject("DH000001", FaultSpec(Fault.TAMPER))
    _, output = await net_snmp("snmpget", fleet, "DH000001", DOOR_STATE, DOOR_TAMPER)
    assert value_of(output, DOOR_STATE) == "INTEGER: 3"
    assert value_of(output, DOOR_TAMPER) == "INTEGER: 2"


async def test_a_wrong_v3_key_is_refused(fleet: Fleet) -> None:
    spec = fleet.by_id["DH000002"].spec
    assert spec.snmp is not None
    process = await asyncio.create_subprocess_exec(
        "snmpget",
        "-v3",
        "-l",
        "authPriv",
        "-u",
        "slawatch",
        "-a",
        "SHA",
        "-A",
        "wrong-key-1",
        "-x",
        "AES",
        "-X",
        PRIV_KEY,
        "-t",
        "1",
        "-r",
        "0",
        f"{spec.address}:{spec.snmp.port}",
        SYS_NAME,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode != 0
    assert b"Authentication failure" in output


async def test_door_host_reboot_resets_sys_uptime(fleet: Fleet, clock: FakeClock) -> None:
    _, output = await net_snmp("snmpget", fleet, "DH000002", SYS_UPTIME)
    before = int(value_of(output, SYS_UPTIME).split("(")[1].split(")")[0])
    assert before > 360_000  # booted at least an hour ago

    fleet.reboot("DH000002")
    clock.advance(42)
    _, output = await net_snmp("snmpget", fleet, "DH000002", SYS_UPTIME)
    assert value_of(output, SYS_UPTIME).startswith("Timeticks: (4200)")


async def test_checkpoint_captures_grow_with_traffic_and_stall(
    fleet: Fleet, clock: FakeClock
) -> None:
    async def captures() -> int:
        _, output = await net_snmp("snmpget", fleet, "KK00001", CAPTURES)
        return int(value_of(output, CAPTURES).split(": ")[1])

    first = await captures()
    clock.advance(60)
    assert await captures() == first + 30

    await fleet.inject("KK00001", FaultSpec(Fault.CAPTURES_STALL))
    stalled = await captures()
    clock.advance(600)
    assert await captures() == stalled

    await fleet.clear("KK00001", Fault.CAPTURES_STALL)
    clock.advance(20)
    assert await captures() == stalled + 10


async def test_checkpoint_backlog_grows_while_uploads_stall(fleet: Fleet, clock: FakeClock) -> None:
    async def backlog() -> str:
        _, output = await net_snmp("snmpget", fleet, "KK00001", BACKLOG)
        return value_of(output, BACKLOG)

    assert await backlog() == "Gauge32: 0"
    await fleet.inject("KK00001", FaultSpec(Fault.UPLOAD_STALL))
    clock.advance(600)
    assert await backlog() == "Gauge32: 300"
    await fleet.clear("KK00001", Fault.UPLOAD_STALL)
    assert await backlog() == "Gauge32: 0"


async def test_switch_walk_shows_ports_and_a_port_going_down(fleet: Fleet) -> None:
    code, output = await net_snmp("snmpwalk", fleet, "SW00001", "1.3.6.1.2.1.2.2.1.2")
    assert code == 0, output
    assert "GigabitEthernet1/0/1" in output
    port_oids = [line for line in output.splitlines() if "GigabitEthernet" in line]
    assert len(port_oids) >= 24

    camera = next(
        d
        for d in fleet.devices
        if d.spec.uplink and d.spec.uplink.switch == "SW00001" and d.spec.uplink.port == 1
    )
    reached = await fleet.inject("port:SW00001/1", FaultSpec(Fault.DOWN))
    assert camera.id in reached
    _, output = await net_snmp("snmpbulkwalk", fleet, "SW00001", IF_OPER_STATUS)
    statuses = [line.split(" = ")[1] for line in output.splitlines()]
    assert statuses[0] == "INTEGER: 2"
    assert statuses[1:24] == ["INTEGER: 1"] * 23
    assert camera.reachable_mode() is not None


async def test_link_down_silences_every_device_behind_it(fleet: Fleet) -> None:
    reached = await fleet.inject("link:L0001", FaultSpec(Fault.DOWN))
    assert len(reached) == len(fleet.devices)  # the small fleet hangs off one link
    code, output = await net_snmp("snmpget", fleet, "SW00002", SYS_NAME)
    assert code != 0
    assert "Timeout" in output

    await fleet.clear("link:L0001")
    code, _ = await net_snmp("snmpget", fleet, "SW00002", SYS_NAME)
    assert code == 0


@pytest.mark.parametrize("fault", [Fault.GARBAGE, Fault.TRUNCATED])
async def test_garbage_and_truncated_snmp_replies_are_unusable(fleet: Fleet, fault: Fault) -> None:
    await fleet.inject("KK00002", FaultSpec(fault))
    code, output = await net_snmp("snmpget", fleet, "KK00002", SYS_NAME)
    assert code != 0, output


# Real firmware's SNMP habits (Quirk), read by Net-SNMP's tools as by any manager ----------


async def test_an_old_agent_answers_a_long_getbulk_toobig_and_getnext_walks_it(
    fleet: Fleet,
) -> None:
    fleet.give("SW00001", Quirk.SNMP_MAX_MESSAGE_484)
    # 32 rows a request, as the agent asks (snmpbulkwalk's own 10 rows still fit 484 bytes)
    code, output = await net_snmp("snmpbulkwalk", fleet, "SW00001", "-Cr32", "1.3.6.1.2.1.2.2.1.2")
    assert code != 0
    assert "tooBig" in output
    code, output = await net_snmp("snmpwalk", fleet, "SW00001", "1.3.6.1.2.1.2.2.1.2")
    assert code == 0, output
    assert "GigabitEthernet1/0/24" in output
    many = [f"{IF_OPER_STATUS}.{n}" for n in range(1, 41)]
    code, output = await net_snmp("snmpget", fleet, "SW00001", *many)
    assert code != 0
    assert "tooBig" in output
    fleet.take_away("SW00001", Quirk.SNMP_MAX_MESSAGE_484)
    code, _ = await net_snmp("snmpget", fleet, "SW00001", *many)
    assert code == 0


async def test_an_agent_without_getbulk_answers_it_generr(fleet: Fleet) -> None:
    fleet.give("SW00002", Quirk.SNMP_GETBULK_GENERR)
    code, output = await net_snmp("snmpbulkwalk", fleet, "SW00002", IF_OPER_STATUS)
    assert code != 0
    assert "genErr" in output
    code, output = await net_snmp("snmpwalk", fleet, "SW00002", IF_OPER_STATUS)
    assert code == 0, output


async def test_a_multi_homed_device_answers_from_its_other_address(fleet: Fleet) -> None:
    fleet.give("KK00001", Quirk.SNMP_REPLY_FROM_OTHER_ADDRESS)
    received: list[tuple[str, int]] = []
    spec = fleet.by_id["KK00001"].spec
    assert spec.snmp is not None

    class Catch(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            received.append(addr)

    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Catch, local_addr=("127.0.0.1", 0))
    transport.sendto(
        encode_get(COMMUNITY.encode(), 9, [(1, 3, 6, 1, 2, 1, 1, 5, 0)]),
        (spec.address, spec.snmp.port),
    )
    await wait_for(lambda: bool(received), 5)
    transport.close()
    assert received[0] == (other_address(spec.address), spec.snmp.port)


@pytest.mark.parametrize(("mode", "state"), [("dormant", 5), ("not_present", 6), (None, 2)])
async def test_a_port_taken_down_with_a_mode_shows_that_state(
    fleet: Fleet, mode: str | None, state: int
) -> None:
    reached = await fleet.inject("port:SW00001/2", FaultSpec(Fault.DOWN, mode))
    assert reached  # the devices behind it are cut off whatever the state
    code, output = await net_snmp("snmpget", fleet, "SW00001", f"{IF_OPER_STATUS}.2")
    assert code == 0, output
    assert value_of(output, f"{IF_OPER_STATUS}.2") == f"INTEGER: {state}"


async def test_a_community_changed_on_site_is_dropped_unanswered(fleet: Fleet) -> None:
    await fleet.inject("KK00002", FaultSpec(Fault.WRONG_CREDENTIALS))
    code, output = await net_snmp("snmpget", fleet, "KK00002", SYS_NAME)
    assert code != 0
    assert "Timeout" in output
    await fleet.clear("KK00002", Fault.WRONG_CREDENTIALS)
    code, _ = await net_snmp("snmpget", fleet, "KK00002", SYS_NAME)
    assert code == 0


async def test_a_management_port_answers_while_the_device_does(
    inventory: Inventory, clock: FakeClock
) -> None:
    devices = [
        replace(d, tcp=TcpSettings(port=2323)) if d.id == "SW00001" else d
        for d in inventory.devices
    ]
    fleet = Fleet(inventory.model_copy(update={"devices": devices}), clock)
    await fleet.start()
    spec = fleet.by_id["SW00001"].spec
    try:
        assert await reach(spec.address, 2323, 1.0) == "open"
        await fleet.inject("SW00001", FaultSpec(Fault.WRONG_CREDENTIALS))  # SNMP only
        assert await reach(spec.address, 2323, 1.0) == "open"
        await fleet.inject("link:L0001", FaultSpec(Fault.DOWN))
        assert await reach(spec.address, 2323, 1.0) != "open"
        await fleet.power_restored()
        assert await reach(spec.address, 2323, 1.0) == "open"
    finally:
        await fleet.close()
