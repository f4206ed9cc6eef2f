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
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvloop
from wcwidth import wcswidth

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
from slawatch.config.errors import ConfigError, unreadable
from slawatch.config.loader import load_config
from slawatch.config.secrets import SecretError
from slawatch.config.settings import AgentSettings
from slawatch.keys import KeyFileError, load_public, new_pair, public_text
from slawatch.messages import Language, known, reason_text, said_in, text

# The device is not up: scripts and the engineer's shell can tell without reading.
EXIT_NOT_UP = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slawatch-agent", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check-config", help="validate agent settings and the inventory they name (no network)"
    )
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    check.add_argument("--lang", choices=("zh", "en"), default="zh", help="of the messages")
    run = commands.add_parser("run", help="poll the inventory's devices and publish their status")
    run.add_argument("-c", "--config", type=Path, required=True)
    run.add_argument("-v", "--verbose", action="store_true", help="log every poll (DEBUG)")
    probe = commands.add_parser("probe", help="run every check on one device now and show it")
    probe.add_argument("device_id")
    probe.add_argument("-c", "--config", type=Path, required=True)
    probe.add_argument("--lang", choices=["zh", "en"], default="zh", help="words in (default zh)")
    probe.add_argument("--json", action="store_true", help="the verdict as JSON, for scripts")
    probe.add_argument(
        "--timeout",
        type=_seconds,
        help="seconds to wait for each answer (default: the settings' poll.timeout)",
    )
    probe.add_argument(
        "--retries",
        type=int,
        choices=range(6),
        metavar="0-5",
        help="resends after a timeout (default: the settings' poll.retries)",
    )
    keys = commands.add_parser("keys", help="the agent's signing key")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    new_key = keys_commands.add_parser(
        "new",
        help="write a new Ed25519 key (mode 0600) and KEY.pub; print the public key to "
        "register in the inventory (sites[].agent_keys)",
    )
    new_key.add_argument("path", type=Path, metavar="KEY")
    new_key.add_argument("--lang", choices=("zh", "en"), default="zh", help="of the messages")
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


def _seconds(value: str) -> float:
    seconds = float(value)
    if not 0 < seconds <= 60:
        raise argparse.ArgumentTypeError(f"{value}: seconds between 0 and 60")
    return seconds


def with_poll(
    settings: AgentSettings, timeout_s: float | None, retries: int | None
) -> AgentSettings:
    """The settings with the engineer's ``--timeout`` and ``--retries`` for this probe."""
    poll: dict[str, object] = {}
    if timeout_s is not None:
        poll["timeout"] = timedelta(seconds=timeout_s)
    if retries is not None:
        poll["retries"] = retries
    if not poll:
        return settings
    return settings.model_copy(update={"poll": settings.poll.model_copy(update=poll)})


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
        elsewhere = "snmp_reply" in result.notes  # answered, from another address
        return text(
            "conclusion.snmp_elsewhere" if elsewhere else "conclusion.snmp_silent", language
        )
    if around.port_state == Reason.LINK_DOWN.value:
        code = around.port_state
        words = reason_text(code, language)
        note = said_in(around.port_note, language) if around.port_note else None
        state = f"{words} ({code}, {note})" if note else said(code, words)
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


def said(code: str, words: str) -> str:
    """Words first, the code (as the wire, /metrics and scripts have it) after, unless the
    words already are the code."""
    if words.lower() == code.replace("_", " ").lower() or f"({code})" in words:
        return words
    return f"{words} ({code})"


def check_label(name: str, language: Language, ports: dict[str, str]) -> str:
    """A check's name in the user's language; a switch port under the inventory's own
    spelling of it, in full (``端口 GigabitEthernet0/0/3``)."""
    if name in ports:
        return text("check.port", language, port=ports[name])
    return said(name, text(f"check.{name}", language)) if known(f"check.{name}") else name


def metric_label(name: str, language: Language) -> str:
    words = text(f"metric.{name}", language) if known(f"metric.{name}") else name
    return words if words == name else f"{words} ({name})"


def metric_value(name: str, value: float, language: Language) -> str:
    """The value with its unit (from the metric's name: ``_ms``, ``_s``)."""
    unit = next((u for u in ("ms", "s") if name.endswith(f"_{u}")), None)
    if unit == "ms":
        shown = f"{value:.1f}"
    elif unit == "s":
        shown = f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    else:
        shown = f"{value:g}"
    return f"{shown} {text(f'unit.{unit}', language)}" if unit else shown


def _rows(rows: list[tuple[str, ...]], heading: tuple[str, ...]) -> list[str]:
    """A table whose columns are as wide as their widest cell (nothing cut), or nothing
    at all when it has no rows."""
    if not rows:
        return []
    widths = [max(wcswidth(row[i]) for row in [heading, *rows]) for i in range(len(heading) - 1)]
    lines = ["", " ".join(fit(cell, w) for cell, w in zip(heading, widths, strict=False))]
    lines[-1] += " " + heading[-1]
    for row in rows:
        cells = [fit(cell, width) for cell, width in zip(row, widths, strict=False)]
        lines.append(" ".join([*cells, row[-1]]).rstrip())
    return lines


