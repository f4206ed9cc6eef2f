"""The report's tables, typed once and written three ways: CSV (UTF-8 with BOM, which
Excel needs to read Chinese), XLSX (number formats, frozen headers) and the PDF's tables.

Cells keep their meaning: a rate is a float (shown as a percentage), money a Decimal
(exact in CSV, two decimals in XLSX), a moment local to the policy's time zone.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from collector.sla.tickets import Entries
from slawatch.config.inventory import Inventory, contracts_of_devices
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
    # A closing row (the workbook's and the PDF's, not the CSV's: a CSV's rows are what
    # an evaluator filters and sums, and a total among them would count twice).
    total: list[Cell] | None = None
    unlisted: int = 0  # rows left out as saying nothing (devices: units steady all period)


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
# What the online rate divides (ms, or inspections under the snapshot method): a
# contract's or region's rate is online ÷ counted from its own row.
AMOUNTS = (
    Column("measure", Kind.TEXT),
    Column("online", Kind.COUNT),
    Column("counted", Kind.COUNT),
)


def _amounts(group: dict[str, Any], language: Language) -> list[Cell]:
    exposure = group["exposure"]
    measure = text(f"measure.{exposure['measure']}", language)
    return [measure, exposure["online"], exposure["counted"]]


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
        *AMOUNTS,
    )
    rows: list[list[Cell]] = [
        [
            g["key"],
            g["name"],
            g["policy"],
            text(f"unit.{g['unit']}", language),
            *_figures(g),
            *_amounts(g, language),
        ]
        for g in report["groups"]
    ]
    total: list[Cell] | None = None
    if report["total"] is not None:
        # Money adds up across contracts; rates and ticket counts do not (a shared
        # ticket counts in each contract it touches), so the total row leaves them empty.
        units = sum(g["units"] for g in report["groups"])
        money: list[Cell] = [Decimal(report["total"][column.key]) for column in MONEY]
        total = [text("report.total", language), None, None, None, units]
        total += [None] * (len(FIGURES) - 1) + money + [None] * len(AMOUNTS)
    return Table("contracts", columns, rows, total)


def regions_table(report: dict[str, Any], language: Language) -> Table:
    """One row per contract and region (a report grouped by ``contract,region``): each
    contract's regions under its own policy, never a rate blended across contracts."""
    columns = (
        Column("contract", Kind.TEXT),
        Column("region", Kind.TEXT),
        Column("name", Kind.TEXT),
        *FIGURES,
        *AMOUNTS,
    )
    rows: list[list[Cell]] = [
        [
            g["keys"]["contract"],
            g["keys"]["region"],
            g["name"],
            *_figures(g)[: len(FIGURES)],
            *_amounts(g, language),
        ]
        for g in report["groups"]
    ]
    return Table("regions", columns, rows)


# What tickets.csv holds already (class, detection, acknowledgement, repair) is not
# repeated: a quarter has 450,000 rows here.
TICKET_CONTRACTS = (
    Column("id", Kind.TEXT),
    Column("contract", Kind.TEXT),
    Column("policy", Kind.TEXT),
    Column("response_deadline", Kind.MOMENT),
    Column("response_outcome", Kind.TEXT),
    Column("repair_deadline", Kind.MOMENT),
    Column("outcome", Kind.TEXT),
)


def _local(zone: ZoneInfo) -> Callable[[str | None], datetime | None]:
    def moment(value: str | None) -> datetime | None:
        if value is None:
            return None
        local = datetime.fromisoformat(value).astimezone(zone)
        return local.replace(tzinfo=None, microsecond=0)  # to the second, as people read it

    return moment


_NONE: dict[str, Any] = {}


def ticket_contracts_table(
    judgements: list[tuple[int, str, str, bool | None, bool | None]],
    tickets: list[dict[str, Any]],
    listed: Table,
    zone: ZoneInfo,
    language: Language,
) -> Table:
    """One row per ticket and contract it counts in (``Report.judgements``), with that
    contract's deadlines and verdicts: a contract's ticket counts are its rows, its rates a
    division of them. Deadlines are taken from the ticket list's row (``listed``) unless
    the contract's policy has its own: converting 450,000 moments again costs seconds."""
    moment = _local(zone)
    respond_at = [column.key for column in listed.columns].index("response_deadline")
    repair_at = [column.key for column in listed.columns].index("repair_deadline")
    verdict = {True: "in_time", False: "late", None: "pending"}
    said = {
        (kind, answer): text(f"{kind}.{verdict[answer]}", language)
        for kind in ("response", "outcome")
        for answer in verdict
    }
    rows: list[list[Cell]] = []
    for n, key, policy, responded, repaired in judgements:
        ticket, row = tickets[n], listed.rows[n]
        own = ticket.get("deadlines", _NONE).get(policy)
        rows.append(
            [
                ticket["id"],
                key,
                policy,
                row[respond_at] if own is None else moment(own["response_deadline"]),
                said["response", responded],
                row[repair_at] if own is None else moment(own["repair_deadline"]),
                said["outcome", repaired],
            ]
        )
    return Table("ticket_contracts", TICKET_CONTRACTS, rows)


def steady(group: dict[str, Any]) -> bool:
    """Online all the period it counted, no ticket, nothing late or pending: a unit whose
    row says nothing its absence does not (``devices_table`` leaves it out)."""
    if group["tickets"] or group["late"] or group["pending"] or group["fault_rate"]:
        return False
    if group["exposure"]["measure"] == "ms" and group["exposure"]["down"]:
        return False
    rates = (column.key for column in FIGURES if column.kind is Kind.RATE)
    return all(group[key] in (None, 1) for key in rates if key != "fault_rate")


