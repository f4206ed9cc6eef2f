"""The evidence bundle as an evaluator meets it: opened, read, checked, and tampered with."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import threading
import time
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from collector.cli import main
from collector.ledger.chain import Ledger, row_hash
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.keys import load_private, new_pair
from tests.collector.evidence.conftest import Quarter
from tests.conftest import REPO
from tests.language import english_words

ARTEFACTS = REPO / "var" / "artefacts"


def members(bundle: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(bundle) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def forge(
    bundle: Path,
    out: Path,
    changed: dict[str, bytes | None],
    sign_with: Path | None = None,
    head: str | None = None,
) -> Path:
    """What a forger without the collector's key can do: change files, then make the
    manifest and SHA256SUMS agree with them (signed with their own key, or unsigned)."""
    files = members(bundle)
    for name, data in changed.items():
        if data is None:
            files.pop(name, None)
        else:
            files[name] = data
    manifest = json.loads(files["MANIFEST.json"])
    if head is not None:
        manifest["ledger"]["head"] = head
    listed = {
        n: d
        for n, d in files.items()
        if n not in ("MANIFEST.json", "MANIFEST.json.sig", "SHA256SUMS")
    }
    manifest["files"] = {n: hashlib.sha256(d).hexdigest() for n, d in sorted(listed.items())}
    sums = "".join(f"{h}  {n}\n" for n, h in sorted(manifest["files"].items())).encode()
    files["SHA256SUMS"] = sums
    manifest["sha256sums"] = hashlib.sha256(sums).hexdigest()
    files["MANIFEST.json"] = json.dumps(manifest, ensure_ascii=False, indent=2).encode() + b"\n"
    files.pop("MANIFEST.json.sig", None)
    if sign_with is not None:
        files["MANIFEST.json.sig"] = load_private(sign_with).sign(files["MANIFEST.json"])
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    return out


def verify(bundle: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["evidence", "verify", str(bundle), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def slice_lines(bundle: Path) -> list[str]:
    return gzip.decompress(members(bundle)["ledger.tsv.gz"]).decode().splitlines(keepends=True)


def test_a_signed_bundle_verifies_and_holds_what_the_sla_command_computes(
    quarter: Quarter, bundle: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, said = verify(bundle, capsys, "--pubkey", str(quarter.public))
    assert code == 0, said
    assert "intact" in said
    assert "2 signed heads" in said
    assert "signature checked" in said
    names = set(members(bundle))
    assert {
        "report.pdf", "report.html", "figures.json", "figures.xlsx", "contracts.csv",
        "regions.csv", "devices.csv", "tickets.csv", "ticket_contracts.csv",
        "exemptions.csv", "exemption_effects.csv",
        "inventory.yaml", "policies/01-policy.yaml", "ledger.tsv.gz",
        "heads.jsonl", "MANIFEST.json", "MANIFEST.json.sig", "SHA256SUMS",
    } == names  # fmt: skip
    sla = tmp_path / "sla.json"
    assert main(
        [
            "sla", "--ledger", str(quarter.ledger), "--inventory", str(quarter.inventory),
            "--policy", str(quarter.policy), "--period", "2026-Q3", "-o", str(sla),
        ]
    ) == 0  # fmt: skip
    assert members(bundle)["figures.json"] == sla.read_bytes()
    manifest = json.loads(members(bundle)["MANIFEST.json"])
    assert manifest["ledger"]["rows"] == len(slice_lines(bundle))
    assert manifest["command"][:3] == ["slawatch-collector", "evidence", "export"]
    assert manifest["command"][-2:] == ["--sign", str(quarter.key)]


def test_the_same_inputs_give_the_same_bundle(
    quarter: Quarter, bundle: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again.zip"
    assert quarter.export(again, "--sign", str(quarter.key)) == 0
    first, second = members(bundle), members(again)
    differ = sorted(name for name in first if first[name] != second.get(name))
    assert differ == ["MANIFEST.json", "MANIFEST.json.sig"], differ
    manifests = [json.loads(files["MANIFEST.json"]) for files in (first, second)]
    for manifest in manifests:
        manifest.pop("command")  # where each was written: the only difference
    assert manifests[0] == manifests[1]


def test_an_evaluator_checks_manifest_and_signature_with_openssl_and_sha256sum_alone(
    quarter: Quarter, bundle: Path, tmp_path: Path
) -> None:
    """The commands docs/evidence.md gives, run as written there."""
    doc = (REPO / "docs" / "evidence.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- evaluator-check -->\n```sh\n(.*?)```", doc, re.S)
    assert block is not None, "docs/evidence.md lost its evaluator-check block"
    shutil.copy(bundle, tmp_path / "bundle.zip")
    shutil.copy(quarter.public, tmp_path / "collector.pub")
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.group(1)],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Signature Verified Successfully" in run.stdout
    assert "report.pdf: OK" in run.stdout
    # The same commands catch a changed file.
    tampered = members(bundle)
    tampered["tickets.csv"] = tampered["tickets.csv"].replace(b"C1", b"C2", 1)
    with zipfile.ZipFile(tmp_path / "bundle.zip", "w") as archive:
        for name, data in tampered.items():
            archive.writestr(name, data)
    shutil.rmtree(tmp_path / "bundle", ignore_errors=True)
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.group(1)],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert run.returncode != 0
    assert "tickets.csv: FAILED" in run.stdout


@pytest.mark.parametrize(
    ("language", "headings"),
    [
        ("zh", ["视频监控运维服务考核报告", "各合同考核指标", "服务费结算", "每日在线率",
                "故障工单", "考核规则"]),
        ("en", ["Video surveillance service assessment", "Figures per contract", "Settlement",
                "Online rate per day", "Tickets", "The rules applied"]),
    ],
)  # fmt: skip
def test_the_report_reads_in_its_language_with_the_text_in_the_pdf(
    quarter: Quarter, tmp_path: Path, language: str, headings: list[str]
) -> None:
    out = tmp_path / f"{language}.zip"
    assert quarter.export(out, "--lang", language) == 0
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(members(out)["report.pdf"])
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    for heading in headings:
        assert heading in text, heading
    assert "摄像机租赁" in text  # the contract's own name, whatever the language
    assert "CNY " in text  # every amount with its ISO currency (¥ is the yen's too)
    assert "¥" not in text
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "2", str(pdf),
         str(ARTEFACTS / f"evidence-report-{language}")],
        check=True,
    )  # fmt: skip
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    listed = fonts.stdout.splitlines()[2:]
    assert any("Noto-Sans-CJK-SC" in line for line in listed)
    assert all(line.split()[-5] == "yes" for line in listed)  # embedded: reads the same anywhere


def test_the_workbook_and_the_csv_files_open_with_chinese_headings(bundle: Path) -> None:
    files = members(bundle)
    book = load_workbook(io.BytesIO(files["figures.xlsx"]))
    assert book.sheetnames == [
        "合同汇总", "区域", "设备", "工单", "工单分合同", "考核豁免", "豁免影响"
    ]  # fmt: skip
    summary = book["合同汇总"]
    assert summary.freeze_panes == "B2"
    header = [cell.value for cell in summary[1]]
    assert header[:5] == ["编号", "名称", "考核规则", "计费单位", "数量"]
    online = summary.cell(row=3, column=header.index("在线率") + 1)
    assert online.number_format == "0.000%"
    assert 0.9 < online.value <= 1
    tickets = book["工单"]
    assert tickets.max_row == 1 + 3  # three faults in the quarter
    detected = tickets.cell(row=2, column=7)
    assert detected.number_format == "yyyy-mm-dd hh:mm:ss"
    for name in (
        "contracts.csv", "regions.csv", "devices.csv", "tickets.csv", "ticket_contracts.csv",
        "exemptions.csv", "exemption_effects.csv",
    ):  # fmt: skip
        data = files[name]
        assert data.startswith(b"\xef\xbb\xbf"), name  # Excel reads UTF-8 only with a BOM
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        assert rows[0][0] in ("编号", "工单号", "合同", "豁免编号"), name
    device_rows = list(csv.reader(io.StringIO(files["devices.csv"].decode("utf-8-sig"))))
    c7 = next(row for row in device_rows if row[0] == "C7")
    assert c7[6] == "40.0"  # hours offline: down from hour 500 to hour 540


def test_the_devices_table_lists_the_units_with_something_in_the_period(
    bundle: Path, tmp_path: Path
) -> None:
    files = members(bundle)
    (tmp_path / "inventory.yaml").write_bytes(files["inventory.yaml"])
    inventory = load_config(tmp_path / "inventory.yaml", Inventory)
    header, *rows = csv.reader(io.StringIO(files["devices.csv"].decode("utf-8-sig")))
    at = {name: n for n, name in enumerate(header)}
    for row in rows:  # each listed unit lost time, had a ticket, or fell short on a rate
        rates = [row[n] for name, n in at.items() if name.endswith("率") and name != "故障率"]
        assert (
            row[at["离线时长（小时）"]] not in ("", "0", "0.0")
            or row[at["工单数"]] != "0"
            or any(rate not in ("", "1", "1.0") for rate in rates)
        ), row
    said = re.search(
        r"列出本期有离线、降级或工单的 (\d+) 个单元；其余 (\d+) 个单元全程在线",
        files["report.html"].decode(),
    )
    assert said is not None
    listed, steady = int(said[1]), int(said[2])
    assert listed == len(rows) >= 1
    assert steady >= 1
    assert listed + steady == len(inventory.devices)  # no door-access sets in this district


# Every file of a bundle, changed by one byte: verify names it.
FILES = [
    "report.pdf", "report.html", "figures.json", "figures.xlsx", "contracts.csv",
    "regions.csv", "devices.csv", "tickets.csv", "ticket_contracts.csv", "inventory.yaml",
    "policies/01-policy.yaml", "ledger.tsv.gz", "heads.jsonl", "SHA256SUMS",
]  # fmt: skip


@pytest.mark.parametrize("name", FILES)
def test_a_one_byte_change_in_any_file_is_named(
    quarter: Quarter, bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    files = members(bundle)
    data = bytearray(files[name])
    data[len(data) // 2] ^= 0x01
    out = tmp_path / "changed.zip"
    with zipfile.ZipFile(out, "w") as archive:
        for member, content in files.items():
            archive.writestr(member, bytes(data) if member == name else content)
    code, said = verify(out, capsys, "--pubkey", str(quarter.public))
    assert code == 3
    assert f"{name}: changed" in said


def test_a_changed_manifest_fails_its_signature(
    quarter: Quarter, bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = members(bundle)
    files["MANIFEST.json"] = files["MANIFEST.json"].replace(b'"zh"', b'"en"')
    out = tmp_path / "changed.zip"
    with zipfile.ZipFile(out, "w") as archive:
        for member, content in files.items():
            archive.writestr(member, content)
    code, said = verify(out, capsys, "--pubkey", str(quarter.public))
    assert code == 3
    assert "MANIFEST.json: its signature does not verify" in said


def test_a_removed_or_an_added_file_is_named(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = members(bundle)
    for label, changed in (
        ("tickets.csv: removed", {n: d for n, d in files.items() if n != "tickets.csv"}),
        ("notes.txt: added", {**files, "notes.txt": b"an extra file\n"}),
    ):
        out = tmp_path / "changed.zip"
        with zipfile.ZipFile(out, "w") as archive:
            for member, content in changed.items():
                archive.writestr(member, content)
        code, said = verify(out, capsys)
        assert code == 3, said
        assert label in said, said


def with_slice(bundle: Path, out: Path, lines: list[str]) -> Path:
    """The bundle with these ledger lines, its manifest remade to match (unsigned)."""
    return forge(bundle, out, {"ledger.tsv.gz": gzip.compress("".join(lines).encode())})


def test_reordered_or_removed_ledger_rows_are_named_even_with_a_remade_manifest(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = slice_lines(bundle)
    swapped = [*lines[:5], lines[6], lines[5], *lines[7:]]
    out = with_slice(bundle, tmp_path / "swapped.zip", swapped)
    code, said = verify(out, capsys)
    assert code == 3, said
    assert "ledger.tsv.gz:6: row 6 where row 5 belongs" in said, said
    dropped = [*lines[:5], *lines[6:]]
    out = with_slice(bundle, tmp_path / "dropped.zip", dropped)
    code, said = verify(out, capsys)
    assert code == 3, said
    assert "row 6 where row 5 belongs (removed or moved)" in said, said
    edited = [*lines[:5], lines[5].replace('"up"', '"down"', 1), *lines[6:]]
    out = with_slice(bundle, tmp_path / "edited.zip", edited)
    code, said = verify(out, capsys)
    assert code == 3, said
    assert "ledger.tsv.gz:6: row 5 was changed (its hash differs)" in said, said


def rehashed_slice(lines: list[str], at: int, old: str, new: str) -> bytes:
    """The slice with row ``at`` edited and every hash from there recomputed: a chain that
    verifies on its own."""
    prev = lines[at - 1].rstrip("\n").split("\t")[4]
    out = lines[:at]
    for line in lines[at:]:
        seq, kind, when, body, _ = line.rstrip("\n").split("\t")
        if int(seq) == at:
            body = body.replace(old, new, 1)
        prev = row_hash(int(seq), kind, when, body, prev)
        out.append("\t".join((seq, kind, when, body, prev)) + "\n")
    return gzip.compress("".join(out).encode())


def test_a_rehashed_ledger_after_a_signed_head_fails_however_the_forger_signs(
    quarter: Quarter, bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = slice_lines(bundle)
    first_down = next(n for n, line in enumerate(lines) if '"state":"down"' in line)
    forged_slice = rehashed_slice(lines, first_down, '"state":"down"', '"state":"degraded"')
    forger = tmp_path / "forger.pem"
    new_pair(forger)
    last = gzip.decompress(forged_slice).decode().splitlines()[-1]
    out = forge(
        bundle,
        tmp_path / "resigned.zip",
        {"ledger.tsv.gz": forged_slice},
        forger,
        last.split("\t")[4],
    )
    code, said = verify(out, capsys, "--pubkey", str(quarter.public))
    assert code == 3, said
    assert "MANIFEST.json: its signature does not verify" in said, said
    # Without the key, the collector's own signed heads still stand in the way.
    code, said = verify(out, capsys)
    assert code == 3, said
    assert "heads.jsonl: the head of row" in said, said
    assert "does not match the slice" in said


def test_an_edited_figure_is_caught_by_recomputation(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = json.loads(members(bundle)["figures.json"])
    cameras = next(n for n, g in enumerate(figures["groups"]) if g["key"] == "cam-rent")
    true_rate = figures["groups"][cameras]["online_rate"]
    text = members(bundle)["figures.json"].replace(
        f'"online_rate": {true_rate}'.encode(), b'"online_rate": 0.99', 1
    )
    out = forge(bundle, tmp_path / "figure.zip", {"figures.json": text})
    code, said = verify(out, capsys)
    assert code == 3, said
    where = f"figures.json: groups[{cameras}].online_rate"
    assert f"{where} is 0.99 in the bundle, the ledger gives {true_rate}" in said
    due = figures["groups"][cameras]["settlement"]["due"]
    rows = members(bundle)["contracts.csv"].replace(due.encode(), b"99999.00")
    assert rows != members(bundle)["contracts.csv"]
    out = forge(bundle, tmp_path / "money.zip", {"contracts.csv": rows})
    code, said = verify(out, capsys)
    assert code == 3, said
    assert "contracts.csv: line" in said, said


@pytest.mark.timeout(120)
@pytest.mark.sqlite_only  # a copy of the quarter's file is written to
def test_a_ledger_a_collector_writes_during_the_export_is_exported_from_a_snapshot(
    quarter: Quarter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The inventory is a FIFO: the export blocks reading it after it noted the ledger's
    head, a row is appended meanwhile (as a running collector does), then the inventory
    flows. The figures and the slice must still come from the same rows."""
    live = tmp_path / "live.sqlite"
    shutil.copy(quarter.ledger, live)
    fifo = tmp_path / "inventory.yaml"
    os.mkfifo(fifo)
    text = quarter.inventory.read_text(encoding="utf-8")
    done = threading.Event()
    moved = threading.Event()

    def inventory_reader_by_reader() -> None:
        while not done.is_set():
            with fifo.open("w", encoding="utf-8") as pipe:  # blocks until one reads
                if not moved.is_set():
                    ledger = Ledger(live)
                    with ledger.transaction():
                        ledger.append("ledger_note", "2026-10-01T00:00:00.000Z", {"by": "test"})
                    ledger.close()
                    moved.set()
                pipe.write(text)
            # The reader sees its end of file once no writer has the FIFO open: wait for
            # that before opening it again (a reader reads the whole file in milliseconds).
            time.sleep(0.5)

    feeder = threading.Thread(target=inventory_reader_by_reader, daemon=True)
    feeder.start()
    out = tmp_path / "live.zip"
    code = main(
        [
            "evidence", "export", "--ledger", str(live), "--inventory", str(fifo),
            "--policy", str(quarter.policy), "--period", "2026-Q3", "--out", str(out),
        ]
    )  # fmt: skip
    done.set()
    os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))  # a feeder waiting to open returns
    feeder.join(10)
    assert code == 0
    assert "rows were added while it was read; exporting a snapshot" in capsys.readouterr().err
    verified, said = verify(out, capsys)
    assert verified == 0, said
    assert json.loads(members(out)["MANIFEST.json"])["ledger"]["rows"] == len(slice_lines(out))


