"""Door hosts, checkpoints and switches probed over SNMP, against the simulator and real snmpd."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from agent.probes.base import Credentials, Target
from agent.probes.snmp import SnmpProbe
from agent.wire import Health, Reason
from simulator.devices import Fault
from simulator.fleet_runner import FaultSpec, Fleet
from simulator.local_servers import Snmpd
from slawatch.config.inventory import Device, DeviceKind, SnmpSettings
from tests.conftest import FakeClock


def advance_to_beijing_hour(clock: FakeClock, hour: int) -> None:
    """Move the clock forward to the next ``hour``:00 in China Standard Time (UTC+8)."""
    local = clock.now + 8 * 3600
    target = local - local % 86400 + hour * 3600
    clock.advance((target - local) % 86400)


SYS_OIDS = ["1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.5.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.1.0"]


async def test_a_door_host_over_v3_is_up_then_forced_then_tampered(
    snmp_probe: SnmpProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    result = await snmp_probe.probe(targets["DH000001"], deep=False)
    assert (result.health, result.reason) == (Health.UP, Reason.OK)
    assert result.metrics["door_state"] == 1
    await fleet.inject("DH000001", FaultSpec(Fault.DOOR_FORCED))
    result = await snmp_probe.probe(targets["DH000001"], deep=False)
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.DOOR_FORCED)
    await fleet.clear("DH000001")
    await fleet.inject("DH000001", FaultSpec(Fault.TAMPER))
    result = await snmp_probe.probe(targets["DH000001"], deep=False)
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.TAMPER)


async def test_a_reboot_is_reported_once_as_an_event(
    snmp_probe: SnmpProbe, targets: dict[str, Target], fleet: Fleet, clock: FakeClock
) -> None:
    await snmp_probe.probe(targets["DH000002"], deep=False)
    fleet.reboot("DH000002")
    clock.advance(30)
    result = await snmp_probe.probe(targets["DH000002"], deep=False)
    assert (result.health, result.reason) == (Health.UP, Reason.REBOOTED)
    assert result.metrics["uptime_s"] == 30
    clock.advance(60)
    result = await snmp_probe.probe(targets["DH000002"], deep=False)
    assert result.reason is Reason.OK


async def test_a_checkpoint_that_stops_capturing_in_active_hours_is_degraded(
    snmp_probe: SnmpProbe, targets: dict[str, Target], fleet: Fleet, clock: FakeClock
) -> None:
    advance_to_beijing_hour(clock, 10)  # inside the profile's active hours
    target = targets["KK00001"]
    assert (await snmp_probe.probe(target, deep=False)).reason is Reason.OK
    await fleet.inject("KK00001", FaultSpec(Fault.CAPTURES_STALL))
    clock.advance(1)
    await snmp_probe.probe(target, deep=False)
    clock.advance(9 * 60)
    assert (await snmp_probe.probe(target, deep=False)).reason is Reason.OK
    clock.advance(60)
    result = await snmp_probe.probe(target, deep=False)
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.CAPTURES_STALLED)


async def test_a_checkpoint_that_captures_but_cannot_upload_is_degraded_once_the_backlog_grows(
    snmp_probe: SnmpProbe, targets: dict[str, Target], fleet: Fleet, clock: FakeClock
) -> None:
    target = targets["KK00001"]
    await fleet.inject("KK00001", FaultSpec(Fault.UPLOAD_STALL))
    clock.advance(5 * 60)
    result = await snmp_probe.probe(target, deep=False)
    assert (result.reason, result.metrics["upload_backlog"]) == (Reason.OK, 150)
    clock.advance(6 * 60)
    result = await snmp_probe.probe(target, deep=False)
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.UPLOAD_BACKLOG)
    assert result.metrics["upload_backlog"] == 330
    await fleet.clear("KK00001")
    assert (await snmp_probe.probe(target, deep=False)).reason is Reason.OK


async def test_quiet_hours_never_count_as_a_stall(
    snmp_probe: SnmpProbe, targets: dict[str, Target], fleet: Fleet, clock: FakeClock
) -> None:
    advance_to_beijing_hour(clock, 5)  # before the active hours start
    await fleet.inject("KK00002", FaultSpec(Fault.CAPTURES_STALL))
    await snmp_probe.probe(targets["KK00002"], deep=False)
    clock.advance(50 * 60)
    assert (await snmp_probe.probe(targets["KK00002"], deep=False)).reason is Reason.OK


async def test_a_switch_reports_each_port_that_is_down(
    snmp_probe: SnmpProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    result = await snmp_probe.probe(targets["SW00001"], deep=False)
    assert result.health is Health.UP
    assert result.metrics["ports_down"] == 0
    await fleet.inject("port:SW00001/3", FaultSpec(Fault.DOWN))
    result = await snmp_probe.probe(targets["SW00001"], deep=False)
    assert result.health is Health.UP  # the switch itself is fine
    assert result.metrics["ports_down"] == 1
    assert result.checks["port_3"] is Reason.LINK_DOWN


@pytest.mark.parametrize(
    ("device_id", "fault", "reason"),
    [
        ("SW00002", Fault.DOWN, Reason.TIMEOUT),
        ("KK00001", Fault.GARBAGE, Reason.BAD_RESPONSE),
        ("KK00002", Fault.TRUNCATED, Reason.BAD_RESPONSE),
        ("DH000001", Fault.DOWN, Reason.TIMEOUT),
    ],
)
async def test_unreachable_or_garbled_devices_are_down_with_a_reason(
    snmp_probe: SnmpProbe,
    targets: dict[str, Target],
    fleet: Fleet,
    device_id: str,
    fault: Fault,
    reason: Reason,
) -> None:
    await fleet.inject(device_id, FaultSpec(fault))
    result = await snmp_probe.probe(targets[device_id], deep=False)
    assert (result.health, result.reason) == (Health.DOWN, reason)


async def test_a_wrong_v3_key_is_auth_failed_not_down(
    snmp_probe: SnmpProbe, targets: dict[str, Target]
) -> None:
    target = targets["DH000001"]
    wrong = Target(target.device, replace(target.credentials, v3_auth_key="not-the-key"))
    result = await snmp_probe.probe(wrong, deep=False)
    assert result.reason is Reason.AUTH_FAILED


@pytest.mark.parametrize(
    "wrong",
    [{"v3_user": "nobody"}, {"v3_priv_key": "not-the-privacy-key"}],
    ids=["unknown user", "wrong privacy key"],
)
async def test_v3_credentials_refused_are_auth_failed_on_the_simulator(
    snmp_probe: SnmpProbe, targets: dict[str, Target], wrong: dict[str, str]
) -> None:
    target = targets["DH000001"]
    result = await snmp_probe.probe(
        Target(target.device, replace(target.credentials, **wrong)), deep=False
    )
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.AUTH_FAILED), result
    assert result.checks["liveness"] is Reason.OK  # it answered: not down


@pytest.mark.parametrize(
    "wrong",
    [{"v3_user": "nobody"}, {"v3_priv_key": "not-the-privacy-key"}, {"v3_auth_key": "not-the-key"}],
    ids=["unknown user", "wrong privacy key", "wrong auth key"],
)
async def test_v3_credentials_refused_by_debian_snmpd_are_auth_failed(
    snmp_probe: SnmpProbe, snmpd: Snmpd, wrong: dict[str, str]
) -> None:
    # Net-SNMP drops a request it cannot decrypt without a report: it still answers
    # engine discovery, which tells a wrong privacy key from a dead host.
    target = snmpd_target(snmpd, "3")
    result = await snmp_probe.probe(
        Target(target.device, replace(target.credentials, **wrong)), deep=False
    )
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.AUTH_FAILED), result


async def test_lean_get_reads_what_pysnmp_reads_across_the_fleet(
    snmp_probe: SnmpProbe, targets: dict[str, Target]
) -> None:
    oids = [*SYS_OIDS, "1.3.6.1.4.1.32473.2.1.0", "1.3.6.1.2.1.2.2.1.2.1", "1.3.6.1.2.1.99.0"]
    compared = 0
    for target in targets.values():
        snmp = target.device.snmp
        if snmp is None or snmp.version != "2c":
            continue
        lean = await snmp_probe.get(target, oids)
        library = await snmp_probe.get_with_pysnmp(target, oids)
        assert lean == library, target.device.id
        compared += 1
    assert compared == 4  # two switches, two checkpoints


@pytest.fixture
def snmpd(tmp_path: Path) -> Iterator[Snmpd]:
    server = Snmpd(tmp_path / "snmpd")
    server.start()
    yield server
    server.stop()


def snmpd_target(server: Snmpd, version: str) -> Target:
    device = Device(
        id="HOST1",
        name="Debian snmpd",
        kind=DeviceKind.CHECKPOINT,
        site="t",
        address="127.0.0.1",
        region="R1",
        service_start=date(2026, 1, 1),
        snmp=SnmpSettings(profile="net-snmp-host", port=server.port, version=version),  # type: ignore[arg-type]
    )
    credentials = Credentials(
        community=server.COMMUNITY,
        v3_user=server.USER,
        v3_auth_key=server.AUTH_KEY,
        v3_priv_key=server.PRIV_KEY,
    )
    return Target(device, credentials)


@pytest.mark.parametrize("version", ["2c", "3"])
async def test_debian_snmpd_is_probed_over_v2c_and_v3(
    snmp_probe: SnmpProbe, snmpd: Snmpd, version: str
) -> None:
    result = await snmp_probe.probe(snmpd_target(snmpd, version), deep=False)
    assert (result.health, result.reason) == (Health.UP, Reason.OK)
    assert result.metrics["uptime_s"] >= 0


async def test_lean_get_matches_pysnmp_on_debian_snmpd(snmp_probe: SnmpProbe, snmpd: Snmpd) -> None:
    target = snmpd_target(snmpd, "2c")
    lean = await snmp_probe.get(target, [*SYS_OIDS, "1.3.6.1.2.1.25.1.1.0"])
    library = await snmp_probe.get_with_pysnmp(target, [*SYS_OIDS, "1.3.6.1.2.1.25.1.1.0"])
    assert lean.keys() == library.keys()
    for oid in lean:
        if oid.startswith("1.3.6.1.2.1.1.3") or oid.startswith("1.3.6.1.2.1.25.1.1"):
            assert abs(int(lean[oid] or 0) - int(library[oid] or 0)) < 200  # uptime moves on
        else:
            assert lean[oid] == library[oid], oid
