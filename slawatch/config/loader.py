"""Load any slawatch config file by its ``kind`` and report every problem with file:line.

The same loader serves the running processes and ``check-config``: what check-config
accepts is exactly what the agent and collector will run with.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails

from slawatch.config.cache import cached_inventory
from slawatch.config.errors import (
    UNSHOWN_VALUE_ERROR,
    ConfigError,
    ConfigProblem,
    Issue,
    KeyPath,
    show_value,
)
from slawatch.config.inventory import Device, DoorAccessSet, Inventory, cross_check
from slawatch.config.policy import Policy
from slawatch.config.schema_words import said_for
from slawatch.config.settings import AgentSettings, CollectorSettings
from slawatch.config.yamlsource import RowSection, YamlDocument, locate_lines, read_yaml
from slawatch.messages import Language, Said, text

ConfigModel = Inventory | Policy | AgentSettings | CollectorSettings
KINDS: dict[str, type[ConfigModel]] = {
    "inventory": Inventory,
    "policy": Policy,
    "agent": AgentSettings,
    "collector": CollectorSettings,
}
_SECRET_KEYS = {
    "password",
    "snmp_community",
    "auth_key",
    "priv_key",
    "token",
    "access_token",
    "key",
    "secret",
}

M = TypeVar("M", bound=BaseModel)


_ROW_TYPES: dict[str, TypeAdapter[Any]] = {
    "devices": TypeAdapter(list[Device]),
    "sets": TypeAdapter(list[DoorAccessSet]),
}


def load_config(file: Path, expected: type[M], language: Language = "zh") -> M:
    """Load a file that must be of one kind; raise ConfigError listing every problem
    (the inventory's cross-checks said in ``language``). An inventory that validated
    before comes from the cache (slawatch.config.cache)."""
    try:
        if expected is Inventory:
            return cast(M, cached_inventory(file, lambda: _load(file, Inventory, language)))
        return _load(file, expected, language)
    except ConfigError as exc:
        raise exc.said_in(language) from None


def _load(file: Path, expected: type[M], language: Language) -> M:
    document = read_yaml(file, tuple(_ROW_TYPES) if expected is Inventory else ())
    _require_mapping(document)
    return _validate(document, expected, language)


def load_any(file: Path, language: Language = "zh") -> ConfigModel:
    """Load a config file of whatever kind it declares."""
    try:
        return _load_any(file, language)
    except ConfigError as exc:
        raise exc.said_in(language) from None


def _load_any(file: Path, language: Language) -> ConfigModel:
    document = read_yaml(file, tuple(_ROW_TYPES))
    kind = _require_mapping(document).get("kind")
    model_type = KINDS.get(kind) if isinstance(kind, str) else None
    if model_type is None:
        raise ConfigError(
            [
                document.problem(
                    ("kind",),
                    Said("config.kind", kinds=", ".join(map(repr, KINDS))),
                    show_value(kind) if kind is not None else text("config.nothing", language),
                )
            ]
        )
    return _validate(document, model_type, language)


def model_kind(model: ConfigModel) -> str:
    return next(name for name, known in KINDS.items() if known is type(model))


def _require_mapping(document: YamlDocument) -> dict[str, Any]:
    if not isinstance(document.data, dict):
        raise ConfigError([document.problem((), Said("config.not_mapping"))])
    return document.data


def _validate(document: YamlDocument, model_type: type[M], language: Language) -> M:
    data = document.data
    row_problems: list[ConfigProblem] = []
    for name, adapter in _ROW_TYPES.items():
        section = data.get(name)
        if not isinstance(section, RowSection):
            continue
        try:
            data[name] = adapter.validate_json(section.json)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            if any(error["type"] == "json_invalid" for error in errors):
                # Not JSON after all (hand-edited flow YAML): take the general path.
                return _validate(read_yaml(document.file), model_type, language)
            data[name] = []
            row_problems += _row_problems(document.file, name, section, errors)
    try:
        model = model_type.model_validate(data, context={"base_dir": document.file.parent})
    except ValidationError as exc:
        raise ConfigError(row_problems + _problems(document, model_type, exc.errors())) from exc
    if row_problems:
        raise ConfigError(row_problems)
    issues = cross_check(model, language) if isinstance(model, Inventory) else []
    if issues:
        raise ConfigError(_located(document, issues, language))
    return model


def _located(
    document: YamlDocument, issues: list[Issue], language: Language = "en"
) -> list[ConfigProblem]:
    lines = locate_lines(document.text, [issue.path for issue in issues])
    return [
        ConfigProblem(
            document.file, lines[issue.path], issue.path, issue.message, issue.value, language
        )
        for issue in issues
    ]


def _row_problems(
    file: Path, name: str, section: RowSection, errors: list[ErrorDetails]
) -> list[ConfigProblem]:
    """Problems in a one-line-per-row section: the row index gives the line directly."""
    problems = []
    for error in errors:
        index = error["loc"][0]
        assert isinstance(index, int)
        path: KeyPath = (name, *error["loc"])
        issue = _issue(Inventory, path, error)
        problems.append(
            ConfigProblem(file, section.lines[index], issue.path, issue.message, issue.value)
        )
    return problems


def _problems(
    document: YamlDocument, model_type: type[BaseModel], errors: list[ErrorDetails]
) -> list[ConfigProblem]:
    issues = []
    for error in errors:
        path = _data_path(document.data, error["loc"])
        issues.append(_issue(model_type, path, error))
    return _located(document, issues)


def _data_path(data: Any, loc: tuple[int | str, ...]) -> KeyPath:
    """Keep the parts of pydantic's loc that exist in the data (drops union tags, [key])."""
    path: list[str | int] = []
    node = data
    for part in loc:
        exists = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if exists:
            node = node[part]
            path.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and part not in node:
            # A missing or unknown key: name it, but stop descending.
            if part[:1] not in "[" and part[0].isidentifier():
                path.append(part)
            break
    return tuple(path)


def _issue(model_type: type[BaseModel], path: KeyPath, error: ErrorDetails) -> Issue:
    kind = error["type"]
    message = said_for(error)
    value: str | None = None
    secret = any(part in _SECRET_KEYS for part in path) or kind == UNSHOWN_VALUE_ERROR
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):  # a model's, a row's
        allowed = _allowed_keys(model_type, path[:-1])
        close = difflib.get_close_matches(str(path[-1]), allowed, n=1)
        hint = (
            Said("schema.did_you_mean", name=repr(close[0]))
            if close
            else Said("schema.expected_keys", names=", ".join(map(repr, sorted(allowed))))
            if allowed
            else ""
        )
        message = Said("schema.extra_forbidden", hint=hint)
    elif secret and kind != "missing":
        value = "***"  # a secret is never shown, in any language
    elif kind != "missing" and not isinstance(error["input"], dict | list):
        value = show_value(error["input"])
    return Issue(path, message, value)


def _allowed_keys(model_type: type[BaseModel], path: KeyPath) -> list[str]:
    """The field names of the model found at ``path`` (for "did you mean" hints)."""
    current: Any = model_type
    for part in path:
        current = _step(current, part)
        if current is None:
            return []
    return list(_fields(current) or ())


def _step(annotation: Any, part: str | int) -> Any:
    for candidate in _unwrap(annotation):
        fields = _fields(candidate)
        if fields is not None:
            field = fields.get(str(part))
            if field is not None:
                return field.annotation
        origin = typing.get_origin(candidate)
        if origin is list and isinstance(part, int):
            return typing.get_args(candidate)[0]
        if origin is dict and isinstance(part, str):
            return typing.get_args(candidate)[1]
    return None


def _fields(candidate: Any) -> dict[str, FieldInfo] | None:
    """The fields of a model or of a pydantic dataclass (an inventory's rows), else None."""
    if isinstance(candidate, type) and issubclass(candidate, BaseModel):
        return candidate.model_fields
    found = getattr(candidate, "__pydantic_fields__", None) if isinstance(candidate, type) else None
    return cast(dict[str, FieldInfo], found) if isinstance(found, dict) else None


def _unwrap(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    return [annotation]
