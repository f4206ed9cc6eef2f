"""Import a device ledger (设备台账) from CSV or XLSX into an inventory, through a column map.

Bureaus keep their ledgers as spreadsheets with Chinese headers (点位编号, 点位名称, IP地址,
设备类型, 所属派出所, 上联交换机, 是否有备用光纤, 所属门禁, …). The map names which column
feeds which field, how cell values translate (枪机 → camera), and the defaults every
device gets. Besides the device's own fields a ledger carries the district's shape:

- ``uplink_switch`` (a switch's id or name) and ``uplink_port`` (its number or interface
  name), or ``link`` (a fibre link's id or name) for devices on a link directly; for a
  switch, ``link`` is the link it rides on;
- ``backup_fiber`` (是/否, 有/无, Y/N, 1/0) of that link;
- ``set`` (所属门禁): the door-access set a door host or camera belongs to;
- ``region`` (街道) and ``police_station`` (派出所).

Each problem is one line, ``FILE:ROW: column: message (got VALUE)``, at most
``MAX_PROBLEMS`` of them and a count of the rest. Against an existing inventory the
import shows what changes (added, removed, changed fields) and writes only with
``apply``; a device that left the ledger keeps its history: it gets a ``service_end``.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from charset_normalizer import from_bytes
from openpyxl import load_workbook
from pydantic import Field, TypeAdapter, ValidationError

from slawatch.config.errors import ConfigError, ConfigProblem, show_value
from slawatch.config.inventory import Device, DeviceKind, Inventory, address_problem, cross_check
from slawatch.config.loader import load_config
from slawatch.config.types import Strict
from slawatch.config.writer import write_inventory

# 2020-04-22, 2020/4/22, 2020.04.22, 2020年4月22日, 20200422
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d")
_DATE_FIELDS = {"service_start", "service_end"}
_EXCEL_EPOCH = date(1899, 12, 30)
_YES = {"是", "有", "y", "yes", "1", "true", "√"}
_NO = {"否", "无", "n", "no", "0", "false", "×", ""}
# Fields a ledger column may feed that are not a device's own: they shape the district.
TOPOLOGY = ("uplink_switch", "uplink_port", "link", "backup_fiber", "set", "police_station")
MAX_PROBLEMS = 50
_IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
_DEVICE = TypeAdapter(Device)


class LedgerMap(Strict):
    """How one bureau's ledger columns become inventory fields."""

    kind: Literal["ledger-map"]
    sheet: str | None = None
    header_row: int = Field(default=1, ge=1)
    # field → column header, e.g. {id: 点位编号, address: IP地址, uplink_switch: 上联交换机}
    columns: dict[str, str] = Field(min_length=1)
    # per field: cell text → value, e.g. {kind: {枪机: camera, 门禁主机: door_host}}
    values: dict[str, dict[str, Any]] = {}
    defaults: dict[str, Any] = {}
    kind_defaults: dict[str, dict[str, Any]] = {}
    # Kinds the contracts bill: the others (switches) get no default contract.
    billed_kinds: list[DeviceKind] = [
        DeviceKind.CAMERA,
        DeviceKind.DOOR_HOST,
        DeviceKind.CHECKPOINT,
    ]
    # Copied into the inventory as they are (sites, contracts, credentials, …).
    base: dict[str, Any] = {}


@dataclass
class Imported:
    """What an import found and did."""

    devices: int
    encoding: str | None  # a CSV's, as detected
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # given a service_end, not deleted
    changed: dict[str, list[tuple[str, Any, Any]]] = field(default_factory=dict)
    written: bool = False


