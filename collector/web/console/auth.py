"""Who is asking: a session cookie (the browser) or a bearer token (a script).

A session holds the user's name and a CSRF token; every form that changes state carries
that token back, and a request without it is refused before anything changes. Bearer
tokens are the service token of ``api.token`` (acts as an admin named "api") or a user's
personal token (acts as that user); they need no CSRF token, as no browser sends them on
its own.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import HTTPException, Request

from collector.web.console.users import Role, Users

if TYPE_CHECKING:
    from collector.service import Collector

CSRF_FIELD = "csrf"


@dataclass(frozen=True, slots=True)
class Caller:
    name: str  # what the ledger records (an acknowledgement's "by")
    level: Role
    by_session: bool


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use)."""
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session[CSRF_FIELD] = token
    return token


def caller(request: Request, users: Users, collector: Collector) -> Caller | None:
    authorization = request.headers.get("authorization", "")
    if authorization.startswith("Bearer "):
        offered = authorization.removeprefix("Bearer ")
        user = users.by_token(offered)
        if user is not None:
            return Caller(user.shown, user.level, by_session=False)
        if collector.token_matches(offered):
            return Caller("api", Role.ADMIN, by_session=False)
        raise HTTPException(401, "the bearer token is not valid")
    name = request.session.get("user")
    user = users.named(name) if isinstance(name, str) else None
    return Caller(user.shown, user.level, by_session=True) if user else None


def require(
    found: Caller | None,
    level: Role,
    request: Request,
    form_csrf: str | None,
    changes: bool = True,
) -> Caller:
    """The caller, if it may act at ``level``: 401 without one, 403 below it, and for a
    session's request that ``changes`` state, 403 without the session's CSRF token."""
    if found is None:
        raise HTTPException(401, "log in, or give a bearer token")
    if found.level < level:
        raise HTTPException(403, f"needs the {level.name.lower()} role")
    if found.by_session and changes:
        expected = request.session.get(CSRF_FIELD)
        offered = form_csrf or request.headers.get("x-csrf-token") or ""
        if not isinstance(expected, str) or not hmac.compare_digest(expected, offered):
            raise HTTPException(403, "the form's CSRF token is missing or stale: reload the page")
    return found
