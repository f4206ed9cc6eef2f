"""Failed logins, counted per user name and per client address over a window: past the
limit that name or address is locked out until the window has passed or an admin lifts
it. A locked-out login is refused before its password is hashed, so a flood costs no
Argon2 time. Bounded: at most ``MAX_KEYS`` names and addresses are tracked.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

MAX_KEYS = 20_000


@dataclass(frozen=True, slots=True)
class Lockout:
    key: str  # "user:NAME" or "address:IP"
    failures: int
    seconds_left: float


class LoginThrottle:
    def __init__(
        self,
        per_user: int,
        per_address: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"user": per_user, "address": per_address}
        self._window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    @staticmethod
    def keys(name: str, address: str) -> tuple[str, str]:
        return f"user:{name}", f"address:{address}"

    def locked(self, name: str, address: str) -> Lockout | None:
        """The lockout that refuses this login now, if any."""
        now = self._clock()
        for key in self.keys(name, address):
            found = self._lockout(key, now)
            if found is not None:
                return found
        return None

    def failed(self, name: str, address: str) -> Lockout | None:
        """Count a failed login; the lockout it caused, if it reached a limit."""
        now = self._clock()
        for key in self.keys(name, address):
            times = self._failures.pop(key, None) or deque()
            times.append(now)
            self._failures[key] = times  # re-inserted: the dict's order is by last failure
        while len(self._failures) > MAX_KEYS:
            del self._failures[next(iter(self._failures))]
        return self.locked(name, address)

    def succeeded(self, name: str) -> None:
        """The right password clears the name's failures (not the address's)."""
        self._failures.pop(f"user:{name}", None)

    def lift(self, key: str) -> bool:
        return self._failures.pop(key, None) is not None

    def lockouts(self) -> list[Lockout]:
        now = self._clock()
        found = (self._lockout(key, now) for key in list(self._failures))
        return sorted((lock for lock in found if lock is not None), key=lambda lock: lock.key)

    def _lockout(self, key: str, now: float) -> Lockout | None:
        times = self._failures.get(key)
        if not times:
            return None
        while times and now - times[0] > self._window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        if len(times) < self._limits[key.split(":", 1)[0]]:
            return None
        # Locked until enough failures age out to bring the count below the limit.
        ends = times[len(times) - self._limits[key.split(":", 1)[0]]] + self._window
        return Lockout(key, len(times), ends - now)
