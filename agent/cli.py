"""``slawatch-agent``: the edge agent's command line."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import ipaddress
import json
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvloop

from agent.probes.base import ProbeResult
from agent.probes.tcp import reach
from agent.runner import Agent, build_plans
from agent.wire import Health, Reason, port_check
from slawatch.columns import fit
from slawatch.config.check import (
    EXIT_INVALID,
    EXIT_OK,
    check_files,
    inventory_secret_problems,
    secret_problems,
)
from slawatch.config.errors import ConfigError
from slawatch.config.loader import load_config
from slawatch.config.secrets import SecretError
from slawatch.config.settings import AgentSettings
from slawatch.messages import Language, reason_text, text

# The device is not up: scripts and the engineer's shell can tell without reading.
EXIT_NOT_UP = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slawatch-agent", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check-config", help="validate agent settings and the inventory they name (no network)"
    )
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    run = commands.add_parser("run", help="poll the inventory's devices and publish their status")
    run.add_argument("-c", "--config", type=Path, required=True)
    run.add_argument("-v", "--verbose", action="store_true", help="log every poll (DEBUG)")
    probe = commands.add_parser("probe", help="run every check on one device now and show it")
    probe.add_argument("device_id")
    probe.add_argument("-c", "--config", type=Path, required=True)
    probe.add_argument("--lang", choices=["zh", "en"], default="zh", help="words in (default zh)")
    probe.add_argument("--json", action="store_true", help="the verdict as JSON, for scripts")
    find = commands.add_parser(
        "discover", help="WS-Discovery: which cameras answer, against the inventory (台账)"
    )
    find.add_argument("-c", "--config", type=Path, required=True)
    find.add_argument("--wait", type=float, default=3.0, help="seconds to collect answers")
    find.add_argument("--csv", type=Path, help="also write the findings here (UTF-8 with BOM)")
    find.add_argument("--lang", choices=["zh", "en"], default="zh")
    find.add_argument(
        "--subnet", action="append", default=[], help="also walk this range (10.36.2.0/24)"
    )
    find.add_argument("--port", type=int, default=80, help="ONVIF port of the walk")
    return parser


@dataclass(frozen=True, slots=True)
class Around:
    """What the engineer at the camera also needs: can its port be reached at all, and is
    its switch port up (is the camera down, or its cable)?"""

    address: str
    reach_port: int | None
    reached: str  # "open", "refused", "timeout", "unreachable" or "-" (no TCP port)
    switch: str | None = None
    switch_port: str | None = None
    port_state: str | None = None  # the switch's verdict on that port ("ok", "link_down", …)
    port_note: str | None = None  # what the switch said of it ("ifIndex 5 ifOperStatus …")


def conclusion(result: ProbeResult, around: Around, kind: str, language: Language) -> str:
    """The verdict in one sentence, first: where the fault is, as far as the agent can tell."""
    reason = reason_text(result.reason.value, language)
    if result.reason is Reason.SNMP_SILENT:
        return text("conclusion.snmp_silent", language)
    if around.port_state == Reason.LINK_DOWN.value:
        state = around.port_state + (f" ({around.port_note})" if around.port_note else "")
        key = (
            "conclusion.port_down"
            if result.health is Health.DOWN
            else "conclusion.port_down_device_up"
        )
        return text(key, language, state=state)
    if result.health is Health.DOWN:
        if around.port_state == Reason.OK.value:
            return text("conclusion.silent_port_ok", language, kind=text(f"kind.{kind}", language))
        return text("conclusion.silent", language, reason=reason)
    if result.health is Health.DEGRADED:
        return text("conclusion.degraded", language, reason=reason)
    return text("conclusion.up", language)


async def _reach(address: str, port: int | None, timeout_s: float) -> str:
    """ "open", or the reason a connection failed, as the probes name it."""
    if port is None:
        return "-"
    return await reach(address, port, timeout_s)


def _table(
    device_id: str,
    result: ProbeResult,
    took_s: float,
    language: Language,
    around: Around,
    kind: str = "camera",
) -> str:
    """The probe's verdict for the engineer at the camera: codes as the wire has them, with
    their words (Chinese unless ``--lang en``), in columns that line up."""

    def t(key: str) -> str:
        return text(key, language)

    def said(code: str, words: str) -> str:
        return code if words == code else f"{code} ({words})"

    # Names in full (``port_gigabitethernet0_0_3``), the column as wide as the longest.
    names = [*result.checks, *result.metrics, *result.notes]
    width = max([16, *(len(name) for name in names)])
    health, reason = result.health.value, result.reason.value
    lines = [
        f"{fit(t('probe.conclusion'), 8)} {conclusion(result, around, kind, language)}",
        f"{fit(t('probe.device'), 8)} {device_id}",
        f"{fit(t('probe.health'), 8)} {said(health, t('health.' + health))}    "
        f"{t('probe.reason')} {said(reason, reason_text(reason, language))}",
        f"{fit(t('probe.took'), 8)} {took_s * 1000:.0f} ms",
        f"{fit(t('probe.address'), 8)} {around.address}"
        + (f"  TCP {around.reach_port}: {around.reached}" if around.reach_port else ""),
    ]
    if around.switch is not None:
        state = around.port_state or "-"
        lines.append(
            f"{fit(t('probe.uplink'), 8)} {around.switch} {t('probe.port')} {around.switch_port}: "
            f"{said(state, reason_text(state, language)) if around.port_state else '-'}"
            + (f"  ({around.port_note})" if around.port_note else "")
        )
    lines += [
        "",
        f"{fit(t('probe.check'), width)} {t('probe.result')}",
    ]
    lines += [
        f"{fit(name, width)} {said(reason.value, reason_text(reason.value, language))}"
        for name, reason in sorted(result.checks.items())
    ]
    if result.metrics:
        lines += ["", f"{fit(t('probe.metric'), width)} {t('probe.value')}"]
        lines += [f"{fit(name, width)} {value:g}" for name, value in sorted(result.metrics.items())]
    if result.notes:
        lines += ["", f"{fit(t('probe.how'), width)} {t('probe.said')}"]
        lines += [f"{fit(name, width)} {words}" for name, words in sorted(result.notes.items())]
    return "\n".join(lines)


def _verdict(device_id: str, result: ProbeResult, took_s: float, around: Around) -> dict[str, Any]:
    return {
        "device_id": device_id,
        "health": result.health.value,
        "reason": result.reason.value,
        "took_ms": round(took_s * 1000),
        "checks": {name: reason.value for name, reason in sorted(result.checks.items())},
        "metrics": dict(sorted(result.metrics.items())),
        "notes": dict(sorted(result.notes.items())),
        "reach": dataclasses.asdict(around),
    }


async def _probe(settings: AgentSettings, device_id: str, language: Language, as_json: bool) -> int:
    agent = Agent(settings)
    inventory, credentials = agent.load_inventory()
    async with agent.probes() as probes:
        plans = build_plans(inventory, credentials, probes, settings.poll.interval.total_seconds())
        plan = next((p for p in plans if p.target.device.id == device_id), None)
        if plan is None:
            print(
                f"slawatch-agent: no device {device_id!r} at site {settings.site}", file=sys.stderr
            )
            return EXIT_INVALID
        scheduler = agent.scheduler_for()
        result, took = await scheduler.probe_once(plan, deep=True)
        device = plan.target.device
        tcp = device.onvif or device.rtsp or device.tcp
        around = Around(
            device.address,
            tcp.port if tcp else None,
            await _reach(device.address, tcp.port if tcp else None, 2.0),
        )
        uplink = device.uplink
        if uplink is not None and uplink.switch is not None and uplink.port is not None:
            switch = next((p for p in plans if p.target.device.id == uplink.switch), None)
            state = note = None
            if switch is not None:
                switched, _ = await scheduler.probe_once(switch, deep=False)
                verdict = switched.checks.get(port_check(uplink.port))
                state = verdict.value if verdict else switched.reason.value
                note = switched.notes.get(port_check(uplink.port))
            around = dataclasses.replace(
                around,
                switch=uplink.switch,
                switch_port=str(uplink.port),
                port_state=state,
                port_note=note,
            )
    if as_json:
        shown = _verdict(device_id, result, took, around)
        shown["conclusion"] = conclusion(result, around, device.kind.value, language)
        print(json.dumps(shown, ensure_ascii=False, indent=2))
    else:
        print(_table(device_id, result, took, language, around, device.kind.value))
    return EXIT_OK if result.health is Health.UP else EXIT_NOT_UP


async def _discover(settings: AgentSettings, args: argparse.Namespace) -> int:
    from agent.discover import (
        IN_ORDER,
        findings_csv,
        inspect,
        listen,
        own_networks,
        reconcile,
        walk,
    )

    inventory, credentials = Agent(settings).load_inventory()
    timeout_s = settings.poll.timeout.total_seconds()
    answers = {answer.address: answer for answer in await listen(args.wait)}
    for network in args.subnet:
        for answer in await walk(network, args.port, timeout_s):
            answers.setdefault(answer.address, answer)
    inspected = await inspect(inventory, credentials, sorted(answers.values(), key=str), timeout_s)
    asked = [*own_networks(), *(ipaddress.ip_network(n, strict=False) for n in args.subnet)]
    findings = reconcile(inventory, inspected, asked)
    language: Language = args.lang

    def t(key: str) -> str:
        return text(key, language)

    print(
        f"{fit(t('discover.status'), 10)} {fit(t('discover.device'), 14)} "
        f"{fit(t('discover.address'), 16)} {fit(t('discover.listed'), 14)} {t('discover.answered')}"
    )
    for found in findings:
        print(
            f"{fit(t('discover.' + found.status), 10)} {fit(found.device_id or '-', 14)} "
            f"{fit(found.address, 16)} {fit(found.listed_model or '-', 14)} "
            f"{found.answered_model or '-'}"
        )
    unasked = sum(1 for f in findings if f.status == "unasked")
    if unasked:
        print(text("discover.unasked_hint", language, count=unasked))
    if args.csv is not None:
        args.csv.write_bytes(findings_csv(findings, language))
    return EXIT_OK if all(f.status in IN_ORDER for f in findings) else EXIT_NOT_UP


async def _run(settings: AgentSettings) -> None:
    agent = Agent(settings)
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, agent.stop)
    await agent.run()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return check_files(args.files, {"agent", "inventory"})
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        settings = load_config(args.config, AgentSettings)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    try:
        if args.command == "run":
            # Every secret of the settings read and judged before anything starts, named
            # at its line as check-config names it; the inventory's when it is read.
            refused = secret_problems(settings, args.config)
            if refused:
                raise ConfigError(refused)
        if args.command == "probe":
            return uvloop.run(_probe(settings, args.device_id, args.lang, args.json))
        if args.command == "discover":
            return uvloop.run(_discover(settings, args))
        uvloop.run(_run(settings))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    except SecretError as exc:  # a device credential: every one refused, at its inventory line
        found = (
            inventory_secret_problems(settings.inventory)
            if exc.path[:1] == ("credentials",)
            else []
        )
        print(ConfigError(found) if found else f"slawatch-agent: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except LookupError as exc:  # a secret reference that cannot be read
        print(f"slawatch-agent: {exc}", file=sys.stderr)
        return EXIT_INVALID
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
