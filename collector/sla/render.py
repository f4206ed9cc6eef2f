"""The report as JSON (the contract's stable format), a terminal table, or CSV."""

from __future__ import annotations

import csv
import io
from typing import Any, BinaryIO

import orjson
from wcwidth import wcswidth

from collector.sla.report import NONE_KEY
from collector.sla.tickets import Entries
from slawatch.columns import fit
from slawatch.messages import Language, text

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


def _group_name(group: dict[str, Any], language: Language) -> str:
    """A group by its names; the devices of no contract say so rather than "-"."""
    parts = str(group["name"]).split("/")
    if group["keys"].get("contract") == NONE_KEY and parts:
        parts[0] = text("report.no_contract", language)
    return "/".join(parts)


def write_table(report: dict[str, Any], out: BinaryIO, language: Language = "zh") -> None:
    """The figures for a terminal, in one language (the catalogue's words)."""

    def t(key: str, **values: object) -> str:
        return text(key, language, **values)

    period = report["period"]
    judged = "；".join(
        t(
            "sla.policy",
            name=p["name"] or p["id"],
            method=t(f"rule.method.{p['method']}"),
            unknown=t(f"rule.unknown.{p['unknown']}"),
            imposed=t("sla.imposed") if p["imposed"] else "",
        )
        for p in report["policies"]
    )
    progress = (
        t("sla.in_progress", end=period["end"], scheduled_end=period["scheduled_end"])
        if period["in_progress"]
        else ""
    )
    group_by = "、".join(t(f"dim.{dim}") for dim in report["group_by"].split(","))

    def right(key: str, width: int) -> str:
        label = t(key)
        return " " * max(1, width - wcswidth(label)) + label

    lines = [
        t("sla.heading", start=period["start"], end=period["end"], progress=progress,
          group_by=group_by, judged=judged),
        fit(t("sla.group"), 32) + right("sla.units", 7) + right("sla.online", 10)
        + right("sla.coverage", 10) + right("sla.intact", 10) + right("sla.tickets", 8)
        + right("sla.late", 6) + right("sla.pending", 8) + right("sla.response", 10)
        + right("sla.repair", 10) + right("sla.due", 14) + right("sla.balance", 13)
        + "  " + t("sla.targets"),
    ]  # fmt: skip
    for group in report["groups"]:
        settlement = group["settlement"] or {}
        missed = [
            text(f"column.{name}", language)
            for name, verdict in group["targets"].items()
            if not verdict["met"]
        ]
        said = t("sla.missed", figures="、".join(missed)) if missed else t("sla.all_met")
        lines.append(
            fit(_group_name(group, language), 32) + f"{group['units']:>7}"
            f"{_percent(group['online_rate']):>10}"
            f"{_percent(group['coverage']):>10}{_percent(group['intact_rate']):>10}"
            f"{group['tickets']:>8}{group['late']:>6}{group['pending']:>8}"
            f"{_percent(group['response_timeliness_rate']):>10}"
            f"{_percent(group['repair_timeliness_rate']):>10}"
            f"{settlement.get('due', '-'):>14}{settlement.get('balance', '-'):>13}  {said}"
        )
    total = report["total"]
    if total is not None:
        provisional = t("sla.provisional") if total["provisional"] else ""
        lines.append(
            fit(t("sla.total", currency=total["currency"]), 32 + 7 + 10 * 3 + 8 + 6 + 8 + 10 * 2)
            + f"{total['due']:>14}{total['balance']:>13}{provisional}"
        )
    out.write(("\n".join(lines) + "\n").encode())


FORMATS = {"json": write_json, "table": write_table, "csv": write_csv}
