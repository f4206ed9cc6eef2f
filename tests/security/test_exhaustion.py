"""What a logged-in reader must not be able to do to the collector: keep receiving the
live stream after the session ended, open live streams without end, start SLA
computations (child processes) without end, or make a page fail with a period at the
calendar's edge."""

from __future__ import annotations

import asyncio
from pathlib import Path

from simulator.local_servers import Mosquitto
from slawatch.config.inventory import Inventory
from tests.collector.web.console.conftest import Console, browser, console
from tests.collector.web.console.test_access import logged_in, open_a_ticket

PAGE = {"accept": "text/html"}


def sla_children(live: Console) -> int:
    """The collector's figure children running now (read from /proc): its long-lived
    ``sla-worker`` and any `sla` command. Each leads a session of its own; its forked
    workers (the same command line) do not."""
    ledger = str(live.collector.settings.ledger).encode()
    found = 0
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")
            session = (entry / "stat").read_text().rpartition(")")[2].split()[3]
        except (OSError, IndexError):
            continue
        figures = b"sla" in command or b"sla-worker" in command
        if figures and ledger in command and session == entry.name:
            found += 1
    return found


async def test_the_live_stream_ends_with_the_session(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    async with console(tmp_path, broker.port, agent=False) as live:
        ticket = await open_a_ticket(live, broker.port, inventory)
        async with browser(live) as viewer, browser(live) as operator:
            csrf = await logged_in(viewer, "li")
            async with viewer.stream("GET", "/events") as stream:
                lines = stream.aiter_lines()
                assert await anext(lines) == "retry: 3000"
                assert (await viewer.post("/logout", data={"csrf": csrf})).status_code == 303
                # A change after the logout: its event must not reach the ended session.
                operator_csrf = await logged_in(operator, "zhang")
                ack = await operator.post(f"/faults/{ticket.id}/ack", data={"csrf": operator_csrf})
                assert ack.status_code == 303
                received: list[str] = []

                async def read() -> None:
                    async for line in lines:
                        received.append(line)

                # The stream closes (read returns) rather than carrying the event.
                await asyncio.wait_for(read(), 20)
                assert not any("acknowledged" in line for line in received), received


async def test_one_user_cannot_open_live_streams_without_end(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    async with console(tmp_path, broker.port, agent=False) as live, browser(live) as viewer:
        await logged_in(viewer, "li")
        refused = None
        streams = []
        try:
            for _ in range(50):
                stream = viewer.stream("GET", "/events")
                reply = await stream.__aenter__()
                streams.append(stream)
                if reply.status_code != 200:
                    refused = reply.status_code
                    break
        finally:
            for stream in streams:
                await stream.__aexit__(None, None, None)
        assert refused == 429
        assert len(streams) <= 10


async def test_a_reader_cannot_start_sla_computations_without_end(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    async with console(tmp_path, broker.port, agent=False) as live, browser(live) as viewer:
        await logged_in(viewer, "li")
        for day in range(1, 21):  # twenty distinct periods: twenty computations asked
            period = f"2026-01-{day:02d}"
            reply = await viewer.get(f"/sla?kind=custom&period={period}", headers=PAGE)
            assert reply.status_code == 200
        most = 0
        for _ in range(20):
            most = max(most, sla_children(live))
            await asyncio.sleep(0.1)
        assert 1 <= most <= 2, most


async def test_a_period_at_the_calendars_edge_is_refused_in_words(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    async with console(tmp_path, broker.port, agent=False) as live, browser(live) as viewer:
        await logged_in(viewer, "li")
        for period in ("9999-12-31", "0001-01-01", "9999-Q4", "9999-12", "9999"):
            reply = await viewer.get(f"/sla?kind=custom&period={period}", headers=PAGE)
            assert reply.status_code == 200, (period, reply.text[:200])
            assert 'id="period-bad"' in reply.text, period


async def test_an_exemption_at_the_calendars_edge_is_refused_and_the_page_still_opens(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    """Dates a browser's form accepts but the clock cannot turn (year 1 in UTC+8 is before
    year 1 in UTC; 9999-12-31 evening in UTC is the year 10000 in Beijing): a 422 naming the
    field, never a 500, and never a ledger row that makes /maintenance fail for everyone."""
    async with console(tmp_path, broker.port, agent=False) as live, browser(live) as operator:
        csrf = await logged_in(operator, "zhang")
        camera = next(d.id for d in inventory.devices if d.kind.value == "camera")
        forms = {
            "/maintenance/service-end": [
                ("day", {"day": "0001-01-01", "cause": "demolition", "reason": "r"}),
            ],
            "/maintenance": [
                ("start", {"start": "0001-01-01T00:00", "end": "2030-01-01T00:00", "reason": "r"}),
                ("end", {"start": "2030-01-01T00:00", "end": "9999-12-31T23:00:00+00:00",
                         "reason": "r"}),
            ],
        }  # fmt: skip
        for path, cases in forms.items():
            for field, form in cases:
                reply = await operator.post(path, data=form | {"scope": camera, "csrf": csrf})
                assert reply.status_code == 422, (path, field, reply.text[:300])
                assert reply.json()["detail"][0]["loc"] == ["body", field]
        assert (await operator.get("/maintenance", headers=PAGE)).status_code == 200


async def test_an_operator_cannot_queue_evidence_exports_without_end(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    """Each export is a child process and a bundle on the ledger's disk: a few wait at
    once, and one asked beyond them is refused (429) rather than queued."""
    async with console(tmp_path, broker.port, agent=False) as live, browser(live) as operator:
        csrf = await logged_in(operator, "zhang")
        answers = []
        for _ in range(12):
            reply = await operator.post("/sla/export", data={"period": "2026-01", "csrf": csrf})
            answers.append(reply.status_code)
        assert 429 in answers, answers
        assert answers.count(303) <= 4, answers


async def test_a_bulk_acknowledgement_is_bounded_and_all_or_nothing(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    """10,000 ticket ids, an id of a megabyte, a note of 100,000 characters: refused
    before anything is acknowledged; a viewer may not acknowledge at all."""
    async with console(tmp_path, broker.port, agent=False) as live:
        ticket = await open_a_ticket(live, broker.port, inventory)
        async with browser(live) as viewer:
            csrf = await logged_in(viewer, "li")
            form = {"ticket": [ticket.id], "note": "n", "csrf": csrf}
            assert (await viewer.post("/faults/ack", data=form)).status_code == 403
        async with browser(live) as operator:
            csrf = await logged_in(operator, "zhang")
            tries = [
                {"ticket": [ticket.id] + [f"x{n}" for n in range(10_000)], "note": "n"},
                {"ticket": [ticket.id, "x" * 2_000_000], "note": "n"},
                {"ticket": [ticket.id], "note": "n" * 100_000},
                {"ticket": [ticket.id, "no-such-ticket"], "note": "n"},
            ]
            for form in tries:
                reply = await operator.post("/faults/ack", data=form | {"csrf": csrf})
                assert reply.status_code in (400, 413, 422), reply.status_code
        assert live.collector.pipeline.faults.tickets[ticket.id].acknowledged_at is None
