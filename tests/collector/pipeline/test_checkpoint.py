"""A collector stopped between two checkpoints re-runs its journal and carries on.

The crash itself (``kill -9`` of a live collector) is ``test_crash.py``; this is the
restart's own contract, including journals written by an earlier version.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from isal import isal_zlib

from agent.wire import decode_batch, encode_batch, observations_of
from collector.ledger.chain import Ledger
from collector.pipeline.checkpoint import BATCH, RAW_BATCH, Checkpoint
from collector.pipeline.pipeline import Pipeline
from collector.pipeline.replay import replay
from collector.pipeline.state import State
from slawatch.config.inventory import Inventory
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from tests.collector.live import FakeAgent
from tests.collector.test_service import EVERY_DEVICE, minute_of
from tests.ledgers import ledger_in

# CAM041 is confirmed down at minute 5; CAM042's outage starts at minute 5 and is only
# confirmed at minute 6, after the restart: its debounce run must survive in the journal.
DOWN = {4: {"CAM041"}, 5: {"CAM041", "CAM042"}, 6: {"CAM041", "CAM042"}}
BEFORE_RESTART, MINUTES = 6, 7


def take(ledger: Ledger, pipeline: Pipeline, checkpoint: Checkpoint, payload: bytes) -> None:
    """What the live collector does with one message, journal included."""
    with ledger.transaction():
        statuses = decode_batch(payload).statuses
        checkpoint.batch("edge-1", payload, len(statuses))
        pipeline.take("edge-1", statuses)
        checkpoint.save_if_due(pipeline)


@pytest.mark.parametrize("journal", ["compressed", "raw, as earlier versions wrote it"])
def test_a_restart_re_runs_the_journal_and_confirms_an_outage_begun_before_it(
    tmp_path: Path, district: Inventory, policy: Policy, journal: str
) -> None:
    agent = FakeAgent(0)
    batches = [agent.batch(minute_of(m, frozenset(DOWN.get(m, ())))) for m in range(MINUTES)]
    payloads = [encode_batch(batch) for batch in batches]
    ledger = Ledger(ledger_in(tmp_path))
    pipeline, checkpoint = (
        Pipeline(district, PolicyBook.only(policy), ledger),
        Checkpoint(ledger, every=4, polls=1),
    )
    for payload in payloads[:BEFORE_RESTART]:
        take(ledger, pipeline, checkpoint, payload)
    if journal != "compressed":
        as_written = ledger.connection.execute(
            "SELECT id, data FROM journal WHERE kind = ?", (BATCH,)
        ).fetchall()
        assert len(as_written) == 2
        for row_id, data in as_written:
            ledger.connection.execute(
                "UPDATE journal SET kind = ?, data = ? WHERE id = ?",
                (RAW_BATCH, isal_zlib.decompress(data), row_id),
            )
    ledger.close()  # no final checkpoint: minutes 4 and 5 are only in the journal

    ledger = Ledger(ledger_in(tmp_path))
    pipeline, checkpoint = (
        Pipeline(district, PolicyBook.only(policy), ledger),
        Checkpoint(ledger, every=4, polls=1),
    )
    assert checkpoint.restore(pipeline) == 2  # re-run and verified against the rows
    take(ledger, pipeline, checkpoint, payloads[BEFORE_RESTART])

    expected = Ledger(tmp_path / "replayed.sqlite")
    replay(
        district,
        PolicyBook.only(policy),
        [o for b in batches for o in observations_of(b)],
        [],
        expected,
    )
    try:
        rows = [(r.kind, r.at, r.body) for r in ledger.rows()]
        assert rows == [(r.kind, r.at, r.body) for r in expected.rows()]
        cam042 = [
            body for kind, _, body in rows if kind == "state" and body["device_id"] == "CAM042"
        ]
        assert cam042[-1]["state"] == "down"
        assert cam042[-1]["since"] == "2026-07-01T00:05:00.000Z"
        assert ledger.verify() == expected.verify()
        with ledger.transaction():  # the restored pipeline still knows whose devices they are
            pipeline.agent_lost("edge-1")
        assert {pipeline.states.state_of(d) for d in EVERY_DEVICE} == {State.UNKNOWN}
    finally:
        ledger.close()
        expected.close()
