"""Which batches of each agent's sequence are in the ledger, and which are missing.

A sequence is an agent's ``epoch`` (drawn when its outbox was created): a reinstalled
agent starts a new one. Per sequence, ``through`` is the highest seq with every batch up
to it in, and ``above`` the ones in beyond it. A batch that arrives past a hole opens a
**gap** (logged, counted, a ``gap`` ledger row); the agent keeps every batch until the
collector's ack covers it and sends unconfirmed ones again, so a gap normally fills (a
``gap_filled`` row). Batches the agent says it dropped (outbox full) are recorded as
``gap_lost`` and no longer awaited; an admin may close a gap that will never fill, with a
reason (``gap_closed``). A seq further ahead than the agent could have produced since its
last batch (``RATE`` batches a second, plus ``SLACK``) is refused as forged, so it can
neither turn the agent's real batches into "duplicates" nor open a gap that never ends.

A batch that arrives again is a duplicate (a resend) only if it says the same: each
batch's content digest is kept (table ``batch_digests``, the last ``DIGESTS_KEPT`` per
sequence), and the same seq with other content is a **conflict**, never dropped silently.

Kept in the ledger's file (table ``receipts``), committed with the rows the batches made.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any

from agent.wire import Ack, WireError, format_timestamp
from collector.ledger.chain import Ledger

Note = Callable[[str, str, dict[str, Any]], None]

log = logging.getLogger(__name__)

# An outbox of 1 GiB holds well under a million batches: a jump further is not an agent's.
MAX_JUMP = 1_000_000
# How far ahead of the last batch a seq may be: what an agent can have produced meanwhile.
# A 126,000-device site polled each minute in 500-status batches makes ~4 batches a second.
RATE = 100.0
SLACK = 1_000
# Digests kept per sequence: a resend comes back within the outbox's span, far fewer.
DIGESTS_KEPT = 100_000


class Verdict(Enum):
    NEW = "new"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"  # the seq of a batch already in, with other content


@dataclass
class Sequence:
    through: int = -1
    above: set[int] = field(default_factory=set)
    gaps: list[tuple[int, int]] = field(default_factory=list)  # open: awaited batches

    def missing(self) -> int:
        """Batches awaited: those of the gaps not in yet (not the ranges' lengths)."""
        spans = sum(last - first + 1 for first, last in self.gaps)
        return spans - sum(1 for s in self.above if any(f <= s <= t for f, t in self.gaps))


def _key(agent_id: str, epoch: str | None) -> str:
    return f"{agent_id}/{epoch or '-'}"


class Receipts:
    """``note`` writes a ledger row the way a restore can re-derive it (the checkpoint's)."""

    def __init__(
        self, ledger: Ledger, note: Note, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ledger = ledger
        self._note = note
        self._clock = clock
        self._started = clock()
        self._heard: dict[str, float] = {}  # when each sequence's last batch came in
        ledger.connection.execute(
            "CREATE TABLE IF NOT EXISTS receipts (key TEXT PRIMARY KEY, through INTEGER NOT NULL, "
            "above TEXT NOT NULL, gaps TEXT NOT NULL)"
        )
        ledger.connection.execute(
            "CREATE TABLE IF NOT EXISTS batch_digests (key TEXT NOT NULL, seq INTEGER NOT NULL, "
            "digest TEXT NOT NULL, PRIMARY KEY (key, seq))"
        )
        # This run's digests, those not committed yet among them (staged writes are not
        # readable before the commit).
        self._digests: dict[tuple[str, int], str] = {}
        self._sequences: dict[str, Sequence] = {}
        for key, through, above, gaps in ledger.connection.execute("SELECT * FROM receipts"):
            self._sequences[str(key)] = Sequence(
                int(through), set(json.loads(above)), [tuple(g) for g in json.loads(gaps)]
            )
        self.gaps_opened = 0
        self.gaps_filled = 0
        self.batches_lost = 0

    def open_gaps(self) -> dict[str, list[tuple[int, int]]]:
        return {key: list(seq.gaps) for key, seq in self._sequences.items() if seq.gaps}

    def awaited(self) -> dict[str, int]:
        """Per sequence with open gaps, how many batches are still awaited."""
        return {key: seq.missing() for key, seq in self._sequences.items() if seq.gaps}

    def take(
        self, agent_id: str, epoch: str | None, seq: int, at: datetime, digest: str = ""
    ) -> Verdict:
        """Note batch ``seq`` (``digest``: of its content); inside the ledger transaction
        that takes its statuses."""
        key = _key(agent_id, epoch)
        sequence = self._sequences.setdefault(key, Sequence())
        if seq <= sequence.through or seq in sequence.above:
            first = self._digest(key, seq)
            if digest and first and first != digest:
                return Verdict.CONFLICT
            return Verdict.DUPLICATE
        highest = max([sequence.through, *sequence.above])
        now = self._clock()
        could = SLACK + int(RATE * (now - self._heard.get(key, self._started)))
        if seq > highest + min(could, MAX_JUMP):
            raise WireError(
                "seq",
                f"{seq} is {seq - highest} past batch {highest} of {key}: more than the agent "
                f"can have sent since its last batch ({min(could, MAX_JUMP)}); refused as forged",
            )
        self._heard[key] = now
        if seq > highest + 1:
            gap = (highest + 1, seq - 1)
            sequence.gaps.append(gap)
            self.gaps_opened += 1
            log.warning("gap in %s: batches %d-%d missing (awaited from the agent)", key, *gap)
            body = {"agent_id": agent_id, "epoch": epoch, "first": gap[0], "last": gap[1]}
            self._note("gap", format_timestamp(at), body)
        sequence.above.add(seq)
        self._advance(key, sequence, agent_id, epoch, at)
        self._stage(key, sequence)
        if digest:
            self._keep_digest(key, seq, digest)
        return Verdict.NEW

    def _digest(self, key: str, seq: int) -> str | None:
        known = self._digests.get((key, seq))
        if known is not None:
            return known
        row = self._ledger.connection.execute(
            "SELECT digest FROM batch_digests WHERE key = ? AND seq = ?", (key, seq)
        ).fetchone()
        return None if row is None else str(row[0])

    def _keep_digest(self, key: str, seq: int, digest: str) -> None:
        self._digests[(key, seq)] = digest
        if len(self._digests) > DIGESTS_KEPT:
            del self._digests[next(iter(self._digests))]  # the oldest: in the table
        self._ledger.stage(
            "INSERT OR REPLACE INTO batch_digests VALUES (?, ?, ?)", (key, seq, digest)
        )
        if seq % 1000 == 0:
            self._ledger.stage(
                "DELETE FROM batch_digests WHERE key = ? AND seq < ?", (key, seq - DIGESTS_KEPT)
            )

    def lost(
        self, agent_id: str, epoch: str | None, ranges: list[tuple[int, int]], at: datetime
    ) -> None:
        """The agent dropped these batches before we had them: stop waiting, say so."""
        key = _key(agent_id, epoch)
        sequence = self._sequences.setdefault(key, Sequence())
        for first, last in ranges:
            first = max(first, sequence.through + 1)
            if first > last:
                continue
            missing = [s for s in range(first, last + 1) if s not in sequence.above]
            if not missing:
                continue
            self.batches_lost += len(missing)
            log.error("%s lost batches %d-%d (dropped by the agent, outbox full)", key, first, last)
            body = {"agent_id": agent_id, "epoch": epoch, "first": first, "last": last}
            self._note("gap_lost", format_timestamp(at), body)
            sequence.above.update(missing)
        self._advance(key, sequence, agent_id, epoch, at)
        self._stage(key, sequence)

    def close(
        self,
        agent_id: str,
        epoch: str | None,
        gap: tuple[int, int],
        reason: str,
        by: str,
        at: datetime,
    ) -> None:
        """An admin closes an open gap that will never fill (an edge server's disk lost):
        its batches are no longer awaited, and the ledger says who, when and why. KeyError
        if no such gap is open."""
        key = _key(agent_id, epoch)
        sequence = self._sequences.get(key)
        if sequence is None or gap not in sequence.gaps:
            raise KeyError(f"no open gap {gap[0]}-{gap[1]} in {key}")
        first, last = gap
        missing = [s for s in range(first, last + 1) if s not in sequence.above]
        self.batches_lost += len(missing)
        log.error("%s gap %d-%d closed by %s: %s", key, first, last, by, reason)
        body = {
            "agent_id": agent_id, "epoch": epoch, "first": first, "last": last,
            "reason": reason, "by": by,
        }  # fmt: skip
        self._note("gap_closed", format_timestamp(at), body)
        sequence.above.update(missing)
        sequence.gaps.remove(gap)
        self._advance(key, sequence, agent_id, epoch, at)
        self._stage(key, sequence)

    def ack(self, agent_id: str, epoch: str | None) -> Ack:
        sequence = self._sequences.get(_key(agent_id, epoch), Sequence())
        above = sorted(sequence.above)[:4096]
        return Ack(agent_id=agent_id, epoch=epoch, through=sequence.through, above=above)

    def _advance(
        self, key: str, sequence: Sequence, agent_id: str, epoch: str | None, at: datetime
    ) -> None:
        while sequence.through + 1 in sequence.above:
            sequence.through += 1
            sequence.above.discard(sequence.through)
        still_open = []
        for first, last in sequence.gaps:
            if sequence.through >= last:
                self.gaps_filled += 1
                log.warning(
                    "gap in %s closed: batches %d-%d are in or known lost", key, first, last
                )
                body = {"agent_id": agent_id, "epoch": epoch, "first": first, "last": last}
                self._note("gap_filled", format_timestamp(at), body)
            else:
                still_open.append((first, last))
        sequence.gaps = still_open

    def _stage(self, key: str, sequence: Sequence) -> None:
        self._ledger.stage(
            "INSERT INTO receipts VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
            "through = excluded.through, above = excluded.above, gaps = excluded.gaps",
            (key, sequence.through, json.dumps(sorted(sequence.above)), json.dumps(sequence.gaps)),
        )
