"""The console's figures worker: a real ``slawatch-collector sla-worker`` process answers
period after period with what the ``sla`` command writes, and reads its inventory again
when the file changes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from collector.cli import main
from tests.collector.sla.conftest import INVENTORY, District, camera, quarter_report
from tests.collector.sla.test_report import sla_command
from tests.ledgers import ledger_in


def ask(worker: subprocess.Popen[bytes], period: str) -> tuple[str, bytes]:
    stdin, stdout = worker.stdin, worker.stdout
    assert stdin is not None
    assert stdout is not None
    stdin.write(json.dumps({"period": period, "with_pending": False}).encode() + b"\n")
    stdin.flush()
    kind, size = stdout.readline().split()
    return kind.decode(), stdout.read(int(size))


def command_figures(folder: Path, period: str) -> dict[str, Any]:
    """What ``sla --format json --trend`` writes, less the ticket list."""
    out = folder / f"{period}.json"
    assert main([*sla_command(folder, period), "--trend", "-o", str(out)]) == 0
    found: dict[str, Any] = json.loads(out.read_bytes())
    found.pop("tickets")
    return found


def test_the_worker_answers_as_the_command_and_follows_the_inventory(tmp_path: Path) -> None:
    cameras = ["C1", "C2", "C3"]
    inventory = INVENTORY + "".join(camera(c, "SW1", n) for n, c in enumerate(cameras, 1))
    district = District(["SW1", "SW2", *cameras], down={"C1": [(30, 40)], "C2": [(1000, 1030)]})
    quarter_report(tmp_path, district, inventory)
    started = [
        sys.executable, "-m", "collector.cli", "sla-worker",
        "--ledger", ledger_in(tmp_path),
        "--inventory", str(tmp_path / "inventory.yaml"),
        "--policy", str(tmp_path / "policy.yaml"),
    ]  # fmt: skip
    errors: IO[bytes]
    with (
        (tmp_path / "worker.err").open("wb") as errors,
        subprocess.Popen(
            started, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors
        ) as worker,
    ):
        for period in ("2026-Q3", "2026-07-02", "2026-Q3"):
            kind, body = ask(worker, period)
            assert kind == "ok", body
            assert json.loads(body) == command_figures(tmp_path, period)
        kind, body = ask(worker, "2026-13")
        assert (kind, body.decode()) == ("error", "'2026-13': no month 13")
        # A camera joins on 2026-08-01: the next answer counts it, as the command does.
        joined = inventory + camera("C4", "SW1", 4, start="2026-08-01")
        (tmp_path / "inventory.yaml").write_text(joined, encoding="utf-8")
        kind, body = ask(worker, "2026-Q3")
        assert kind == "ok", body
        figures = json.loads(body)
        assert figures == command_figures(tmp_path, "2026-Q3")
        assert [g["units"] for g in figures["groups"] if g["key"] == "cam-rent"] == [4]
        assert worker.stdin is not None
        worker.stdin.close()
        assert worker.wait(timeout=30) == 0
