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

Each problem is one line, ``FILE:ROW: 列名: message（填的是 VALUE）``, in the catalogue's
words (Chinese by default), at most ``MAX_PROBLEMS`` of them and a count of the rest.
Typos a hand-kept ledger carries are refused, each with the value meant where it can be
told: an address on two rows (once spaces are trimmed), letters or full-width characters
for digits in an address, a region or station name close to a more common one, a blank
backup-fibre cell (it decides the repair deadline, so the money) unless the map states a
default. A totals row (合计) is skipped with a note. Against an existing inventory the
import shows what changes (added, removed, changed fields, each device by name, address
and row) and writes only with ``apply``; a device that left the ledger keeps its
history: it gets a ``service_end``.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from charset_normalizer import from_bytes
from openpyxl import load_workbook
from pydantic import Field, TypeAdapter, ValidationError

from slawatch.config.diff import DeviceChanges, device_changes
from slawatch.config.errors import ConfigError, ConfigProblem, show_value
from slawatch.config.inventory import Device, DeviceKind, Inventory, address_problem, cross_check
from slawatch.config.loader import load_config
from slawatch.config.schema_words import said_for
from slawatch.config.types import Strict
from slawatch.config.writer import write_inventory
from slawatch.messages import Language, Said, said_in, text

# 2020-04-22, 2020/4/22, 2020.04.22, 2020年4月22日, 20200422
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日", "%Y%m%d")
_DATE_FIELDS = {"service_start", "service_end"}
_EXCEL_EPOCH = date(1899, 12, 30)
_YES = {"是", "有", "y", "yes", "1", "true", "√"}
_NO = {"否", "无", "n", "no", "0", "false", "×", ""}
# Fields a ledger column may feed that are not a device's own: they shape the district.
TOPOLOGY = ("uplink_switch", "uplink_port", "link", "backup_fiber", "set", "police_station")
MAX_PROBLEMS = 50
# A row whose first cells say one of these sums the others up: not a device.
_TOTALS = ("合计", "总计", "小计", "共计", "total")
# Letters typed for digits in an address (10.37.3.1O), by the message that names them.
_LOOK_ALIKES = {"O": "0", "o": "0", "l": "1", "I": "1"}
# Suffixes of a station or region name people drop (罗亭所 for 罗亭派出所).
_NAME_SUFFIXES = ("派出所", "所", "街道办事处", "街道办", "街道", "镇", "乡")
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
class Imported(DeviceChanges):
    """What an import found and did; removed devices are given a service_end, not deleted."""

    devices: int = 0
    encoding: str | None = None  # a CSV's, as detected
    written: bool = False
    notes: list[str] = field(default_factory=list)  # rows skipped on purpose (合计)
    rows: dict[str, int] = field(default_factory=dict)  # device id → its ledger row
    names: dict[str, tuple[str, str]] = field(default_factory=dict)  # id → (name, address)
    summary: str = ""
    columns: dict[str, str] = field(default_factory=dict)  # field → the ledger's header


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
        raise ConfigError([ConfigProblem(file, 0, (), Said("import.not_text"))])
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


def _header(
    file: Path, rows: list[Sequence[Any]], ledger_map: LedgerMap, language: Language
) -> tuple[list[str], int]:
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
    hint = text("import.header_hint", language, row=row, count=best) if best else ""
    columns = "、".join(sorted(wanted)) if language == "zh" else ", ".join(sorted(wanted))
    message = text("import.header_none", language, row=at, columns=columns) + hint
    raise ConfigError([ConfigProblem(file, at, (), message)])


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

    def __init__(self, file: Path, ledger_map: LedgerMap, language: Language) -> None:
        self.file, self.map, self.language = file, ledger_map, language
        self.found: list[ConfigProblem] = []

    def say(self, key: str, **values: object) -> str:
        return text(key, self.language, **values)

    def add(
        self, row: int, name: str, message: str, value: Any = None, shown: str | None = None
    ) -> None:
        """One problem under the ledger's own column header, with the cell's value (or
        its rendering ``shown``)."""
        column = self.map.columns.get(name, name)
        if value is not None:
            shown = show_value(value)
        if shown is not None:
            message += text("config.got", self.language, value=shown)
        self.found.append(ConfigProblem(self.file, row, (column,), message))

    def raise_any(self) -> None:
        if not self.found:
            return
        kept = self.found[:MAX_PROBLEMS]
        if len(self.found) > MAX_PROBLEMS:
            more = len(self.found) - MAX_PROBLEMS
            kept.append(ConfigProblem(self.file, 0, (), self.say("import.more", more=more)))
        raise ConfigError(kept)


