"""The report as JSON (the contract's stable format), a terminal table, or CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson

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


def as_json(report: dict[str, Any]) -> bytes:
    # orjson: the standard encoder with indent falls back to pure Python (8 s for a quarter).
    # Bytes end to end: a quarter's report is 250 MB, and each decode/encode copies it.
    return orjson.dumps(report, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def _row(group: dict[str, Any]) -> list[str]:
    settlement = group["settlement"] or {}
    cells = [group[column] for column in COLUMNS] + [settlement.get(m) for m in MONEY]
    return ["" if cell is None else str(cell) for cell in cells]


def as_csv(report: dict[str, Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, *MONEY])
    writer.writerows(_row(group) for group in report["groups"])
    return out.getvalue().encode()


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.3f}%"


def as_table(report: dict[str, Any]) -> bytes:
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
    return ("\n".join(lines) + "\n").encode()


FORMATS = {"json": as_json, "table": as_table, "csv": as_csv}
