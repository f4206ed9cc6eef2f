"""``slawatch-collector evidence verify``: is this bundle what the collector exported?

In order: the manifest's signature (with ``--pubkey``); no file added or removed; every
file's SHA-256; the ledger slice's chain, row by row, to the manifest's head; the signed
heads; then the figures recomputed from the slice, inventory and policies, byte-equal to
figures.json and the CSVs. The first thing that fails is named (file, line, row or
figure) and verification stops there.
"""

from __future__ import annotations

import json
import lzma
import shutil
import sqlite3
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from collector.evidence import ledger_slice
from collector.evidence.derive import derive
from collector.evidence.export import HEADS, MANIFEST, SIGNATURE, SUMS, sha256, sums_text
from collector.evidence.heads import (
    HeadMismatchError,
    SignedHead,
    check_heads,
    read_heads_file,
)
from collector.ledger.chain import GENESIS, Ledger
from collector.sla.measure import measured
from collector.sla.period import parse_period
from slawatch.config.errors import ConfigError
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook
from slawatch.keys import key_id, signature_holds


class BundleError(ValueError):
    """What in the bundle is not as exported (the message names it)."""


@dataclass(frozen=True, slots=True)
class Verified:
    rows: int
    head: str
    signed_heads: int
    anchored_through: int | None  # the last row a signed head covers
    signature: str  # "checked", "absent" or "not checked"
    first: int = 0  # the slice's first row (a midnight snapshot's, or genesis)

    def anchoring(self) -> str:
        """Which rows the signed heads cover, and which none does, in words."""
        last = self.first - 1 if self.anchored_through is None else self.anchored_through
        said = (
            f"the last covers rows {self.first}–{last}"
            if last >= self.first
            else ("none covers any row")
        )
        if last < self.rows - 1:
            said += f"; rows {last + 1}–{self.rows - 1} are covered by no signed head"
        return said


# What reading a damaged member can raise: a bad CRC or header (BadZipFile), a broken
# deflate, bzip2 or lzma stream, a truncated file, a method or flag zipfile cannot read.
_DAMAGE = (
    OSError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    struct.error,
)