def _totals(raw: Sequence[Any]) -> str | None:
    """The cell that makes this a totals row (合计, 总计, …), among its first three."""
    for cell in raw[:3]:
        words = str(cell or "").strip().replace(" ", "").replace("\u3000", "")
        if words.lower().startswith(_TOTALS):
            return words
    return None


def _look_alike(address: str, problems: _Problems) -> str | None:
    """Why an address reads as digits but holds letters or full-width characters."""
    narrow = unicodedata.normalize("NFKC", address)  # full-width １０．３６ → 10.36
    meant = "".join(_LOOK_ALIKES.get(char, char) for char in narrow)
    if meant == address or not all(part.isdigit() for part in meant.split(".")):
        return None
    found = [
        problems.say(f"import.look_alike.{key}")
        for key, hit in (
            ("full_width", narrow != address),
            ("letter_o", any(char in "Oo" for char in narrow)),
            ("letter_l", any(char in "lI" for char in narrow)),
        )
        if hit
    ]
    return problems.say("import.look_alike", what="、".join(found), meant=meant)


def _address_problem(address: str, problems: _Problems) -> str | None:
    return _look_alike(address, problems) or address_problem(address, problems.language)


def _rows(
    rows: list[Sequence[Any]],
    header: list[str],
    first: int,
    ledger_map: LedgerMap,
    problems: _Problems,
    notes: list[str],
) -> Iterator[_Row]:
    addresses: dict[str, int] = {}
    for number, raw in enumerate(rows[first:], first + 1):
        cells = {name: raw[i] for i, name in enumerate(header) if i < len(raw) and name}
        if not any(value not in (None, "") for value in cells.values()):
            continue
        total = _totals(raw)
        if total is not None:
            notes.append(problems.say("import.totals_skipped", row=number, cell=total))
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
                        problems.say("import.no_mapping", cell=str(value), field=name),
                    )
                    refused.add(name)
                    continue
                value = mapping[str(value)]
            (shape if name in TOPOLOGY else device)[name] = value
        if "id" in device:
            device["id"] = str(device["id"])
        if "address" in device:
            address = device["address"] = str(device["address"])
            wrong = _address_problem(address, problems)
            if wrong is not None:
                problems.add(number, "address", wrong, address)
                refused.add("address")
            elif address in addresses:
                first_row = addresses[address]
                problems.add(
                    number,
                    "address",
                    problems.say("import.duplicate_address", address=address, first=first_row),
                    cells.get(ledger_map.columns["address"]),
                )
                refused.add("address")
            else:
                addresses[address] = number
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
        self.fiber_given: set[str] = set()  # links whose backup fibre a row states
        self.new_links: set[str] = set()  # links the inventory in force lacks
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
                row, "backup_fiber", self.problems.say("import.fiber_not_yes_no"), backup
            )
        if fiber is not None:
            self.fiber_given.add(name)
        if found is None:
            link_id = name if _IDENTIFIER.match(name) else self._new_id("L", self.links.values(), 3)
            found = {"id": link_id, "name": name, "backup_fiber": bool(fiber)}
            self.links[name] = found
            self.link_rows[name] = row
            self.new_links.add(name)
        elif name not in self.link_rows:  # the inventory in force had it: the ledger decides
            self.link_rows[name] = row
            if fiber is not None:
                found["backup_fiber"] = fiber
        elif fiber is not None and fiber != found["backup_fiber"]:
            first = self.link_rows[name]
            self.problems.add(
                row,
                "backup_fiber",
                self.problems.say("import.fiber_opposite", first=first, link=name),
                backup,
            )
        return str(found["id"])


