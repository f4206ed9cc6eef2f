"""The report as JSON (the contract's stable format), a terminal table, or CSV."""

from __future__ import annotations

import csv
import io
from typing import Any, BinaryIO

import orjson

from collector.sla.tickets import Entries
from slawatch.columns import fit

COLUMNS = (
    "key",
    "name",
    "policy",
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
    "response_timeliness_rate",
    "repaired_in_time",
    "late",
    "pending",
    "repair_timeliness_rate",
)
MONEY = ("base", "due", "prepaid", "balance", "provisional")
TICKET_COLUMNS = (
    "id",
    "fault_class",
    "policy",
    "reason",
    "link",
    "backup_fiber",
    "device_ids",
    "started_at",
    "detected_at",
    "response_deadline",
    "repair_deadline",
    "acknowledged_at",
    "acknowledged_by",
    "resolved_at",
    "response_s",
    "repair_s",
    "responded_in_time",
    "repaired_in_time",
    "pending",
)


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


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return " ".join(str(item) for item in value)
    return str(value)


def _row(group: dict[str, Any]) -> list[str]:
    settlement = group["settlement"] or {}
    cells = [group[column] for column in COLUMNS] + [settlement.get(m) for m in MONEY]
    return [_cell(cell) for cell in cells]


def write_csv(report: dict[str, Any], out: BinaryIO) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*COLUMNS, *MONEY])
    writer.writerows(_row(group) for group in report["groups"])
    out.write(text.getvalue().encode())


def write_tickets_csv(report: dict[str, Any], out: BinaryIO) -> None:
    """The period's tickets, one row each, judged as in the report."""
    entries: Entries = report["tickets"]
    listed = io.BytesIO()
    listed.write(b"[")
    entries.write(listed)
    listed.write(b"]")
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(TICKET_COLUMNS)
    for ticket in orjson.loads(listed.getvalue()):
        writer.writerow([_cell(ticket.get(column)) for column in TICKET_COLUMNS])
    out.write(text.getvalue().encode())


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.3f}%"


def write_table(report: dict[str, Any], out: BinaryIO) -> None:
    period = report["period"]
    judged = ", ".join(
        f"{p['id']} ({p['method']}, unknown time: {p['unknown']}"
        + (", imposed on every contract)" if p["imposed"] else ")")
        for p in report["policies"]
    )
    progress = (
        f"  in progress: measured to {period['end']}, ends {period['scheduled_end']}"
        if period["in_progress"]
        else ""
    )
    lines = [
        f"{period['start']} → {period['end']}{progress}  by {report['group_by']}  {judged}",
        fit("group", 32) + f"{'units':>7}{'online':>10}{'coverage':>10}{'intact':>10}"
        f"{'tickets':>8}{'late':>6}{'pending':>8}{'response':>10}{'repair':>10}"
        f"{'due':>14}{'balance':>13}  targets",
    ]
    for group in report["groups"]:
        settlement = group["settlement"] or {}
        missed = [name for name, verdict in group["targets"].items() if not verdict["met"]]
        lines.append(
            fit(group["name"], 32) + f"{group['units']:>7}{_percent(group['online_rate']):>10}"
            f"{_percent(group['coverage']):>10}{_percent(group['intact_rate']):>10}"
            f"{group['tickets']:>8}{group['late']:>6}{group['pending']:>8}"
            f"{_percent(group['response_timeliness_rate']):>10}"
            f"{_percent(group['repair_timeliness_rate']):>10}"
            f"{settlement.get('due', '-'):>14}{settlement.get('balance', '-'):>13}  "
            + ("missed: " + ", ".join(missed) if missed else "met")
        )
    total = report["total"]
    if total is not None:
        provisional = "  provisional" if total["provisional"] else ""
        lines.append(
            fit(f"total ({total['currency']})", 32 + 7 + 10 * 3 + 8 + 6 + 8 + 10 * 2)
            + f"{total['due']:>14}{total['balance']:>13}{provisional}"
        )
    out.write(("\n".join(lines) + "\n").encode())


FORMATS = {"json": write_json, "table": write_table, "csv": write_csv}
