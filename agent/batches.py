"""Group statuses into wire batches and put each batch in the outbox (without a send
time: the publisher stamps and signs each batch when it sends it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

from agent.outbox import STEP_S, Outbox, clock_base
from agent.wire import AgentLoad, Batch, Status, encode_unsent, status_topic

# The model wants a send time; the outbox's copy leaves it out (``encode_unsent``).
UNSENT = datetime.fromtimestamp(0, UTC)
# An overloaded agent with no status to send (every result its own stall) still says so
# this often, in a batch of its load alone: the wall shows it overloaded, not silent.
LOAD_ALONE_EVERY_S = 10.0


class BatchWriter:
    """Collects statuses; ``flush`` (or a full batch) writes one batch to the outbox.

    Each batch notes how far the wall clock stood from the monotonic one while its
    statuses were observed, so that one sent after the clock was set goes out as
    ``stepped`` (kept unused by the collector). For ``settle_s`` after a step the statuses
    count as observed before it too: probes that carry the time (SNMPv3's time window,
    ONVIF's WS-Security) fail for a poll or two after it, for our clock's sake, not the
    device's.
    """

    def __init__(
        self,
        outbox: Outbox,
        *,
        site: str,
        agent_id: str,
        on_written: Callable[[], None],
        max_statuses: int = 1000,
        settle_s: float = 0.0,
        load: Callable[[], AgentLoad | None] = lambda: None,
        load_alone_every_s: float = LOAD_ALONE_EVERY_S,
    ) -> None:
        self._outbox = outbox
        self._site = site
        self._agent_id = agent_id
        self._topic = status_topic(site, agent_id)
        self._on_written = on_written
        self._max = max_statuses
        self._statuses: list[Status] = []
        self._bases: tuple[float, float] | None = None  # see Outbox.clock_stepped
        self._settle_s = settle_s
        self._base = clock_base()  # the latest seen
        self._before_step: tuple[float, float] | None = None  # (base, until monotonic)
        self._load = load
        self._load_alone_every_s = load_alone_every_s
        self._written_at = time.monotonic()

    def add(self, status: Status) -> None:
        base = clock_base()
        if abs(base - self._base) > STEP_S:
            self._before_step = (self._base, time.monotonic() + self._settle_s)
        self._base = base
        low = high = base
        if self._before_step is not None:
            if time.monotonic() < self._before_step[1]:
                low, high = min(base, self._before_step[0]), max(base, self._before_step[0])
            else:
                self._before_step = None
        bases = self._bases
        self._bases = (low, high) if bases is None else (min(bases[0], low), max(bases[1], high))
        self._statuses.append(status)
        if len(self._statuses) >= self._max:
            self.flush()

    def flush(self) -> None:
        load = self._load()
        if not self._statuses and (
            load is None
            or not load.overloaded
            or time.monotonic() - self._written_at < self._load_alone_every_s
        ):
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
                    load=load,
                )
            )

        self._outbox.append(self._topic, build, bases)
        self._written_at = time.monotonic()
        self._on_written()
