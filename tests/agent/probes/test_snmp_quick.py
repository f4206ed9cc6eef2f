"""A cycle's SNMPv2c GET started without a task (``SnmpProbe.start``, the scheduler's hot
path) reaches the verdicts ``probe`` reaches, against the simulator's agents: an answer,
a silent device, a switch whose reply grew too big, and the cases it leaves to ``probe``."""

from __future__ import annotations

from dataclasses import replace

from agent.probes.base import Target
from agent.probes.snmp import SnmpProbe
from agent.wire import Health, Reason, port_check
from simulator.devices import Fault, Quirk
from simulator.fleet_runner import FaultSpec, Fleet
from tests.agent.probes.quick import started


async def test_a_cycle_started_without_a_task_judges_as_probe_does(
    snmp_probe: SnmpProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    v2c = [t for t in targets.values() if t.device.snmp and t.device.snmp.version == "2c"]
    assert {t.device.id[:2] for t in v2c} == {"KK", "SW"}
    port = targets["SW00001"].ports[0]
    await fleet.inject(f"port:SW00001/{port}", FaultSpec(Fault.DOWN))
    for target in v2c:
        first = await snmp_probe.probe(target, deep=False)  # a switch's ports resolved
        quick = await started(snmp_probe, target, must_start=True)
        assert (quick.health, quick.reason, quick.checks) == (
            first.health,
            first.reason,
            first.checks,
        ), target.device.id
        assert quick.metrics.keys() == first.metrics.keys()
    assert (await started(snmp_probe, targets["SW00001"], must_start=True)).checks[
        port_check(port)
    ] is Reason.LINK_DOWN
    v3 = next(t for t in targets.values() if t.device.snmp and t.device.snmp.version == "3")
    assert not snmp_probe.start(v3, lambda finish: None)  # SNMPv3: pysnmp, in a task


async def test_a_silent_device_ends_in_the_same_timeout_verdict(
    snmp_probe: SnmpProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    await fleet.inject("KK00001", FaultSpec(Fault.DOWN))
    quick = await started(snmp_probe, targets["KK00001"], must_start=True)
    assert (quick.health, quick.reason) == (Health.DOWN, Reason.TIMEOUT), quick
    again = await snmp_probe.probe(targets["KK00001"], deep=False)
    assert (quick.checks, quick.notes) == (again.checks, again.notes)


async def test_a_reply_grown_too_big_is_asked_again_in_chunks(
    snmp_probe: SnmpProbe, targets: dict[str, Target], fleet: Fleet
) -> None:
    """The switch's ports were resolved before its agent was limited to 484 bytes: the
    started GET is answered tooBig, and the rest of the cycle asks in smaller GETs (then
    the cycles go through ``probe``, which remembers the size that fits)."""
    switch = replace(targets["SW00001"], ports=tuple(range(1, 25)))
    await fleet.inject(f"port:SW00001/{switch.ports[0]}", FaultSpec(Fault.DOWN))
    before = await snmp_probe.probe(switch, deep=False)
    fleet.give("SW00001", Quirk.SNMP_MAX_MESSAGE_484)
    quick = await started(snmp_probe, switch, must_start=True)
    assert (quick.health, quick.reason, quick.checks) == (
        before.health,
        before.reason,
        before.checks,
    )
    assert "tooBig" in quick.notes["snmp_get"]
    assert not snmp_probe.start(switch, lambda finish: None)  # chunked from now on
