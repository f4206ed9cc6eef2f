"""Two districts on one broker (the layout docs/scaling.md recommends), through restarts
and a broker killed with -9 while one district's collector is down.

Real mosquitto, two collectors with different sites, and each district's real agent
outbox and publisher. Each collector subscribes to its own site and derives its client
id from it, so neither takes the other's session nor acks the other's batches: the
agent of the district whose collector is down keeps every batch until its own collector
confirms it. Every status either agent wrote is counted in its own district's spool, and
each district's signed ledger head is retained on its own topic.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from agent.wire import Status
from collector.service import Collector
from simulator.local_servers import Mosquitto
from slawatch.keys import load_public, new_pair
from slawatch.mqtt import head_topic_for
from tests import reliability
from tests.collector.evidence.test_heads import retained_head
from tests.collector.ingest.test_ownership import district
from tests.collector.live import EdgeAgent, load_collector, running, spooled_statuses
from tests.collector.test_service import EVERY_DEVICE, minute_of
from tests.conftest import wait_for


def cycle(minute: int, shift_s: int) -> list[Status]:
    """A poll cycle of the test district, its times shifted: the two districts' statuses
    never coincide, so one found in the other's spool would show."""
    shift = timedelta(seconds=shift_s)
    return [replace(s, observed_at=s.observed_at + shift) for s in minute_of(minute)]


class District:
    def __init__(self, root: Path, broker: Mosquitto, site: str, shift_s: int) -> None:
        self.folder = root / site
        self.folder.mkdir()
        self.key = self.folder / "collector-key.pem"
        new_pair(self.key)
        signing = {"key": str(self.key), "every_rows": 1, "every": "1h"}
        self.settings = district(self.folder, broker.port, site, [f"edge-{site}"], signing=signing)
        self.agent = EdgeAgent(
            root / f"edge-{site}",
            broker.port,
            agent_id=f"edge-{site}",
            site=site,
            acks_by=load_public(self.key.with_name(self.key.name + ".pub")),
        )
        self.site = site
        self.shift_s = shift_s
        self.minute = 0
        self.taken = 0  # statuses taken by this district's collectors, run after run
        self.duplicates = 0  # statuses of batches that came again, dropped

    def poll(self, cycles: int) -> None:
        for _ in range(cycles):
            self.agent.poll(cycle(self.minute, self.shift_s))
            self.minute += 1

    def tally(self, collector: Collector) -> None:
        self.taken += collector.counters.statuses
        self.duplicates += collector.counters.duplicates * len(EVERY_DEVICE)
        assert collector.counters.dead_letters == 0  # the other district's never came

    def recorded(self) -> set[tuple[str, int]]:
        return spooled_statuses(self.folder / "spool")


@pytest.mark.stdlib_loop
async def test_two_districts_on_one_broker_lose_nothing_through_restarts_and_a_broker_kill(
    tmp_path: Path, broker: Mosquitto
) -> None:
    east = District(tmp_path, broker, "east", 0)
    west = District(tmp_path, broker, "west", 30)
    async with east.agent.running(), west.agent.running():
        async with running(load_collector(east.settings)) as east_c:
            async with running(load_collector(west.settings)) as west_c:
                assert east_c.client_id != west_c.client_id
                await wait_for(lambda: east_c.ingest.connected and west_c.ingest.connected)
                east.poll(5)
                west.poll(5)
                await wait_for(lambda: east.agent.outbox.depth == west.agent.outbox.depth == 0)
            west.tally(west_c)

            # West's collector is down: its agent's batches wait, unconfirmed.
            east.poll(5)
            west.poll(5)
            await wait_for(lambda: west.agent.publisher.published >= 10)
            await wait_for(lambda: east.agent.outbox.depth == 0)
            assert west.agent.outbox.depth == 5

            # The broker dies with -9, holding west's queued batches; both agents go on.
            broker.kill()
            east.poll(3)
            west.poll(3)
            broker.start()
            await wait_for(lambda: east.agent.outbox.depth == 0, 30)
            assert west.agent.outbox.depth == 8
        east.tally(east_c)

        # East's collector restarts; west's is still down.
        east.poll(2)
        west.poll(2)
        async with running(load_collector(east.settings)) as east_c:
            await wait_for(lambda: east.agent.outbox.depth == 0, 30)
            assert west.agent.outbox.depth == 10
            assert east_c.receipts.ack("edge-west", west.agent.outbox.epoch).through == -1

            # West's collector comes back and takes every batch its agent kept.
            back = reliability.Stopwatch()
            async with running(load_collector(west.settings)) as west_c:
                await wait_for(lambda: west.agent.outbox.depth == 0, 30)
                recovered_s = back.seconds()
                east.poll(2)
                west.poll(2)
                await wait_for(lambda: east.agent.outbox.depth == west.agent.outbox.depth == 0)
            west.tally(west_c)
        east.tally(east_c)

    # Each district's signed head is retained on its own topic: the bureau's subscriber
    # for east finds east's head, signed by east's key, never west's.
    for side, other in ((east, west), (west, east)):
        head = await retained_head(broker.port, head_topic_for([side.site]))
        assert head.holds_for(load_public(side.key.with_name(side.key.name + ".pub")))
        assert not head.holds_for(load_public(other.key.with_name(other.key.name + ".pub")))
    for side in (east, west):
        assert side.recorded() == side.agent.sent
        assert side.taken == len(side.agent.sent)  # each status taken once, by its own
    sent = len(east.agent.sent) + len(west.agent.sent)
    arrived = len(east.recorded() & east.agent.sent) + len(west.recorded() & west.agent.sent)
    reliability.record(
        "two-districts-one-broker",
        unit="statuses",
        sent=sent,
        arrived=arrived,
        duplicates_dropped=east.duplicates + west.duplicates,
        recovered_s=recovered_s,
    )
