"""Reading YAML config files fast, and finding the line of a key path when something is wrong.

The happy path must carry a 130,000-device inventory in seconds: yaml-rs (Rust) parses it
in ~2 s where PyYAML's C loader needs ~43 s. yaml-rs does not keep source positions, so
line numbers are found afterwards, only for the paths that have a problem, by streaming
PyYAML's parser events (which carry marks) and stopping as soon as every path is found.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
import yaml_rs

from slawatch.config.errors import ConfigError, ConfigProblem, KeyPath, unreadable
from slawatch.messages import Said

_LINE_IN_MESSAGE = re.compile(r"line (\d+)")


@dataclass(frozen=True, slots=True)
class RowSection:
    """A top-level sequence whose items are one-line JSON objects, kept unparsed.

    The inventory writer puts each device on one line as a JSON flow mapping. Parsing such
    a section as YAML builds a Python dict per device (~600 MB and ~2.6 s at 130,000
    devices); handing it to pydantic's JSON validator as one array skips the dicts.
    """

    json: bytes
    lines: list[int]


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file; its text is read again only when a line must be located."""

    file: Path
    data: Any

    @cached_property
    def text(self) -> str:
        return self.file.read_text(encoding="utf-8", errors="replace")

    def problem(self, path: KeyPath, message: str, value: str | None = None) -> ConfigProblem:
        line = locate_lines(self.text, [path]).get(path, 0)
        return ConfigProblem(self.file, line, path, message, value)


def read_yaml(file: Path, row_sections: tuple[str, ...] = ()) -> YamlDocument:
    """Parse one YAML file; syntax errors and duplicate keys become ConfigError with a line.

    Top-level ``row_sections`` written one JSON object per line come back as RowSection.
    """
    try:
        rows, rest = _split_row_sections(file.read_bytes(), row_sections)
        text = rest.decode("utf-8")
    except FileNotFoundError as exc:
        raise ConfigError([ConfigProblem(file, 0, (), Said("config.no_file"))]) from exc
    except OSError as exc:
        problem = Said("config.unreadable", detail=unreadable(exc))
        raise ConfigError([ConfigProblem(file, 0, (), problem)]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem(file, 0, (), Said("config.not_utf8"))]) from exc
    try:
        data = yaml_rs.loads(text)
    except yaml_rs.YAMLDecodeError as exc:
        raise ConfigError([_syntax_problem(file, text, str(exc))]) from exc
    if isinstance(data, dict):
        for name, section in rows.items():
            if data.get(name, "missing") is None:
                data[name] = section
    return YamlDocument(file=file, data=data)


_TOP_KEY = re.compile(rb"^([A-Za-z_][\w-]*):\s*(?:#.*)?$")
_ROW_LINE = re.compile(rb'^  - (\{".*\})\s*$')


def _split_row_sections(raw: bytes, names: tuple[str, ...]) -> tuple[dict[str, RowSection], bytes]:
    """Cut one-line-JSON sections out of ``raw`` (blanking their lines, so lines still match).

    Works on UTF-8 bytes: a str of the same text would take up to twice the memory.
    """
    if not names:
        return {}, raw
    wanted = {name.encode() for name in names}
    lines = raw.split(b"\n")
    del raw
    found: dict[str, RowSection] = {}
    index = 0
    while index < len(lines):
        header = _TOP_KEY.match(lines[index])
        index += 1
        if header is None or header.group(1) not in wanted:
            continue
        start = index
        rows: list[bytes] = []
        numbers: list[int] = []
        while index < len(lines) and (not lines[index] or lines[index][:1] in (b" ", b"#")):
            row = _ROW_LINE.match(lines[index])
            if row is not None:
                rows.append(row.group(1))
                numbers.append(index + 1)
            elif lines[index].strip() and not lines[index].lstrip().startswith(b"#"):
                break
            index += 1
        else:
            if rows:
                json = b"[" + b",".join(rows) + b"]"
                found[header.group(1).decode()] = RowSection(json, numbers)
                lines[start:index] = [b""] * (index - start)
    return found, b"\n".join(lines)


def _syntax_problem(file: Path, text: str, message: str) -> ConfigProblem:
    first_line = message.splitlines()[0] if message else "?"
    detail = message.splitlines()[-1].strip() if "\n" in message else first_line
    found = _LINE_IN_MESSAGE.search(first_line)
    if found:
        return ConfigProblem(
            file, int(found.group(1)), (), Said("config.yaml_syntax", detail=detail)
        )
    duplicate = _find_duplicate_key(text)
    if duplicate is not None:
        line, path, key = duplicate
        return ConfigProblem(file, line, path, Said("config.duplicate_key"), repr(key))
    return ConfigProblem(file, 0, (), Said("config.yaml_syntax", detail=first_line))


@dataclass
class _Frame:
    """Where the event walk is inside one open mapping or sequence."""

    is_mapping: bool
    path: KeyPath
    index: int = 0
    key: str | None = None
    keys_seen: set[str] | None = None


def _walk(text: str) -> Iterable[tuple[KeyPath, int, _Frame | None]]:
    """Yield (path, 1-based line, parent frame) for every node, keys' lines for values."""
    stack: list[_Frame] = []
    key_line = 0
    for event in yaml.parse(text, Loader=yaml.CSafeLoader):
        if isinstance(event, yaml.CollectionEndEvent):
            stack.pop()
            if stack and stack[-1].is_mapping:
                stack[-1].key = None
            continue
        if not isinstance(event, yaml.ScalarEvent | yaml.CollectionStartEvent | yaml.AliasEvent):
            continue
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        parent = stack[-1] if stack else None
        if parent is not None and parent.is_mapping and parent.key is None:
            parent.key = str(event.value) if isinstance(event, yaml.ScalarEvent) else "?"
            key_line = line
            yield (*parent.path, parent.key), line, parent
            continue
        if parent is None:
            path: KeyPath = ()
        elif parent.is_mapping:
            path = (*parent.path, parent.key or "?")
            line = key_line
            parent.key = None
        else:
            path = (*parent.path, parent.index)
            parent.index += 1
        yield path, line, None
        if isinstance(event, yaml.CollectionStartEvent):
            stack.append(_Frame(is_mapping=isinstance(event, yaml.MappingStartEvent), path=path))


def locate_lines(text: str, paths: Iterable[KeyPath]) -> dict[KeyPath, int]:
    """Map each key path to the line where it (or its nearest existing parent) starts."""
    wanted = set(paths)
    prefixes = {path[:n] for path in wanted for n in range(len(path) + 1)}
    best: dict[KeyPath, int] = {}
    try:
        for path, line, _ in _walk(text):
            if path in prefixes and path not in best:
                best[path] = line
                if wanted.issubset(best):
                    break
    except yaml.YAMLError:
        pass
    result: dict[KeyPath, int] = {}
    for path in wanted:
        for n in range(len(path), -1, -1):
            if path[:n] in best:
                result[path] = best[path[:n]]
                break
        else:
            result[path] = 1
    return result


def _find_duplicate_key(text: str) -> tuple[int, KeyPath, str] | None:
    try:
        for path, line, parent in _walk(text):
            if parent is None:
                continue
            if parent.keys_seen is None:
                parent.keys_seen = set()
            key = str(path[-1])
            if key in parent.keys_seen:
                return line, path, key
            parent.keys_seen.add(key)
    except yaml.YAMLError:
        return None
    return None
