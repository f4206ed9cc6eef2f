"""Config problems that name the file, the YAML line and the key path.

Every config reader reports *all* problems it finds, not the first one, because an
operator fixing a 100,000-line inventory wants one list, not one round trip per line.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, replace
from pathlib import Path

from slawatch.messages import Language, Said, said_in, text

KeyPath = tuple[str | int, ...]

_MAX_SHOWN_VALUE = 60
# The reasons a file cannot be read that an operator meets, in the catalogue's words.
_OS_WORDS = {
    errno.ENOENT: "io.no_such_file",
    errno.EACCES: "io.denied",
    errno.EPERM: "io.denied",
    errno.EISDIR: "io.is_directory",
}


def format_key_path(path: KeyPath) -> str:
    """Render ``("devices", 3, "uplink")`` as ``devices[3].uplink``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else part
    return text or "(document)"


def show_value(value: object) -> str:
    """A short, single-line rendering of an offending value."""
    text = repr(value) if isinstance(value, str) else str(value)
    text = text.replace("\n", "\\n")
    if len(text) > _MAX_SHOWN_VALUE:
        text = text[: _MAX_SHOWN_VALUE - 3] + "..."
    return text


def unreadable(exc: OSError) -> str:
    """Why a file could not be read: the catalogue's words where it has them, else the
    system's own (a rare errno is shown as the system said it)."""
    key = _OS_WORDS.get(exc.errno or 0)
    return Said(key) if key is not None else exc.strerror or str(exc)


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with a config file; ``line`` is 1-based, 0 when unknown. A
    ``message`` from the catalogue (``Said``) is shown in ``language``."""

    file: Path
    line: int
    path: KeyPath
    message: str
    value: str | None = None
    language: Language = "en"  # the message's: the value is introduced in its words

    def __str__(self) -> str:
        got = text("config.got", self.language, value=self.value) if self.value is not None else ""
        message = said_in(self.message, self.language)
        where = format_key_path(self.path) if self.path else text("config.document", self.language)
        return f"{self.file}:{self.line}: {where}: {message}{got}"


class ConfigError(Exception):
    """A config file could not be accepted; carries every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(problem) for problem in problems))

    def said_in(self, language: Language) -> ConfigError:
        """The same problems told in ``language`` (those made before it was known)."""
        return ConfigError([replace(problem, language=language) for problem in self.problems])


@dataclass(frozen=True, slots=True)
class Issue:
    """A problem found before line numbers are known (by a cross-reference check)."""

    path: KeyPath
    message: str
    value: str | None = None


# A validation error whose input holds a secret though its key does not say so (a URL
# carrying a robot's key): its value is never shown.
UNSHOWN_VALUE_ERROR = "value_not_shown"
