"""Alert delivery from the ledger: every alert reaches every sink once, in order, across
restarts; a channel that fails has its fallback told once an outage, across restarts too.

The sinks here are plain coroutines that record what they are given (the real MQTT and
webhook sinks are exercised over a broker and an HTTP receiver in ``test_service.py``, the
real channels failing in ``test_failover.py``); the ledger is a real SQLite file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from collector.alerting.channels import PermanentDeliveryError
from collector.alerting.notify import ROUND, Notifier, stamp
from collector.alerting.routing import CHANNEL_ALERTS
from collector.ledger.chain import Ledger
from slawatch.config.alerting import Receiver
from tests.conftest import in_background, wait_for
from tests.ledgers import ledger_in

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
                ledger.append("alert", MOMENT, {"alert": "opened", "ticket": name})
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
    ledger: Ledger, in_order: bool
) -> None:
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
    ledger: Ledger, in_order: bool
) -> None:
    sink = Sink()
    names = [f"T{n}" for n in range(2 * ROUND + 7)]
    async with delivering(ledger, sink, in_order) as notifier:
        write(ledger, *(("alert", name) for name in names))
        notifier.wake()
        await wait_for(lambda: len(sink.received) == len(names))
    assert sink.received == names


@by_round
async def test_an_unreachable_sink_gets_its_alerts_later_and_a_restart_resends_nothing(
    tmp_path: Path, ledger: Ledger, in_order: bool
) -> None:
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

    reopened = Ledger(ledger_in(tmp_path))
    async with delivering(reopened, sink, in_order) as notifier:
        write(reopened, ("state", "CAM2"), ("alert", "T4"))
        notifier.wake()
        await wait_for(lambda: len(sink.received) == 4)
        await asyncio.sleep(0.2)
    reopened.close()
    assert sink.received == ["T1", "T2", "T3", "T4"]


# A receiver's channel that fails, and its fallback: real Receiver settings, real ledger.
DUTY = Receiver.model_validate(
    {
        "id": "duty",
        "name": "值班室",
        "channels": [{"type": "webhook", "url": "http://127.0.0.1:9/duty"}],
        "failing_after": "0s",
        "fallback": "noc",
    }
)
NOC = Receiver.model_validate(
    {
        "id": "noc",
        "name": "网管中心",
        "channels": [{"type": "webhook", "url": "http://127.0.0.1:9/"}],
    }
)


class Robot:
    """Records alerts; refuses every one, as a robot whose signing secret was rotated does,
    while ``refusing`` is set; unreachable while ``down`` is set."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.refusing = False
        self.down = False
        self.tries = 0

    async def send(self, alert: dict[str, Any]) -> None:
        self.tries += 1
        if self.down:
            raise OSError("connection refused")
        if self.refusing:
            raise PermanentDeliveryError(
                'robot refused: {"errcode":310000,"errmsg":"sign not match"}', "sign_mismatch"
            )
        self.received.append(alert)


def for_duty(alert: dict[str, Any]) -> bool:
    return alert["alert"] not in CHANNEL_ALERTS


def for_noc(alert: dict[str, Any]) -> bool:
    return "noc" in alert.get("to", [])


@asynccontextmanager
async def failing_over(ledger: Ledger, duty: Robot, noc: Robot) -> AsyncIterator[Notifier]:
    notifier = Notifier(ledger, retry_s=0.05)
    notifier.add("duty/0-webhook", duty.send, wants=for_duty, receiver=DUTY, kind="webhook")
    notifier.add("noc/0-webhook", noc.send, wants=for_noc, receiver=NOC, kind="webhook")
    async with in_background(notifier.run()):
        yield notifier


def kinds(robot: Robot) -> list[str]:
    return [alert["alert"] for alert in robot.received]