def _stem(name: str) -> str:
    for suffix in _NAME_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name.removesuffix(suffix)
    return name


def _near_names(rows: list[_Row], problems: _Problems) -> None:
    """A region or station name that is a shortened spelling of one more rows use
    (罗亭所 beside 罗亭派出所): refused on its rows, with the name meant. Only the
    dropped suffix counts as close: 第一派出所 and 第二派出所 are two stations."""
    for name in ("region", "police_station"):
        cells = [(row, (row.shape if name in TOPOLOGY else row.device).get(name)) for row in rows]
        counts = Counter(str(value) for _, value in cells if value is not None)
        ranked = counts.most_common()
        meant_for: dict[str, str] = {}
        for rare, rare_count in ranked:
            for common, common_count in ranked:  # the most rows first
                if (
                    common != rare
                    and _stem(common) == _stem(rare)
                    and (common_count, rare) > (rare_count, common)
                ):
                    meant_for[rare] = common
                    break
        for row, value in cells:
            if value is not None and str(value) in meant_for:
                meant = meant_for[str(value)]
                message = problems.say(
                    "import.near_name", name=str(value), meant=meant, count=counts[meant]
                )
                problems.add(row.number, name, message)
                row.refused.add(name)


def _shape(
    rows: list[_Row], problems: _Problems, current: Inventory | None, ledger_map: LedgerMap
) -> _District:
    """Regions, links, uplinks and sets, resolved across rows (a switch by id or name)."""
    _near_names(rows, problems)
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
                    problems.say("import.no_switch"),
                    shape["uplink_switch"],
                )
            elif shape.get("uplink_port") is None:
                problems.add(row.number, "uplink_port", problems.say("import.no_port"))
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
                    message = problems.say("import.set_has_host", set=name, host=found["host"])
                    problems.add(row.number, "set", message)
                found["host"] = device["id"]
            elif device.get("kind") == DeviceKind.CAMERA.value:
                found["cameras"].append(device["id"])
            else:
                problems.add(row.number, "set", problems.say("import.set_member"), name)
    for name, found in district.sets.items():
        if found["host"] is None or not found["cameras"]:
            key = "import.set_lacks_host" if found["host"] is None else "import.set_lacks_camera"
            rows_named = "、".join(map(str, found["rows"]))
            problems.add(found["rows"][0], "set", problems.say(key, set=name, rows=rows_named))
    _fiber_stated(district, problems, ledger_map)
    return district


def _fiber_stated(district: _District, problems: _Problems, ledger_map: LedgerMap) -> None:
    """A new link's backup fibre decides its repair deadline, so the money: a blank is
    the map's stated default, or refused (never a silent 否)."""
    default = ledger_map.defaults.get("backup_fiber")
    for name, row in district.link_rows.items():
        if name in district.fiber_given or name not in district.new_links:
            continue
        if default is None:
            problems.add(row, "backup_fiber", problems.say("import.fiber_blank", link=name))
        else:
            district.links[name]["backup_fiber"] = bool(_yes_no(default))


