"""A bundle damaged in transit, or re-packed by hand, as an evaluator may receive it:
``evidence verify`` answers exit 0 (contents intact) or exit 3 naming the file it found
wrong, never a traceback. Contents are compared, not how a zip tool lists them."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.cli import main
from collector.ledger.chain import Ledger
from tests.collector.evidence.conftest import Quarter
from tests.collector.evidence.test_export import forge, members

METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,  # the same examples each run: a failure here is reproducible
)


def verify(bundle: Path, *extra: str) -> tuple[int, str]:
    """The command as an evaluator runs it; any exception escaping it fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["evidence", "verify", str(bundle), *extra])
    return code, out.getvalue() + err.getvalue()


@dataclass(frozen=True)
class Repack:
    order: list[str]
    methods: list[int]
    folders: bool  # directory entries, as zip -r writes them
    under: str | None  # every name under one folder, as `zip -r b.zip bundle/` writes them


def repack(files: dict[str, bytes], how: Repack, out: Path) -> Path:
    with zipfile.ZipFile(out, "w") as archive:
        prefix = f"{how.under}/" if how.under else ""
        if how.folders:
            archive.writestr(zipfile.ZipInfo(prefix or "./"), b"")
            archive.writestr(zipfile.ZipInfo(f"{prefix}policies/"), b"")
        for name, method in zip(how.order, how.methods, strict=True):
            if name in files:
                archive.writestr(prefix + name, files[name], method)
    return out


def repacks(names: list[str]) -> st.SearchStrategy[Repack]:
    return st.builds(
        Repack,
        st.permutations(names),
        st.lists(st.sampled_from(METHODS), min_size=len(names), max_size=len(names)),
        st.booleans(),
        st.sampled_from([None, "bundle", "2026-Q3 证据"]),
    )


def test_a_bundle_rezipped_with_zip_r_verifies_and_a_real_change_is_named(
    quarter: Quarter, bundle: Path, tmp_path: Path
) -> None:
    if shutil.which("zip") is None:
        pytest.skip("no zip command (Debian package zip)")
    folder = tmp_path / "bundle"
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(folder)
    subprocess.run(["zip", "-qr", str(tmp_path / "again.zip"), "."], cwd=folder, check=True)
    assert "policies/" in zipfile.ZipFile(tmp_path / "again.zip").namelist()
    code, said = verify(tmp_path / "again.zip", "--pubkey", str(quarter.public))
    assert code == 0, said
    # The folder itself zipped: every name under bundle/.
    subprocess.run(["zip", "-qr", "whole.zip", "bundle"], cwd=tmp_path, check=True)
    code, said = verify(tmp_path / "whole.zip", "--pubkey", str(quarter.public))
    assert code == 0, said
    # A real change among the directory entries is what is named.
    tickets = folder / "tickets.csv"
    tickets.write_bytes(tickets.read_bytes().replace(b"C1", b"C2", 1))
    subprocess.run(["zip", "-qr", str(tmp_path / "changed.zip"), "."], cwd=folder, check=True)
    code, said = verify(tmp_path / "changed.zip", "--pubkey", str(quarter.public))
    assert code == 3
    assert "tickets.csv: changed" in said, said


def test_a_member_twice_in_the_zip_is_named(bundle: Path, tmp_path: Path) -> None:
    files = members(bundle)
    out = tmp_path / "twice.zip"
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
        with pytest.warns(UserWarning, match="Duplicate"):
            archive.writestr("tickets.csv", b"forged\n")
    code, said = verify(out)
    assert code == 3
    assert "tickets.csv: twice in the zip" in said, said


@settings(FUZZ, max_examples=40)
@given(
    flips=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=3
    )
)
def test_byte_flips_anywhere_end_in_exit_0_with_intact_contents_or_exit_3_naming_a_file(
    quarter: Quarter, bundle: Path, flips: list[tuple[float, int]]
) -> None:
    data = bytearray(bundle.read_bytes())
    for where, mask in flips:
        data[int(where * len(data))] ^= mask
    original = members(bundle)
    with tempfile.TemporaryDirectory() as scratch:
        damaged = Path(scratch) / "damaged.zip"
        damaged.write_bytes(bytes(data))
        code, said = verify(damaged, "--pubkey", str(quarter.public))
        if code == 0:
            # Only bytes no content depends on were hit (a date, an attribute): every file
            # reads back as exported.
            with zipfile.ZipFile(damaged) as archive:
                assert {n: archive.read(n) for n in archive.namelist()} == original
        else:
            assert code == 3, said
            assert "not a readable zip" in said or any(f"{n}:" in said for n in original), said


