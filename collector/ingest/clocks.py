"""Each agent's clock, judged from when its batches were sent and when they arrived.

A batch carries its send time by the agent's clock (stamped at each send) and the state
its time service reports. Receive − send is the transit delay minus the agent's clock
offset; the delay is never negative and usually small, so, as NTP filters delay, the
**minimum** over the agent's recent batches (``WINDOW``) estimates −offset: a batch that
waited in a broker's queue (the collector away) reads as a long delay, not as skew.

The clock is judged **off** beyond the tolerance:

- *ahead*: a send time later than its arrival by more than the tolerance: no delay
  explains it;
- *behind*: every recent batch arrived more than the tolerance after it was sent, and
  the agent's time service does not vouch for its clock (a synchronised clock's long
  delays are queueing);
- a send time that goes *back* by more than the tolerance means the clock was stepped
  back: the batches before the step say nothing about it any more.

One batch that claims a clock judged right leapt ahead of its recent estimate by more
than ``LEAP`` (inside the tolerance: a forgery, or a clock set by hand) is kept unused
too, alone, and does not count in the estimate: a status dated minutes ahead would
otherwise move its device's last observation past the real ones that follow, which would
then be ignored as late.

While an agent's clock is off, what its batches say is kept here (table ``clock_held``,
committed with the batch's receipt, so the agent may delete it) and not used: the
collector cannot place it in time. Nothing of it is dropped.

Each agent's estimate (its recent samples, its latest reading, since when its clock is
off) is kept in the ledger's file too (table ``edge_clocks``), committed with the batch
that changed it: a restarted collector (``kill -9`` included) still knows an agent whose
clock is off, says nothing twice, and says when it is right again.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agent.wire import ClockState, format_timestamp
from collector.ledger.chain import Ledger

WINDOW = timedelta(minutes=10)
MAX_SAMPLES = 64
LEAP = 60.0  # seconds


@dataclass(frozen=True, slots=True)
class Reading:
    """An agent's clock as judged at one batch: its offset from the collector's
    (positive: ahead), and whether that is beyond the tolerance (``off``)."""

    offset: timedelta
    off: bool
    state: ClockState
    leapt: bool = False  # this batch alone is ahead of the agent's recent clock by > LEAP


@dataclass
class _Track:
    samples: deque[tuple[datetime, float]] = field(default_factory=deque)  # (arrived, r−s)
    last_sent: datetime | None = None
    reading: Reading | None = None
    off_since: datetime | None = None  # the collector's clock: judged off since then

    def dump(self) -> str:
        reading = self.reading
        return json.dumps(
            {
                "samples": [[arrived.isoformat(), delay] for arrived, delay in self.samples],
                "last_sent": _iso(self.last_sent),
                "reading": None
                if reading is None
                else [reading.offset.total_seconds(), reading.off, reading.state.value],
                "off_since": _iso(self.off_since),
            }
        )

    @classmethod
    def load(cls, text: str) -> _Track:
        data: dict[str, Any] = json.loads(text)
        reading = data["reading"]
        return cls(
            deque((datetime.fromisoformat(a), float(d)) for a, d in data["samples"]),
            _moment(data["last_sent"]),
            None
            if reading is None
            else Reading(timedelta(seconds=reading[0]), bool(reading[1]), ClockState(reading[2])),
            _moment(data["off_since"]),
        )


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class EdgeClocks:
    def __init__(self, ledger: Ledger, tolerance: timedelta) -> None:
        """Each agent's clock as the last commit left it (the ledger's file)."""
        self._ledger = ledger
        self._tolerance = tolerance.total_seconds()
        db = ledger.connection
        db.execute(
            "CREATE TABLE IF NOT EXISTS clock_held (agent_id TEXT NOT NULL, epoch TEXT, "
            "seq INTEGER NOT NULL, received_at TEXT NOT NULL, offset_s REAL NOT NULL, "
            "payload BLOB NOT NULL)"
        )
        db.execute(
            "CREATE TABLE IF NOT EXISTS edge_clocks "
            "(agent_id TEXT PRIMARY KEY, track TEXT NOT NULL)"
        )
        self._tracks = {
            str(agent): _Track.load(str(track))
            for agent, track in db.execute("SELECT agent_id, track FROM edge_clocks")
        }

    def judge(
        self, agent_id: str, sent_at: datetime, arrived: datetime, state: ClockState
    ) -> Reading:
        """Take one batch's send and arrival times; the agent's clock as it now stands."""
        track = self._tracks.setdefault(agent_id, _Track())
        tolerance = self._tolerance
        samples = track.samples
        if track.last_sent is not None and (track.last_sent - sent_at).total_seconds() > tolerance:
            samples.clear()  # stepped back: the earlier batches no longer tell
            track.last_sent = None
        while samples and (samples[0][0] < arrived - WINDOW or len(samples) >= MAX_SAMPLES):
            samples.popleft()
        delay = (arrived - sent_at).total_seconds()
        right = track.reading is not None and not track.reading.off
        if right and samples and -tolerance <= delay < min(d for _, d in samples) - LEAP:
            assert track.reading is not None
            return Reading(track.reading.offset, False, state, leapt=True)
        track.last_sent = max(track.last_sent or sent_at, sent_at)
        samples.append((arrived, delay))
        least = min(d for _, d in samples)
        off = least < -tolerance or (least > tolerance and state is not ClockState.SYNCHRONISED)
        track.reading = Reading(timedelta(seconds=-least), off, state)
        self._keep(agent_id, track)
        return track.reading

    def _keep(self, agent_id: str, track: _Track) -> None:
        """Staged in the transaction that takes the batch."""
        self._ledger.stage(
            "INSERT INTO edge_clocks VALUES (?, ?) ON CONFLICT (agent_id) DO UPDATE SET "
            "track = excluded.track",
            (agent_id, track.dump()),
        )

    def off(self) -> dict[str, datetime]:
        """The agents whose clock is off now, since when (the collector's clock)."""
        return {a: t.off_since for a, t in sorted(self._tracks.items()) if t.off_since is not None}

    def is_off(self, agent_id: str) -> bool:
        track = self._tracks.get(agent_id)
        return track is not None and track.off_since is not None

    def mark_off(self, agent_id: str, since: datetime) -> None:
        """The agent's clock is judged off from ``since`` on (until ``mark_right``)."""
        track = self._tracks[agent_id]
        track.off_since = since
        self._keep(agent_id, track)

    def mark_right(self, agent_id: str) -> datetime:
        """The agent's clock is right again; since when it was off."""
        track = self._tracks[agent_id]
        since, track.off_since = track.off_since, None
        assert since is not None
        self._keep(agent_id, track)
        return since

    def readings(self) -> dict[str, Reading]:
        """The latest reading of every agent heard since the start (the wall, /metrics)."""
        return {a: t.reading for a, t in sorted(self._tracks.items()) if t.reading is not None}

    def hold(
        self,
        agent_id: str,
        epoch: str | None,
        seq: int,
        arrived: datetime,
        reading: Reading,
        payload: bytes,
    ) -> None:
        """Keep a batch the collector cannot place in time (inside the ledger transaction
        that records its receipt)."""
        self._ledger.stage(
            "INSERT INTO clock_held VALUES (?, ?, ?, ?, ?, ?)",
            (
                agent_id,
                epoch,
                seq,
                format_timestamp(arrived),
                reading.offset.total_seconds(),
                payload,
            ),
        )

    def held(self) -> int:
        """Batches kept since the ledger began."""
        row = self._ledger.connection.execute("SELECT COUNT(*) FROM clock_held").fetchone()
        return int(row[0])