async def test_a_refusing_channel_fails_over_once_and_recovers_when_put_right(
    ledger: Ledger,
) -> None:
    duty, noc = Robot(), Robot()
    async with failing_over(ledger, duty, noc) as notifier:
        write(ledger, ("alert", "T1"))
        notifier.wake()
        await wait_for(lambda: kinds(duty) == ["opened"])
        duty.refusing = True
        write(ledger, ("alert", "T2"), ("state", "CAM1"), ("alert", "T3"))
        notifier.wake()
        await wait_for(lambda: kinds(noc) == ["receiver_failing", "handed_over", "handed_over"])
        told = noc.received[0]
        assert told["reason"] == "sign_mismatch"
        assert [item["seq"] for item in told["undelivered"]] == [1, 3]
        assert [alert["original"]["ticket"] for alert in noc.received[1:]] == ["T2", "T3"]
        assert "duty/0-webhook" in notifier.failing()
        [entry, earlier] = notifier.undelivered()["duty"]
        assert (entry.seq, entry.outcome, entry.handed_to, entry.reached) == (
            3, "refused", "noc", ("noc",)
        )  # fmt: skip
        assert earlier.seq == 1
        # Still refusing: the oldest refused alert is offered again (a probe), in vain.
        tries = duty.tries
        await wait_for(lambda: duty.tries > tries + 1)
        duty.refusing = False  # the secret is put right
        await wait_for(lambda: kinds(noc)[-1] == "receiver_recovered")
        await wait_for(lambda: [a["ticket"] for a in duty.received] == ["T1", "T2", "T3"])
        assert notifier.failing() == {}
        assert notifier.undelivered() == {}
    assert kinds(noc).count("receiver_failing") == 1
    assert kinds(noc).count("receiver_recovered") == 1
    assert noc.received[-1]["since"] == told["since"]


async def test_an_outage_keeps_its_start_and_its_told_fallback_across_a_restart(
    tmp_path: Path,
    ledger: Ledger,
) -> None:
    duty, noc = Robot(), Robot()
    duty.down = True
    async with failing_over(ledger, duty, noc) as notifier:
        write(ledger, ("alert", "T1"))
        notifier.wake()
        await wait_for(lambda: kinds(noc) == ["receiver_failing", "handed_over"])
        since = notifier.failing()["duty/0-webhook"]
    ledger.close()

    reopened = Ledger(ledger_in(tmp_path))
    async with failing_over(reopened, duty, noc) as notifier:
        assert notifier.failing() == {"duty/0-webhook": since}
        write(reopened, ("alert", "T2"))
        notifier.wake()
        # Handed over in the same outage: the fallback is not told again.
        await wait_for(lambda: kinds(noc) == ["receiver_failing", "handed_over", "handed_over"])
        assert [alert["original"]["ticket"] for alert in noc.received[1:]] == ["T1", "T2"]
        duty.down = False
        await wait_for(lambda: kinds(noc)[-1] == "receiver_recovered")
        await wait_for(lambda: [a["ticket"] for a in duty.received] == ["T1", "T2"])
    reopened.close()
    assert kinds(noc) == ["receiver_failing", "handed_over", "handed_over", "receiver_recovered"]
    assert noc.received[0]["since"] == noc.received[-1]["since"] == stamp(since)


async def test_two_receivers_each_the_others_fallback_both_down_hand_over_and_stop(
    ledger: Ledger,
) -> None:
    noc_falls_back = NOC.model_copy(
        update={"fallback": "duty", "failing_after": DUTY.failing_after}
    )
    duty, noc = Robot(), Robot()
    duty.down = noc.down = True
    notifier = Notifier(ledger, retry_s=0.05)
    notifier.add("duty/0-webhook", duty.send, receiver=DUTY, kind="webhook",
                 wants=lambda a: for_duty(a) or "duty" in a.get("to", []))  # fmt: skip
    notifier.add("noc/0-webhook", noc.send, wants=for_noc, receiver=noc_falls_back)
    db = ledger.connection

    def settled() -> bool:
        """Both told, and everything either could not deliver named to someone."""
        (open_,) = db.execute("SELECT count(*) FROM undelivered WHERE announced IS NULL").fetchone()
        return (
            all(o["told"] for o in notifier.outages())
            and len(notifier.outages()) == 2
            and (open_ == 0)
        )

    async with in_background(notifier.run()):
        write(ledger, ("alert", "T1"))
        notifier.wake()
        await wait_for(settled)
        handed = [r.body for r in ledger.rows(("alert",)) if r.body["alert"] == "handed_over"]
        assert {o["receiver"] for o in notifier.outages() if o["reaching_no_one"]} == {
            "duty",
            "noc",
        }
        duty.down = noc.down = False
        await wait_for(lambda: notifier.failing() == {})
        await wait_for(lambda: notifier.undelivered() == {})
    # Nothing goes back to a receiver it came through, and nothing twice to the same one.
    assert all(body["to"][0] not in body["via"] for body in handed)
    sent = [(body["original"]["seq"], body["to"][0]) for body in handed]
    assert len(sent) == len(set(sent))
    assert ("T1", "noc") in {(b["original"].get("ticket"), b["to"][0]) for b in handed}
    assert [a["ticket"] for a in duty.received if a["alert"] == "opened"] == ["T1"]
    failing = [r.body for r in ledger.rows(("alert",)) if r.body["alert"] == "receiver_failing"]
    assert sorted(body["receiver"] for body in failing) == ["duty", "noc"]