def _table(
    device_id: str,
    result: ProbeResult,
    took_s: float,
    language: Language,
    around: Around,
    kind: str = "camera",
    ports: dict[str, str] | None = None,
) -> str:
    """The probe's verdict for the engineer at the camera, in one language (Chinese unless
    ``--lang en``; the wire's codes in brackets), in columns that line up: each check with
    what was wrong beside it, the metrics with their units, then how the device answered."""

    def t(key: str) -> str:
        return text(key, language)

    health, reason = result.health.value, result.reason.value
    reached = around.reached
    reached_words = t("reach.open") if reached == "open" else reason_text(reached, language)
    tcp = f"  TCP {around.reach_port} {said(reached, reached_words)}" if around.reach_port else ""
    lines = [
        f"{fit(t('probe.conclusion'), 8)} {conclusion(result, around, kind, language)}",
        f"{fit(t('probe.device'), 8)} {device_id}",
        f"{fit(t('probe.health'), 8)} {said(health, t('health.' + health))}    "
        f"{t('probe.reason')} {said(reason, reason_text(reason, language))}",
        f"{fit(t('probe.took'), 8)} {took_s * 1000:.0f} {t('unit.ms')}",
        f"{fit(t('probe.address'), 8)} {around.address}{tcp}",
    ]
    if around.switch is not None:
        state = around.port_state
        lines.append(
            f"{fit(t('probe.uplink'), 8)} {around.switch} {t('probe.port')} {around.switch_port}: "
            f"{said(state, reason_text(state, language)) if state else '-'}"
            + (f"  ({said_in(around.port_note, language)})" if around.port_note else "")
        )
    labels = ports or {}
    lines += _rows(
        [
            (
                check_label(name, language, labels),
                said(verdict.value, reason_text(verdict.value, language)),
                said_in(result.notes.get(name, ""), language),
            )
            for name, verdict in sorted(result.checks.items())
        ],
        (t("probe.check"), t("probe.result"), t("probe.note")),
    )
    lines += _rows(
        [
            (metric_label(name, language), metric_value(name, value, language))
            for name, value in sorted(result.metrics.items())
        ],
        (t("probe.metric"), t("probe.value")),
    )
    lines += _rows(
        [
            (
                said(name, t(f"note.{name}")) if known(f"note.{name}") else name,
                said_in(words, language),
            )
            for name, words in sorted(result.notes.items())
            if name not in result.checks
        ],
        (t("probe.how"), t("probe.said")),
    )
    return "\n".join(lines)


def _verdict(
    device_id: str, result: ProbeResult, took_s: float, around: Around, language: Language
) -> dict[str, Any]:
    """The verdict for scripts: the wire's codes, the notes in ``language``."""
    reach = dataclasses.asdict(around)
    if around.port_note:
        reach["port_note"] = said_in(around.port_note, language)
    return {
        "device_id": device_id,
        "health": result.health.value,
        "reason": result.reason.value,
        "took_ms": round(took_s * 1000),
        "checks": {name: reason.value for name, reason in sorted(result.checks.items())},
        "metrics": dict(sorted(result.metrics.items())),
        "notes": {name: said_in(words, language) for name, words in sorted(result.notes.items())},
        "reach": reach,
    }


async def _probe(settings: AgentSettings, device_id: str, language: Language, as_json: bool) -> int:
    agent = Agent(settings)
    inventory, credentials = agent.load_inventory()
    async with agent.probes() as probes:
        plans = build_plans(inventory, credentials, probes, settings.poll.interval.total_seconds())
        plan = next((p for p in plans if p.target.device.id == device_id), None)
        if plan is None:
            print(
                text("probe.no_device", language, device=device_id, site=settings.site),
                file=sys.stderr,
            )
            return EXIT_INVALID
        scheduler = agent.scheduler_for()
        result, took = await scheduler.probe_once(plan, deep=True)
        device = plan.target.device
        tcp = device.onvif or device.rtsp or device.tcp
        around = Around(
            device.address,
            tcp.port if tcp else None,
            await _reach(
                device.address, tcp.port if tcp else None, settings.poll.timeout.total_seconds()
            ),
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
        shown = _verdict(device_id, result, took, around, language)
        shown["conclusion"] = conclusion(result, around, device.kind.value, language)
        print(json.dumps(shown, ensure_ascii=False, indent=2))
    else:
        ports = {port_check(spec): str(spec) for spec in plan.target.ports}
        print(_table(device_id, result, took, language, around, device.kind.value, ports))
    return EXIT_OK if result.health is Health.UP else EXIT_NOT_UP


async def _discover(settings: AgentSettings, args: argparse.Namespace) -> int:
    from agent.discover import (
        IN_ORDER,
        findings_csv,
        findings_table,
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
    for line in findings_table(findings, language):
        print(line)
    if args.csv is not None:
        args.csv.write_bytes(findings_csv(findings, language))
    return EXIT_OK if all(f.status in IN_ORDER for f in findings) else EXIT_NOT_UP


def _new_key(path: Path, language: Language) -> int:
    """Only the public key goes to stdout: ``$(slawatch-agent keys new KEY)`` is the line
    an inventory registers."""
    try:
        public = new_pair(path)
    except KeyFileError as exc:
        print(f"slawatch-agent: {exc.said_in(language)}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as exc:
        print(f"slawatch-agent: {path}: {said_in(unreadable(exc), language)}", file=sys.stderr)
        return EXIT_INVALID
    print(text("keys.written", language, private=path, public=public), file=sys.stderr)
    print(public_text(load_public(public)))
    return EXIT_OK


async def _run(settings: AgentSettings) -> None:
    agent = Agent(settings)
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, agent.stop)
    await agent.run()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check-config":
        return check_files(args.files, {"agent", "inventory"}, language=args.lang)
    if args.command == "keys":
        return _new_key(args.path, args.lang)
    # ``probe`` and ``discover`` answer in their own tables, in the user's language: the
    # service's log lines (this host's clock, …) would be English noise between them.
    quiet = args.command in ("probe", "discover")
    logging.basicConfig(
        level=logging.DEBUG
        if getattr(args, "verbose", False)
        else logging.ERROR
        if quiet
        else logging.WARNING,
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
            settings = with_poll(settings, args.timeout, args.retries)
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