def test_the_report_says_which_figures_carry_money_and_which_are_reported_only(
    bundle: Path,
) -> None:
    """The test policy targets the repair timeliness (97 %) besides the online rate: C1's
    3 h and C8's 1 h repairs are in time, C7's 40 h is late (4 h): 2 ÷ 3, missed; the
    money still follows the online rate alone, and the report says so."""
    html = members(bundle)["report.html"].decode()
    assert "计费指标：仅在线率，按在线率比例结算" in html
    assert "修复及时率（未达标） 仅作考核报告，不影响金额" in html
    figures = json.loads(members(bundle)["figures.json"])
    cameras = next(g for g in figures["groups"] if g["key"] == "cam-rent")
    assert cameras["targets"]["repair_timeliness_rate"]["met"] is False
    assert cameras["settlement"]["paid_on"] == "online_rate"
    assert cameras["settlement"]["reported_only"] == ["repair_timeliness_rate"]


def test_the_chinese_report_is_all_chinese_and_its_ticket_list_reads(
    quarter: Quarter, tmp_path: Path
) -> None:
    """No English word, raw id or tz name in the Chinese PDF; the ticket list names
    devices, gives response and repair with their deadlines, and wraps words, not
    characters (a narrow column printed 前/端/故/障 one per line)."""
    out = tmp_path / "zh.zip"
    assert quarter.export(out) == 0
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(members(out)["report.pdf"])
    text = subprocess.run(
        ["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert english_words(text) == []
    assert "北京时间 (UTC+8)" in text
    for raw in ("Asia/Shanghai", "cam-rent", "test-quarter"):
        assert raw not in text, raw
    assert "考核规则：测试季度" in text  # the policy by its name
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert not [line for line in lines if len(line) == 1 and "\u4e00" <= line <= "\u9fff"]
    listed = text[text.index("故障工单\n") :]
    for said in ("点位 C1", "点位 C8", "响应（时限）", "修复（时限）", "时限 "):
        assert said in listed, said
    assert "值班员 响应" in listed or "响应超时" in listed or "按时响应" in listed