def _device_rows(
    ledger: Path,
    ledger_map: LedgerMap,
    current: Inventory | None,
    result: Imported,
    language: Language,
) -> tuple[list[dict[str, Any]], list[int], _District]:
    problems = _Problems(ledger, ledger_map, language)
    table, result.encoding = _read_table(ledger, ledger_map)
    header, at = _header(ledger, table, ledger_map, language)
    for name, column in ledger_map.columns.items():
        if column not in header:
            problems.add(at, name, problems.say("import.column_missing", field=name))
    rows = list(_rows(table, header, at, ledger_map, problems, result.notes))
    district = _shape(rows, problems, current, ledger_map)
    devices: list[dict[str, Any]] = []
    origin: list[int] = []
    billed = {kind.value for kind in ledger_map.billed_kinds}
    for row in rows:
        kind = str(row.device.get("kind"))
        defaults = {k: v for k, v in ledger_map.defaults.items() if k not in TOPOLOGY}
        if kind not in billed:
            defaults.pop("contract", None)  # a switch is the network, not a rented unit
        device = _merge(_merge(defaults, ledger_map.kind_defaults.get(kind, {})), row.device)
        try:
            _DEVICE.validate_python(device)
            if row.refused:
                continue
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                name = _field_of(("devices", row.number, *error["loc"]))
                if name in row.refused:
                    continue  # its cell was reported already (a union says it once)
                row.refused.add(name)
                if error["type"] == "missing":
                    problems.add(row.number, name, problems.say("import.missing"))
                    continue
                detail = said_in(said_for(error), problems.language)
                message = problems.say("import.invalid", detail=detail)
                problems.add(row.number, name, message, error["input"])
            continue
        devices.append(device)
        origin.append(row.number)
        result.rows[str(device["id"])] = row.number
    problems.raise_any()
    return devices, origin, district


def _sets(district: _District, devices: list[dict[str, Any]]) -> list[dict[str, Any]]:
    contract = {d["id"]: d.get("contract") for d in devices}
    return [
        {"id": s["id"], "name": s["name"], "host": s["host"], "cameras": s["cameras"]}
        | ({"contract": contract[s["host"]]} if contract.get(s["host"]) else {})
        for s in district.sets.values()
    ]


def import_ledger(
    ledger: Path,
    map_file: Path,
    output: Path,
    apply: bool = False,
    today: date | None = None,
    language: Language = "zh",
) -> Imported:
    """Read ``ledger``; write ``output`` when it is new, or when ``apply`` is given;
    ConfigError for every problem (capped), with its row and column, in ``language``."""
    try:
        return _import(ledger, map_file, output, apply, today, language)
    except ConfigError as exc:
        raise exc.said_in(language) from None


def _import(
    ledger: Path,
    map_file: Path,
    output: Path,
    apply: bool,
    today: date | None,
    language: Language,
) -> Imported:
    ledger_map = load_config(map_file, LedgerMap, language)
    current = load_config(output, Inventory, language) if output.exists() else None
    result = Imported(columns=dict(ledger_map.columns))
    devices, origin, district = _device_rows(ledger, ledger_map, current, result, language)
    header = {"kind": "inventory", **ledger_map.base}
    header.pop("sets", None)
    if current is not None:
        header["sites"] = _registered_agents_kept(header.get("sites", []), current)
    header["regions"] = [*header.get("regions", []), *district.regions.values()]
    header["links"] = [*header.get("links", []), *district.links.values()]
    sets = _sets(district, devices)
    result.devices = len(devices)
    if current is not None:
        devices = _against(current, devices, today or date.today())
    inventory = _check(ledger, map_file, ledger_map, header, devices, sets, origin, language)
    if current is not None:
        changes = device_changes(current.devices, inventory.devices)
        result.added, result.removed, result.changed = (
            changes.added, changes.removed, changes.changed
        )  # fmt: skip
    listed = [*inventory.devices, *(current.devices if current else [])]
    for device in reversed(listed):  # the ledger's name and address win
        result.names[device.id] = (device.name or device.id, device.address)
    result.summary = _summary(inventory, result.devices, language)
    if not output.exists() or apply:
        write_inventory(output, header, devices, sets)
        result.written = True
    return result


def _registered_agents_kept(sites: list[Any], current: Inventory) -> list[Any]:
    """The map's sites, each with the agents and keys the existing inventory registers for
    it where the map names none: a re-import never drops an edge agent's registration."""
    registered = {site.id: site for site in current.sites}
    kept: list[Any] = []
    for site in sites:
        known = registered.get(str(site.get("id"))) if isinstance(site, dict) else None
        if known is not None and "agents" not in site and "agent_keys" not in site:
            site = {**site, "agents": list(known.agents), "agent_keys": dict(known.agent_keys)}
        kept.append(site)
    return kept