@settings(FUZZ, max_examples=12)
@given(data=st.data())
def test_repacked_bundles_verify_when_intact_and_name_the_one_file_changed(
    quarter: Quarter, bundle: Path, data: st.DataObject
) -> None:
    files = members(bundle)
    names = sorted(files)
    how = data.draw(repacks(names), "repack")
    change = data.draw(st.sampled_from(["none", "flip", "drop", "add"]), "change")
    target = data.draw(st.sampled_from(names), "target")
    expected = None
    if change == "flip":
        changed = bytearray(files[target])
        changed[data.draw(st.integers(0, len(changed) - 1), "at")] ^= 0x20
        files[target] = bytes(changed)
        expected = "MANIFEST.json" if target == "MANIFEST.json.sig" else target
    elif change == "drop":
        del files[target]
        expected = f"{target}: removed"
    elif change == "add":
        files["notes.txt"] = b"added by hand\n"
        how = Repack(
            [*how.order, "notes.txt"], [*how.methods, zipfile.ZIP_DEFLATED], how.folders, how.under
        )
        expected = "notes.txt: added"
    with tempfile.TemporaryDirectory() as scratch:
        code, said = verify(
            repack(files, how, Path(scratch) / "b.zip"), "--pubkey", str(quarter.public)
        )
    if expected is None:
        assert code == 0, said
    else:
        assert code == 3, said
        assert expected in said, said


@pytest.mark.sqlite_only  # a copy of the quarter's file, named by a path with ../ in it
def test_an_export_given_a_key_signs_a_head_at_its_own_end_row_and_says_so(
    quarter: Quarter, tmp_path: Path
) -> None:
    """The collector's last head is two rows short of the end (as between two signings).
    A closed quarter's slice ends at the first signed head after its closing snapshot, so
    the two rows are not in it; the quarter in progress runs to the end, which the export
    signs itself, and the report names the head covering it."""
    ledger = tmp_path / "ledger.sqlite"
    shutil.copy(quarter.ledger, ledger)
    written = Ledger(ledger)
    with written.transaction():
        written.append("ledger_note", "2026-10-01T00:00:00.000Z", {"by": "test"})
        written.append("ledger_note", "2026-10-01T00:00:01.000Z", {"by": "test"})
    last = written.next_seq - 1
    (closing,) = written.connection.execute(
        "SELECT seq FROM ledger WHERE kind = 'snapshot' AND at = '2026-09-30T16:00:00.000Z'"
    ).fetchone()
    written.close()
    export = [
        "evidence", "export", "--ledger", f"{tmp_path}/sub/../ledger.sqlite",
        "--inventory", str(quarter.inventory), "--policy", str(quarter.policy),
    ]  # fmt: skip
    (tmp_path / "sub").mkdir()
    closed = tmp_path / "closed.zip"
    assert (
        main([*export, "--period", "2026-Q3", "--out", str(closed), "--sign", str(quarter.key)])
        == 0
    )
    files = members(closed)
    heads = [json.loads(line) for line in files["heads.jsonl"].splitlines()]
    assert closing <= last - 2
    assert [head["seq"] for head in heads] == [heads[0]["seq"], last - 2]
    assert json.loads(files["MANIFEST.json"])["ledger"]["rows"] == last - 1
    assert "本次导出时签署" not in files["report.html"].decode()
    signed = tmp_path / "signed.zip"
    in_progress = [*export, "--period", "2026-Q4"]
    assert main([*in_progress, "--out", str(signed), "--sign", str(quarter.key)]) == 0
    files = members(signed)
    manifest = json.loads(files["MANIFEST.json"])
    first = manifest["ledger"]["first_row"]
    assert first == closing  # the slice opens at the quarter's midnight snapshot
    heads = [json.loads(line) for line in files["heads.jsonl"].splitlines()]
    assert [head["seq"] for head in heads] == [last - 2, last]
    assert manifest["ledger"]["anchored_through"] == last
    # Paths as given, normalized: no sub/.. in the manifest.
    assert f"{tmp_path}/ledger.sqlite" in manifest["command"]
    assert not any("/../" in arg for arg in manifest["command"])
    html = files["report.html"].decode()
    assert f"第 {first}–{last} 行由第 {last} 行的签名链头覆盖" in html
    assert "本次导出时签署" in html
    code, said = verify(signed, "--pubkey", str(quarter.public))
    assert code == 0, said
    assert f"2 signed heads (the last covers rows {first}–{last})" in said
    # Without a key the export cannot sign: the two rows after the last head are named.
    unsigned = tmp_path / "unsigned.zip"
    assert main([*in_progress, "--out", str(unsigned)]) == 0
    html = members(unsigned)["report.html"].decode()
    assert f"第 {last - 1}–{last} 行（2 行）未被任何签名链头覆盖" in html
    code, said = verify(unsigned)
    assert code == 0, said
    assert f"rows {last - 1}–{last} are covered by no signed head" in said


def test_a_forged_manifest_naming_a_file_outside_the_bundle_writes_nothing_there(
    bundle: Path, tmp_path: Path
) -> None:
    escape = tmp_path / "scratch" / "escaped.txt"
    name = f"../../../../../../../..{escape}"
    out = forge(bundle, tmp_path / "escape.zip", {name: b"written outside\n"})
    code, said = verify(out)
    assert code == 3
    assert "outside the bundle" in said, said
    assert not escape.exists()
