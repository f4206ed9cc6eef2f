"""What real SNMP agents do that once made the agent call a working device down (issue 29),
replayed against third-party software with Net-SNMP's own tools as the reference, side by
side: the agent's verdict must follow what ``snmpget``/``snmpwalk`` get.

- Debian's snmpd 5.9: a unit replaced on the same address (new engine ID), AES-256 with
  Blumenthal's or Reeder's key extension, a wrong v2c community on a host whose other
  (TCP) port answers, and the host gone.
- snmpsim 1.2 replaying the real Cisco C3560 recording, with snmpsim's own variation
  modules: ``delay`` (an agent answering after 2.5 s), ``error`` (``tooBig`` for a GETBULK
  that runs past the column, as an old agent with a small buffer answers a long GETBULK,
  while GETNEXT, which reads one row past, is answered), and ports whose ifOperStatus is
  dormant(5) or notPresent(6) with the administrator keeping them up.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pysnmp.hlapi.v3arch.asyncio import SnmpEngine

from agent.probes.base import Credentials, Target
from agent.probes.snmp import SnmpFailureError, SnmpProbe
from agent.probes.snmp_lean import LeanSnmpClient
from agent.probes.switch_ports import IF_DESCR, IF_NAME, IF_OPER_STATUS, IF_TYPE
from agent.profiles import SnmpProfile, load_profiles
from agent.wire import Health, Reason, port_check
from simulator.local_servers import Snmpd, Snmpsim, free_port
from slawatch.config.inventory import Device, DeviceKind, SnmpSettings, TcpSettings
from tests.conftest import REPO, SHARED_TESTDATA

SYS_NAME = "1.3.6.1.2.1.1.5.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
CISCO = "cisco-c3560-access-switch_snmpsimdata"


def profiles(**variants: dict[str, Any]) -> dict[str, SnmpProfile]:
    """The shipped profiles, plus variants of ``net-snmp-host`` named by their id."""
    shipped = load_profiles(REPO / "config" / "profiles")
    for name, changes in variants.items():
        shipped[name] = shipped["net-snmp-host"].model_copy(update={"id": name, **changes})
    return shipped


@pytest.fixture
async def make_probe(lean: LeanSnmpClient, snmp_engine: SnmpEngine) -> AsyncIterator[Any]:
    made: list[SnmpProbe] = []

    def make(timeout_s: float = 1.0, retries: int = 1, **variants: dict[str, Any]) -> SnmpProbe:
        probe = SnmpProbe(
            lean, snmp_engine, profiles(**variants), timeout_s=timeout_s, retries=retries
        )
        made.append(probe)
        return probe

    yield make
    for probe in made:
        probe.close()


def device(
    port: int,
    *,
    version: str = "2c",
    profile: str = "net-snmp-host",
    kind: DeviceKind = DeviceKind.CHECKPOINT,
    tcp: int | None = None,
) -> Device:
    return Device(
        id="DEV1",
        name="device under test",
        kind=kind,
        site="t",
        address="127.0.0.1",
        region="R1",
        service_start=date(2026, 1, 1),
        snmp=SnmpSettings(profile=profile, port=port, version=version),  # type: ignore[arg-type]
        tcp=TcpSettings(port=tcp) if tcp is not None else None,
    )


def v3(credentials: str = "AES") -> Credentials:
    return Credentials(
        v3_user=Snmpd.USER,
        v3_auth_key=Snmpd.AUTH_KEY,
        v3_priv_protocol=credentials,
        v3_priv_key=Snmpd.PRIV_KEY,
    )


async def net_snmp(tool: str, *args: str) -> tuple[int, str, float]:
    """Run a Net-SNMP tool: exit code, output, seconds taken."""
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        tool,
        "-On",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={"MIBS": ""},
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode(), time.perf_counter() - started


def v3_args(privacy: str = "AES") -> list[str]:
    return [
        "-v3", "-l", "authPriv", "-u", Snmpd.USER, "-a", "SHA", "-A", Snmpd.AUTH_KEY,
        "-x", privacy, "-X", Snmpd.PRIV_KEY,
    ]  # fmt: skip


@pytest.fixture
def snmpd_folders(tmp_path: Path) -> Iterator[list[Snmpd]]:
    started: list[Snmpd] = []
    yield started
    for server in started:
        server.stop()


def start_snmpd(started: list[Snmpd], folder: Path, **options: Any) -> Snmpd:
    server = Snmpd(folder, **options)
    server.start()
    started.append(server)
    return server


# 1. A v3 unit replaced on the same address ---------------------------------------------


async def test_a_v3_unit_replaced_on_the_same_address_is_discovered_again(
    make_probe: Any, snmpd_folders: list[Snmpd], tmp_path: Path
) -> None:
    """Factory reset or a new unit: a new engine ID (from its MAC), same address and user.
    Before: pysnmp kept the old engine ID and dropped the new agent's reports
    (usmStatsUnknownEngineIDs), so the agent said ``timeout`` for as long as it ran."""
    probe = make_probe(timeout_s=1.0, retries=1)
    old = start_snmpd(snmpd_folders, tmp_path / "old", engine_id="0x80001f8880aaaaaaaaaaaaaaaa")
    target = Target(device(old.port, version="3"), v3())
    assert (await probe.probe(target, deep=False)).health is Health.UP
    old.stop()
    new = start_snmpd(
        snmpd_folders, tmp_path / "new", engine_id="0x80001f8880bbbbbbbbbbbbbbbb", port=old.port
    )
    reference = await net_snmp(
        "snmpget", *v3_args(), "-t", "1", "-r", "1", f"127.0.0.1:{new.port}", SYS_NAME
    )
    result = await probe.probe(target, deep=False)
    assert reference[0] == 0, reference
    assert '"debian-snmpd"' in reference[1]
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert (
        "0x80001f8880aaaaaaaaaaaaaaaa → 0x80001f8880bbbbbbbbbbbbbbbb" in result.notes["snmp_engine"]
    )
    again = await probe.probe(target, deep=False)  # and from then on at once
    assert again.health is Health.UP
    assert again.metrics["rtt_ms"] < 500


async def test_a_wrong_privacy_key_stays_auth_failed_across_a_unit_replaced(
    make_probe: Any, snmpd_folders: list[Snmpd], tmp_path: Path
) -> None:
    """The engine-discovery request that tells a refused key from silence is itself made
    from scratch: a replaced unit's reports are not dropped there either."""
    probe = make_probe(timeout_s=0.5, retries=0)
    old = start_snmpd(snmpd_folders, tmp_path / "old", engine_id="0x80001f8880aaaaaaaaaaaaaaaa")
    wrong = replace(v3(), v3_priv_key="not-the-privacy-key")
    target = Target(device(old.port, version="3"), wrong)
    assert (await probe.probe(target, deep=False)).reason is Reason.AUTH_FAILED
    old.stop()
    start_snmpd(
        snmpd_folders, tmp_path / "new", engine_id="0x80001f8880bbbbbbbbbbbbbbbb", port=old.port
    )
    result = await probe.probe(target, deep=False)
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.AUTH_FAILED), result