def _decode(file: Path) -> tuple[str, str]:
    """A CSV's text and its encoding: UTF-8 with or without BOM, else what
    charset-normalizer finds (GB18030 for what Excel saves as GBK)."""
    data = file.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "UTF-8 (BOM)"
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    best = from_bytes(data, cp_isolation=["gb18030", "big5", "utf_16"]).best()
    if best is None:
        raise ConfigError([ConfigProblem(file, 0, (), "not text in UTF-8, GBK/GB18030 or Big5")])
    # GB18030 reads every GBK file the same and more: name it for what Excel wrote.
    name = "GBK/GB18030" if best.encoding in ("gb18030", "gbk", "gb2312") else best.encoding
    return data.decode("gb18030" if name == "GBK/GB18030" else best.encoding), name


def _read_table(file: Path, ledger_map: LedgerMap) -> tuple[list[Sequence[Any]], str | None]:
    if file.suffix.lower() in (".xlsx", ".xlsm"):
        workbook = load_workbook(file, read_only=True, data_only=True)
        try:
            sheet = workbook[ledger_map.sheet] if ledger_map.sheet else workbook.worksheets[0]
            return list(sheet.iter_rows(values_only=True)), None
        finally:
            workbook.close()
    text, encoding = _decode(file)
    return list(csv.reader(io.StringIO(text, newline=""))), encoding


def _header(file: Path, rows: list[Sequence[Any]], ledger_map: LedgerMap) -> tuple[list[str], int]:
    """The header row's names; one clear error when it names none of the mapped columns."""
    wanted = set(ledger_map.columns.values())

    def names(row: Sequence[Any]) -> list[str]:
        return [str(cell).strip() if cell is not None else "" for cell in row]

    at = ledger_map.header_row
    header = names(rows[at - 1]) if len(rows) >= at else []
    if wanted & set(header):
        return header, at
    scores = [(len(wanted & set(names(row))), n) for n, row in enumerate(rows[:30], 1)]
    best, row = max(scores, default=(0, 0))
    hint = f"; row {row} has {best} of them: set header_row: {row}" if best else ""
    raise ConfigError(
        [
            ConfigProblem(
                file,
                at,
                (),
                f"header_row {at} has none of the mapped columns "
                f"({', '.join(sorted(wanted))}){hint}",
            )
        ]
    )


def _cell(value: Any, name: str) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if value == "":
            return None
        if name in _DATE_FIELDS:
            for pattern in _DATE_FORMATS:
                try:
                    return datetime.strptime(value, pattern).date()
                except ValueError:
                    continue
    if isinstance(value, datetime):
        return value.date()
    if name in _DATE_FIELDS and isinstance(value, int | float) and 1 < value < 100_000:
        return _EXCEL_EPOCH + timedelta(days=int(value))  # an Excel date serial
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if name == "uplink_port" and isinstance(value, str) and value.isdigit():
        return int(value)  # "3" is the third port; "GE0/0/3" a name
    return value


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _yes_no(value: Any) -> bool | None:
    text = str(value).strip().lower()
    return True if text in _YES else False if text in _NO else None


@dataclass
class _Row:
    number: int
    device: dict[str, Any]
    shape: dict[str, Any]  # the TOPOLOGY fields this row gave
    refused: set[str] = field(default_factory=set)  # fields already reported


class _Problems:
    """Every problem found, each at its row and column; raised together, capped."""

    def __init__(self, file: Path, ledger_map: LedgerMap) -> None:
        self.file, self.map = file, ledger_map
        self.found: list[ConfigProblem] = []

    def add(self, row: int, name: str, message: str, value: Any = None) -> None:
        column = self.map.columns.get(name, name)
        shown = None if value is None else show_value(value)
        self.found.append(ConfigProblem(self.file, row, (column,), message, shown))

    def raise_any(self) -> None:
        if not self.found:
            return
        kept = self.found[:MAX_PROBLEMS]
        if len(self.found) > MAX_PROBLEMS:
            more = len(self.found) - MAX_PROBLEMS
            kept.append(ConfigProblem(self.file, 0, (), f"… and {more} more problems"))
        raise ConfigError(kept)


