"""Signed ledger heads: the anchor outside the chain.

The hash chain proves order, not authorship: whoever holds the ledger file can edit a row
and re-hash every row after it. A head is the collector's Ed25519 signature over
(row number, that row's hash, when, which key); once a head has left the machine (the
heads file an evaluator fetches, the retained MQTT topic), a rewrite of any row up to it
no longer matches. Rows after the last head are anchored by nothing yet.

The signed message is the RFC 8785 canonical JSON of the head without its signature:
``{"hash":"…","key":"…","seq":N,"signed_at":"…"}`` (ASCII values, sorted keys, no spaces).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.wire import format_timestamp
from collector.ledger.backend import Connection
from collector.ledger.canonical import canonical
from collector.ledger.chain import Ledger
from collector.ledger.store import STORE_ERRORS, unavailable
from slawatch.keys import key_id, signature_holds

log = logging.getLogger(__name__)

TABLE = "CREATE TABLE IF NOT EXISTS signed_heads (seq INTEGER PRIMARY KEY, record TEXT NOT NULL)"


class HeadMismatchError(ValueError):
    """The ledger no longer matches a signed head (or a head is not the key's)."""

    def __init__(self, seq: int, message: str) -> None:
        self.seq = seq
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class SignedHead:
    seq: int  # the last row it covers
    hash: str  # that row's hash
    signed_at: str
    key: str  # key_id of the signing key
    signature: str  # base64 of the 64-byte Ed25519 signature

    def message(self) -> bytes:
        body = {"hash": self.hash, "key": self.key, "seq": self.seq, "signed_at": self.signed_at}
        return canonical(body).encode()

    def record(self) -> str:
        return canonical(
            {
                "hash": self.hash,
                "key": self.key,
                "seq": self.seq,
                "signature": self.signature,
                "signed_at": self.signed_at,
            }
        )

    def holds_for(self, public: Ed25519PublicKey) -> bool:
        try:
            signature = base64.b64decode(self.signature, validate=True)
        except binascii.Error:
            return False
        return self.key == key_id(public) and signature_holds(public, signature, self.message())

    @classmethod
    def parse(cls, text: str, where: str) -> SignedHead:
        try:
            found = json.loads(text)
            head = cls(
                seq=int(found["seq"]),
                hash=str(found["hash"]),
                signed_at=str(found["signed_at"]),
                key=str(found["key"]),
                signature=str(found["signature"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise HeadMismatchError(-1, f"{where}: not a signed head ({exc})") from None
        return head


def sign_head(key: Ed25519PrivateKey, seq: int, row_hash: str, at: datetime) -> SignedHead:
    unsigned = SignedHead(seq, row_hash, format_timestamp(at), key_id(key.public_key()), "")
    signature = base64.b64encode(key.sign(unsigned.message())).decode()
    return SignedHead(seq, row_hash, unsigned.signed_at, unsigned.key, signature)


def stored_heads(db: Connection) -> list[SignedHead]:
    """The heads kept in a ledger file (none in a ledger that never signed)."""
    exists = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'signed_heads'").fetchone()
    if exists is None:
        return []
    rows = db.execute("SELECT seq, record FROM signed_heads ORDER BY seq").fetchall()
    return [SignedHead.parse(record, f"signed head of row {seq}") for seq, record in rows]


def read_heads_file(path: Path) -> list[SignedHead]:
    """An append-only heads file: one signed head per line."""
    heads = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                heads.append(SignedHead.parse(line, f"{path}:{number}"))
    return heads


def check_heads(
    heads: Iterable[SignedHead],
    public: Ed25519PublicKey,
    rows: int,
    hash_at: Callable[[int], str],
) -> list[SignedHead]:
    """Every head signed by ``public`` and matched by the chain of ``rows`` rows; the heads
    in order. HeadMismatchError names the first that fails and the rows it leaves in doubt:
    a rewrite is somewhere after the last head that still matches."""
    ordered = sorted(
        {(head.seq, head.hash, head.signature): head for head in heads}.values(),
        key=lambda head: head.seq,
    )
    if not ordered:
        raise HeadMismatchError(0, "no signed head: nothing anchors the chain")
    good = -1
    for head in ordered:
        if not head.holds_for(public):
            raise HeadMismatchError(
                head.seq,
                f"the head of row {head.seq} (signed {head.signed_at}) is not "
                f"signed by this key ({key_id(public)})",
            )
        if head.seq >= rows:
            raise HeadMismatchError(
                head.seq,
                f"the ledger ends at row {rows - 1}, but row {head.seq} was signed "
                f"at {head.signed_at}: rows {rows}–{head.seq} were removed",
            )
        if hash_at(head.seq) != head.hash:
            raise HeadMismatchError(
                good + 1,
                f"row {head.seq} no longer matches the head signed at "
                f"{head.signed_at}: a row from {good + 1} to {head.seq} was changed, "
                "removed or inserted after it was signed",
            )
        good = head.seq
    return ordered


class HeadSigner:
    """Signs the ledger's head every ``every_rows`` rows or ``every_s`` seconds (when it
    moved) and when asked (at shutdown); keeps each head in the ledger file and appends it
    to the heads file, synced, before it is published."""

    def __init__(
        self,
        ledger: Ledger,
        key: Ed25519PrivateKey,
        heads_file: Path,
        every_rows: int,
        every_s: float,
    ) -> None:
        self._ledger, self._key, self._file = ledger, key, heads_file
        self._every_rows, self._every_s = every_rows, every_s
        ledger.connection.execute(TABLE)
        heads = stored_heads(ledger.connection)
        self.latest: SignedHead | None = heads[-1] if heads else None
        self._signed_mono = time.monotonic()

    def sign_if_due(self) -> SignedHead | None:
        last = -1 if self.latest is None else self.latest.seq
        moved = self._ledger.next_seq - 1 - last
        elapsed = time.monotonic() - self._signed_mono
        if moved >= self._every_rows or (moved > 0 and elapsed >= self._every_s):
            return self.sign()
        return None

    def attest(self, seq: int) -> SignedHead:
        """A head of row ``seq`` signed for an export of a snapshot ending there (KeyError
        if the ledger has no such row): the export carries it, so every row of its bundle
        is covered; it is not kept here, where heads stay in the order they were signed."""
        row = self._ledger.connection.execute(
            "SELECT hash FROM ledger WHERE seq = ?", (seq,)
        ).fetchone()
        if row is None:
            raise KeyError(f"the ledger has no row {seq}")
        return sign_head(self._key, seq, str(row[0]), datetime.now(UTC))

    def sign(self) -> SignedHead | None:
        """Sign the head now, unless it is already signed (or the ledger is empty)."""
        seq = self._ledger.next_seq - 1
        if seq < 0 or (self.latest is not None and self.latest.seq == seq):
            return None
        head = sign_head(self._key, seq, self._ledger.head, datetime.now(UTC))
        # The heads file first: it may live on another disk than the ledger
        # (``signing.heads_file``), and then gets the head while the ledger's is full.
        try:
            self._file.parent.mkdir(parents=True, exist_ok=True)
            with self._file.open("a", encoding="utf-8") as out:
                out.write(head.record() + "\n")
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            log.error("signed head of row %d not written to %s: %s", seq, self._file, exc)
            return None  # signed again when next due
        try:
            self._ledger.connection.execute(
                "INSERT OR REPLACE INTO signed_heads VALUES (?, ?)", (head.seq, head.record())
            )
        except STORE_ERRORS as exc:
            if unavailable(exc) is None:
                raise
            log.error("signed head of row %d kept in %s only: %s", seq, self._file, exc)
        self.latest = head
        self._signed_mono = time.monotonic()
        return head
