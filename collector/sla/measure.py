"""A period measured from a ledger: the one way the sla command, the evidence export and
its verifier get a Report, so the figures they show are the same figures."""

from __future__ import annotations

import multiprocessing
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

from collector.ledger.backend import Target
from collector.ledger.chain import Ledger
from collector.ledger.projection import observed_through, period_bounds, reading
from collector.pipeline.exemptions import exemptions
from collector.sla.exempt import Exempted
from collector.sla.exposure import ledger_states
from collector.sla.period import Period
from collector.sla.report import Report
from collector.sla.tickets import period_tickets
from slawatch.config.inventory import Inventory
from slawatch.config.policies import PolicyBook
from slawatch.epoch import from_epoch_ms

_P = ParamSpec("_P")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Measurement:
    report: Report  # the figures, with the exemptions in force
    exempted: Exempted  # the exemptions, and the period again without any one


class _Here(Executor):
    """Each call run at once, in this process."""

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        found: Future[_T] = Future()
        try:
            found.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001  (the caller gets it from result())
            found.set_exception(exc)
        return found


@contextmanager
def measured(
    ledger: Target,
    policies: PolicyBook,
    asked: Period,
    load_inventory: Callable[[], Inventory],
    inventory_file: Path,
    with_pending: bool = False,
    overlap: bool = True,
) -> Iterator[Measurement]:
    """The figures of ``asked`` (cut at the ledger's watermark when it is in progress);
    valid inside the block, whose scratch folder holds its ticket list. Exemptions count
    once the bureau approved them (``with_pending``: the requests too). Read from the
    midnight snapshot before the period to the one that closes it (``period_bounds``): a
    day costs a day's rows, whatever the ledger's age; the exemptions from that snapshot
    (which carries those still in force) to the last row, so a late decision counts.
    Without ``overlap`` (a caller holding its inventory already: nothing to overlap the
    reads with), the ledger is read in this process, sparing two forks and the copies."""
    Ledger(ledger).close()  # first: opening brings the projection up to date
    with reading(ledger) as db:
        watermark = observed_through(db)
        period = asked.observed_to(None if watermark is None else from_epoch_ms(watermark))
        bounds = period_bounds(db, period.start_ms, period.end_ms)
        requested = exemptions(db, bounds.snapshot_seq)
    listed = [found for found in requested if found.overlaps(period.start, period.end)]
    counted = {"approved", "pending"} if with_pending else {"approved"}
    # The ledger's states and tickets are read by two more processes while this one loads
    # the inventory: the two cores share three jobs, and none waits for another to start.
    # Forked, not spawned: the pool forks both at the first submit, before it starts any
    # thread, and they inherit the imports instead of repeating them (0.5 s each).
    with tempfile.TemporaryDirectory(prefix="slawatch-sla-") as scratch:
        pool: Executor = (
            ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork"))
            if overlap
            else _Here()
        )
        with pool:
            states = pool.submit(ledger_states, ledger, bounds)
            tickets = pool.submit(
                period_tickets,
                ledger,
                period.start_ms,
                period.end_ms,
                Path(scratch) / "tickets",
                through_seq=bounds.through_seq,
            )
            inventory = load_inventory()
            policies.check(inventory, inventory_file)
            exempted = Exempted(
                inventory,
                policies,
                period,
                states.result,
                tickets.result,
                listed,
                [found for found in listed if found.status in counted],
            )
            report = exempted.report(exempted.counted)
        # The pool is gone (its results are in the report): the block may fork safely.
        yield Measurement(report, exempted)
