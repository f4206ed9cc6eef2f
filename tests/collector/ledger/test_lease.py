"""Two collectors on one PostgreSQL ledger (a real server): one holds the lease; one that
lost it (paused past it) can never append again, not even a row the new one has not
written yet."""

from __future__ import annotations

import time
from contextlib import ExitStack, closing

import pytest

from collector.ledger.backend import Postgres, target
from collector.ledger.chain import Ledger
from collector.ledger.lease import Lease, LeaseLostError

TTL_S = 0.5


def note(ledger: Ledger, n: int) -> None:
    at = f"2026-07-01T00:00:0{n}.000Z"
    with ledger.transaction():
        ledger.append("note", at, {"n": n})


def test_the_lease_is_held_while_renewed_and_taken_over_once_it_expires(postgres: str) -> None:
    where = target(postgres)
    assert isinstance(where, Postgres)
    with closing(Lease(where, "a", TTL_S)) as active, closing(Lease(where, "b", TTL_S)) as standby:
        taken_over(active, standby)


def taken_over(active: Lease, standby: Lease) -> None:
    assert active.acquire()
    assert not standby.acquire()
    for _ in range(4):  # renewed: kept past its first term's end
        time.sleep(TTL_S / 3)
        active.renew()
        assert not standby.acquire()
    time.sleep(TTL_S * 1.2)
    assert standby.acquire()
    assert standby.term == (active.term or 0) + 1
    with pytest.raises(LeaseLostError):
        active.renew()


def test_a_leader_paused_past_its_lease_appends_nothing_after_it_resumes(postgres: str) -> None:
    where = target(postgres)
    assert isinstance(where, Postgres)
    with ExitStack() as stack:
        old_lease = stack.enter_context(closing(Lease(where, "a", TTL_S)))
        new_lease = stack.enter_context(closing(Lease(where, "b", TTL_S)))
        assert old_lease.acquire()
        old = stack.enter_context(closing(Ledger(where, old_lease.fence)))
        note(old, 0)
        time.sleep(TTL_S * 1.2)  # paused (SIGSTOP) past its lease
        assert new_lease.acquire()
        new = stack.enter_context(closing(Ledger(where, new_lease.fence)))
        resumed(old, new)


def resumed(old: Ledger, new: Ledger) -> None:
    # Resumed before the new leader wrote anything: the sequence alone would let row 1
    # in; the term refuses it, and the transaction leaves nothing.
    with pytest.raises(LeaseLostError):
        note(old, 1)
    assert old.verify() == 1
    note(new, 1)
    with pytest.raises(LeaseLostError):
        note(old, 2)
    assert [row.body["n"] for row in new.rows()] == [0, 1]
    assert new.verify() == 2
