"""A bureau hands over its device ledger (设备台账) as CSV or XLSX with Chinese headers."""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook

from collector.cli import main
from slawatch.config.inventory import DeviceKind, Inventory
from slawatch.config.loader import load_config
from tests.conftest import REPO

MAP = REPO / "config" / "import" / "ledger-map.yaml"
SAMPLE = REPO / "config" / "import" / "sample-ledger.csv"


def test_the_sample_csv_ledger_becomes_a_valid_inventory(tmp_path: Path) -> None:
    output = tmp_path / "inventory.yaml"
    assert main(["inventory", "import", str(SAMPLE), "--map", str(MAP), "-o", str(output)]) == 0

    inventory = load_config(output, Inventory)
    by_id = {device.id: device for device in inventory.devices}
    assert set(by_id) == {"360122001001", "360122001002", "360122002001", "360122002002"}
    assert by_id["360122002002"].kind is DeviceKind.CHECKPOINT
    assert by_id["360122001001"].point_class == 1
    assert by_id["360122001001"].service_start.isoformat() == "2020-04-22"
    stations = {region.id: region.police_station for region in inventory.regions}
    assert stations[by_id["360122002001"].region] == "望城派出所"


def test_an_xlsx_ledger_with_real_dates_is_imported(tmp_path: Path) -> None:
    ledger = tmp_path / "设备台账.xlsx"
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    with SAMPLE.open(encoding="utf-8") as handle:
        for number, row in enumerate(csv.reader(handle)):
            cells: list[object] = list(row)
            if number:
                cells[7] = datetime.strptime(row[7].replace("/", "-"), "%Y-%m-%d")
            sheet.append(cells)
    workbook.save(ledger)
    output = tmp_path / "inventory.yaml"

    assert main(["inventory", "import", str(ledger), "--map", str(MAP), "-o", str(output)]) == 0
    assert len(load_config(output, Inventory).devices) == 4


def test_bad_rows_are_named_by_spreadsheet_row_and_column(tmp_path: Path, capsys: object) -> None:
    ledger = tmp_path / "ledger.csv"
    text = SAMPLE.read_text(encoding="utf-8")
    text = text.replace(",球机,", ",云台机,").replace("10.36.2.11", "10.36.2.11 /24")
    ledger.write_text(text, encoding="utf-8")
    output = tmp_path / "inventory.yaml"

    assert main(["inventory", "import", str(ledger), "--map", str(MAP), "-o", str(output)]) == 2

    errors = capsys.readouterr().err  # type: ignore[attr-defined]
    assert (
        f"{ledger}:3: 设备类型: no value mapping for kind; add it under values.kind (got '云台机')"
        in errors
    )
    assert f"{ledger}:4: IP地址: String should match pattern" in errors
    assert not output.exists()
