"""Real devices' SNMP recordings, served by snmpsim, get the verdict a field engineer expects.

snmpsim (a third-party agent) replays ``../shared/testdata/snmp``: Cisco, Huawei, H3C and
D-Link access switches with their own ifIndex numbering, SNMP-only cameras that answer
only a private MIB, NVRs and embedded Linux hosts. Port states are the recorded ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

from agent.probes.base import Credentials, Target
from agent.probes.snmp import SnmpProbe
from agent.probes.snmp_lean import LeanSnmpClient
from agent.profiles import load_profiles
from agent.wire import Health, Reason, port_check
from simulator.local_servers import Snmpsim
from slawatch.config.inventory import Device, DeviceKind, SnmpSettings
from tests.conftest import REPO, SHARED_TESTDATA


@pytest.fixture
def snmp_probe(lean: LeanSnmpClient, snmp_engine: SnmpEngine) -> Iterator[SnmpProbe]:
    """snmpsim answers from files of up to 2 MB, slower than a device: a device's timeout."""
    profiles = load_profiles(REPO / "config" / "profiles")
    probe = SnmpProbe(lean, snmp_engine, profiles, timeout_s=3.0, retries=1)
    yield probe
    probe.close()


@pytest.fixture(scope="module")
def snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    server = Snmpsim(tmp_path_factory.mktemp("snmpsim"), SHARED_TESTDATA / "snmp")
    server.start()
    yield server
    server.stop()


def recorded(
    server: Snmpsim,
    recording: str,
    kind: DeviceKind,
    profile: str,
    ports: tuple[int | str, ...] = (),
) -> Target:
    device = Device(
        id=recording.split("_")[0].upper()[:40],
        name=recording,
        kind=kind,
        site="t",
        address="127.0.0.1",
        region="R1",
        service_start=date(2026, 1, 1),
        snmp=SnmpSettings(profile=profile, port=server.port),
    )
    return Target(device, Credentials(community=recording), ports)


@pytest.mark.parametrize(
    ("recording", "down", "up"),
    [
        # Cisco C3560: Gi0/N is ifIndex 101NN; Gi0/3 is down, Gi0/49-52 are up.
        (
            "cisco-c3560-access-switch_snmpsimdata",
            [3, "Gi0/4", "GigabitEthernet0/5"],
            [49, "Gi0/50"],
        ),
        # Huawei S5720: GigabitEthernet0/0/1 is ifIndex 6, after MEth0/0/1 (down, not a port).
        (
            "huawei-s5720-36c-ei-switch_snmpsimdata",
            [3, "GE0/0/4", "GigabitEthernet0/0/11"],
            [1, 2, "XGigabitEthernet0/0/1"],
        ),
        # H3C E528: GigabitEthernet1/0/N is ifIndex N; only port 24 is up.
        ("h3c-e528-switch_snmpsimdata", [1, "GigabitEthernet1/0/2"], [24, "Gi1/0/24"]),
        # D-Link DES-3200: ifName is the bare port number.
        ("dlink-des3200-18-switch_snmpsimdata", [1, "7"], [2, "3", 17]),
    ],
)
async def test_switch_ports_named_in_the_inventory_are_judged_by_name_or_number(
    snmp_probe: SnmpProbe,
    snmpsim: Snmpsim,
    recording: str,
    down: list[int | str],
    up: list[int | str],
) -> None:
    target = recorded(snmpsim, recording, DeviceKind.SWITCH, "if-mib-switch", (*down, *up))
    result = await snmp_probe.probe(target, deep=False)
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert result.metrics["ports_down"] == len(down)
    ports = {name: verdict for name, verdict in result.checks.items() if name.startswith("port_")}
    assert ports == {port_check(port): Reason.LINK_DOWN for port in down}


async def test_a_port_that_matches_no_interface_is_unsupported_and_visible(
    snmp_probe: SnmpProbe, snmpsim: Snmpsim
) -> None:
    target = recorded(
        snmpsim,
        "huawei-s5720-36c-ei-switch_snmpsimdata",
        DeviceKind.SWITCH,
        "if-mib-switch",
        ("Gi9/9/9", 99),
    )
    result = await snmp_probe.probe(target, deep=False)
    assert result.health is Health.UP
    assert result.checks[port_check("Gi9/9/9")] is Reason.UNSUPPORTED
    assert result.checks[port_check(99)] is Reason.UNSUPPORTED
    assert "no interface matches" in result.notes[port_check(99)]


