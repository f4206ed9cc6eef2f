"""An agent whose clock is wrong (libfaketime on a real agent process, a real mosquitto,
the simulated fleet): +6 min and +1 h ahead, 1 h behind, and set back by 1 h while it
runs, then right again. While the clock is off its batches are acked and kept aside (not
lost), nothing reaches the time series at a wrong time, its devices are unknown (never
down, no camera blamed for the agent's clock), the ledger says when and by how much and the
duty room is told by mail (with the offset, and again at the end); once the clock is right
everything goes on by itself. A restarted collector still knows an agent whose clock is
off (its estimate is kept in the ledger's file), and tells when it is right again."""

from __future__ import annotations

import asyncio
import contextlib
import re
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from agent.wire import format_timestamp
from collector.pipeline.state import State
from collector.service import Collector
from simulator.fleet_runner import Fleet
from simulator.local_servers import Mosquitto, free_port
from slawatch.config.inventory import Inventory
from slawatch.messages import Language, text
from tests import reliability
from tests.collector.conftest import Mailbox, body_of
from tests.collector.ingest.edge import (
    AGENT_ID,
    FAKETIME,
    AgentProcess,
    at_wrong_times,
    blamed,
    collector_key,
    ledger_rows,
    register_agent,
    wiretap,
)
from tests.collector.live import (
    FakeAgent,
    field_collector,
    field_policy,
    load_collector,
    running,
    write_settings,
)
from tests.collector.test_service import minute_of
from tests.conftest import wait_for
from tests.reliability import Stopwatch

pytestmark = [
    pytest.mark.stdlib_loop,
    # A real agent process, a simulated fleet and a collector on one loaded machine.
    pytest.mark.timeout(600),
    pytest.mark.skipif(not FAKETIME.exists(), reason="Debian's faketime is not installed"),
]

PHASE_S = 8.0
# (scenario, the agent's clock phase by phase, the offset the collector must find, the
# alerts' language: Chinese by default, English switched on in one case)
CASES: list[tuple[str, list[str], float, Language]] = [
    ("agent-clock-ahead-6min", ["+6m", "+0"], 360.0, "en"),
    ("agent-clock-ahead-1h", ["+1h", "+0"], 3600.0, "zh"),
    ("agent-clock-behind-1h", ["-1h", "+0"], -3600.0, "zh"),
    ("agent-clock-set-back-1h", ["+0", "-1h", "+0"], -3600.0, "zh"),
]


def duty_room(smtp_port: int, language: Language = "zh") -> dict[str, Any]:
    """Every alert to the duty room, by mail (a real SMTP server, aiosmtpd)."""
    return {
        "language": language,
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "slawatch <a@bureau.example>"},
        "receivers": [
            {
                "id": "duty",
                "name": "值班室",
                "channels": [{"type": "email", "to": ["duty@bureau.example"]}],
            }
        ],
        "routes": [{"notify": ["duty"]}],
    }


def used_again(collector: Collector, taken_before: int) -> bool:
    return AGENT_ID not in collector.clocks_off and collector.counters.statuses > taken_before


def accounted(collector: Collector) -> int:
    """Statuses taken into the pipeline or kept aside."""
    return collector.counters.statuses + collector.counters.clock_held_statuses


