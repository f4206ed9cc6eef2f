"""A ~300-row 设备台账 made as a district keeps it in Excel (a merged title row, blank
rows between stations, a 合计 row), as XLSX and as a GBK CSV, and the typos such a
ledger carries: each refused in Chinese, under the sheet's own column, row and value."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook

from collector.cli import main
from collector.onboarding.inventory_import import import_ledger
from slawatch.config.diff import device_changes
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from tests.conftest import REPO
from tests.language import english_words

HEADER: list[object] = [
    *("点位编号", "点位名称", "IP地址", "设备类型", "所属派出所", "点位类别", "品牌"),
    *("启用日期", "上联交换机", "上联端口", "汇聚链路", "是否有备用光纤", "所属门禁", "合同"),
]
STATIONS = ("城关派出所", "罗亭派出所", "长堎派出所", "望城派出所")
TITLE = "某区公安分局视频监控设备台账（2026 年 12 月）"


def district() -> list[list[object]]:
    """Rows per station: 3 switches on the station's link, 66 cameras on their ports,
    a checkpoint on the link, a door set (host and camera): 72 rows, 288 in all."""
    rows: list[list[object]] = []
    for s, station in enumerate(STATIONS, 1):
        link, fiber = f"{station[:2]}汇聚光纤", "是" if s % 2 else "否"
        for w in range(1, 4):
            rows.append([f"SW-{s}-{w}", f"{station[:2]}接入交换机{w}", f"10.37.{s}.{w}",
                         "交换机", station, "二类点", "华为", "2020/04/01", "", "", link, fiber,
                         "", ""])  # fmt: skip
            for port in range(1, 23):
                n = (w - 1) * 22 + port
                rows.append([f"3601{s:02d}{n:04d}", f"{station[:2]}路口{n}号",
                             f"10.37.{s}.{10 + n}", "枪机" if n % 3 else "球机", station,
                             "一类点", "海康威视",
                             "2021/03/01", f"SW-{s}-{w}", port, "", "", "", ""])  # fmt: skip
        rows.append([f"KK{s:02d}", f"{station[:2]}卡口", f"10.37.{s}.200", "卡口", station,
                     "一类点", "宇视", "2021/05/01", "", "", link, fiber, "", ""])  # fmt: skip
        door = f"{station[:2]}小区1号门"
        rows.append([f"MJ{s:02d}", f"{door}门禁主机", f"10.37.{s}.210", "门禁主机", station,
                     "二类点", "海康威视", "2022/01/01", f"SW-{s}-1", 23, "", "", door,
                     "door-rent"])  # fmt: skip
        rows.append([f"MJ{s:02d}C", f"{door}摄像机", f"10.37.{s}.211", "枪机", station,
                     "二类点", "海康威视", "2022/01/01", f"SW-{s}-1", 24, "", "", door,
                     "door-rent"])  # fmt: skip
    return rows


def as_kept(rows: list[list[object]]) -> list[list[object]]:
    """A title row above the header, a blank row after each station, a 合计 row."""
    kept: list[list[object]] = [[TITLE], HEADER]
    for number, row in enumerate(rows):
        kept.append(row)
        if (number + 1) % 72 == 0:
            kept.append([""] * len(HEADER))
    kept.append(["合计", f"{len(rows)} 个点位", "", "", "", "", "", "", "", "", "", "", "", ""])
    return kept


def write_xlsx(file: Path, rows: list[list[object]]) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in as_kept(rows):
        sheet.append(row)
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
    workbook.save(file)


def write_gbk_csv(file: Path, rows: list[list[object]]) -> None:
    with file.open("w", encoding="gbk", newline="") as out:
        csv.writer(out).writerows(as_kept(rows))


@pytest.fixture
def ledger_map(tmp_path: Path) -> Path:
    text = (REPO / "config" / "import" / "ledger-map.yaml").read_text(encoding="utf-8")
    file = tmp_path / "map.yaml"
    file.write_text(text.replace("header_row: 1", "header_row: 2"), encoding="utf-8")
    return file


def run(ledger: Path, map_file: Path, output: Path) -> int:
    return main(["inventory", "import", str(ledger), "--map", str(map_file), "-o", str(output)])


@pytest.mark.parametrize("form", ["xlsx", "csv"])
def test_a_district_ledger_imports_with_its_totals_row_skipped_and_a_summary(
    tmp_path: Path, ledger_map: Path, form: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / f"台账.{form}"
    (write_xlsx if form == "xlsx" else write_gbk_csv)(ledger, district())
    output = tmp_path / "inventory.yaml"
    assert run(ledger, ledger_map, output) == 0
    said = capsys.readouterr().out
    if form == "csv":
        assert "按 GBK/GB18030 编码读取" in said
    assert "第 295 行是合计行（「合计」），已跳过" in said
    inventory = load_config(output, Inventory)
    kinds = Counter(device.kind.value for device in inventory.devices)
    assert kinds == {"camera": 268, "switch": 12, "checkpoint": 4, "door_host": 4}
    assert (
        "共 288 台设备：摄像机 268，卡口 4，门禁主机 4，交换机 12；区域 4 个，链路 4 条，"
        "门禁 4 套；合同：高清摄像机租赁 268，视频门禁租赁 8" in said
    )
    assert english_words(said.replace(str(tmp_path), "")) == []


@pytest.mark.parametrize("form", ["xlsx", "csv"])
def test_a_ledgers_typos_are_refused_in_chinese_with_column_row_value_and_the_meant(
    tmp_path: Path, ledger_map: Path, form: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = district()
    rows[5][2] = "10.37.1.14 "  # sheet row 8: the address of row 7 with a space
    rows[6][2] = "10.37.1.1O"  # letter O
    rows[7][2] = "１０.37.1.17"  # full-width digits
    rows[8][2] = "10.37.1.l8"  # letter l
    rows[80][4] = "罗亭所"  # 罗亭派出所 on every other row of the station
    rows[72][11] = ""  # the 罗亭 link's only backup-fibre cells are blank
    rows[72 + 23][11] = rows[72 + 46][11] = rows[72 + 69][11] = ""
    rows[12][9] = "十二"  # sheet row 15: a port in words
    rows[13][7] = "2021/13/01"  # sheet row 16: no 13th month
    ledger = tmp_path / f"台账.{form}"
    (write_xlsx if form == "xlsx" else write_gbk_csv)(ledger, rows)
    assert run(ledger, ledger_map, tmp_path / "inventory.yaml") == 2
    errors = capsys.readouterr().err
    assert f"{ledger}:8: IP地址: 地址 10.37.1.14 与第 7 行重复（去掉首尾空格后相同）" in errors
    assert "（填的是 '10.37.1.14 '）" in errors
    assert (
        f"{ledger}:9: IP地址: 地址中有形近字符（字母 O 当作了 0）：是否应为 10.37.1.10？"
        "（填的是 '10.37.1.1O'）" in errors
    )
    assert f"{ledger}:10: IP地址: 地址中有形近字符（全角数字或句点）：是否应为 10.37.1.17？" in (
        errors
    )
    assert (
        f"{ledger}:11: IP地址: 地址中有形近字符（字母 l/I 当作了 1）：是否应为 10.37.1.18？"
        in errors
    )
    assert (
        f"{ledger}:84: 所属派出所: 「罗亭所」与「罗亭派出所」（71 行）相近："
        "是否应为「罗亭派出所」？" in errors
    )
    assert f"{ledger}:76: 是否有备用光纤: 链路「罗亭汇聚光纤」的备用光纤为空" in errors
    assert f"{ledger}:15: 上联端口: 取值不合要求：应为整数（填的是 '十二'）\n" in errors
    assert (
        f"{ledger}:16: 启用日期: 取值不合要求：应为日期，如 2026-01-31（填的是 '2021/13/01'）"
        in (errors)
    )
    assert english_words(errors.replace(str(ledger), "")) == []


def test_what_only_the_whole_district_shows_is_said_at_the_sheets_column_and_row(
    tmp_path: Path, ledger_map: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The inventory's cross-checks (a port the switch does not have), as the import
    says them: under the sheet's column, at the device's row, with the value."""
    rows = district()
    rows[4][9] = 30  # sheet row 7: port 30 of a 24-port switch
    ledger = tmp_path / "台账.xlsx"
    write_xlsx(ledger, rows)
    assert run(ledger, ledger_map, tmp_path / "inventory.yaml") == 2
    errors = capsys.readouterr().err
    assert f"{ledger}:7: 上联端口: 交换机 SW-1-1 只有 24 个端口（填的是 30）" in errors, errors
    assert english_words(errors.replace(str(ledger), "")) == []


