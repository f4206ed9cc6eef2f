"""Who is asking, and may they: a session (the browser) or a bearer token (a script).

The session cookie is signed and holds only a random session id, a CSRF token and the
language; what the id means is kept on the server (``sessions.py``), so logging out, a
new password or a removed user ends it. Every form that changes state carries the CSRF
token back and comes from the console's own origin (or one the settings allow), checked
before anything changes. Bearer tokens are the service token of ``api.token`` (acts as
an admin named "api") or a user's personal token (acts as that user); they need neither,
as no browser sends them on its own.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from collector.web.console.refusals import Refused, Word
from collector.web.console.sessions import Sessions
from collector.web.console.users import Role, User, Users

CSRF_FIELD = "csrf"
SESSION_FIELD = "sid"
audit = logging.getLogger("slawatch.audit")


@dataclass(frozen=True, slots=True)
class Caller:
    name: str  # what the ledger records (an acknowledgement's "by")
    level: Role
    by_session: bool
    user: str | None = None  # the users file's name (None for the service token)
    party: str = "contractor"  # the service token is the contractor's system
    approves: bool = False  # a bureau evaluator: decides exemption requests


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use)."""
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session[CSRF_FIELD] = token
    return token


def client_address(request: Request) -> str:
    """The client's address (a trusted proxy's X-Forwarded-For, uvicorn resolves it)."""
    return request.client.host if request.client else "-"


def origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


class Access:
    """The one place that answers "who is this, and may they?" for the API and console."""

    def __init__(
        self,
        users: Users | None,
        sessions: Sessions | None,
        token_matches: Callable[[str], bool],
        allowed_origins: list[str],
    ) -> None:
        self.users = users
        self.sessions = sessions
        self._token_matches = token_matches
        self._origins = set(allowed_origins)

    def caller(self, request: Request, touch: bool = True) -> Caller | None:
        authorization = request.headers.get("authorization", "")
        if authorization.startswith("Bearer "):
            offered = authorization.removeprefix("Bearer ")
            if self.users is not None:
                self.users.refresh()
            user = self.users.by_token(offered) if self.users is not None else None
            if user is not None:
                return Caller(
                    user.shown,
                    user.level,
                    by_session=False,
                    user=user.name,
                    party=user.party,
                    approves=user.approves,
                )
            if self._token_matches(offered):
                return Caller("api", Role.ADMIN, by_session=False)
            raise Refused(401, "refused.token")
        user = self.session_user(request, touch)
        if user is None:
            return None
        return Caller(
            user.shown,
            user.level,
            by_session=True,
            user=user.name,
            party=user.party,
            approves=user.approves,
        )

    def session_user(self, request: Request, touch: bool = True) -> User | None:
        if self.users is None or self.sessions is None or "session" not in request.scope:
            return None
        session_id = request.session.get(SESSION_FIELD)
        if not isinstance(session_id, str):
            return None
        self.users.refresh()
        user = self.sessions.user_of(session_id, self.users.named, touch)
        if user is None:
            request.session.pop(SESSION_FIELD, None)
            audit.info("session ended (timed out, or credentials changed or removed)")
        return user

    def still_reads(self, request: Request) -> bool:
        """Whether the caller of a long request (the live stream) may still read: its
        session not ended, its token still valid. Asking is not a use of the session."""
        try:
            return self.caller(request, touch=False) is not None
        except HTTPException:
            return False

    def require(
        self,
        request: Request,
        level: Role,
        form_csrf: str | None = None,
        changes: bool = True,
    ) -> Caller:
        """The caller, if it may act at ``level``: 401 without one, 403 below it, and for
        a session's request that ``changes`` state, 403 without the session's CSRF token
        or from another origin."""
        found = self.caller(request)
        if found is None:
            raise Refused(401, "refused.login_or_token")
        if found.level < level:
            raise Refused(403, "refused.role", role=Word(f"refused.role.{level.name.lower()}"))
        if found.by_session and changes:
            self.check_form(request, form_csrf)
        return found

    def require_evaluator(self, request: Request, form_csrf: str | None) -> Caller:
        """A bureau evaluator's decision: no one of the contractor's side, whatever its role."""
        found = self.require(request, Role.VIEWER, form_csrf)
        if not found.approves:
            raise Refused(403, "refused.evaluator")
        return found

    def check_form(self, request: Request, form_csrf: str | None) -> None:
        """A browser's state-changing request: from our origin, with the session's token."""
        self.check_origin(request)
        expected = request.session.get(CSRF_FIELD)
        offered = form_csrf or request.headers.get("x-csrf-token") or ""
        if not isinstance(expected, str) or not hmac.compare_digest(expected, offered):
            raise Refused(403, "refused.csrf")

    def check_origin(self, request: Request) -> None:
        """Origin (or, where a browser sends none, Referer) must be the console's own or
        an allowed one: a page elsewhere cannot post to the console, token or not."""
        sent = request.headers.get("origin") or origin_of(request.headers.get("referer", ""))
        own = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if sent is None or (sent != own and sent not in self._origins):
            audit.warning(
                "refused a cross-origin request: %s %s from origin %r (address %s)",
                request.method,
                request.url.path,
                sent,
                client_address(request),
            )
            raise Refused(403, "refused.origin")
