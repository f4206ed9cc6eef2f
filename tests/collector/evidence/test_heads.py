"""Signed ledger heads: a rewrite that keeps the chain intact is still caught."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import stat
from pathlib import Path

import aiomqtt
import pytest

from collector.cli import main
from collector.evidence.heads import SignedHead, read_heads_file
from collector.ledger.canonical import canonical
from collector.ledger.chain import GENESIS, row_hash
from simulator.local_servers import Mosquitto
from slawatch.keys import KeyFileError, load_private, load_public, new_pair
from slawatch.mqtt import head_topic_for
from tests.collector.live import FakeAgent, load_collector, running, write_settings
from tests.collector.test_service import minute_of
from tests.conftest import wait_for
from tests.language import english_words

HEAD_TOPIC = head_topic_for(["d1"])  # the test district's own


def rewrite_row(ledger: Path, seq: int, change: dict[str, str]) -> None:
    """What a forger with the file does: edit a row's body, re-hash every row from there
    on so the chain verifies, drop the projection so it is re-derived from the rows."""
    db = sqlite3.connect(ledger, isolation_level=None)
    rows = db.execute("SELECT seq, kind, at, body FROM ledger WHERE seq >= ? ORDER BY seq", (seq,))
    listed = rows.fetchall()
    prev_row = db.execute("SELECT hash FROM ledger WHERE seq = ?", (seq - 1,)).fetchone()
    prev = prev_row[0] if prev_row else GENESIS
    db.execute("BEGIN")
    for number, kind, at, body in listed:
        if number == seq:
            body = canonical({**json.loads(body), **change})
        digest = row_hash(number, kind, at, body, prev)
        db.execute(
            "UPDATE ledger SET body = ?, prev = ?, hash = ? WHERE seq = ?",
            (body, prev, digest, number),
        )
        prev = digest
    for (table,) in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'projection%'"
    ).fetchall():
        db.execute(f"DROP TABLE {table}")
    db.execute("COMMIT")
    db.close()


async def retained_head(port: int, topic: str = HEAD_TOPIC) -> SignedHead:
    """The head a newcomer to the topic gets at once (retained), once there is one."""
    for _ in range(40):
        async with aiomqtt.Client("127.0.0.1", port) as client:
            await client.subscribe(topic, qos=1)
            try:
                async with asyncio.timeout(0.5):
                    message = await anext(aiter(client.messages))
            except TimeoutError:
                continue
            if not message.retain:
                continue  # published while we listened: the next newcomer gets it retained
            assert isinstance(message.payload, bytes)
            return SignedHead.parse(message.payload.decode(), topic)
    raise AssertionError("no signed head was published")


@pytest.fixture
def key(tmp_path: Path) -> Path:
    private = tmp_path / "collector-key.pem"
    new_pair(private)
    return private


def test_a_new_key_is_private_to_its_owner_and_never_overwritten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    private = tmp_path / "k.pem"
    assert main(["keys", "new", str(private)]) == 0
    assert "私钥（权限 0600）" in capsys.readouterr().out
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert load_public(tmp_path / "k.pem.pub")
    with pytest.raises(KeyFileError, match="exists"):
        new_pair(private)
    assert main(["keys", "new", str(private)]) == 2
    refused = capsys.readouterr().err
    assert refused.strip() == f"slawatch-collector: {private}：文件已存在；密钥从不覆盖"
    assert english_words(refused.replace(str(private), "")) == []
    assert main(["keys", "new", "--lang", "en", str(private)]) == 2
    assert "exists; a key is never overwritten" in capsys.readouterr().err
    (tmp_path / "other.pem").write_text("not a key\n", encoding="utf-8")
    with pytest.raises(KeyFileError) as unreadable:
        load_private(tmp_path / "other.pem")
    assert unreadable.value.said_in("zh") == f"{tmp_path / 'other.pem'}：不是无口令的 PEM 私钥"


@pytest.mark.sqlite_only  # the forger edits the file; the heads file is beside it
async def test_the_collector_signs_its_head_publishes_it_and_a_rewrite_after_it_is_caught(
    tmp_path: Path, broker: Mosquitto, key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signing = {"key": str(key), "every_rows": 1, "every": "1h"}
    settings = write_settings(tmp_path, broker.port, signing=signing)
    agent = FakeAgent(broker.port)
    down = frozenset({"CAM001"})
    async with running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        for minute in range(12):
            await agent.publish(
                agent.batch(minute_of(minute, down if 2 <= minute < 9 else frozenset()))
            )
            taken = minute + 1
            await wait_for(lambda: collector.counters.batches == taken)  # noqa: B023
        signer = collector.signer
        assert signer is not None
        await wait_for(lambda: signer.latest is not None)
        published = await retained_head(broker.port)
        assert published.holds_for(load_public(key.with_name(key.name + ".pub")))
    heads_file = tmp_path / "ledger.sqlite.heads.jsonl"
    heads = read_heads_file(heads_file)
    rows = sqlite3.connect(tmp_path / "ledger.sqlite").execute("SELECT COUNT(*) FROM ledger")
    (count,) = rows.fetchone()
    assert heads[-1].seq == count - 1  # signed at shutdown: nothing left unanchored
    assert len(heads) >= 2  # and along the way, every row
    public = str(key.with_name(key.name + ".pub"))
    ledger = str(tmp_path / "ledger.sqlite")
    capsys.readouterr()
    assert main(["ledger", "verify", ledger, "--pubkey", public]) == 0
    assert f"{len(heads)} signed heads hold" in capsys.readouterr().out

    # The forger keeps the published heads file out of reach: only the ledger is rewritten.
    first_state = next(
        seq
        for seq, kind in sqlite3.connect(ledger).execute("SELECT seq, kind FROM ledger")
        if kind == "state"
    )
    rewrite_row(Path(ledger), first_state, {"reason": "rebooted"})
    assert main(["ledger", "verify", ledger]) == 0  # the chain alone is fooled
    assert "chain intact" in capsys.readouterr().out
    assert main(["ledger", "verify", ledger, "--pubkey", public, "--heads", str(heads_file)]) == 3
    said = capsys.readouterr().err
    assert f"a row from 0 to {heads[0].seq} was changed" in said
    assert f"row {heads[0].seq} no longer matches the head signed at {heads[0].signed_at}" in said


def test_heads_of_another_key_or_beyond_the_ledger_or_none_at_all_fail(
    tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from collector.evidence.heads import HeadMismatchError, check_heads, sign_head
    from slawatch.keys import load_private

    other = tmp_path / "other.pem"
    new_pair(other)
    public = load_public(key.with_name(key.name + ".pub"))
    hashes = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(10)]
    from datetime import UTC, datetime

    now = datetime(2026, 11, 27, tzinfo=UTC)
    mine = sign_head(load_private(key), 4, hashes[4], now)
    theirs = sign_head(load_private(other), 9, hashes[9], now)
    assert check_heads([mine], public, 10, hashes.__getitem__) == [mine]
    with pytest.raises(HeadMismatchError, match="not signed by this key"):
        check_heads([mine, theirs], public, 10, hashes.__getitem__)
    with pytest.raises(HeadMismatchError, match="rows 4–4 were removed"):
        check_heads([mine], public, 4, hashes.__getitem__)
    with pytest.raises(HeadMismatchError, match="nothing anchors"):
        check_heads([], public, 10, hashes.__getitem__)
    forged = SignedHead(mine.seq, hashes[5], mine.signed_at, mine.key, mine.signature)
    with pytest.raises(HeadMismatchError, match="not signed by this key"):
        check_heads([forged], public, 10, hashes.__getitem__)
