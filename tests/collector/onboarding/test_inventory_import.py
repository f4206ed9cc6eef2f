"""A bureau hands over its device ledger (设备台账) as CSV or XLSX with Chinese headers:
devices, where they hang in the network, the door-access sets, the contracts."""

from __future__ import annotations

import csv
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from openpyxl import Workbook

from agent.wire import Health, Observation, Reason
from collector.cli import main
from collector.ledger.chain import Ledger
from collector.onboarding.inventory_import import MAX_PROBLEMS, import_ledger
from collector.pipeline.replay import replay
from slawatch.config.inventory import DeviceKind, Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from tests.agent_keys import registered
from tests.conftest import REPO
from tests.ledgers import ledger_in

MAP = REPO / "config" / "import" / "ledger-map.yaml"
SAMPLE = REPO / "config" / "import" / "sample-ledger.csv"
POLICY = REPO / "config" / "policies" / "xinjian-2020.yaml"


def run_import(ledger: Path, output: Path, *extra: str, map_file: Path = MAP) -> int:
    return main(
        ["inventory", "import", str(ledger), "--map", str(map_file), "-o", str(output), *extra]
    )


def test_the_sample_ledger_becomes_a_district_with_its_links_uplinks_and_sets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "inventory.yaml"
    assert run_import(SAMPLE, output) == 0
    assert "按 UTF-8 编码读取" in capsys.readouterr().out
    inventory = load_config(output, Inventory)
    by_id = {device.id: device for device in inventory.devices}
    links = {link.name: link for link in inventory.links}
    assert links["长堎汇聚光纤"].backup_fiber is True
    assert links["望城汇聚光纤"].backup_fiber is False
    # A camera's switch given by name and by id; a checkpoint on the link itself.
    assert by_id["360122001001"].uplink is not None
    assert by_id["360122001001"].uplink.switch == "SW-CL-01"
    assert by_id["360122001001"].uplink.port == 1
    assert by_id["360122001002"].uplink.switch == "SW-CL-01"  # type: ignore[union-attr]
    assert by_id["360122002002"].uplink.link == links["望城汇聚光纤"].id  # type: ignore[union-attr]
    assert by_id["SW-WC-01"].link == links["望城汇聚光纤"].id
    # Switches are the network, not a rented unit: no contract bills them.
    assert by_id["SW-CL-01"].kind is DeviceKind.SWITCH
    assert by_id["SW-CL-01"].contract is None
    [door_set] = inventory.sets
    assert door_set.host == "360122003001"
    assert door_set.cameras == ["360122003002", "360122003003"]
    assert door_set.contract == "door-rent"
    assert by_id["360122003001"].service_start == date(2021, 3, 1)  # 2021年3月1日
    stations = {region.id: region.police_station for region in inventory.regions}
    assert stations[by_id["360122002001"].region] == "望城派出所"


