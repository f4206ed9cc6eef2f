"""Group statuses into wire batches and put each batch in the outbox (without a send
time: the publisher stamps and signs each batch when it sends it)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from agent.outbox import Outbox, clock_base
from agent.wire import Batch, Status, encode_unsent, status_topic

# The model wants a send time; the outbox's copy leaves it out (``encode_unsent``).
UNSENT = datetime.fromtimestamp(0, UTC)


class BatchWriter:
    """Collects statuses; ``flush`` (or a full batch) writes one batch to the outbox."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        site: str,
        agent_id: str,
        on_written: Callable[[], None],
        max_statuses: int = 1000,
    ) -> None:
        self._outbox = outbox
        self._site = site
        self._agent_id = agent_id
        self._topic = status_topic(site, agent_id)
        self._on_written = on_written
        self._max = max_statuses
        self._statuses: list[Status] = []
        self._bases: tuple[float, float] | None = None  # see Outbox.clock_stepped

    def add(self, status: Status) -> None:
        base = clock_base()
        bases = self._bases
        self._bases = (base, base) if bases is None else (min(bases[0], base), max(bases[1], base))
        self._statuses.append(status)
        if len(self._statuses) >= self._max:
            self.flush()

    def flush(self) -> None:
        if not self._statuses:
            return
        statuses, self._statuses = self._statuses, []
        bases, self._bases = self._bases, None

        def build(seq: int) -> bytes:
            return encode_unsent(
                Batch(
                    agent_id=self._agent_id,
                    site=self._site,
                    epoch=self._outbox.epoch,
                    seq=seq,
                    sent_at=UNSENT,
                    statuses=statuses,
                    lost=self._outbox.lost_ranges(),
                )
            )

        self._outbox.append(self._topic, build, bases)
        self._on_written()
