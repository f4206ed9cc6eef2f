"""Whether this host's clock is synchronised, as its time service says.

Each batch carries the answer (the collector weighs the agent's send times by it) and a
camera's clock is judged against the agent's only when it is synchronised. Read from
chrony (``chronyc -c tracking``: leap status normal and the system clock within a second
of NTP time) or systemd (``timedatectl show``: ``NTPSynchronized=yes``, which
systemd-timesyncd and chrony both set); "unknown" when neither answers (a container
with no time service of its own). Asked again every minute, on a thread of its own, so
no probe or publish ever waits for a slow command.
"""

from __future__ import annotations

import logging
import shutil
import subprocess  # nosec B404  # chronyc and timedatectl: fixed commands, no shell
import threading

from agent.wire import ClockState

log = logging.getLogger(__name__)

REFRESH_S = 60.0
COMMAND_TIMEOUT_S = 5.0
# chrony's offset of the system clock from NTP time beyond which it is not "synchronised".
CHRONY_WITHIN_S = 1.0


def _run(*command: str) -> str | None:
    path = shutil.which(command[0])
    if path is None:
        return None
    try:
        done = subprocess.run(  # nosec B603  # noqa: S603 - an absolute path, fixed arguments
            [path, *command[1:]],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def from_chrony(csv: str) -> ClockState:
    """``chronyc -c tracking``: field 5 the system clock's offset (s), the last the leap
    status ("Normal" when synchronised)."""
    fields = csv.strip().split(",")
    if len(fields) < 14:
        return ClockState.UNKNOWN
    try:
        offset = abs(float(fields[4]))
    except ValueError:
        return ClockState.UNKNOWN
    if fields[-1] == "Normal" and offset <= CHRONY_WITHIN_S:
        return ClockState.SYNCHRONISED
    return ClockState.UNSYNCHRONISED


def from_timedatectl(value: str) -> ClockState:
    """``timedatectl show -p NTPSynchronized --value``: yes or no."""
    answer = value.strip()
    if answer == "yes":
        return ClockState.SYNCHRONISED
    return ClockState.UNSYNCHRONISED if answer == "no" else ClockState.UNKNOWN


def read_clock_state() -> ClockState:
    chrony = _run("chronyc", "-c", "tracking")
    if chrony is not None:
        return from_chrony(chrony)
    systemd = _run("timedatectl", "show", "-p", "NTPSynchronized", "--value")
    if systemd is not None:
        return from_timedatectl(systemd)
    return ClockState.UNKNOWN


class ClockWatch:
    """The latest answer (:meth:`state`), asked again every minute. ``trusted``: the
    settings declare the clock synchronised (a container whose host keeps its time)."""

    def __init__(self, *, trusted: bool = False) -> None:
        self._trusted = trusted
        self._state = ClockState.SYNCHRONISED if trusted else read_clock_state()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        log.warning("this host's clock: %s", self._state.value)

    def state(self) -> ClockState:
        return self._state

    def start(self) -> None:
        if self._trusted or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._refresh, name="clock-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _refresh(self) -> None:
        while not self._stop.wait(REFRESH_S):
            state = read_clock_state()
            if state is not self._state:
                log.warning("this host's clock is now %s (was %s)", state.value, self._state.value)
            self._state = state