def test_a_stated_default_fills_a_blank_backup_fibre(tmp_path: Path, ledger_map: Path) -> None:
    rows = district()
    for row in rows:
        if row[10] == "罗亭汇聚光纤":
            row[11] = ""
    ledger = tmp_path / "台账.xlsx"
    write_xlsx(ledger, rows)
    text = ledger_map.read_text(encoding="utf-8")
    ledger_map.write_text(
        text.replace("\ndefaults:\n", "\ndefaults:\n  backup_fiber: 否\n"), encoding="utf-8"
    )
    output = tmp_path / "inventory.yaml"
    import_ledger(ledger, ledger_map, output)
    links = {link.name: link for link in load_config(output, Inventory).links}
    assert links["罗亭汇聚光纤"].backup_fiber is False
    assert links["城关汇聚光纤"].backup_fiber is True


def test_the_diff_names_devices_and_counts_as_the_collectors_reload_does(
    tmp_path: Path, ledger_map: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "inventory.yaml"
    first = tmp_path / "2026.xlsx"
    write_xlsx(first, district())
    import_ledger(first, ledger_map, output)
    before = load_config(output, Inventory)
    rows = district()
    del rows[10:13]  # three cameras left
    rows[20][2] = "10.37.1.250"  # a switch moved (sheet row 23)
    rows.append([*rows[30][:2], "10.37.9.9", *rows[30][3:]])
    rows[-1][0], rows[-1][1] = "360199000001", "新增路口"
    second = tmp_path / "2027.xlsx"
    write_xlsx(second, rows)
    capsys.readouterr()
    assert run(second, ledger_map, output) == 0
    said = capsys.readouterr().out
    assert "+ 新增 360199000001 新增路口（10.37.9.9，第 291 行）" in said
    assert "- 离开台账 3601010010 城关路口10号（10.37.1.20）（设停用日期，历史保留）" in said
    assert (
        "~ 修改 SW-1-2 城关接入交换机2（10.37.1.250，第 23 行）：IP地址 '10.37.1.2' → '10.37.1.250'"
        in said
    )
    assert "5 台设备将变更（新增 1，离开台账 3，修改 1）" in said
    assert english_words(said.replace(str(tmp_path), "")) == []
    result = import_ledger(second, ledger_map, output, apply=True, today=date(2027, 1, 1))
    reloaded = device_changes(before.devices, load_config(output, Inventory).devices)
    assert (len(reloaded.added), len(reloaded.removed), len(reloaded.changed)) == (1, 3, 1)
    assert (reloaded.added, reloaded.removed) == (result.added, result.removed)
    assert set(reloaded.changed) == set(result.changed)
