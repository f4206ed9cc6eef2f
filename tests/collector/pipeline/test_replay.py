"""An evaluator replays a recorded day and gets the same ledger, byte for byte."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from agent.wire import Health, Observation, Reason, encode_observation
from collector.cli import main
from collector.ledger.chain import Ledger
from tests.collector.conftest import START, seen, write_district
from tests.conftest import REPO

POLICY = REPO / "config" / "policies" / "pingshan-door-access.yaml"


def a_day(cameras: int = 43) -> list[Observation]:
    """Every camera polled each minute; CAM005 is down from 08:00 to 09:30."""
    observations = []
    for minute in range(0, 24 * 60):
        for n in range(1, cameras + 1):
            device = f"CAM{n:03d}"
            if device == "CAM005" and 8 * 60 <= minute < 9 * 60 + 30:
                observations.append(seen(device, minute, Health.DOWN, Reason.TIMEOUT))
            else:
                observations.append(seen(device, minute))
    return observations


def write_jsonl(path: Path, observations: list[Observation]) -> Path:
    path.write_text("".join(encode_observation(o) + "\n" for o in observations), encoding="utf-8")
    return path


def replay_cli(tmp_path: Path, name: str, *extra: str) -> int:
    return main(
        [
            "replay",
            "--inventory",
            str(write_district(tmp_path)),
            "--policy",
            str(POLICY),
            "--observations",
            str(tmp_path / "day.jsonl"),
            "--ledger",
            str(tmp_path / name),
            *extra,
        ]
    )


def test_replaying_a_day_twice_gives_identical_ledgers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_jsonl(tmp_path / "day.jsonl", a_day())
    acks = tmp_path / "acks.jsonl"
    ack_at = (START + timedelta(hours=8, minutes=20)).isoformat()
    acks.write_text(json.dumps({"device_id": "CAM005", "by": "张工", "at": ack_at}) + "\n")
    assert replay_cli(tmp_path, "a.sqlite", "--acks", str(acks)) == 0
    assert replay_cli(tmp_path, "b.sqlite", "--acks", str(acks)) == 0
    out = capsys.readouterr().out
    assert "61920 observations" in out
    assert "1 tickets, 0 acks matched no ticket" in out

    first, second = Ledger(tmp_path / "a.sqlite"), Ledger(tmp_path / "b.sqlite")
    assert first.head == second.head
    tickets = [row.body for row in first.rows(("ticket",))]
    assert [t["event"] for t in tickets] == ["opened", "acknowledged", "resolved"]
    final = tickets[-1]["ticket"]
    assert final["device_ids"] == ["CAM005"]
    assert final["started_at"] == "2026-07-01T08:00:00.000Z"
    assert final["detected_at"] == "2026-07-01T08:01:00.000Z"
    assert final["acknowledged_at"] == "2026-07-01T08:20:00.000Z"
    assert final["resolved_at"] == "2026-07-01T09:30:00.000Z"


def test_a_bad_line_stops_the_replay_naming_the_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_jsonl(tmp_path / "day.jsonl", a_day(cameras=2)[:10])
    with path.open("a", encoding="utf-8") as file:
        file.write('{"device_id": "CAM001", "health": "sideways"}\n')
    assert replay_cli(tmp_path, "c.sqlite") == 2
    assert "day.jsonl: line 11" in capsys.readouterr().err
