"""Group statuses into wire batches and put each batch in the outbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from agent.outbox import Outbox
from agent.wire import Batch, Status, encode_batch, status_topic


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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._outbox = outbox
        self._site = site
        self._agent_id = agent_id
        self._topic = status_topic(site, agent_id)
        self._on_written = on_written
        self._max = max_statuses
        self._clock = clock
        self._statuses: list[Status] = []

    def add(self, status: Status) -> None:
        self._statuses.append(status)
        if len(self._statuses) >= self._max:
            self.flush()

    def flush(self) -> None:
        if not self._statuses:
            return
        statuses, self._statuses = self._statuses, []

        def build(seq: int) -> bytes:
            return encode_batch(
                Batch(
                    agent_id=self._agent_id,
                    site=self._site,
                    epoch=self._outbox.epoch,
                    seq=seq,
                    sent_at=self._clock(),
                    statuses=statuses,
                    lost=self._outbox.lost_ranges(),
                )
            )

        self._outbox.append(self._topic, build)
        self._on_written()
