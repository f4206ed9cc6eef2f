"""Replay recorded observations through the live pipeline, in event time, as fast as it goes.

Observations are taken in the order they were recorded (each agent's outbox keeps its
own order); acknowledgements (JSONL: ``at``, ``by`` and either ``ticket_id`` or
``device_id``, the latter meaning "the ticket open on that device") are applied when
the replay's event time reaches their ``at``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError, model_validator

from agent.wire import Observation, WireError, read_observations
from collector.ledger.chain import Ledger
from collector.pipeline.faults import UnknownTicketError
from collector.pipeline.pipeline import Pipeline
from slawatch.config.inventory import Inventory
from slawatch.config.policies import PolicyBook

COMMIT_EVERY = 20_000


class Ack(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at: AwareDatetime
    by: str
    ticket_id: str | None = None
    device_id: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Ack:
        if (self.ticket_id is None) == (self.device_id is None):
            raise ValueError("give exactly one of ticket_id and device_id")
        return self


class ReplayInputError(ValueError):
    """A line of an input file that cannot be used; the message names file and line."""


@dataclass
class ReplaySummary:
    observations: int
    changes: int
    tickets: int
    ledger_rows: int
    unmatched_acks: int


def read_acks(file: Path) -> list[Ack]:
    acks = []
    with file.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                acks.append(Ack.model_validate(json.loads(line)))
            except (ValueError, ValidationError) as exc:
                raise ReplayInputError(f"{file}:{number}: {exc}") from None
    return sorted(acks, key=lambda ack: ack.at)


def replay(
    inventory: Inventory,
    policies: PolicyBook,
    observations: Iterable[Observation],
    acks: list[Ack],
    ledger: Ledger,
) -> ReplaySummary:
    pipeline = Pipeline(inventory, policies, ledger)
    pending_acks = iter(acks)
    next_ack = next(pending_acks, None)
    unmatched = count = 0
    last: datetime | None = None
    stream = iter(observations)
    while chunk := list(islice(stream, COMMIT_EVERY)):
        with ledger.transaction():
            for observation in chunk:
                while next_ack is not None and next_ack.at <= observation.observed_at:
                    unmatched += not _apply(pipeline, next_ack)
                    next_ack = next(pending_acks, None)
                pipeline.observe(observation)
                last = observation.observed_at
            count += len(chunk)
    with ledger.transaction():
        while next_ack is not None:
            unmatched += not _apply(pipeline, next_ack)
            next_ack = next(pending_acks, None)
        if last is not None:
            pipeline.finish(last)
    return ReplaySummary(
        observations=count,
        changes=pipeline.changes,
        tickets=sum(1 for t in pipeline.faults.tickets.values() if t.merged_into is None),
        ledger_rows=ledger.verify(),
        unmatched_acks=unmatched,
    )


def _apply(pipeline: Pipeline, ack: Ack) -> bool:
    ticket_id = ack.ticket_id
    if ack.device_id is not None:
        ticket = pipeline.faults.ticket_for_device(ack.device_id)
        ticket_id = ticket.id if ticket is not None else None
    if ticket_id is None:
        return False
    try:
        pipeline.acknowledge(ticket_id, ack.by, ack.at)
    except UnknownTicketError:
        return False
    return True


def observations_from(file: Path) -> Iterator[Observation]:
    """The JSONL file's observations; a bad line stops the replay naming file and line."""
    with file.open("rb") as lines:
        try:
            yield from read_observations(lines)
        except WireError as exc:
            raise ReplayInputError(f"{file}: {exc}") from None
