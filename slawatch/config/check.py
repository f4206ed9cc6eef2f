"""``check-config``: validate config files without touching the network.

Settings files are followed to the inventory and policy they name, because an agent that
starts with a valid settings file and a broken inventory is still a broken agent.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from slawatch.config import secrets
from slawatch.config.errors import ConfigError, ConfigProblem, unreadable
from slawatch.config.inventory import Inventory, unsigned_agents
from slawatch.config.loader import ConfigModel, load_any, load_config, model_kind
from slawatch.config.policies import PolicyBook, policy_files
from slawatch.config.secrets import SecretError
from slawatch.config.settings import AgentSettings, CollectorSettings
from slawatch.config.yamlsource import YamlDocument
from slawatch.messages import Language, Said, text

EXIT_OK = 0
EXIT_INVALID = 2


def _referenced(model: ConfigModel) -> list[Path]:
    if isinstance(model, AgentSettings):
        return [model.inventory]
    if isinstance(model, CollectorSettings):
        return [model.inventory, model.policy, *policy_files(model.contract_policies)]
    return []


def _contracts_judged(settings: CollectorSettings) -> list[ConfigProblem]:
    """Every contract of the inventory names a policy the collector is given."""
    try:
        policies = PolicyBook.load([settings.policy, *settings.contract_policies])
        policies.check(load_config(settings.inventory, Inventory), settings.inventory)
    except ConfigError as exc:  # each file's own problems are listed when it is checked
        return [problem for problem in exc.problems if problem.path[:1] == ("contracts",)]
    return []


def located(
    errors: list[SecretError], file: Path, language: Language = "zh"
) -> list[ConfigProblem]:
    """Secret problems as ``FILE:LINE: key.path: problem`` in ``language``, at the key's
    line in ``file``."""
    document = YamlDocument(file, None)
    return [
        replace(document.problem(error.path, error.message), language=language) for error in errors
    ]


def secret_problems(
    settings: AgentSettings | CollectorSettings, file: Path, language: Language = "zh"
) -> list[ConfigProblem]:
    """Every secret the settings (``file``) reference can be read now and meets its rule
    (slawatch/config/secrets.py), never printed: a process that starts without one fails
    at start-up, not at its first connection. ``run`` refuses to start on the same."""
    if isinstance(settings, CollectorSettings):
        found = secrets.problems(secrets.collector_secrets(settings))
    else:
        found = secrets.problems(secrets.agent_secrets(settings))
    return located(found, file, language)


def _secrets_readable(
    settings: AgentSettings | CollectorSettings, file: Path
) -> list[ConfigProblem]:
    problems = secret_problems(settings, file)
    if isinstance(settings, CollectorSettings):
        if settings.signing is not None:
            problems += _signing_key(settings.signing.key, file)
    else:
        problems += inventory_secret_problems(settings.inventory)
    return problems


def _signing_key(key: Path, file: Path) -> list[ConfigProblem]:
    """The ledger's signing key can be read, and by nobody else (its contents are checked
    when the collector loads it)."""
    document = YamlDocument(file, None)
    try:
        mode = key.stat().st_mode
        key.read_bytes()
    except OSError as exc:
        said = Said("secret.signing_unreadable", file=key, detail=unreadable(exc))
        return [document.problem(("signing", "key"), said)]
    if mode & 0o077:
        said = Said("secret.signing_open", file=key, mode=f"{mode & 0o777:o}")
        return [document.problem(("signing", "key"), said)]
    return []


def inventory_secret_problems(file: Path, language: Language = "zh") -> list[ConfigProblem]:
    """The devices' credentials the agent reads at start (camera passwords, communities,
    SNMPv3 keys), with their rules (an agent that refuses one at start lists them all)."""
    try:
        inventory = load_config(file, Inventory)
    except ConfigError:
        return []  # the inventory's own problems are listed when it is checked
    return located(secrets.problems(secrets.credential_secrets(inventory)), file, language)


def check_files(
    files: list[Path],
    allowed_kinds: set[str],
    out: TextIO = sys.stdout,
    language: Language = "zh",
) -> int:
    """Print every problem as FILE:LINE: key.path: message, in ``language``; return the
    process exit code."""
    problems: list[ConfigProblem] = []
    pending = list(files)
    seen: set[Path] = set()
    while pending:
        file = pending.pop(0)
        if file.resolve() in seen:
            continue
        seen.add(file.resolve())
        try:
            model = load_any(file, language)
        except ConfigError as exc:
            problems += exc.problems
            continue
        kind = model_kind(model)
        if kind not in allowed_kinds:
            problems.append(
                ConfigProblem(
                    file,
                    1,
                    ("kind",),
                    Said("config.kind_here", kinds=", ".join(map(repr, sorted(allowed_kinds)))),
                    kind,
                    language,
                )
            )
            continue
        pending += _referenced(model)
        if isinstance(model, CollectorSettings):
            problems += _contracts_judged(model)
        if isinstance(model, AgentSettings | CollectorSettings):
            problems += _secrets_readable(model, file)
        out.write(text("config.ok", language, file=file, summary=_summary(model, language)) + "\n")
        if isinstance(model, Inventory):
            for site, agents in unsigned_agents(model).items():
                said = text(
                    "inventory.unsigned_warning", language, site=site, agents=", ".join(agents)
                )
                out.write(f"{file}: {said}\n")
    for problem in problems:
        out.write(f"{replace(problem, language=language)}\n")
    return EXIT_INVALID if problems else EXIT_OK


def _summary(model: ConfigModel, language: Language) -> str:
    if isinstance(model, Inventory):
        return text(
            "config.inventory_summary",
            language,
            devices=len(model.devices),
            sets=len(model.sets),
            links=len(model.links),
        )
    return text(f"config.kind.{model_kind(model)}", language)