async def test_a_port_shut_down_by_its_administrator_is_no_fault(
    snmp_probe: SnmpProbe, snmpsim: Snmpsim
) -> None:
    # The Cisco's Vlan1 is admin down and oper down in the recording.
    target = recorded(
        snmpsim,
        "cisco-c3560-access-switch_snmpsimdata",
        DeviceKind.SWITCH,
        "if-mib-switch",
        ("Vl1",),
    )
    result = await snmp_probe.probe(target, deep=False)
    assert port_check("Vl1") not in result.checks
    assert result.metrics["ports_down"] == 0
    assert "administrator" in result.notes[port_check("Vl1")]


@pytest.mark.parametrize(
    "recording",
    [
        "hikvision-ipcam-ds2cd4c36fwdap_snmpsimdata",  # private MIB 39165 only
        "hikvision-ipcam-ds2cd2185fwdi_librenms",  # private MIB 39165 only
        "axis-p5534e-ptz_librenms",  # sysDescr and sysObjectID only
    ],
)
async def test_cameras_watched_by_snmp_only_are_up(
    snmp_probe: SnmpProbe, snmpsim: Snmpsim, recording: str
) -> None:
    result = await snmp_probe.probe(
        recorded(snmpsim, recording, DeviceKind.CAMERA, "camera-snmp-generic"), deep=False
    )
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert result.checks["liveness"] is Reason.OK
    assert result.checks["uptime"] is Reason.UNSUPPORTED  # visible: no sysUpTime, no reboots


@pytest.mark.parametrize(
    ("recording", "kind"),
    [
        ("hikvision-nvr_snmpsimdata", DeviceKind.CAMERA),
        ("dahua-nvr4108hs-8p-4ks2_librenms", DeviceKind.CAMERA),
        ("linux-embedded-dcbc600_snmpsimdata", DeviceKind.DOOR_HOST),
        ("geovision-semac-ipcam500-linux_snmpsimdata", DeviceKind.CAMERA),
    ],
)
async def test_hosts_with_a_system_group_are_up_with_their_uptime(
    snmp_probe: SnmpProbe, snmpsim: Snmpsim, recording: str, kind: DeviceKind
) -> None:
    result = await snmp_probe.probe(recorded(snmpsim, recording, kind, "net-snmp-host"), deep=False)
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert result.metrics["uptime_s"] > 0


async def test_a_profile_that_does_not_fit_the_device_shows_unsupported_checks(
    snmp_probe: SnmpProbe, snmpsim: Snmpsim
) -> None:
    # A door-host profile on a plain Linux host: the door MIB is not there.
    target = recorded(
        snmpsim, "linux-embedded-dcbc600_snmpsimdata", DeviceKind.DOOR_HOST, "door-host-generic"
    )
    result = await snmp_probe.probe(target, deep=False)
    assert result.health is Health.UP
    assert result.checks["door_state"] is Reason.UNSUPPORTED
    assert result.checks["tamper"] is Reason.UNSUPPORTED


def test_every_recording_is_exercised() -> None:
    recordings = {path.stem for path in Path(SHARED_TESTDATA / "snmp").glob("*.snmprec")}
    named = {
        "cisco-c3560-access-switch_snmpsimdata",
        "huawei-s5720-36c-ei-switch_snmpsimdata",
        "h3c-e528-switch_snmpsimdata",
        "dlink-des3200-18-switch_snmpsimdata",
        "hikvision-ipcam-ds2cd4c36fwdap_snmpsimdata",
        "hikvision-ipcam-ds2cd2185fwdi_librenms",
        "axis-p5534e-ptz_librenms",
        "hikvision-nvr_snmpsimdata",
        "dahua-nvr4108hs-8p-4ks2_librenms",
        "linux-embedded-dcbc600_snmpsimdata",
        "geovision-semac-ipcam500-linux_snmpsimdata",
        "hanwha-samsung-ipolis-sno7084r_snmpsimdata",  # served by the simulator's cameras
        "linux-netsnmp-ucd-hr_snmpsimdata",  # served by the simulator's checkpoints
        "hikvision-nvr_librenms",
    }
    assert recordings <= named, recordings - named