async def test_a_v3_unit_that_answers_nothing_after_its_success_is_down_not_stuck(
    make_probe: Any, snmpd_folders: list[Snmpd], tmp_path: Path
) -> None:
    probe = make_probe(timeout_s=0.5, retries=0)
    server = start_snmpd(snmpd_folders, tmp_path / "one")
    target = Target(device(server.port, version="3"), v3())
    assert (await probe.probe(target, deep=False)).health is Health.UP
    server.stop()
    gone = await probe.probe(target, deep=False)
    assert (gone.health, gone.reason) == (Health.DOWN, Reason.TIMEOUT), gone
    server.start()  # back, with its engine ID and a boot counter one higher
    back = await probe.probe(target, deep=False)
    assert (back.health, back.reason) == (Health.UP, Reason.REBOOTED), back


# 6. AES-256: Blumenthal's key extension or Reeder's -----------------------------------


@pytest.mark.parametrize(
    ("served", "net_snmp_name", "setting", "verdict"),
    [
        ("AES256", "AES-256", "blumenthal", Reason.OK),
        ("AES256", "AES-256", "auto", Reason.OK),
        ("AES256", "AES-256", "reeder", Reason.AUTH_FAILED),
        ("AES256C", "AES-256-C", "reeder", Reason.OK),
        ("AES256C", "AES-256-C", "auto", Reason.OK),
        ("AES256C", "AES-256-C", "blumenthal", Reason.AUTH_FAILED),
    ],
)
async def test_aes_256_with_either_key_extension_is_read_as_the_profile_says(
    make_probe: Any,
    snmpd_folders: list[Snmpd],
    tmp_path: Path,
    served: str,
    net_snmp_name: str,
    setting: str,
    verdict: Reason,
) -> None:
    """SHA-1 gives a 20-byte key, AES-256 needs 32: Net-SNMP's ``-x AES-256`` extends it
    Blumenthal's way, ``-x AES-256-C`` (and Cisco) Reeder's. Before, only Reeder's worked
    and nothing in the inventory could say which a device uses."""
    server = start_snmpd(snmpd_folders, tmp_path / served, privacy=served)
    reference = await net_snmp(
        "snmpget",
        *v3_args(net_snmp_name),
        "-t",
        "1",
        "-r",
        "0",
        f"127.0.0.1:{server.port}",
        SYS_NAME,
    )
    assert reference[0] == 0, reference
    probe = make_probe(timeout_s=0.5, retries=0, aes={"aes_key_extension": setting})
    target = Target(device(server.port, version="3", profile="aes"), v3("AES256"))
    result = await probe.probe(target, deep=False)
    assert result.reason is verdict, result
    if verdict is Reason.OK:
        assert result.health is Health.UP
        if setting == "auto":
            extension = "Blumenthal" if served == "AES256" else "Reeder"
            assert extension in result.notes["snmp_priv"]
            again = await probe.probe(target, deep=False)  # the one that worked comes first
            assert again.health is Health.UP
            assert again.metrics["rtt_ms"] < 400
    else:  # it answers discovery: alive, our key (its extension) refused; never down
        assert result.health is Health.DEGRADED
        assert "privacy key" in result.notes["snmp_auth"]


