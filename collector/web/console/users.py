"""Who may use the console: a users file of names, parties, roles, Argon2 password hashes
and the SHA-256 of each personal API token (the token itself is shown once, never stored).

Two parties use one console (docs/console.md has the table): the contractor (乙方), who
runs the network and is paid from its figures, and the bureau (甲方), who pays. The
contractor's staff operate (viewer, operator, admin); the bureau's read (viewer) and its
evaluators (evaluator) approve or reject what the contractor asks to be exempted from
the figures. Nobody approves their own side's request."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from enum import IntEnum
from pathlib import Path
from typing import Any, Literal

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import Field, model_validator

from slawatch.config.errors import ConfigError
from slawatch.config.loader import load_config
from slawatch.config.types import Identifier, Strict

_HASHER = PasswordHasher()
log = logging.getLogger(__name__)
TOKEN_PREFIX = "sw_"  # nosec B105  # noqa: S105  (a marker that tells a token apart, not a secret)


class Role(IntEnum):
    """Each role may do what the ones below it may (an evaluator reads as a viewer)."""

    VIEWER = 1  # read every page
    OPERATOR = 2  # acknowledge tickets, request maintenance windows, export evidence
    ADMIN = 3  # everything the contractor may, reload the inventory


Party = Literal["bureau", "contractor"]


class User(Strict):
    name: Identifier
    display: str | None = None
    role: Literal["viewer", "operator", "admin", "evaluator"]
    # The contractor's by default; an evaluator is the bureau's.
    party: Party = "contractor"
    password: str = Field(pattern=r"^\$argon2")  # an Argon2 hash, never a password
    tokens: list[str] = []  # "sha256:<hex>" of each personal API token

    @model_validator(mode="before")
    @classmethod
    def _party_by_role(cls, given: Any) -> Any:
        if isinstance(given, dict) and given.get("party") is None:
            role = given.get("role")
            return given | {"party": "bureau" if role == "evaluator" else "contractor"}
        return given

    @model_validator(mode="after")
    def _party_fits_the_role(self) -> User:
        if self.role == "evaluator" and self.party != "bureau":
            raise ValueError("an evaluator is the bureau's (party: bureau)")
        if self.role in ("operator", "admin") and self.party != "contractor":
            raise ValueError(
                f"the bureau's users read or evaluate; {self.role} is the contractor's"
            )
        return self

    @property
    def level(self) -> Role:
        return Role.VIEWER if self.role == "evaluator" else Role[self.role.upper()]

    @property
    def approves(self) -> bool:
        """May approve or reject the contractor's exemption requests."""
        return self.role == "evaluator"

    @property
    def shown(self) -> str:
        return self.display or self.name


class UsersFile(Strict):
    kind: Literal["users"]
    users: list[User] = []


def token_digest(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


class Users:
    """The users file, loaded: look-ups by name and by token digest."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = path.stat().st_mtime_ns
        self._load()

    def _load(self) -> None:
        loaded = load_config(self.path, UsersFile)
        self._by_name = {user.name: user for user in loaded.users}
        self._by_token = {digest: user for user in loaded.users for digest in user.tokens}

    def refresh(self) -> None:
        """Read the file again when it changed (``users add``, a removal, a new token), so
        a new password or a removed user takes effect without a restart. A file that no
        longer loads keeps the users in force, and says why."""
        stamp = self.path.stat().st_mtime_ns
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self._load()
        except ConfigError as exc:
            log.error("users file not reloaded, the users in force stay: %s", exc)

    def login(self, name: str, password: str) -> User | None:
        user = self._by_name.get(name)
        if user is None:
            # Hash anyway: a wrong name takes as long as a wrong password.
            _HASHER.hash(password)
            return None
        try:
            _HASHER.verify(user.password, password)
        except (VerificationError, InvalidHashError):
            return None
        return user

    def by_token(self, token: str) -> User | None:
        digest = token_digest(token)
        for known, user in self._by_token.items():
            if hmac.compare_digest(known, digest):
                return user
        return None

    def named(self, name: str) -> User | None:
        return self._by_name.get(name)


def _write(path: Path, users: list[User]) -> None:
    body = {"kind": "users", "users": [user.model_dump(exclude_defaults=True) for user in users]}
    path.write_text(yaml.safe_dump(body, allow_unicode=True, sort_keys=False), encoding="utf-8")
    path.chmod(0o600)


def add_user(
    path: Path,
    name: str,
    role: str,
    password: str,
    display: str | None,
    party: str | None = None,
) -> None:
    """Add or replace a user (its tokens are kept when it is replaced)."""
    users = load_config(path, UsersFile).users if path.exists() else []
    kept = next((user.tokens for user in users if user.name == name), [])
    user = User.model_validate(
        {
            "name": name,
            "display": display,
            "role": role,
            "party": party,
            "password": _HASHER.hash(password),
            "tokens": kept,
        }
    )
    _write(path, [u for u in users if u.name != name] + [user])


def new_token(path: Path, name: str) -> str:
    """A new personal API token for ``name``: returned once, only its digest is kept."""
    users = load_config(path, UsersFile).users
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    found = False
    for user in users:
        if user.name == name:
            user.tokens.append(token_digest(token))
            found = True
    if not found:
        raise LookupError(f"{path}: no user {name!r}")
    _write(path, users)
    return token