def test_an_imported_district_settles_its_sets_and_sees_a_network_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the import is for: a link down is one network ticket, a set is rented whole."""
    output = tmp_path / "inventory.yaml"
    assert run_import(SAMPLE, output) == 0
    inventory = load_config(output, Inventory)
    link = next(link for link in inventory.links if link.name == "望城汇聚光纤")
    behind = {
        d.id
        for d in inventory.devices
        if d.link == link.id
        or (d.uplink and (d.uplink.link == link.id or d.uplink.switch == "SW-WC-01"))
    }
    start = datetime(2026, 7, 1, tzinfo=UTC)

    def observations() -> list[Observation]:
        found = []
        for minute in range(0, 24 * 60, 5):
            for device in inventory.devices:
                down = device.id in behind and 600 <= minute < 720
                found.append(
                    Observation(
                        agent_id="edge-1",
                        device_id=device.id,
                        observed_at=start + timedelta(minutes=minute),
                        health=Health.DOWN if down else Health.UP,
                        reason=Reason.TIMEOUT if down else Reason.OK,
                    )
                )
        return found

    ledger = Ledger(ledger_in(tmp_path))
    replay(inventory, PolicyBook.load([POLICY]), observations(), [], ledger)
    ledger.close()
    capsys.readouterr()
    assert main(
        ["sla", "--ledger", ledger_in(tmp_path), "--inventory", str(output),
         "--policy", str(POLICY), "--period", "2026-07-01"]
    ) == 0  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    network = [t for t in report["tickets"] if t["fault_class"] == "network"]
    assert len(network) == 1
    assert network[0]["link"] == link.id
    assert network[0]["backup_fiber"] is False
    sets = next(g for g in report["groups"] if g["key"] == "door-rent")
    assert sets["unit"] == "set"
    assert sets["units"] == 1
    assert sets["settlement"] is not None


def test_a_csv_excel_saved_in_gbk_imports_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "台账.csv"
    ledger.write_bytes(SAMPLE.read_text(encoding="utf-8").encode("gbk"))
    assert run_import(ledger, tmp_path / "inventory.yaml") == 0
    assert "按 GBK/GB18030 编码读取" in capsys.readouterr().out
    names = {d.name for d in load_config(tmp_path / "inventory.yaml", Inventory).devices}
    assert "幸福小区1号门禁" in names


def test_an_xlsx_ledger_with_real_dates_and_excel_serials_is_imported(tmp_path: Path) -> None:
    ledger = tmp_path / "设备台账.xlsx"
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    with SAMPLE.open(encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle)):
            cells: list[object] = list(row)
            if number == 1:
                cells[7] = 43922  # Excel's serial for 2020-04-01
            elif number:
                cells[7] = datetime(2020, 5, 10)
            sheet.append(cells)
    workbook.save(ledger)
    assert run_import(ledger, tmp_path / "inventory.yaml") == 0
    devices = {d.id: d for d in load_config(tmp_path / "inventory.yaml", Inventory).devices}
    assert devices["SW-CL-01"].service_start == date(2020, 4, 1)
    assert devices["360122001001"].service_start == date(2020, 5, 10)


def test_bad_rows_are_named_by_row_column_and_value_and_capped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "ledger.csv"
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace(",球机,", ",云台机,").replace("10.36.2.11", "10.36.1.300")
    ledger.write_text(text, encoding="utf-8")
    output = tmp_path / "inventory.yaml"
    assert run_import(ledger, output) == 2
    errors = capsys.readouterr().err
    assert (
        f"{ledger}:5: 设备类型: 「云台机」没有对应的取值：请在列映射的 values.kind 下添加" in errors
    )
    assert (
        f"{ledger}:6: IP地址: 不是 IPv4 地址（四个 0-255 的数）（填的是 '10.36.1.300'）" in errors
    )
    assert not output.exists()
    many = tmp_path / "many.csv"
    rows = text.splitlines()
    many.write_text(
        "\n".join([rows[0], *(rows[4].replace(",云台机,", ",X,") for _ in range(200))]) + "\n",
        encoding="utf-8",
    )
    assert run_import(many, output) == 2
    listed = capsys.readouterr().err.splitlines()
    assert len(listed) == MAX_PROBLEMS + 1
    assert re.search(r"many.csv:0: （整个文件）: …… 另有 \d{3} 个问题$", listed[-1])


def test_a_wrong_header_row_is_one_error_that_names_the_right_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "ledger.csv"
    ledger.write_text(
        "某区公安分局视频监控设备台账\n" + SAMPLE.read_text(encoding="utf-8"), encoding="utf-8"
    )
    assert run_import(ledger, tmp_path / "inventory.yaml") == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 1
    assert "第 1 行不是表头：没有列映射中的任何一列" in errors[0]
    assert "第 2 行有其中 14 列：设 header_row: 2" in errors[0]


def test_a_new_ledger_against_the_inventory_in_force_shows_the_diff_and_applies_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "inventory.yaml"
    assert run_import(SAMPLE, output) == 0
    before = output.read_text(encoding="utf-8")
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    changed = [line for line in lines if not line.startswith("360122001002")]  # left
    changed = [line.replace("10.36.2.11", "10.36.2.12") for line in changed]  # moved
    changed.append(
        lines[3].replace("360122001001", "360122001009").replace("10.36.1.11", "10.36.1.19")
    )
    ledger = tmp_path / "2027.csv"
    ledger.write_text("\n".join(changed) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert run_import(ledger, output) == 0
    said = capsys.readouterr().out
    assert "+ 新增 360122001009 长堎大道与新建大道交叉口（10.36.1.19，第 10 行）" in said
    assert "- 离开台账 360122001002 新建区政府东门（10.36.1.12）（设停用日期，历史保留）" in said
    assert (
        "~ 修改 360122002001 望城新区学校门口（10.36.2.12，第 5 行）：IP地址 '10.36.2.11' → "
        "'10.36.2.12'" in said
    )
    assert "3 台设备将变更（新增 1，离开台账 1，修改 1）；加 --apply 写入" in said
    assert output.read_text(encoding="utf-8") == before  # nothing written without --apply
    result = import_ledger(ledger, MAP, output, apply=True, today=date(2027, 1, 1))
    assert result.written
    devices = {d.id: d for d in load_config(output, Inventory).devices}
    assert devices["360122001002"].service_end == date(2027, 1, 1)  # kept, with its history
    assert devices["360122002001"].address == "10.36.2.12"
    assert "360122001009" in devices


def test_a_reordered_ledger_changes_nothing_and_a_station_whose_devices_left_stays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "inventory.yaml"
    assert run_import(SAMPLE, output) == 0
    header, *rows = SAMPLE.read_text(encoding="utf-8").splitlines()
    reordered = tmp_path / "reordered.csv"
    reordered.write_text("\n".join([header, *reversed(rows)]) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert run_import(reordered, output) == 0
    assert "0 台设备将变更" in capsys.readouterr().out  # ids kept, whatever the order
    # Every device of 长堎派出所 leaves: they keep their region, and their history.
    remaining = tmp_path / "望城.csv"
    remaining.write_text(
        "\n".join([header, *(row for row in rows if "望城" in row)]) + "\n", encoding="utf-8"
    )
    result = import_ledger(remaining, MAP, output, apply=True, today=date(2027, 1, 1))
    assert sorted(result.removed) == ["360122001001", "360122001002", "SW-CL-01"]
    inventory = load_config(output, Inventory)
    regions = {region.id: region.name for region in inventory.regions}
    left = next(d for d in inventory.devices if d.id == "360122001001")
    assert regions[left.region] == "长堎派出所"
    assert left.service_end == date(2027, 1, 1)


def test_the_agents_registered_in_the_inventory_survive_a_new_ledger(tmp_path: Path) -> None:
    """The 台账 lists devices, not edge agents: the agents and keys registered in the
    inventory (or in the map's ``base.sites``) stay when a new ledger is applied."""
    output = tmp_path / "inventory.yaml"
    assert run_import(SAMPLE, output) == 0
    data = yaml.safe_load(output.read_text(encoding="utf-8"))
    data["sites"][0] |= registered("edge-cg-01")
    output.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = import_ledger(SAMPLE, MAP, output, apply=True, today=date(2027, 1, 1))
    assert result.written
    [site] = load_config(output, Inventory).sites
    assert site.agents == ["edge-cg-01"]
    assert site.agent_keys == registered("edge-cg-01")["agent_keys"]
