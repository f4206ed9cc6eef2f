"""Import a device ledger (设备台账) from CSV or XLSX into an inventory, through a column map.

Bureaus keep their ledgers as spreadsheets with Chinese headers (点位编号, 点位名称, IP地址,
设备类型, 所属派出所, …). The map names which column feeds which inventory field, how cell
values translate (枪机 → camera), and the defaults every device gets. Each problem is
reported as ``FILE:ROW: column: message (got VALUE)`` so it can be fixed in the spreadsheet.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from openpyxl import load_workbook
from pydantic import Field, TypeAdapter, ValidationError

from slawatch.config.errors import ConfigError, ConfigProblem, show_value
from slawatch.config.inventory import Device, Inventory, cross_check
from slawatch.config.loader import load_config
from slawatch.config.types import Strict
from slawatch.config.writer import write_inventory

_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d")
_DATE_FIELDS = {"service_start", "service_end"}
_DEVICE = TypeAdapter(Device)


class LedgerMap(Strict):
    """How one bureau's ledger columns become inventory fields."""

    kind: Literal["ledger-map"]
    sheet: str | None = None
    header_row: int = Field(default=1, ge=1)
    # inventory field → column header, e.g. {id: 点位编号, address: IP地址}
    columns: dict[str, str] = Field(min_length=1)
    # per field: cell text → value, e.g. {kind: {枪机: camera, 门禁主机: door_host}}
    values: dict[str, dict[str, Any]] = {}
    defaults: dict[str, Any] = {}
    kind_defaults: dict[str, dict[str, Any]] = {}
    # Copied into the inventory as they are (sites, contracts, links, credentials, …).
    base: dict[str, Any] = {}


def _read_rows(file: Path, ledger_map: LedgerMap) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (spreadsheet row number, {header: cell}) for every non-empty data row."""
    if file.suffix.lower() in (".xlsx", ".xlsm"):
        workbook = load_workbook(file, read_only=True, data_only=True)
        try:
            sheet = workbook[ledger_map.sheet] if ledger_map.sheet else workbook.worksheets[0]
            yield from _data_rows(sheet.iter_rows(values_only=True), ledger_map.header_row)
        finally:
            workbook.close()
    else:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            yield from _data_rows(csv.reader(handle), ledger_map.header_row)


def _data_rows(
    rows: Iterable[Sequence[Any]], header_row: int
) -> Iterator[tuple[int, dict[str, Any]]]:
    header: list[str] = []
    for number, row in enumerate(rows, start=1):
        if number < header_row:
            continue
        if number == header_row:
            header = [str(cell).strip() if cell is not None else "" for cell in row]
            continue
        cells = {name: row[i] for i, name in enumerate(header) if i < len(row) and name}
        if any(value not in (None, "") for value in cells.values()):
            yield number, cells


def _cell(value: Any, field: str) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return None
        if field in _DATE_FIELDS:
            for pattern in _DATE_FORMATS:
                try:
                    return datetime.strptime(value, pattern).date()
                except ValueError:
                    continue
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def import_ledger(ledger: Path, map_file: Path, output: Path) -> int:
    """Write ``output`` from ``ledger``; return the number of devices, or raise ConfigError."""
    ledger_map = load_config(map_file, LedgerMap)
    problems: list[ConfigProblem] = []
    devices: list[dict[str, Any]] = []
    origin: list[int] = []
    regions: dict[str, str] = {}
    missing_columns: set[str] = set()
    for row_number, cells in _read_rows(ledger, ledger_map):
        device: dict[str, Any] = {}
        for field, column in ledger_map.columns.items():
            if column not in cells:
                missing_columns.add(column)
                continue
            value = _cell(cells[column], field)
            if value is None:
                continue
            mapping = ledger_map.values.get(field)
            if mapping is not None:
                if str(value) not in mapping:
                    problems.append(
                        ConfigProblem(
                            ledger,
                            row_number,
                            (column,),
                            f"no value mapping for {field}; add it under values.{field}",
                            show_value(value),
                        )
                    )
                    continue
                value = mapping[str(value)]
            device[field] = value
        if "region" in device:
            name = str(device["region"])
            device["region"] = regions.setdefault(name, f"R{len(regions) + 1:03d}")
        if "id" in device:
            device["id"] = str(device["id"])
        kind_extra = ledger_map.kind_defaults.get(str(device.get("kind")), {})
        device = _merge(_merge(ledger_map.defaults, kind_extra), device)
        try:
            _DEVICE.validate_python(device)
        except ValidationError as exc:
            problems += _row_problems(ledger, row_number, ledger_map, exc)
            continue
        devices.append(device)
        origin.append(row_number)
    for column in sorted(missing_columns):
        problems.append(
            ConfigProblem(
                ledger, ledger_map.header_row, (column,), "column not found in the header"
            )
        )
    if problems:
        raise ConfigError(problems)

    header = {"kind": "inventory", **ledger_map.base}
    sets = header.pop("sets", [])
    header["regions"] = [
        *header.get("regions", []),
        *({"id": rid, "name": name, "police_station": name} for name, rid in regions.items()),
    ]
    try:
        inventory = Inventory.model_validate({**header, "devices": devices, "sets": sets})
    except ValidationError as exc:
        raise ConfigError(
            [
                ConfigProblem(map_file, 0, ("base", *error["loc"]), error["msg"])
                for error in exc.errors(include_url=False)
            ]
        ) from exc

    def row_of(path: tuple[str | int, ...]) -> int:
        index = path[1] if len(path) > 1 and path[0] == "devices" else None
        return origin[index] if isinstance(index, int) else 0

    issues = cross_check(inventory)
    if issues:
        raise ConfigError(
            [
                ConfigProblem(
                    ledger,
                    row_of(issue.path),
                    _column_path(ledger_map, issue.path[2:]),
                    issue.message,
                    issue.value,
                )
                for issue in issues
            ]
        )
    write_inventory(output, header, devices, sets)
    return len(devices)


def _column_path(ledger_map: LedgerMap, path: tuple[str | int, ...]) -> tuple[str | int, ...]:
    if path and isinstance(path[0], str) and path[0] in ledger_map.columns:
        return (ledger_map.columns[path[0]], *path[1:])
    return path


def _row_problems(
    ledger: Path, row: int, ledger_map: LedgerMap, exc: ValidationError
) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors(include_url=False):
        path = _column_path(ledger_map, tuple(error["loc"]))
        value = None if error["type"] == "missing" else show_value(error["input"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "required value is missing (map a column or set a default)"
        problems.append(ConfigProblem(ledger, row, path, message, value))
    return problems