def _rows(
    rows: list[Sequence[Any]],
    header: list[str],
    first: int,
    ledger_map: LedgerMap,
    problems: _Problems,
) -> Iterator[_Row]:
    for number, raw in enumerate(rows[first:], first + 1):
        cells = {name: raw[i] for i, name in enumerate(header) if i < len(raw) and name}
        if not any(value not in (None, "") for value in cells.values()):
            continue
        device: dict[str, Any] = {}
        shape: dict[str, Any] = {}
        refused: set[str] = set()
        for name, column in ledger_map.columns.items():
            value = _cell(cells.get(column), name)
            if value is None:
                continue
            mapping = ledger_map.values.get(name)
            if mapping is not None:
                if str(value) not in mapping:
                    problems.add(
                        number,
                        name,
                        f"no value mapping for {name}; add it under values.{name}",
                        value,
                    )
                    continue
                value = mapping[str(value)]
            (shape if name in TOPOLOGY else device)[name] = value
        if "id" in device:
            device["id"] = str(device["id"])
        if "address" in device:
            device["address"] = str(device["address"])
            wrong = address_problem(device["address"])
            if wrong is not None:
                problems.add(number, "address", wrong, device["address"])
                refused.add("address")
        yield _Row(number, device, shape, refused)


class _District:
    """Regions, links and sets as the rows name them, with ids for names. The inventory
    in force lends its own: a region or link keeps its id whatever the rows' order, and
    the devices that left the ledger keep theirs."""

    def __init__(self, problems: _Problems, current: Inventory | None) -> None:
        self.problems = problems
        self.regions: dict[str, dict[str, Any]] = {}
        self.links: dict[str, dict[str, Any]] = {}
        self.link_rows: dict[str, int] = {}
        self.sets: dict[str, dict[str, Any]] = {}
        for region in current.regions if current else []:
            self.regions[region.name] = region.model_dump(exclude_none=True)
        for link in current.links if current else []:
            self.links[link.name or link.id] = link.model_dump(exclude_none=True)

    @staticmethod
    def _new_id(prefix: str, taken: Iterable[dict[str, Any]], width: int) -> str:
        used = {str(item["id"]) for item in taken}
        number = len(used) + 1
        while f"{prefix}{number:0{width}d}" in used:
            number += 1
        return f"{prefix}{number:0{width}d}"

    def region(self, name: str, station: str | None) -> str:
        found = self.regions.get(name)
        if found is None:
            found = {"id": self._new_id("R", self.regions.values(), 3), "name": name}
            found["police_station"] = station or name
            self.regions[name] = found
        return str(found["id"])

    def link(self, row: int, name: str, backup: Any) -> str:
        found = self.links.get(name)
        fiber = None if backup is None else _yes_no(backup)
        if backup is not None and fiber is None:
            self.problems.add(
                row, "backup_fiber", "not a yes or no (是/否, 有/无, Y/N, 1/0)", backup
            )
        if found is None:
            link_id = name if _IDENTIFIER.match(name) else self._new_id("L", self.links.values(), 3)
            found = {"id": link_id, "name": name, "backup_fiber": bool(fiber)}
            self.links[name] = found
            self.link_rows[name] = row
        elif name not in self.link_rows:  # the inventory in force had it: the ledger decides
            self.link_rows[name] = row
            if fiber is not None:
                found["backup_fiber"] = fiber
        elif fiber is not None and fiber != found["backup_fiber"]:
            first = self.link_rows[name]
            self.problems.add(
                row, "backup_fiber", f"row {first} says the opposite for link {name}", backup
            )
        return str(found["id"])


