"""POST /ledger/heads/N: the running collector signs the head of a row of its own ledger
for an export. It is no signing oracle: it signs only the hash its ledger holds for row
N (never one the caller gives), for the contractor's operators and admins (a viewer, the
bureau's evaluator or nobody: refused); a row it has not is a 404, a number that is no
row number (negative, past SQLite's integers) a 422."""

from __future__ import annotations

from pathlib import Path

from collector.evidence.heads import SignedHead
from simulator.local_servers import Mosquitto
from slawatch.config.inventory import Inventory
from slawatch.keys import load_public, new_pair
from tests.collector.web.console.conftest import browser, console
from tests.collector.web.console.test_access import logged_in, open_a_ticket


async def test_the_collector_signs_only_its_own_rows_hashes_and_only_for_the_contractor(
    tmp_path: Path, inventory: Inventory, broker: Mosquitto
) -> None:
    key = tmp_path / "collector.pem"
    public = load_public(new_pair(key))
    signing = {"key": str(key), "every_rows": 1_000_000, "every": "1h"}
    async with console(tmp_path, broker.port, agent=False, signing=signing) as live:
        await open_a_ticket(live, broker.port, inventory)
        operator = {"authorization": f"Bearer {live.tokens['zhang']}"}
        viewer = {"authorization": f"Bearer {live.tokens['li']}"}
        async with browser(live) as client:
            reply = await client.post("/ledger/heads/0", headers=operator, json={"hash": "00"})
            assert reply.status_code == 200
            head = SignedHead.parse(str(reply.json()["head"]).replace("'", '"'), "reply")
            (row_hash,) = live.collector.ledger.connection.execute(
                "SELECT hash FROM ledger WHERE seq = 0"
            ).fetchone()
            assert head.hash == row_hash  # the ledger's, whatever the body said
            assert head.holds_for(public)
            beyond = await client.post(
                f"/ledger/heads/{live.collector.ledger.next_seq}", headers=operator
            )
            assert beyond.status_code == 404, beyond.text
            for seq in ("-1", "99999999999999999999"):  # no row number at all: 422, not 500
                reply = await client.post(f"/ledger/heads/{seq}", headers=operator)
                assert reply.status_code == 422, (seq, reply.text)
            assert (await client.post("/ledger/heads/0", headers=viewer)).status_code == 403
            assert (await client.post("/ledger/heads/0")).status_code == 401
            csrf = await logged_in(client, "zhao")
            refused = await client.post("/ledger/heads/0", headers={"x-csrf-token": csrf})
            assert refused.status_code == 403  # the bureau's evaluator