def _members(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The bundle's files by name, as a folder holds them: directory entries (``zip -r``
    adds ``policies/``) are no files, and a bundle re-zipped from its folder (``zip -r
    b.zip bundle/``) has every name under that folder. Contents are what counts, not how
    a zip tool lists them."""
    files: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        if info.is_dir():
            continue
        if info.filename in files:
            raise BundleError(f"{info.filename}: twice in the zip (which one is the bundle's?)")
        files[info.filename] = info
    if MANIFEST not in files:
        folders = {name[: -len(MANIFEST)] for name in files if name.endswith("/" + MANIFEST)}
        if len(folders) == 1:
            (folder,) = folders
            if all(name.startswith(folder) for name in files):
                return {name[len(folder) :]: info for name, info in files.items()}
    return files


def _read(archive: zipfile.ZipFile, name: str, info: zipfile.ZipInfo) -> bytes:
    try:
        return archive.read(info)
    except _DAMAGE as exc:
        raise BundleError(f"{name}: damaged in the zip ({exc})") from None


def _extract(archive: zipfile.ZipFile, name: str, info: zipfile.ZipInfo, to: Path) -> None:
    """Streamed: the ledger slice may be gigabytes."""
    to.parent.mkdir(parents=True, exist_ok=True)
    try:
        with archive.open(info) as source, to.open("wb") as out:
            shutil.copyfileobj(source, out, 1 << 20)
    except _DAMAGE as exc:
        raise BundleError(f"{name}: damaged in the zip ({exc})") from None


def verify_bundle(bundle: Path, public: Ed25519PublicKey | None) -> Verified:
    try:
        archive = zipfile.ZipFile(bundle)
    except _DAMAGE as exc:
        raise BundleError(f"{bundle}: not a readable zip ({exc})") from None
    with archive, tempfile.TemporaryDirectory(prefix="slawatch-verify-") as scratch:
        try:
            members = _members(archive)
        except _DAMAGE as exc:
            raise BundleError(f"{bundle}: not a readable zip ({exc})") from None
        if MANIFEST not in members:
            raise BundleError(f"{MANIFEST}: removed (the bundle has no manifest)")
        manifest_bytes = _read(archive, MANIFEST, members[MANIFEST])
        signature = _check_signature(archive, members, manifest_bytes, public)
        manifest = _manifest(manifest_bytes)
        files: dict[str, str] = manifest["files"]
        expected = {*files, MANIFEST, SUMS} | ({SIGNATURE} if SIGNATURE in members else set())
        for name in sorted(members):
            if name not in expected:
                raise BundleError(f"{name}: added (the manifest does not list it)")
        for name in sorted(expected - set(members)):
            raise BundleError(f"{name}: removed (the manifest lists it)")
        sums = _read(archive, SUMS, members[SUMS])
        if sums != sums_text(files):
            # SHA256SUMS is named by hash in the manifest: which of the two changed?
            raise BundleError(
                f"{MANIFEST}: changed (its file list is not the SHA256SUMS it names)"
                if sha256(sums) == manifest["sha256sums"]
                else f"{SUMS}: changed (it does not list the manifest's hashes)"
            )
        if sha256(sums) != manifest["sha256sums"]:
            raise BundleError(f"{MANIFEST}: changed (it names another SHA256SUMS)")
        folder = Path(scratch)
        for name, digest in sorted(files.items()):
            _extract(archive, name, members[name], folder / name)
            if ledger_slice.sha256_of(folder / name) != digest:
                raise BundleError(f"{name}: changed (its SHA-256 is not the manifest's)")
        rows, head, heads = _check_ledger(folder, manifest, public)
        _recompute(folder, manifest)
    anchored = max((found.seq for found in heads), default=None)
    first = manifest["ledger"].get("first_row", 0)
    return Verified(rows, head, len(heads), anchored, signature, first)


def _check_signature(
    archive: zipfile.ZipFile,
    members: dict[str, zipfile.ZipInfo],
    manifest: bytes,
    public: Ed25519PublicKey | None,
) -> str:
    if public is None:
        return "not checked" if SIGNATURE in members else "absent"
    if SIGNATURE not in members:
        raise BundleError(f"{SIGNATURE}: removed (the bundle is not signed)")
    signature = _read(archive, SIGNATURE, members[SIGNATURE])
    if not signature_holds(public, signature, manifest):
        raise BundleError(
            f"{MANIFEST}: its signature does not verify with key {key_id(public)} "
            f"(the manifest or {SIGNATURE} was changed, or another key signed it)"
        )
    return "checked"


def _manifest(data: bytes) -> dict[str, Any]:
    """The manifest, its shape checked: every later step reads it without a guard."""
    try:
        manifest: dict[str, Any] = json.loads(data)
        files, ledger = manifest["files"], manifest["ledger"]
        named = [manifest["inventory"], *manifest["policies"], ledger["file"], ledger["heads"]]
        shaped = (
            isinstance(files, dict)
            and all(isinstance(n, str) and isinstance(d, str) for n, d in files.items())
            and isinstance(manifest["sha256sums"], str)
            and all(isinstance(name, str) and name in files for name in named)
            and type(ledger["rows"]) is int
            and type(ledger.get("first_row", 0)) is int
            and isinstance(ledger.get("prev", ""), str)
            and isinstance(ledger["head"], str)
            and (
                ledger["observed_through_ms"] is None or type(ledger["observed_through_ms"]) is int
            )
            and isinstance(manifest["period"]["asked"], str)
            and manifest["language"] in ("zh", "en")
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{MANIFEST}: changed (not a slawatch manifest: {exc})") from None
    if not shaped:
        raise BundleError(f"{MANIFEST}: changed (not a slawatch manifest)")
    for name in files:
        # Each is written under the scratch folder: a name reaching out of it is no
        # bundle's (zipfile's own extraction would have cleaned it; reading member by
        # member does not).
        if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts or not name:
            raise BundleError(f"{MANIFEST}: changed (it lists {name!r}, outside the bundle)")
    return manifest


def _check_ledger(
    folder: Path, manifest: dict[str, Any], public: Ed25519PublicKey | None
) -> tuple[int, str, list[SignedHead]]:
    """The slice into a fresh ledger file (scratch/ledger.sqlite), chain and heads checked."""
    facts = manifest["ledger"]
    file = folder / "scratch-ledger.sqlite"
    Ledger(file).close()  # the schema
    db = sqlite3.connect(file, isolation_level=None)
    try:
        try:
            rows, head = ledger_slice.load_slice(
                folder / facts["file"],
                db,
                facts.get("first_row", 0),
                facts.get("prev", GENESIS),
            )
        except ledger_slice.SliceError as exc:
            raise BundleError(str(exc)) from None
        except (OSError, EOFError, zlib.error, ValueError, sqlite3.Error) as exc:
            raise BundleError(f"{facts['file']}: not a ledger slice ({exc})") from None
        if rows != facts["rows"]:
            raise BundleError(
                f"{facts['file']}: {rows} rows, the manifest says {facts['rows']} "
                "(rows removed or added at the end)"
            )
        if head != facts["head"]:
            raise BundleError(
                f"{facts['file']}: the chain ends at head {head[:16]}…, the manifest's is "
                f"{facts['head'][:16]}… (rows rewritten and re-hashed)"
            )
        try:
            heads = read_heads_file(folder / HEADS)
        except (HeadMismatchError, ValueError) as exc:
            raise BundleError(f"{HEADS}: {exc}") from None
        hash_of: dict[int, str] = {}
        for found in heads:
            stored = db.execute("SELECT hash FROM ledger WHERE seq = ?", (found.seq,)).fetchone()
            hash_of[found.seq] = "" if stored is None else str(stored[0])
        if public is not None and heads:
            try:
                check_heads(heads, public, rows, lambda seq: hash_of.get(seq, ""))
            except HeadMismatchError as exc:
                raise BundleError(f"{HEADS}: {exc}") from None
        else:
            for found in heads:
                if hash_of[found.seq] != found.hash:
                    raise BundleError(
                        f"{HEADS}: the head of row {found.seq} does not match the slice"
                    )
        watermark = facts["observed_through_ms"]
        if watermark is not None:
            db.execute("INSERT INTO observed VALUES (0, ?)", (watermark,))
    finally:
        db.close()
    return rows, head, heads


def _recompute(folder: Path, manifest: dict[str, Any]) -> None:
    """The figures again, from the bundle's own slice, inventory and policies."""
    try:
        policies = PolicyBook.load([folder / name for name in manifest["policies"]])
        zone = ZoneInfo(policies.default.timezone)
        asked = parse_period(manifest["period"]["asked"], zone)
        inventory_file = folder / manifest["inventory"]
        found: list[Inventory] = []

        def load() -> Inventory:
            found.append(load_config(inventory_file, Inventory))
            return found[0]

        with measured(
            folder / "scratch-ledger.sqlite", policies, asked, load, inventory_file
        ) as measurement:
            derived = derive(measurement, found[0], zone, manifest["language"])
    except ConfigError as exc:
        raise BundleError(f"the bundle's inputs do not load: {exc}") from None
    except (ValueError, KeyError, TypeError, sqlite3.Error) as exc:
        # Only a forged bundle gets here (every file matched a manifest that is not the
        # collector's): its slice holds rows the collector never writes.
        raise BundleError(f"the figures cannot be recomputed from the bundle ({exc!r})") from None
    for name, data in derived.files.items():
        kept = (folder / name).read_bytes()
        if kept != data:
            raise BundleError(f"{name}: {_first_difference(name, kept, data)}")


def _first_difference(name: str, kept: bytes, derived: bytes) -> str:
    """Where a file stops matching its recomputation, in the reader's terms."""
    if name.endswith(".json"):
        try:
            where = _json_difference(json.loads(kept), json.loads(derived), "")
        except ValueError:
            where = ("(the whole file)", "not JSON", "JSON")
        if where is not None:
            path, said, found = where
            return f"{path} is {said!r} in the bundle, the ledger gives {found!r}"
    kept_lines, derived_lines = kept.splitlines(), derived.splitlines()
    for number, (a, b) in enumerate(zip(kept_lines, derived_lines, strict=False), 1):
        if a != b:
            return f"line {number} differs from the recomputation ({b.decode(errors='replace')!r})"
    return f"{len(kept_lines)} lines in the bundle, {len(derived_lines)} recomputed"


def _json_difference(a: Any, b: Any, path: str) -> tuple[str, Any, Any] | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = _json_difference(a.get(key), b.get(key), f"{path}.{key}" if path else key)
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _json_difference(x, y, f"{path}[{n}]")
            if found is not None:
                return found
        return None
    return None if a == b else (path or "(the whole file)", a, b)
