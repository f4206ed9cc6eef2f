"""The report's tables, typed once and written three ways: CSV (UTF-8 with BOM, which
Excel needs to read Chinese), XLSX (number formats, frozen headers) and the PDF's tables.

Cells keep their meaning: a rate is a float (shown as a percentage), money a Decimal
(exact in CSV, two decimals in XLSX), a moment local to the policy's time zone.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from collector.sla.tickets import Entries
from slawatch.config.inventory import Inventory
from slawatch.messages import Language, reason_text, text

Cell = str | int | float | Decimal | datetime | None
# Excel's last row is 1,048,576: a sheet holds at most this many rows under its header.
SHEET_ROWS = 1_048_575


class Kind(StrEnum):
    TEXT = "text"
    COUNT = "count"
    RATE = "rate"
    MONEY = "money"
    MOMENT = "moment"
    HOURS = "hours"


@dataclass(frozen=True, slots=True)
class Column:
    key: str  # catalogue entry column.<key>
    kind: Kind


@dataclass(frozen=True, slots=True)
class Table:
    name: str  # file stem, and sheet.<name> in the catalogue
    columns: tuple[Column, ...]
    rows: list[list[Cell]]


FIGURES = (
    Column("units", Kind.COUNT),
    Column("online_rate", Kind.RATE),
    Column("coverage", Kind.RATE),
    Column("intact_rate", Kind.RATE),
    Column("networking_rate", Kind.RATE),
    Column("realtime_video_availability", Kind.RATE),
    Column("historical_video_availability", Kind.RATE),
    Column("fault_rate", Kind.RATE),
    Column("tickets", Kind.COUNT),
    Column("response_timeliness_rate", Kind.RATE),
    Column("repair_timeliness_rate", Kind.RATE),
    Column("late", Kind.COUNT),
    Column("pending", Kind.COUNT),
)
MONEY = tuple(Column(name, Kind.MONEY) for name in ("base", "prepaid", "due", "balance"))
TICKETS = (
    Column("id", Kind.TEXT),
    Column("fault_class", Kind.TEXT),
    Column("policy", Kind.TEXT),
    Column("reason", Kind.TEXT),
    Column("link", Kind.TEXT),
    Column("devices", Kind.TEXT),
    Column("detected_at", Kind.MOMENT),
    Column("response_deadline", Kind.MOMENT),
    Column("acknowledged_at", Kind.MOMENT),
    Column("acknowledged_by", Kind.TEXT),
    Column("repair_deadline", Kind.MOMENT),
    Column("resolved_at", Kind.MOMENT),
    Column("outcome", Kind.TEXT),
)


def _money(settlement: dict[str, Any] | None, name: str) -> Decimal | None:
    return None if settlement is None else Decimal(settlement[name])


def _figures(group: dict[str, Any]) -> list[Cell]:
    return [group[column.key] for column in FIGURES] + [
        _money(group["settlement"], column.key) for column in MONEY
    ]


def contracts_table(report: dict[str, Any], language: Language) -> Table:
    columns = (
        Column("key", Kind.TEXT),
        Column("name", Kind.TEXT),
        Column("policy", Kind.TEXT),
        Column("unit", Kind.TEXT),
        *FIGURES,
        *MONEY,
    )
    rows: list[list[Cell]] = [
        [g["key"], g["name"], g["policy"], text(f"unit.{g['unit']}", language), *_figures(g)]
        for g in report["groups"]
    ]
    return Table("contracts", columns, rows)


def regions_table(report: dict[str, Any]) -> Table:
    columns = (Column("key", Kind.TEXT), Column("name", Kind.TEXT), *FIGURES)
    rows: list[list[Cell]] = [
        [g["key"], g["name"], *_figures(g)[: len(FIGURES)]] for g in report["groups"]
    ]
    return Table("regions", columns, rows)


def devices_table(report: dict[str, Any], inventory: Inventory, language: Language) -> Table:
    """One row per unit (device, or door-access set rented whole), with where it is."""
    columns = (
        Column("key", Kind.TEXT),
        Column("name", Kind.TEXT),
        Column("kind", Kind.TEXT),
        Column("address", Kind.TEXT),
        Column("region", Kind.TEXT),
        Column("contract", Kind.TEXT),
        Column("lost_h", Kind.HOURS),
        *FIGURES,
    )
    devices = {device.id: device for device in inventory.devices}
    regions = {region.id: region.name for region in inventory.regions}
    rows: list[list[Cell]] = []
    for group in report["groups"]:
        device = devices.get(group["key"])
        where: list[Cell] = [None, None, None, None]
        if device is not None:
            where = [
                text(f"kind.{device.kind.value}", language),
                device.address,
                regions.get(device.region, device.region),
                device.contract,
            ]
        exposure = group["exposure"]
        lost = exposure["down"] if exposure["measure"] == "ms" else None
        hours = None if lost is None else round(lost / 3_600_000, 2)
        rows.append([group["key"], group["name"], *where, hours, *_figures(group)[: len(FIGURES)]])
    return Table("devices", columns, rows)


def ticket_entries(entries: Entries) -> list[dict[str, Any]]:
    listed = io.BytesIO()
    listed.write(b"[")
    entries.write(listed)
    listed.write(b"]")
    found: list[dict[str, Any]] = orjson.loads(listed.getvalue())
    return found


def outcome(ticket: dict[str, Any]) -> str:
    if ticket["pending"]:
        return "pending"
    return "in_time" if ticket["repaired_in_time"] else "late"


def tickets_table(tickets: list[dict[str, Any]], zone: ZoneInfo, language: Language) -> Table:
    def moment(value: str | None) -> datetime | None:
        if value is None:
            return None
        return datetime.fromisoformat(value).astimezone(zone).replace(tzinfo=None)

    rows: list[list[Cell]] = [
        [
            ticket["id"],
            text(f"class.{ticket['fault_class']}", language),
            ticket["policy"],
            reason_text(ticket["reason"], language),
            ticket["link"],
            " ".join(ticket["device_ids"]),
            moment(ticket["detected_at"]),
            moment(ticket["response_deadline"]),
            moment(ticket["acknowledged_at"]),
            ticket["acknowledged_by"],
            moment(ticket["repair_deadline"]),
            moment(ticket["resolved_at"]),
            text(f"outcome.{outcome(ticket)}", language),
        ]
        for ticket in tickets
    ]
    return Table("tickets", TICKETS, rows)


def headings(table: Table, language: Language) -> list[str]:
    return [text(f"column.{column.key}", language) for column in table.columns]


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


def csv_bytes(table: Table, language: Language) -> bytes:
    """UTF-8 with a byte-order mark: Excel reads Chinese from it without an import dialog."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headings(table, language))
    writer.writerows([_csv_cell(cell) for cell in row] for row in table.rows)
    return out.getvalue().encode("utf-8-sig")