def _shape(rows: list[_Row], problems: _Problems, current: Inventory | None) -> _District:
    """Regions, links, uplinks and sets, resolved across rows (a switch by id or name)."""
    district = _District(problems, current)
    switches: dict[str, str] = {}
    for row in rows:
        if row.device.get("kind") == DeviceKind.SWITCH.value and "id" in row.device:
            switches[row.device["id"]] = row.device["id"]
            if "name" in row.device:
                switches.setdefault(str(row.device["name"]), row.device["id"])
    for row in rows:
        device, shape = row.device, row.shape
        if "region" in device:
            device["region"] = district.region(str(device["region"]), shape.get("police_station"))
        link = shape.get("link")
        link_id = district.link(row.number, str(link), shape.get("backup_fiber")) if link else None
        if device.get("kind") == DeviceKind.SWITCH.value:
            if link_id:
                device["link"] = link_id
        elif shape.get("uplink_switch") is not None:
            switch = switches.get(str(shape["uplink_switch"]))
            if switch is None:
                problems.add(
                    row.number,
                    "uplink_switch",
                    "no switch with this id or name in the ledger",
                    shape["uplink_switch"],
                )
            elif shape.get("uplink_port") is None:
                problems.add(row.number, "uplink_port", "a device on a switch needs its port")
            else:
                device["uplink"] = {"switch": switch, "port": shape["uplink_port"]}
        elif link_id:
            device["uplink"] = {"link": link_id}
        if shape.get("set") is not None and "id" in device:
            name = str(shape["set"])
            found = district.sets.setdefault(
                name,
                {"id": name if _IDENTIFIER.match(name) else f"S{len(district.sets) + 1:04d}",
                 "name": name, "host": None, "cameras": [], "rows": []},
            )  # fmt: skip
            found["rows"].append(row.number)
            if device.get("kind") == DeviceKind.DOOR_HOST.value:
                if found["host"] is not None:
                    problems.add(
                        row.number, "set", f"set {name} already has door host {found['host']}", name
                    )
                found["host"] = device["id"]
            elif device.get("kind") == DeviceKind.CAMERA.value:
                found["cameras"].append(device["id"])
            else:
                problems.add(row.number, "set", "only door hosts and cameras belong to a set", name)
    for name, found in district.sets.items():
        if found["host"] is None or not found["cameras"]:
            missing = "door host" if found["host"] is None else "camera"
            problems.add(
                found["rows"][0],
                "set",
                f"set {name} has no {missing} (rows {', '.join(map(str, found['rows']))})",
                name,
            )
    return district


def _device_rows(
    ledger: Path, ledger_map: LedgerMap, current: Inventory | None
) -> tuple[list[dict[str, Any]], list[int], _District, str | None]:
    problems = _Problems(ledger, ledger_map)
    table, encoding = _read_table(ledger, ledger_map)
    header, at = _header(ledger, table, ledger_map)
    for name, column in ledger_map.columns.items():
        if column not in header:
            problems.add(at, name, "column not found in the header")
    rows = list(_rows(table, header, at, ledger_map, problems))
    district = _shape(rows, problems, current)
    devices: list[dict[str, Any]] = []
    origin: list[int] = []
    billed = {kind.value for kind in ledger_map.billed_kinds}
    for row in rows:
        kind = str(row.device.get("kind"))
        defaults = dict(ledger_map.defaults)
        if kind not in billed:
            defaults.pop("contract", None)  # a switch is the network, not a rented unit
        device = _merge(_merge(defaults, ledger_map.kind_defaults.get(kind, {})), row.device)
        try:
            _DEVICE.validate_python(device)
            if row.refused:
                continue
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                name = str(error["loc"][0]) if error["loc"] else "row"
                if name in row.refused:
                    continue  # its cell was reported already
                value = None if error["type"] == "missing" else error["input"]
                message = error["msg"].removeprefix("Value error, ")
                if error["type"] == "missing":
                    message = "required value is missing (map a column or set a default)"
                problems.add(row.number, name, message, value)
            continue
        devices.append(device)
        origin.append(row.number)
    problems.raise_any()
    return devices, origin, district, encoding