def devices_table(report: dict[str, Any], inventory: Inventory, language: Language) -> Table:
    """One row per unit (device, or door-access set rented whole) that had anything in the
    period, with where it is; the steady ones are counted (``unlisted``), not listed: a
    day's sheet of 126,000 units holds the day's few hundred, and the inventory in the
    bundle names the rest."""
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
    # The contract a device is billed and judged under: a door-access set's host and
    # cameras, the set's (a ticket of theirs counts there).
    billed = contracts_of_devices(inventory)
    rows: list[list[Cell]] = []
    unlisted = 0
    for group in report["groups"]:
        if steady(group):
            unlisted += 1
            continue
        device = devices.get(group["key"])
        where: list[Cell] = [None, None, None, None]
        if device is not None:
            where = [
                text(f"kind.{device.kind.value}", language),
                device.address,
                regions.get(device.region, device.region),
                billed[device.id],
            ]
        exposure = group["exposure"]
        lost = exposure["down"] if exposure["measure"] == "ms" else None
        hours = None if lost is None else round(lost / 3_600_000, 2)
        rows.append([group["key"], group["name"], *where, hours, *_figures(group)[: len(FIGURES)]])
    return Table("devices", columns, rows, unlisted=unlisted)


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
    moment = _local(zone)
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


# A text Excel would read from a CSV as a formula (or a DDE call, `=cmd|' /C calc'!A0`):
# = + @ tab or CR first, or a minus before anything ("-" alone is text).
_FORMULA = re.compile(r"[=+@\t\r]|-.", re.DOTALL)
_FIRST = frozenset("=+@\t\r-")  # what _FORMULA's match can start with


def _inert(row: Sequence[Cell], text_at: Sequence[int]) -> Sequence[Cell]:
    """The row with each text cell that would start a formula kept text by a leading
    apostrophe (OWASP's advice on CSV injection): names, reasons and notes come from the
    contractor's side, and the bureau opens these files in Excel. A row with none (nearly
    every one) is returned as it is: a quarter's tables are 150,000 rows."""
    for n in text_at:
        cell = row[n]
        if isinstance(cell, str) and cell[:1] in _FIRST and _FORMULA.match(cell):
            row = [*row[:n], "'" + cell, *row[n + 1 :]]
    return row


def csv_bytes(table: Table, language: Language) -> bytes:
    """UTF-8 with a byte-order mark: Excel reads Chinese from it without an import dialog."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headings(table, language))
    text_at = [n for n, column in enumerate(table.columns) if column.kind is Kind.TEXT]
    # As the csv module writes cells: None empty, numbers and Decimals as str, and a
    # moment (whole seconds) as "YYYY-MM-DD HH:MM:SS", which Excel reads as a date.
    writer.writerows(_inert(row, text_at) for row in table.rows)
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
_PINNED = b"2000-01-01T00:00:00Z"
_DATES = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def _records(table: Table, names: list[str]) -> Iterator[dict[str, Cell | float]]:
    """The rows as the binding takes them, streamed; money as float (it takes no Decimal;
    the CSV keeps the exact amount)."""
    money = {n for n, column in enumerate(table.columns) if column.kind is Kind.MONEY}
    closing = [] if table.total is None else [table.total]
    for row in [*table.rows[: SHEET_ROWS - len(closing)], *closing]:
        yield {
            name: float(value) if n in money and value is not None else value  # type: ignore[arg-type]
            for n, (name, value) in enumerate(zip(names, row, strict=True))
        }


def write_xlsx(tables: Sequence[Table], language: Language, out: Path) -> None:
    """One sheet per table: bold wrapped headings, frozen first row and column, number
    formats by column kind; at most SHEET_ROWS rows a sheet (Excel's limit).

    Written by rust_xlsxwriter (through rustpy-xlsxwriter), not XlsxWriter or openpyxl:
    a quarter of 126,000 devices is 8.4 million cells, which both Python writers take
    50 s for and this one 6 s (measured, bench/sla.py). The binding stamps the time of
    writing in docProps/core.xml and offers no way to set it: the dates are pinned after,
    so equal inputs give an equal file."""
    from rustpy_xlsxwriter import FastExcel, Format

    buffer = io.BytesIO()
    book = FastExcel(buffer).format(datetime_format=_FORMATS[Kind.MOMENT], bold_headers=True)
    book.freeze(row=1, col=1)
    header = Format().set_bold().set_text_wrap().set_align("vcenter")
    for table in tables:
        names = headings(table, language)
        formats = {
            name: Format().set_num_format(_FORMATS[column.kind])
            for name, column in zip(names, table.columns, strict=True)
            if column.kind in _FORMATS
        }
        book.sheet(
            text(f"sheet.{table.name}", language),
            # An empty table still shows its headings (over one blank row).
            _records(table, names) if table.rows else [dict.fromkeys(names)],
            column_widths=[_WIDTHS[column.kind] for column in table.columns],
            column_formats=formats,
            header_format=header,
        )
    book.save()
    with (
        zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as written,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as pinned,
    ):
        for info in written.infolist():
            data = written.read(info)
            if info.filename == "docProps/core.xml":
                data = _DATES.sub(rb"\g<1>" + _PINNED + rb"\g<2>", data)
            pinned.writestr(info, data)