def _against(
    current: Inventory, devices: list[dict[str, Any]], today: date
) -> list[dict[str, Any]]:
    """The ledger's devices, and those that left it kept, ended (their history stays)."""
    listed = {str(d["id"]) for d in devices}
    kept = [
        _DEVICE.dump_python(d, exclude_defaults=True) | {"service_end": d.service_end or today}
        for d in current.devices
        if d.id not in listed
    ]
    return devices + kept


def _summary(inventory: Inventory, count: int, language: Language) -> str:
    """What the ledger made: devices by kind, regions, links, sets and contracts."""
    active = [d for d in inventory.devices if d.service_end is None]
    kinds = Counter(d.kind.value for d in active)
    separator = "，" if language == "zh" else ", "
    kind_words = separator.join(
        f"{text(f'kind.{kind}', language)} {n}" for kind, n in sorted(kinds.items())
    )
    contracts = Counter(d.contract for d in active if d.contract)
    contract_names = {c.id: c.name or c.id for c in inventory.contracts}
    contract_words = separator.join(
        f"{contract_names.get(c, c)} {n}" for c, n in sorted(contracts.items())
    )
    return text(
        "import.summary",
        language,
        devices=count,
        kinds=kind_words,
        regions=len(inventory.regions),
        links=len(inventory.links),
        sets=len(inventory.sets),
        contracts=contract_words or "—",
    )


def _check(
    ledger: Path,
    map_file: Path,
    ledger_map: LedgerMap,
    header: dict[str, Any],
    devices: list[dict[str, Any]],
    sets: list[dict[str, Any]],
    origin: list[int],
    language: Language,
) -> Inventory:
    try:
        inventory = Inventory.model_validate({**header, "devices": devices, "sets": sets})
    except ValidationError as exc:
        raise ConfigError(
            [
                ConfigProblem(map_file, 0, ("base", *error["loc"]), said_for(error), None, language)
                for error in exc.errors(include_url=False)
            ][:MAX_PROBLEMS]
        ) from exc

    def row_of(path: tuple[str | int, ...]) -> int:
        index = path[1] if len(path) > 1 and path[0] == "devices" else None
        return origin[index] if isinstance(index, int) and index < len(origin) else 0

    problems = _Problems(ledger, ledger_map, language)
    for issue in cross_check(inventory, language):
        problems.add(row_of(issue.path), _field_of(issue.path), issue.message, shown=issue.value)
    problems.raise_any()
    return inventory


def _field_of(path: tuple[str | int, ...]) -> str:
    """The ledger field a cross-check's key path is about (``devices[3].uplink.port`` is
    the uplink port's column); a whole row is named by its id column."""
    names = [str(part) for part in path[2:] if isinstance(part, str)]
    if names[:1] == ["uplink"] and len(names) > 1:
        return "link" if names[1] == "link" else f"uplink_{names[1]}"
    return names[0] if names else "id"


def describe(result: Imported, language: Language = "zh") -> list[str]:
    """The diff as lines a person reads: each device by name, address and ledger row."""

    def device(device_id: str) -> str:
        name, address = result.names.get(device_id, (device_id, "?"))
        row = result.rows.get(device_id)
        if row is None:
            return f"{device_id} " + text("import.device", language, name=name, address=address)
        shown = text("import.device_row", language, name=name, address=address, row=row)
        return f"{device_id} {shown}"

    lines = [text("import.added", language, device=device(d)) for d in result.added]
    lines += [text("import.removed", language, device=device(d)) for d in result.removed]
    for device_id, fields in result.changed.items():
        for name, old, new in fields:
            lines.append(
                text(
                    "import.changed",
                    language,
                    device=device(device_id),
                    field=result.columns.get(name, name),
                    old=show_value(old),
                    new=show_value(new),
                )
            )
    return lines