# 5. A wrong v2c community: host reachable, SNMP silent ---------------------------------


async def test_a_wrong_community_on_a_host_that_answers_is_snmp_silent_not_down(
    make_probe: Any, snmpd_folders: list[Snmpd], tmp_path: Path
) -> None:
    """snmpd drops a request with a wrong community without a word (RFC 3584), while the
    host's other port (here snmpd's own TCP transport) accepts connections."""
    management = free_port()
    server = start_snmpd(snmpd_folders, tmp_path / "host", tcp_port=management)
    address = f"127.0.0.1:{server.port}"
    wrong = await net_snmp(
        "snmpget", "-v2c", "-c", "typo", "-t", "0.5", "-r", "0", address, SYS_NAME
    )
    right = await net_snmp("snmpget", "-v2c", "-c", Snmpd.COMMUNITY, address, SYS_NAME)
    assert wrong[0] != 0
    assert "Timeout" in wrong[1]
    assert right[0] == 0, right
    probe = make_probe(timeout_s=0.5, retries=1)
    host = device(server.port, tcp=management)
    result = await probe.probe(Target(host, Credentials(community="typo")), deep=False)
    assert (result.health, result.reason) == (Health.DEGRADED, Reason.SNMP_SILENT), result
    assert result.checks == {"liveness": Reason.SNMP_SILENT}
    assert f"TCP {management}" in result.notes["snmp"]
    assert "community" in result.notes["snmp"]
    good = await probe.probe(Target(host, Credentials(community=Snmpd.COMMUNITY)), deep=False)
    assert good.health is Health.UP

    server.stop()  # the host gone: SNMP silent and its port no longer answers
    gone = await probe.probe(Target(host, Credentials(community=Snmpd.COMMUNITY)), deep=False)
    assert (gone.health, gone.reason) == (Health.DOWN, Reason.TIMEOUT), gone
    assert f"TCP {management} refused" in gone.notes["snmp"]


async def test_a_profile_names_management_ports_that_show_the_host_is_up(
    make_probe: Any, snmpd_folders: list[Snmpd], tmp_path: Path
) -> None:
    management = free_port()
    server = start_snmpd(snmpd_folders, tmp_path / "host", tcp_port=management)
    probe = make_probe(timeout_s=0.3, retries=0, mgmt={"reach_ports": [management]})
    target = Target(device(server.port, profile="mgmt"), Credentials(community="typo"))
    result = await probe.probe(target, deep=False)
    assert result.reason is Reason.SNMP_SILENT, result


