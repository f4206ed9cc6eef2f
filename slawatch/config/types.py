"""Small value types shared by every config file: durations, identifiers, secret references."""

from __future__ import annotations

import os
import re
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

from slawatch.config.errors import unreadable
from slawatch.messages import Said

# How to make a secret that passes every rule (64 characters, ~350 bits by the estimate).
GENERATE = "openssl rand -base64 48"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: Any) -> Any:
    """Accept ``90s``, ``30m``, ``4h``, ``1d`` (and plain seconds) as well as timedelta."""
    if isinstance(value, str):
        found = _DURATION.match(value)
        if found is None:
            raise ValueError(Said("schema.duration"))
        return timedelta(seconds=float(found.group(1)) * _UNIT_SECONDS[found.group(2)])
    if isinstance(value, bool):
        raise ValueError(Said("schema.duration"))
    if isinstance(value, int | float):
        return timedelta(seconds=value)
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def _anchor_to_config_dir(value: Path, info: ValidationInfo) -> Path:
    base = info.context.get("base_dir") if isinstance(info.context, dict) else None
    if base is None or value.is_absolute():
        return value
    return Path(base) / value


# A path written in a config file is relative to that file, so a config folder moves whole.
ConfigPath = Annotated[Path, AfterValidator(_anchor_to_config_dir)]

# Device and topology identifiers appear in MQTT payloads, line protocol tags and file
# names of exports, so they are kept to a safe alphabet (Chinese point numbers are digits).
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN, strict=True)]
# References repeated by 100,000 devices (region, site, contract) share one string object.
InternedId = Annotated[Identifier, AfterValidator(sys.intern)]
# An Ed25519 public key as ``slawatch-agent keys new`` prints it (slawatch.keys.public_text).
AgentPublicKey = Annotated[
    str, StringConstraints(pattern=r"^ed25519:[A-Za-z0-9+/]{43}=$", strict=True)
]
InternedStr = Annotated[str, AfterValidator(sys.intern)]


class Strict(BaseModel):
    """Base for every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(Strict):
    """Where a secret lives: an environment variable or a file, never the config itself."""

    env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    file: ConfigPath | None = None

    @model_validator(mode="before")
    @classmethod
    def _reject_inline(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            # The value is a secret: never echo it back in the error.
            raise ValueError(Said("rule.secret_inline"))
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError(Said("rule.env_or_file"))
        return self

    def resolve(self) -> SecretStr:
        """Read the secret now; a missing variable or file is a clear error, not an empty
        value: a LookupError whose one argument is the catalogue's words (``Said``)."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise LookupError(Said("secret.env_unset", name=self.env))
            return SecretStr(value)
        assert self.file is not None
        try:
            return SecretStr(self.file.read_text(encoding="utf-8").strip())
        except OSError as exc:
            said = Said("secret.file_unreadable", file=self.file, detail=unreadable(exc))
            raise LookupError(said) from exc
        except UnicodeDecodeError:
            # Raw random bytes (``openssl rand 48 > file``): say so, never quote them.
            said = Said("secret.file_not_utf8", file=self.file, generate=GENERATE)
            raise LookupError(said) from None

    def __str__(self) -> str:
        return f"env:{self.env}" if self.env is not None else f"file:{self.file}"
