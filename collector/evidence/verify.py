"""``slawatch-collector evidence verify``: is this bundle what the collector exported?

In order: the manifest's signature (with ``--pubkey``); no file added or removed; every
file's SHA-256; the ledger slice's chain, row by row, to the manifest's head; the signed
heads; then the figures recomputed from the slice, inventory and policies, byte-equal to
figures.json and the CSVs. The first thing that fails is named (file, line, row or
figure) and verification stops there.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from collector.evidence import ledger_slice
from collector.evidence.derive import derive
from collector.evidence.export import HEADS, MANIFEST, SIGNATURE, SUMS, sha256, sums_text
from collector.evidence.heads import HeadMismatchError, check_heads, read_heads_file
from collector.evidence.keys import key_id, signature_holds
from collector.ledger.chain import Ledger
from collector.sla.measure import measured
from collector.sla.period import parse_period
from slawatch.config.errors import ConfigError
from slawatch.config.inventory import Inventory
from slawatch.config.loader import load_config
from slawatch.config.policies import PolicyBook


class BundleError(ValueError):
    """What in the bundle is not as exported (the message names it)."""


@dataclass(frozen=True, slots=True)
class Verified:
    rows: int
    head: str
    signed_heads: int
    signature: str  # "checked", "absent" or "not checked"


def verify_bundle(bundle: Path, public: Ed25519PublicKey | None) -> Verified:
    try:
        archive = zipfile.ZipFile(bundle)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"{bundle}: not a readable zip ({exc})") from None
    with archive, tempfile.TemporaryDirectory(prefix="slawatch-verify-") as scratch:
        names = [info.filename for info in archive.infolist()]
        if MANIFEST not in names:
            raise BundleError(f"{MANIFEST}: removed (the bundle has no manifest)")
        manifest_bytes = archive.read(MANIFEST)
        signature = _check_signature(archive, names, manifest_bytes, public)
        manifest = _manifest(manifest_bytes)
        files: dict[str, str] = manifest["files"]
        expected = {*files, MANIFEST, SUMS} | ({SIGNATURE} if SIGNATURE in names else set())
        for name in names:
            if name not in expected:
                raise BundleError(f"{name}: added (the manifest does not list it)")
        for name in sorted(expected - set(names)):
            raise BundleError(f"{name}: removed (the manifest lists it)")
        folder = Path(scratch)
        archive.extractall(folder, [name for name in names if name in expected])
        for name, digest in sorted(files.items()):
            if ledger_slice.sha256_of(folder / name) != digest:
                raise BundleError(f"{name}: changed (its SHA-256 is not the manifest's)")
        sums = (folder / SUMS).read_bytes()
        if sha256(sums) != manifest["sha256sums"] or sums != sums_text(files):
            raise BundleError(f"{SUMS}: changed (it does not list the manifest's hashes)")
        rows, head, signed = _check_ledger(folder, manifest, public)
        _recompute(folder, manifest)
    return Verified(rows, head, signed, signature)


def _check_signature(
    archive: zipfile.ZipFile, names: list[str], manifest: bytes, public: Ed25519PublicKey | None
) -> str:
    if public is None:
        return "not checked" if SIGNATURE in names else "absent"
    if SIGNATURE not in names:
        raise BundleError(f"{SIGNATURE}: removed (the bundle is not signed)")
    if not signature_holds(public, archive.read(SIGNATURE), manifest):
        raise BundleError(
            f"{MANIFEST}: its signature does not verify with key {key_id(public)} "
            "(the manifest was changed, or another key signed it)"
        )
    return "checked"


def _manifest(data: bytes) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads(data)
        for field in ("files", "sha256sums", "ledger", "policies", "inventory", "period"):
            manifest[field]
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{MANIFEST}: changed (not a slawatch manifest: {exc})") from None
    return manifest


def _check_ledger(
    folder: Path, manifest: dict[str, Any], public: Ed25519PublicKey | None
) -> tuple[int, str, int]:
    """The slice into a fresh ledger file (scratch/ledger.sqlite), chain and heads checked."""
    facts = manifest["ledger"]
    file = folder / "scratch-ledger.sqlite"
    Ledger(file).close()  # the schema
    db = sqlite3.connect(file, isolation_level=None)
    try:
        try:
            rows, head = ledger_slice.load_slice(folder / facts["file"], db)
        except ledger_slice.SliceError as exc:
            raise BundleError(str(exc)) from None
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
        heads = read_heads_file(folder / HEADS)
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
    return rows, head, len(heads)


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
        ) as report:
            derived = derive(report, found[0], zone, manifest["language"])
    except ConfigError as exc:
        raise BundleError(f"the bundle's inputs do not load: {exc}") from None
    for name, data in derived.files.items():
        kept = (folder / name).read_bytes()
        if kept != data:
            raise BundleError(f"{name}: {_first_difference(name, kept, data)}")


def _first_difference(name: str, kept: bytes, derived: bytes) -> str:
    """Where a file stops matching its recomputation, in the reader's terms."""
    if name.endswith(".json"):
        where = _json_difference(json.loads(kept), json.loads(derived), "")
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
