"""September's bundle of a Q3 ledger, sliced from the midnight snapshot opening September,
still lists and applies the exemptions asked for and decided in the months before it (the
snapshot carries their rows) and one decided after the quarter (the slice reaches it);
``evidence verify`` recomputes exemptions.csv and exemption_effects.csv from the bundle.

Hours count from Q3's start (2026-07-01 00:00 +08:00): September runs from hour 1,488
to 2,208 (720 h). Three cameras of one contract:

- C1 is down hours 1,480–1,496; window ``aug1`` (1,470–1,500), asked and approved in
  August: 12 h of September out of C1's counted time, none of it down. Without it:
  720 h counted, 712 online.
- C2's service ends 2026-09-21 (hour 1,968; ``end1``, asked and approved in August):
  480 h counted. Without it: 720 h.
- C3 is down hours 1,602–1,605; window ``late1`` (1,600–1,610) asked in August,
  approved only after the quarter: 10 h out. Without it: 720 h counted, 717 online.
- Window ``old1`` (C2, hours 800–810, July) is over before September: not in the bundle.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path

import pytest

from collector.cli import main
from collector.ledger.chain import Ledger
from collector.pipeline.pipeline import Pipeline
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy
from tests.collector.evidence.test_export import members, verify
from tests.collector.sla.conftest import INVENTORY, POLICY, District, camera, hour, write
from tests.ledgers import ledger_in


def rows_of(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def rate(part: int, whole: int) -> str:
    return str(round(part / whole, 8))


def requested(at: float, exemption_id: str, what: str, start: float, end: float | None,
              device: str) -> tuple[float, dict[str, object]]:  # fmt: skip
    return at, {"event": "announced", "id": exemption_id, "what": what,
                "start": hour(start).isoformat(),
                "end": None if end is None else hour(end).isoformat(),
                "reason": "割接" if what == "maintenance" else "旧城改造",
                "cause": "demolition" if what == "service_end" else None,
                "devices": [device], "regions": [], "links": [], "ticket": None,
                "by": "张工"}  # fmt: skip


def approved(at: float, exemption_id: str) -> tuple[float, dict[str, object]]:
    return at, {"event": "approved", "id": exemption_id, "by": "赵科长", "party": "bureau",
                "note": "已核实"}  # fmt: skip


# In event time: written to the ledger as the observations reach each row's hour.
DURING = sorted(
    [
        requested(790, "old1", "maintenance", 800, 810, "C2"),
        approved(795, "old1"),
        requested(1000, "end1", "service_end", 1968, None, "C2"),
        approved(1010, "end1"),
        requested(1460, "aug1", "maintenance", 1470, 1500, "C1"),
        approved(1465, "aug1"),
        requested(1470, "late1", "maintenance", 1600, 1610, "C3"),
    ],
    key=lambda row: row[0],
)


@pytest.fixture(scope="module")
def september(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("sliced-exemptions")
    inventory_file, policy_file = write(
        folder,
        INVENTORY + "".join(camera(c, "SW1", n) for n, c in enumerate(["C1", "C2", "C3"], 1)),
        POLICY,
    )
    district = District(
        ["C1", "C2", "C3", "SW1", "SW2"], down={"C1": [(1480, 1496)], "C3": [(1602, 1605)]}
    )
    ledger = Ledger(ledger_in(folder))
    pipeline = Pipeline(
        load_config(inventory_file, Inventory),
        PolicyBook.only(load_config(policy_file, Policy)),
        ledger,
    )
    waiting = list(DURING)
    last = hour(0)
    with ledger.transaction():
        for observation in district.observations():
            while waiting and hour(waiting[0][0]) <= observation.observed_at:
                at, body = waiting.pop(0)
                ledger.append("exemption", hour(at).isoformat(), body)
            pipeline.observe(observation)
            last = observation.observed_at
        pipeline.finish(last)
    at, body = approved(2300, "late1")  # the bureau decides after the quarter
    with ledger.transaction():
        ledger.append("exemption", hour(at).isoformat(), body)
    ledger.close()
    out = folder / "september.zip"
    command = [
        "evidence", "export", "--ledger", ledger_in(folder),
        "--inventory", str(inventory_file), "--policy", str(policy_file),
        "--period", "2026-09", "--out", str(out),
    ]  # fmt: skip
    assert main(command) == 0
    return out, ledger_in(folder)


def test_a_month_s_bundle_lists_and_applies_exemptions_decided_before_it_and_verifies(
    september: tuple[Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    bundle, ledger_file = september
    files = members(bundle)
    first = json.loads(files["MANIFEST.json"])["ledger"]["first_row"]
    lines = gzip.decompress(files["ledger.tsv.gz"]).decode().splitlines()
    seq, kind, at, body = lines[0].split("\t")[:4]
    assert (int(seq), kind, at) == (first, "snapshot", "2026-08-31T16:00:00.000Z")
    # The opening snapshot carries what can still touch September; the rows asking for
    # them are older than the slice.
    carried = {row["id"] for _, row in json.loads(body)["exemptions"]}
    assert carried == {"end1", "aug1", "late1"}
    ledger = Ledger(ledger_file)
    try:
        asked = [row.seq for row in ledger.rows(("exemption",))]
    finally:
        ledger.close()
    assert max(asked[:-1]) < first  # all but the decision after the quarter
    assert int(lines[-1].split("\t")[0]) >= asked[-1]  # the slice reaches that decision

    listed = {row["豁免编号"]: row for row in rows_of(files["exemptions.csv"])}
    assert set(listed) == {"end1", "aug1", "late1"}
    assert {row["审批人"] for row in listed.values()} == {"赵科长"}
    effects = {row["豁免编号"]: row for row in rows_of(files["exemption_effects.csv"])}
    assert set(effects) == {"end1", "aug1", "late1"}
    counted = (720 - 12) + 480 + (720 - 10)
    for row in effects.values():
        assert row["在线率"] == rate(counted, counted)
    assert effects["aug1"]["无此豁免：在线率"] == rate(712 + 480 + 710, 720 + 480 + 710)
    assert effects["late1"]["无此豁免：在线率"] == rate(708 + 480 + 717, 708 + 480 + 720)
    assert effects["end1"]["无此豁免：在线率"] == rate(708 + 720 + 710, 708 + 720 + 710)

    code, said = verify(bundle, capsys)
    assert code == 0, said
    assert "figures recomputed and equal" in said
