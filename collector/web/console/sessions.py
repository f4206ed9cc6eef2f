"""Server-side sessions: the signed cookie carries only a random id, so the server can end
a session. Logging out ends it; a new password, another role or the user's removal from
the users file ends every session of that user at the next request; a session unused for
``idle`` or older than ``absolute`` is over. Times are the monotonic clock's: a wall-clock
step neither revives nor ends a session. Sessions live in memory: a restart logs everyone
out, which is the safe side.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from collector.web.console.users import User

MAX_SESSIONS = 10_000  # a login flood cannot grow the collector past this


def credentials_stamp(user: User) -> str:
    """What a session remembers of the user's credentials: any change ends it."""
    return hashlib.sha256(f"{user.role}\0{user.password}".encode()).hexdigest()


@dataclass(slots=True)
class Session:
    id: str
    user: str
    stamp: str
    address: str
    started: float
    seen: float


class Sessions:
    def __init__(
        self, idle: float, absolute: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._idle = idle
        self._absolute = absolute
        self._clock = clock
        self._by_id: dict[str, Session] = {}

    def __len__(self) -> int:
        return len(self._by_id)

    def start(self, user: User, address: str) -> Session:
        now = self._clock()
        if len(self._by_id) >= MAX_SESSIONS:
            self._prune(now)
            while len(self._by_id) >= MAX_SESSIONS:  # still full: the oldest goes
                del self._by_id[next(iter(self._by_id))]
        found = Session(
            secrets.token_urlsafe(32), user.name, credentials_stamp(user), address, now, now
        )
        self._by_id[found.id] = found
        return found

    def user_of(
        self, session_id: str, current: Callable[[str], User | None], touch: bool = True
    ) -> User | None:
        """The session's user as the users file has it now, or None (and the session is
        ended) when it timed out or the user's credentials changed since the login;
        ``touch``: this counts as a use (a live stream's check does not)."""
        found = self._by_id.get(session_id)
        if found is None:
            return None
        now = self._clock()
        user = current(found.user)
        if (
            user is None
            or credentials_stamp(user) != found.stamp
            or now - found.seen > self._idle
            or now - found.started > self._absolute
        ):
            del self._by_id[session_id]
            return None
        if touch:
            found.seen = now
        return user

    def end(self, session_id: str) -> Session | None:
        return self._by_id.pop(session_id, None)

    def end_user(self, name: str) -> int:
        """End every session of ``name`` (an admin's action); how many there were."""
        ended = [sid for sid, found in self._by_id.items() if found.user == name]
        for sid in ended:
            del self._by_id[sid]
        return len(ended)

    def _prune(self, now: float) -> None:
        over = [
            sid
            for sid, found in self._by_id.items()
            if now - found.seen > self._idle or now - found.started > self._absolute
        ]
        for sid in over:
            del self._by_id[sid]