# 3. A slow agent (snmpsim's delay variation) -------------------------------------------


def variant(recording: str, change: Any) -> str:
    """A recording rewritten line by line (``change(oid, tag, value)`` → new line or None)."""
    lines = (SHARED_TESTDATA / "snmp" / f"{recording}.snmprec").read_text("utf-8").splitlines()
    out = []
    for line in lines:
        oid, tag, value = line.split("|", 2)
        out.append(change(oid, tag, value) or line)
    return "\n".join(out) + "\n"


def too_big_past_each_column(oid_lines: str, columns: tuple[str, ...]) -> str:
    """snmpsim's ``error`` variation on the second row after each walked column: a
    GETBULK that runs that far past the column is answered ``tooBig``; GETNEXT, which
    reads one row past the column and stops, never meets it."""
    lines = oid_lines.splitlines()
    oids = [line.split("|", 1)[0] for line in lines]
    walked = tuple(f"{column}." for column in columns)
    marks = set()
    for prefix in walked:
        last = max(n for n, oid in enumerate(oids) if oid.startswith(prefix))
        if last + 2 < len(oids) and not oids[last + 2].startswith(walked):
            marks.add(last + 2)
    for n in marks:
        oid, tag, _ = lines[n].split("|", 2)
        lines[n] = f"{oid}|{tag}:error|op=any,status=tooBig"
    return "\n".join(lines) + "\n"


def with_port_states(states: dict[str, int]) -> Any:
    def change(oid: str, tag: str, value: str) -> str | None:
        for index, state in states.items():
            if oid == f"{IF_OPER_STATUS}.{index}":
                return f"{oid}|{tag}|{state}"
            if oid == f"1.3.6.1.2.1.2.2.1.7.{index}":
                return f"{oid}|{tag}|1"  # its administrator keeps it up
        return None

    return change


@pytest.fixture(scope="module")
def snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    slow = variant(
        CISCO,
        lambda oid, tag, value: (
            f"{oid}|{tag}:delay|value={value},wait=2500" if oid == SYS_UPTIME else None
        ),
    )
    # The Cisco recording and its variants only: snmpsim indexes every file it serves
    # before it answers, and the other recordings would double that wait.
    server = Snmpsim(
        tmp_path_factory.mktemp("snmpsim-field"),
        tmp_path_factory.mktemp("no-other-recordings"),
        extra={
            CISCO: variant(CISCO, lambda *_: None),
            "slow-agent": slow,
            "toobig-switch": too_big_past_each_column(
                variant(CISCO, lambda *_: None), (IF_NAME, IF_DESCR, IF_TYPE)
            ),
            # Gi0/3 (ifIndex 10103) dormant, Gi0/5 (10105) notPresent, Gi0/7 (10107) unknown.
            "port-states": variant(CISCO, with_port_states({"10103": 5, "10105": 6, "10107": 4})),
        },
    )
    server.start()
    yield server
    server.stop()


async def test_a_slow_agent_is_read_as_net_snmp_reads_it(make_probe: Any, snmpsim: Snmpsim) -> None:
    """It answers after 2.5 s; timeout 2 s, one retry. Net-SNMP resends the same
    request-id at 2 s and takes the answer to the first send at 2.5 s. Before, the agent
    used a new id for the retry, dropped the late answer and said ``timeout``."""
    address = f"127.0.0.1:{snmpsim.port}"
    code, output, took = await net_snmp(
        "snmpget", "-v2c", "-c", "slow-agent", "-t", "2", "-r", "1", address, SYS_UPTIME
    )
    assert code == 0, output
    assert "Timeticks" in output
    assert 2.4 < took < 4.0
    # snmpsim sleeps in its one thread: let it answer the resend before asking again.
    await asyncio.sleep(2.6)
    probe = make_probe(timeout_s=2.0, retries=1)
    target = Target(
        device(snmpsim.port, profile="net-snmp-host"), Credentials(community="slow-agent")
    )
    result = await probe.probe(target, deep=False)
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert 2400 < result.metrics["rtt_ms"] < 4000
    assert "past the 2 s timeout" in result.notes["snmp_slow"]
    await asyncio.sleep(2.6)
    through_pysnmp = await probe.get_with_pysnmp(target, [SYS_UPTIME])  # walks and v3 too
    assert isinstance(through_pysnmp[SYS_UPTIME], int)
    await asyncio.sleep(2.6)


