"""The report as JSON (the contract's stable format), a terminal table, or CSV."""

from __future__ import annotations

import csv
import io
from typing import Any, BinaryIO

import orjson

from collector.sla.tickets import Entries

COLUMNS = (
    "key",
    "unit",
    "units",
    "online_rate",
    "coverage",
    "intact_rate",
    "networking_rate",
    "realtime_video_availability",
    "historical_video_availability",
    "fault_rate",
    "faulty_unit_share",
    "tickets",
    "responded_in_time",
    "repaired_in_time",
    "late",
    "pending",
    "repair_timeliness_rate",
)
MONEY = ("base", "due", "prepaid", "balance")


def write_json(report: dict[str, Any], out: BinaryIO) -> None:
    """The figures, then the ticket list (the report's last key) copied from its file."""
    entries: Entries = report["tickets"]
    figures = {key: value for key, value in report.items() if key != "tickets"}
    # orjson: the standard encoder with indent falls back to pure Python (seconds).
    head = orjson.dumps(figures, option=orjson.OPT_INDENT_2)
    out.write(head.removesuffix(b"\n}"))
    if not len(entries.spans):
        out.write(b',\n  "tickets": []\n}\n')
        return
    out.write(b',\n  "tickets": [\n')
    entries.write(out)
    out.write(b"\n]\n}\n")


def _row(group: dict[str, Any]) -> list[str]:
    settlement = group["settlement"] or {}
    cells = [group[column] for column in COLUMNS] + [settlement.get(m) for m in MONEY]
    return ["" if cell is None else str(cell) for cell in cells]


def write_csv(report: dict[str, Any], out: BinaryIO) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*COLUMNS, *MONEY])
    writer.writerows(_row(group) for group in report["groups"])
    out.write(text.getvalue().encode())


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.3f}%"


def write_table(report: dict[str, Any], out: BinaryIO) -> None:
    period = report["period"]
    lines = [
        f"{report['policy']}  {period['start']} → {period['end']}  "
        f"({report['method']}, unknown time: {report['unknown']}, by {report['group_by']})",
        f"{'group':<24}{'units':>7}{'online':>10}{'coverage':>10}{'intact':>10}"
        f"{'tickets':>8}{'late':>6}{'pending':>8}{'timely':>10}{'due':>14}{'balance':>13}  targets",
    ]
    for group in report["groups"]:
        settlement = group["settlement"] or {}
        missed = [name for name, verdict in group["targets"].items() if not verdict["met"]]
        lines.append(
            f"{group['key']:<24}{group['units']:>7}{_percent(group['online_rate']):>10}"
            f"{_percent(group['coverage']):>10}{_percent(group['intact_rate']):>10}"
            f"{group['tickets']:>8}{group['late']:>6}{group['pending']:>8}"
            f"{_percent(group['repair_timeliness_rate']):>10}"
            f"{settlement.get('due', '-'):>14}{settlement.get('balance', '-'):>13}  "
            + ("missed: " + ", ".join(missed) if missed else "met")
        )
    out.write(("\n".join(lines) + "\n").encode())


FORMATS = {"json": write_json, "table": write_table, "csv": write_csv}