def _sets(district: _District, devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    contract = {d["id"]: d.get("contract") for d in devices}
    return [
        {"id": s["id"], "name": s["name"], "host": s["host"], "cameras": s["cameras"]}
        | ({"contract": contract[s["host"]]} if contract.get(s["host"]) else {})
        for s in district.sets.values()
    ]


def import_ledger(
    ledger: Path, map_file: Path, output: Path, apply: bool = False, today: date | None = None
) -> Imported:
    """Read ``ledger``; write ``output`` when it is new, or when ``apply`` is given;
    ConfigError for every problem (capped), with its row and column."""
    ledger_map = load_config(map_file, LedgerMap)
    current = load_config(output, Inventory) if output.exists() else None
    devices, origin, district, encoding = _device_rows(ledger, ledger_map, current)
    header = {"kind": "inventory", **ledger_map.base}
    header.pop("sets", None)
    header["regions"] = [*header.get("regions", []), *district.regions.values()]
    header["links"] = [*header.get("links", []), *district.links.values()]
    sets = _sets(district, devices)
    result = Imported(len(devices), encoding)
    if current is not None:
        devices = _against(current, devices, result, today or date.today())
    _check(ledger, map_file, ledger_map, header, devices, sets, origin)
    if not output.exists() or apply:
        write_inventory(output, header, devices, sets)
        result.written = True
    return result


def _against(
    current: Inventory, devices: list[dict[str, Any]], result: Imported, today: date
) -> list[dict[str, Any]]:
    """The diff with the inventory in force; devices that left the ledger are kept, ended."""
    before = {d.id: _DEVICE.dump_python(d, exclude_defaults=True) for d in current.devices}
    now = {
        d["id"]: _DEVICE.dump_python(_DEVICE.validate_python(d), exclude_defaults=True)
        for d in devices
    }
    result.added = sorted(set(now) - set(before))
    result.removed = sorted(device_id for device_id in set(before) - set(now))
    for device_id in sorted(set(now) & set(before)):
        old, new = before[device_id], now[device_id]
        fields = [(name, old.get(name), new.get(name)) for name in sorted(set(old) | set(new))]
        differ = [item for item in fields if item[1] != item[2]]
        if differ:
            result.changed[device_id] = differ
    kept = [
        {**before[device_id], "service_end": before[device_id].get("service_end") or today}
        for device_id in result.removed
    ]
    return devices + kept


def _check(
    ledger: Path,
    map_file: Path,
    ledger_map: LedgerMap,
    header: dict[str, Any],
    devices: list[dict[str, Any]],
    sets: list[dict[str, Any]],
    origin: list[int],
) -> None:
    try:
        inventory = Inventory.model_validate({**header, "devices": devices, "sets": sets})
    except ValidationError as exc:
        raise ConfigError(
            [
                ConfigProblem(map_file, 0, ("base", *error["loc"]), error["msg"])
                for error in exc.errors(include_url=False)
            ][:MAX_PROBLEMS]
        ) from exc

    def row_of(path: tuple[str | int, ...]) -> int:
        index = path[1] if len(path) > 1 and path[0] == "devices" else None
        return origin[index] if isinstance(index, int) and index < len(origin) else 0

    problems = _Problems(ledger, ledger_map)
    for issue in cross_check(inventory):
        name = str(issue.path[2]) if len(issue.path) > 2 else "row"
        problems.found.append(
            ConfigProblem(
                ledger,
                row_of(issue.path),
                (ledger_map.columns.get(name, name), *issue.path[3:]),
                issue.message,
                issue.value,
            )
        )
    problems.raise_any()


def describe(result: Imported) -> list[str]:
    """The diff as lines a person reads."""
    lines = [f"+ {device_id}" for device_id in result.added]
    lines += [
        f"- {device_id} (left the ledger: service_end set, history kept)"
        for device_id in result.removed
    ]
    for device_id, fields in result.changed.items():
        for name, old, new in fields:
            lines.append(f"~ {device_id} {name}: {old!r} → {new!r}")
    return lines