@pytest.mark.parametrize(
    ("scenario", "phases", "offset_s", "language"), CASES, ids=[c[0] for c in CASES]
)
async def test_a_wrong_agent_clock_loses_nothing_writes_nothing_at_a_wrong_time_blames_no_one(
    tmp_path: Path,
    inventory: Inventory,
    fleet: Fleet,
    broker: Mosquitto,
    mailbox: tuple[Mailbox, int],
    scenario: str,
    phases: list[str],
    offset_s: float,
    language: Language,
) -> None:
    agent_key = register_agent(tmp_path)
    signing = collector_key(tmp_path)
    policy = field_policy(tmp_path, debounce={"down_after": 5, "up_after": 1, "stale_after": "1h"})
    box, smtp_port = mailbox
    settings = field_collector(
        tmp_path,
        broker.port,
        policy,
        signing={"key": str(signing)},
        alerting=duty_room(smtp_port, language),
    )
    agent = AgentProcess(
        tmp_path,
        broker.port,
        free_port(),
        key=agent_key,
        collector_key=signing,
        clock_file=tmp_path / "agent-clock",
    )
    devices = [d.id for d in inventory.devices]
    start = datetime.now(UTC)
    async with (
        running(load_collector(settings)) as collector,
        wiretap(broker.port) as tap,
        contextlib.AsyncExitStack() as stack,
    ):
        await wait_for(lambda: collector.ingest.connected)
        agent.set_clock(phases[0])
        await stack.enter_async_context(agent)
        await wait_for(lambda: tap.last_seq >= 0, 60)
        held_while_off = 0
        recovered_s = 0.0
        for number, phase in enumerate(phases):
            agent.set_clock(phase)
            if number and phase == "+0":  # right again: used again, by itself
                back = Stopwatch()
                await wait_for(partial(used_again, collector, collector.counters.statuses), 30)
                recovered_s = back.seconds()
            await asyncio.sleep(PHASE_S)
            if phase != "+0":  # off: kept aside, its devices unknown, the offset on record
                assert AGENT_ID in collector.clocks_off
                reading = collector.clocks.readings()[AGENT_ID]
                assert abs(reading.offset.total_seconds() - offset_s) < 10
                assert all(collector.pipeline.states.now_of(d)[0] is State.UNKNOWN for d in devices)
                held_while_off = collector.counters.clock_held_statuses
                assert held_while_off > 0
        assert AGENT_ID not in collector.clocks_off
        # What it wrote and did not send yet stays in its outbox (sent at its next start).
        left_in_outbox = await agent.stop()
        await wait_for(lambda: tap.statuses == accounted(collector), 10)
        end = datetime.now(UTC)
        sent = tap.statuses
        taken, held = collector.counters.statuses, collector.counters.clock_held_statuses
        assert sent == taken + held  # zero lost: each status taken or kept aside
        assert held >= held_while_off
        assert collector.counters.dead_letters == 0
        wrong_time = at_wrong_times(tmp_path / "spool", start, end)
        assert wrong_time == 0
        blamed_devices = blamed(collector)
        assert blamed_devices == []
        off = ledger_rows(collector, "clock_off")
        assert [row["agent_id"] for row in off] == [AGENT_ID]
        assert abs(off[0]["offset_s"] - offset_s) < 10
        assert [row["agent_id"] for row in ledger_rows(collector, "clock_ok")] == [AGENT_ID]
        kept = collector.clocks.held()
        assert kept == collector.counters.clock_held_batches > 0
        # The duty room was told by mail, with the offset, and again when it was right.
        await wait_for(lambda: len(box.mails) == 2, 15)
    told_off, told_ok = (body_of(mail) for mail in box.mails)
    assert f"{text('alert.agent_clock_off', language)} edge-t" in told_off
    colon = "：" if language == "zh" else ": "
    told = re.search(rf"{text('label.clock_offset', language)}{colon}([+-][0-9.]+) s", told_off)
    assert told is not None, told_off
    assert abs(float(told.group(1)) - offset_s) < 10
    assert text("text.clock_held", language) in told_off  # its devices unknown, not down
    assert f"{text('alert.agent_clock_ok', language)} edge-t" in told_ok
    if language == "zh":  # the catalogue's words, as the duty room reads them
        assert "边缘代理时钟超差 edge-t" in told_off
    reliability.record(
        scenario,
        unit="statuses",
        sent=sent,
        arrived=taken + held,
        recovered_s=recovered_s,
        kept_aside=held,
        wrong_time=wrong_time,
        blamed=len(blamed_devices),
    )
    assert left_in_outbox >= 0


async def test_a_restarted_collector_still_knows_an_agent_whose_clock_is_off(
    tmp_path: Path, broker: Mosquitto
) -> None:
    settings = write_settings(tmp_path, broker.port)
    agent = FakeAgent(broker.port)
    ahead = datetime.now(UTC) + timedelta(minutes=6)
    async with running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await agent.publish(agent.batch(minute_of(0)).model_copy(update={"sent_at": ahead}))
        await wait_for(lambda: "edge-1" in collector.clocks_off)
        since = collector.clocks_off["edge-1"]
        held = collector.counters.clock_held_statuses

    async with running(load_collector(settings)) as collector:
        assert collector.clocks_off == {"edge-1": since}  # before any batch comes
        assert abs(collector.clocks.readings()["edge-1"].offset.total_seconds() - 360) < 5
        await wait_for(lambda: collector.ingest.connected)
        back = Stopwatch()
        await agent.publish(agent.batch(minute_of(1)))  # its clock right again
        await wait_for(lambda: collector.counters.statuses > 0)
        recovered_s = back.seconds()
        assert collector.clocks_off == {}
        off, ok = ledger_rows(collector, "clock_off"), ledger_rows(collector, "clock_ok")
        alerts = [row["alert"] for row in ledger_rows(collector, "alert")]
        blamed_devices = blamed(collector)
    assert [row["agent_id"] for row in off] == ["edge-1"]  # said once, not again at restart
    assert [row["off_since"] for row in ok] == [format_timestamp(since)]
    assert alerts == ["agent_clock_off", "agent_clock_ok"]
    assert blamed_devices == []
    sent = len(minute_of(0)) + len(minute_of(1))
    assert held + collector.counters.statuses == sent
    reliability.record(
        "agent-clock-off-collector-restarted",
        unit="statuses",
        sent=sent,
        arrived=held + collector.counters.statuses,
        recovered_s=recovered_s,
        kept_aside=held,
        blamed=len(blamed_devices),
    )