# 2. GETBULK answered tooBig ------------------------------------------------------------


async def test_a_switch_that_answers_getbulk_toobig_is_read_by_smaller_requests(
    make_probe: Any, snmpsim: Snmpsim
) -> None:
    """Before: the port walk's tooBig made the switch down/bad_response and every camera
    behind it showed its uplink as bad_response, every cycle."""
    address = f"127.0.0.1:{snmpsim.port}"
    walked = await net_snmp("snmpwalk", "-v2c", "-c", "toobig-switch", address, IF_NAME)
    bulked = await net_snmp("snmpbulkwalk", "-v2c", "-c", "toobig-switch", address, IF_NAME)
    assert walked[0] == 0, walked
    assert '"Gi0/52"' in walked[1]
    assert bulked[0] != 0, bulked
    assert "tooBig" in bulked[1]
    probe = make_probe(timeout_s=3.0, retries=1)
    target = Target(
        device(snmpsim.port, profile="if-mib-switch", kind=DeviceKind.SWITCH),
        Credentials(community="toobig-switch"),
        (3, "Gi0/4", 49, "Gi0/50"),
    )
    result = await probe.probe(target, deep=False)
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    ports = {name: verdict for name, verdict in result.checks.items() if name.startswith("port_")}
    assert ports == {port_check(3): Reason.LINK_DOWN, port_check("Gi0/4"): Reason.LINK_DOWN}
    assert "tooBig" in result.notes["snmp_walk"]


async def test_a_switch_whose_table_cannot_be_read_is_up_with_its_ports_unread(
    make_probe: Any, snmpsim: Snmpsim, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = make_probe(timeout_s=3.0, retries=1)
    target = Target(
        device(snmpsim.port, profile="if-mib-switch", kind=DeviceKind.SWITCH),
        Credentials(community=CISCO),
        (3,),
    )

    async def refused(*_: Any) -> dict[int, int | bytes | None]:
        raise SnmpFailureError(Reason.BAD_RESPONSE, "error-status genErr to GETNEXT")

    monkeypatch.setattr(probe, "walk", refused)
    result = await probe.probe(target, deep=False)
    assert (result.health, result.reason) == (Health.UP, Reason.OK), result
    assert result.checks[port_check(3)] is Reason.UNSUPPORTED  # visible, never ok
    assert "genErr" in result.notes["ports"]


# 4. Port states: dormant and notPresent are not ok -------------------------------------


async def test_dormant_and_not_present_ports_are_link_down(
    make_probe: Any, snmpsim: Snmpsim
) -> None:
    """A port its administrator keeps up but that passes no traffic: notPresent (module or
    SFP missing), dormant (waiting, e.g. for 802.1X). Before, they read as ok and the dead
    port's camera took the blame."""
    address = f"127.0.0.1:{snmpsim.port}"
    code, output, _ = await net_snmp(
        "snmpget", "-v2c", "-c", "port-states", address,
        f"{IF_OPER_STATUS}.10103", f"{IF_OPER_STATUS}.10105", f"{IF_OPER_STATUS}.10107",
    )  # fmt: skip
    assert code == 0, output
    assert [line.rsplit(" ", 1)[1] for line in output.splitlines()] == ["5", "6", "4"]
    probe = make_probe(timeout_s=3.0, retries=1)
    target = Target(
        device(snmpsim.port, profile="if-mib-switch", kind=DeviceKind.SWITCH),
        Credentials(community="port-states"),
        (3, "Gi0/5", 7, 49),
    )
    result = await probe.probe(target, deep=False)
    assert result.health is Health.UP
    assert result.checks[port_check(3)] is Reason.LINK_DOWN
    assert result.checks[port_check("Gi0/5")] is Reason.LINK_DOWN
    assert result.checks[port_check(7)] is Reason.UNSUPPORTED  # unknown(4): cannot tell
    assert port_check(49) not in result.checks  # up
    assert "dormant(5)" in result.notes[port_check(3)]
    assert "notPresent(6)" in result.notes[port_check("Gi0/5")]
    assert result.metrics["ports_down"] == 2
