"""The time-series spool: every line is on local disk before it is sent, and until it is stored.

Lines are appended to ``open.lp`` and synced before the MQTT messages they came from are
acknowledged; a full (or old enough) segment is sealed as ``<n>.lp``, the unit the
writer sends, and removed once the server answered 2xx. A segment the server will never
accept goes to ``rejected/`` with its reason beside it. With no InfluxDB configured the
sealed segments *are* the store: plain line protocol, importable with ``influx write``.
When the spool reaches ``max_bytes`` the oldest sealed segment is deleted, with an
error in the log and a counter: the ledger (state changes, tickets) never depends on
the spool, so losing old raw points is the least harmful choice under a full disk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

OPEN_SEGMENT = "open.lp"


class Spool:
    def __init__(
        self,
        folder: Path,
        *,
        max_bytes: int,
        segment_lines: int = 5000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = folder
        self.rejected = folder / "rejected"
        self.rejected.mkdir(parents=True, exist_ok=True)
        self._max_bytes = max_bytes
        self._segment_lines = segment_lines
        self._clock = clock
        # The spool is its folder's only writer: the sealed segments are listed once here
        # and kept in order in memory (the writer asks for them on every round).
        self._sealed = sorted(path for path in folder.glob("*.lp") if path.name != OPEN_SEGMENT)
        self._next = int(self._sealed[-1].stem) + 1 if self._sealed else 0
        self._bytes = sum(path.stat().st_size for path in self._sealed)
        self.dropped_segments = 0
        self._recover_open_segment()
        self._file = (folder / OPEN_SEGMENT).open("ab")
        self._lines = 0
        self._synced = (0, 0)  # the open segment's size and lines at the last sync
        self._opened_at = clock()

    def _recover_open_segment(self) -> None:
        """A crash can leave half a line at the end of the open segment: cut it, then seal."""
        path = self.folder / OPEN_SEGMENT
        if not path.exists():
            return
        data = path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if complete:
            os.truncate(path, len(complete))  # needs no space: a full disk restarts too
            self._seal_file(path)
        else:
            path.unlink()

    def append(self, lines: Sequence[str]) -> None:
        """Add lines; a segment is sealed every ``segment_lines`` lines."""
        if self._file.closed:  # a seal that could not open the next segment (a full disk)
            self.rewind()
        start = 0
        while start < len(lines):
            end = start + self._segment_lines - self._lines
            chunk = lines[start:end]
            self._file.write(("\n".join(chunk) + "\n").encode())
            self._lines += len(chunk)
            start = end
            if self._lines >= self._segment_lines:
                self.seal()

    def sync(self) -> None:
        """Make everything appended so far durable (before acknowledging its input)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._synced = (self._file.tell(), self._lines)

    def rewind(self) -> None:
        """Forget what was appended since the last sync: its commit failed (a full disk),
        so its input comes again; half a line left behind would spoil the segment."""
        with contextlib.suppress(OSError):
            self._file.close()  # its buffer cannot be written: dropped
        size, self._lines = self._synced
        path = self.folder / OPEN_SEGMENT
        path.touch()
        os.truncate(path, size)
        self._file = path.open("ab")

    def seal(self) -> None:
        if self._lines == 0:
            return
        self.sync()
        self._file.close()
        self._seal_file(self.folder / OPEN_SEGMENT)
        self._lines, self._synced = 0, (0, 0)
        self._opened_at = self._clock()
        self._file = (self.folder / OPEN_SEGMENT).open("ab")

    def seal_if_older(self, seconds: float) -> None:
        """Seal an old enough segment; on a disk that takes no write, later."""
        if self._lines and self._clock() - self._opened_at >= seconds:
            try:
                self.seal()
            except OSError as exc:
                log.error("spool segment not sealed yet: %s", exc)

    def _seal_file(self, path: Path) -> None:
        target = self.folder / f"{self._next:012d}.lp"
        path.rename(target)
        self._sealed.append(target)
        self._next += 1
        self._bytes += target.stat().st_size
        while self._bytes > self._max_bytes:
            oldest = self._sealed[0]
            if oldest == target:
                break
            self._forget(oldest)
            oldest.unlink()
            self.dropped_segments += 1
            log.error(
                "spool full (%d bytes): dropped the oldest segment %s", self._max_bytes, oldest
            )

    @property
    def empty(self) -> bool:
        """Nothing left to send: every line appended so far has been stored (or dropped)."""
        return self._lines == 0 and not self._sealed

    def sealed(self) -> list[Path]:
        """Oldest first."""
        return list(self._sealed)

    def remove(self, segment: Path) -> None:
        self._forget(segment)
        segment.unlink()

    def reject(self, segment: Path, reason: str) -> None:
        self._forget(segment)
        segment.rename(self.rejected / segment.name)
        (self.rejected / f"{segment.name}.reason").write_text(reason + "\n", encoding="utf-8")

    def _forget(self, segment: Path) -> None:
        self._sealed.remove(segment)
        self._bytes -= segment.stat().st_size

    def close(self) -> None:
        self.sync()
        self._file.close()
