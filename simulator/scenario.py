"""Fault scenarios as a YAML timeline, played against a running fleet.

    kind: scenario
    events:
      - {at: +10m, do: link L0003 down}
      - {at: +2h,  do: link L0003 up}
      - {at: +15m, do: device CAM000007 down refused}
      - {at: +20m, do: device DH000002 reboot}
      - {at: +30m, do: port SW00001/3 down}
      - {at: +40m, do: port SW00001/4 down dormant}
      - {at: +1h,  do: power restored}

Sentences: ``device ID <fault> [mode] [seconds]`` and ``device ID up`` (clears all),
``device ID clear <fault>``, ``device ID reboot``, ``link L down|up``,
``switch SW down|up``, ``port SW/N down|up``, ``port SW/N down dormant`` (or another
ifOperStatus the port then shows: ``not_present``, ``lower_layer_down``, ``testing``),
``power restored``.
``speed`` plays the timeline faster than real time (tests run an afternoon in seconds).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from simulator.devices import PORT_MODES, Fault
from simulator.fleet_runner import FaultSpec, Fleet, UnknownTargetError
from slawatch.config.errors import ConfigError, ConfigProblem
from slawatch.config.loader import load_config
from slawatch.config.types import Duration, Strict
from slawatch.config.yamlsource import locate_lines

log = logging.getLogger(__name__)


def _strip_plus(value: object) -> object:
    return value.lstrip("+") if isinstance(value, str) else value


class Event(Strict):
    at: Annotated[Duration, BeforeValidator(_strip_plus)]
    do: str = Field(min_length=1)


class Scenario(Strict):
    kind: Literal["scenario"]
    events: list[Event] = Field(min_length=1)


Action = Callable[[Fleet], Awaitable[object]]


def parse_action(sentence: str) -> Action:
    """Turn one timeline sentence into an action on the fleet; ValueError names what is wrong."""
    words = sentence.split()
    if words == ["power", "restored"]:
        return lambda fleet: fleet.power_restored()
    if len(words) == 3 and words[0] in ("link", "switch", "port") and words[2] in ("down", "up"):
        target = f"{words[0]}:{words[1]}"
        if words[2] == "down":
            return lambda fleet: fleet.inject(target, FaultSpec(Fault.DOWN))
        return lambda fleet: fleet.clear(target)
    if len(words) == 4 and words[0] == "port" and words[2] == "down" and words[3] in PORT_MODES:
        target, spec = f"port:{words[1]}", FaultSpec(Fault.DOWN, words[3])
        return lambda fleet: fleet.inject(target, spec)
    if len(words) >= 3 and words[0] == "device":
        device_id, verb, rest = words[1], words[2], words[3:]
        if verb == "up" and not rest:
            return lambda fleet: fleet.clear(device_id)
        if verb == "reboot" and not rest:
            return _reboot(device_id)
        if verb == "clear" and len(rest) == 1:
            fault = Fault(rest[0])
            return lambda fleet: fleet.clear(device_id, fault)
        fault = Fault(verb)
        mode = next((word for word in rest if not _is_number(word)), None)
        seconds = next((float(word.rstrip("s")) for word in rest if _is_number(word)), None)
        spec = FaultSpec(fault, mode, seconds)
        return lambda fleet: fleet.inject(device_id, spec)
    raise ValueError(f"cannot understand scenario step {sentence!r}")


def _reboot(device_id: str) -> Action:
    async def action(fleet: Fleet) -> None:
        fleet.reboot(device_id)

    return action


def _is_number(word: str) -> bool:
    try:
        float(word.rstrip("s"))
    except ValueError:
        return False
    return True


def load_scenario(file: Path) -> list[tuple[timedelta, str, Action]]:
    """Load and check a timeline; an unknown sentence is a ConfigError with its line."""
    scenario = load_config(file, Scenario)
    steps = []
    problems = []
    for index, event in enumerate(scenario.events):
        try:
            steps.append((event.at, event.do, parse_action(event.do)))
        except ValueError as exc:
            path = ("events", index, "do")
            line = locate_lines(file.read_text(encoding="utf-8"), [path])[path]
            problems.append(ConfigProblem(file, line, path, str(exc)))
    if problems:
        raise ConfigError(problems)
    return sorted(steps, key=lambda step: step[0])


async def play(
    fleet: Fleet, steps: list[tuple[timedelta, str, Action]], speed: float = 1.0
) -> None:
    """Run the timeline from now; ``speed`` > 1 compresses it."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    for at, sentence, action in steps:
        delay = started + at.total_seconds() / speed - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        log.warning("scenario +%s: %s", at, sentence)
        try:
            await action(fleet)
        except UnknownTargetError as exc:  # a smaller fleet (demo --devices N) lacks it
            log.warning("scenario +%s skipped: %s", at, exc)
