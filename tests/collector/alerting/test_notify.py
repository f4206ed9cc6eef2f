"""Alert delivery from the ledger: every alert reaches every sink once, in order, across restarts.

The sinks here are plain coroutines that record what they are given (the real MQTT and
webhook sinks are exercised over a broker and an HTTP receiver in ``test_service.py``);
the ledger is a real SQLite file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from collector.alerting.notify import ROUND, Notifier
from collector.ledger.chain import Ledger
from tests.conftest import in_background, wait_for

MOMENT = "2026-07-01T00:00:00.000Z"
STATE_ROW = {"state": "up", "reason": "ok", "since": MOMENT, "confirmed_at": MOMENT}


class Sink:
    """Records alerts; refuses (as an unreachable host would) while ``down`` is set."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.down = False
        self.refusals = 0

    async def send(self, alert: dict[str, Any]) -> None:
        if self.down:
            self.refusals += 1
            raise OSError("connection refused")
        self.received.append(alert["ticket"])


def write(ledger: Ledger, *rows: tuple[str, str]) -> None:
    """Append rows in one commit: ("alert", ticket) or ("state", device)."""
    with ledger.transaction():
        for kind, name in rows:
            if kind == "alert":
                ledger.append("alert", MOMENT, {"ticket": name})
            else:
                ledger.append("state", MOMENT, {**STATE_ROW, "device_id": name})


@asynccontextmanager
async def delivering(ledger: Ledger, sink: Sink, in_order: bool) -> AsyncIterator[Notifier]:
    notifier = Notifier(ledger, retry_s=0.05)
    notifier.add("sink", sink.send, in_order=in_order)
    async with in_background(notifier.run()):
        yield notifier


# A sink that keeps the order of sends in flight together (MQTT) gets a round at once.
by_round = pytest.mark.parametrize("in_order", [False, True], ids=["one-by-one", "round"])


@by_round
async def test_alerts_between_many_state_rows_go_out_once_each_in_order(
    tmp_path: Path, in_order: bool
) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    sink = Sink()
    async with delivering(ledger, sink, in_order) as notifier:
        write(ledger, ("alert", "T1"), *(("state", f"CAM{n}") for n in range(500)))
        notifier.wake()
        await wait_for(lambda: sink.received == ["T1"])
        for round_ in range(3):  # state rows only: nothing to send, nothing sent twice
            write(ledger, *(("state", f"CAM{n}-{round_}") for n in range(200)))
            notifier.wake()
        write(ledger, ("state", "CAM-last"), ("alert", "T2"), ("state", "CAM-after"))
        notifier.wake()
        await wait_for(lambda: len(sink.received) == 2)
        await asyncio.sleep(0.2)
    assert sink.received == ["T1", "T2"]


@by_round
async def test_more_alerts_than_one_round_all_go_out_in_order(
    tmp_path: Path, in_order: bool
) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    sink = Sink()
    names = [f"T{n}" for n in range(2 * ROUND + 7)]
    async with delivering(ledger, sink, in_order) as notifier:
        write(ledger, *(("alert", name) for name in names))
        notifier.wake()
        await wait_for(lambda: len(sink.received) == len(names))
    assert sink.received == names


@by_round
async def test_an_unreachable_sink_gets_its_alerts_later_and_a_restart_resends_nothing(
    tmp_path: Path, in_order: bool
) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    sink = Sink()
    async with delivering(ledger, sink, in_order) as notifier:
        write(ledger, ("alert", "T1"))
        notifier.wake()
        await wait_for(lambda: sink.received == ["T1"])
        sink.down = True
        write(ledger, ("state", "CAM1"), ("alert", "T2"), ("alert", "T3"))
        notifier.wake()
        await wait_for(lambda: sink.refusals >= 2)
        sink.down = False
        await wait_for(lambda: sink.received == ["T1", "T2", "T3"])
    ledger.close()

    reopened = Ledger(tmp_path / "ledger.sqlite")
    async with delivering(reopened, sink, in_order) as notifier:
        write(reopened, ("state", "CAM2"), ("alert", "T4"))
        notifier.wake()
        await wait_for(lambda: len(sink.received) == 4)
        await asyncio.sleep(0.2)
    assert sink.received == ["T1", "T2", "T3", "T4"]