_FORMATS: dict[Kind, str] = {
    Kind.RATE: "0.000%",
    Kind.MONEY: "#,##0.00",
    Kind.MOMENT: "yyyy-mm-dd hh:mm:ss",
    Kind.HOURS: "0.00",
    Kind.COUNT: "0",
}
_WIDTHS: dict[Kind, float] = {
    Kind.TEXT: 18,
    Kind.COUNT: 10,
    Kind.RATE: 12,
    Kind.MONEY: 16,
    Kind.MOMENT: 20,
    Kind.HOURS: 12,
}


def write_xlsx(tables: Sequence[Table], language: Language, out: Path) -> None:
    """One sheet per table. openpyxl's write-only mode streams rows (a 450,000-ticket
    sheet in bounded memory); its document dates are pinned so equal inputs give equal
    files."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.worksheet.worksheet import Worksheet

    book = Workbook(write_only=True)
    pinned = datetime(2000, 1, 1)
    book.properties.created = book.properties.modified = pinned
    bold = Font(bold=True)
    for table in tables:
        sheet: Worksheet = book.create_sheet(text(f"sheet.{table.name}", language))
        sheet.freeze_panes = "B2"
        for n, column in enumerate(table.columns):
            letter = _letter(n)
            sheet.column_dimensions[letter].width = _WIDTHS[column.kind]
        header = []
        for label in headings(table, language):
            cell = WriteOnlyCell(sheet, value=label)
            cell.font = bold
            cell.alignment = Alignment(wrap_text=True, vertical="center")
            header.append(cell)
        sheet.append(header)
        styled: list[Callable[[Cell], Any]] = [_styler(sheet, c.kind) for c in table.columns]
        for row in table.rows[:SHEET_ROWS]:
            sheet.append([style(value) for style, value in zip(styled, row, strict=True)])
    book.save(out)


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(index + 1))


def _styler(sheet: Any, kind: Kind) -> Callable[[Cell], Any]:
    """A cell maker for the column: plain values where no format is needed (the fast path
    for half a million rows), formatted cells where one is."""
    from openpyxl.cell import WriteOnlyCell

    number_format = _FORMATS.get(kind)
    if number_format is None:
        return lambda value: value

    def styled(value: Cell) -> Any:
        if value is None:
            return None
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = number_format
        return cell

    return styled
