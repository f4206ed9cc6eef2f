"""No secret in a dead letter: a live collector on a real mosquitto is sent each shape of
message that used to carry the API token (or another configured secret) into
``slawatch/v1/deadletter``, and the dead letter keeps the reason, the topic, the size and
the SHA-256 of the payload, with the secret replaced wherever it was."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from agent.wire import sign, status_topic
from collector.ingest.consumer import COMMAND_TOPIC, DEADLETTER_TOPIC
from collector.web.console.users import add_user, new_token
from simulator.local_servers import Mosquitto, free_port
from slawatch.keys import new_pair
from tests.agent_keys import agent_key
from tests.collector.live import API_TOKEN, SITE, load_collector, running, write_settings
from tests.conftest import wait_for

STATUS = status_topic(SITE, "edge-1")
NOT_THE_TOKEN = "not-the-api-token-0000"


def batch(**fields: Any) -> dict[str, Any]:
    """A well-formed batch of edge-1's, with ``fields`` changed or added."""
    return {
        "v": 1,
        "agent_id": "edge-1",
        "site": SITE,
        "seq": 0,
        "sent_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "statuses": [],
    } | fields


def forms(secret: str) -> list[bytes]:
    """A secret as a dead letter's bytes could carry it: as it is, and JSON-escaped."""
    return [secret.encode(), json.dumps(secret)[1:-1].encode(), json.dumps(secret).encode()]


class Letters:
    """Every message on the dead-letter topic, as the bytes the broker delivered."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []

    @property
    def decoded(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.raw]

    def assert_free_of(self, *secret_values: str) -> None:
        for raw in self.raw:
            for secret in secret_values:
                for form in forms(secret):
                    assert form not in raw, f"a secret in the dead letter {raw[:200]!r}"


@asynccontextmanager
async def dead_letters(port: int) -> AsyncIterator[Letters]:
    letters = Letters()
    ready = asyncio.Event()

    async def listen() -> None:
        async with aiomqtt.Client("127.0.0.1", port, identifier="dead-letter-reader") as client:
            await client.subscribe(DEADLETTER_TOPIC, qos=1)
            ready.set()
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                letters.raw.append(message.payload)

    task = asyncio.create_task(listen())
    await ready.wait()
    try:
        yield letters
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def publish(port: int, topic: str, payload: bytes) -> None:
    async with aiomqtt.Client("127.0.0.1", port, identifier="someone") as client:
        await client.publish(topic, payload, qos=1)


def body(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def signed(payload: bytes) -> bytes:
    """Signed by edge-1 (a registered agent's own mistakes): refused for what is wrong."""
    return sign(payload, agent_key("edge-1"))


# The five shapes that carried the token into a dead letter (issue 26), and their kin:
# (name, topic, payload, what the reason starts with).
SHAPES: list[tuple[str, str, bytes, str]] = [
    (
        "a command wrapped in a list",
        COMMAND_TOPIC,
        body([{"ticket_id": "F-1", "by": "李工", "token": API_TOKEN}]),
        "(payload): Input should be an object",
    ),
    (
        "a misspelt key",
        COMMAND_TOPIC,
        body({"ticket_id": "F-1", "by": "李工", "tokn": API_TOKEN}),
        "token: Field required",
    ),
    (
        "the token in by",
        COMMAND_TOPIC,
        body({"ticket_id": "F-1", "by": API_TOKEN, "token": NOT_THE_TOKEN}),
        "token: wrong",
    ),
    (
        "the token on a status topic, inside a batch",
        STATUS,
        signed(body(batch(note=API_TOKEN))),
        "note: Extra inputs are not permitted",
    ),
    (
        "a well-formed command refused (no such ticket)",
        COMMAND_TOPIC,
        body({"ticket_id": "F-NO-SUCH-TICKET", "by": "李工", "token": API_TOKEN}),
        "no ticket",
    ),
    (
        "the right token with the token in by as well",
        COMMAND_TOPIC,
        body({"ticket_id": "F-1", "by": API_TOKEN, "token": API_TOKEN}),
        "by: holds a secret",
    ),
    (
        "the token as the batch's agent id (quoted by the reason)",
        STATUS,
        signed(body(batch(agent_id=API_TOKEN))),
        "agent_id: batch of '***' published on",
    ),
    (
        "the token in a ticket id (quoted by the reason)",
        COMMAND_TOPIC,
        body({"ticket_id": API_TOKEN, "by": "李工", "token": API_TOKEN}),
        "no ticket '***'",
    ),
    (
        "a command sent on a status topic",
        STATUS,
        signed(body({"ticket_id": "F-1", "by": "李工", "token": API_TOKEN})),
        "agent_id: Field required",
    ),
    (
        "the token JSON-escaped",
        COMMAND_TOPIC,
        b'{"ticket_id": "F-1", "by": "x", "tokn": "\\u0074' + API_TOKEN[1:].encode() + b'"}',
        "token: Field required",
    ),
    (
        "a command that is not JSON",
        COMMAND_TOPIC,
        b"ticket_id=F-1 token=" + API_TOKEN.encode(),
        "(payload): Invalid JSON",
    ),
    (
        "the token nested deeper than can be searched",
        STATUS,
        b"[" * 50_000 + json.dumps(API_TOKEN).encode() + b"]" * 50_000,
        "sig: not signed",  # what no agent signed is refused unread
    ),
    (
        "a status that is not JSON",
        STATUS,
        b"<statuses token='" + API_TOKEN.encode() + b"'/>",
        "sig: not signed",
    ),
]


@pytest.mark.parametrize(
    ("topic", "payload", "reason"), [s[1:] for s in SHAPES], ids=[s[0] for s in SHAPES]
)
async def test_the_api_token_is_in_no_dead_letter_and_no_log(
    tmp_path: Path,
    broker: Mosquitto,
    caplog: pytest.LogCaptureFixture,
    topic: str,
    payload: bytes,
    reason: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = write_settings(tmp_path, broker.port, api_port=free_port())  # the token's home
    async with dead_letters(broker.port) as letters, running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await publish(broker.port, topic, payload)
        await wait_for(lambda: len(letters.raw) == 1)
        status = json.dumps(collector.status(), ensure_ascii=False)
        acknowledged = [
            row.body
            for row in collector.ledger.rows(("ticket",))
            if row.body.get("event") == "acknowledged"
        ]
    letters.assert_free_of(API_TOKEN)
    assert API_TOKEN not in caplog.text
    assert API_TOKEN not in status  # /healthz shows the reasons counted
    assert acknowledged == []
    [letter] = letters.decoded
    assert letter["topic"] == topic
    assert letter["reason"].startswith(reason), letter["reason"]
    assert letter["payload_bytes"] == len(payload)
    assert letter["redacted"] is True
    # Something was replaced: the digest is of the payload as shown, not as sent (which,
    # everything else being shown, would let a reader test guesses of the token).
    assert letter["payload_sha256"] != hashlib.sha256(payload).hexdigest()
    if not letter["payload"].startswith(("(not JSON", "(nested too deep")):
        shown = letter["payload"].encode()
        assert letter["payload_sha256"] == hashlib.sha256(shown).hexdigest()
        assert "***" in letter["payload"]


async def test_a_dead_letter_without_a_secret_keeps_its_payload_and_its_digest(
    tmp_path: Path, broker: Mosquitto
) -> None:
    payload = signed(body(batch(health="sideways")))
    settings = write_settings(tmp_path, broker.port, api_port=free_port())
    async with dead_letters(broker.port) as letters, running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await publish(broker.port, STATUS, payload)
        await wait_for(lambda: len(letters.raw) == 1)
    [letter] = letters.decoded
    assert letter == {
        "topic": STATUS,
        "reason": "health: Extra inputs are not permitted",
        "payload": payload.decode(),
        "payload_bytes": len(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "redacted": False,
    }


def configured_secrets(folder: Path, broker_port: int) -> tuple[Path, dict[str, str]]:
    """Collector settings referencing every kind of secret there is (each a file holding
    a random value), the collector's console users, and what each secret holds."""
    settings_file = write_settings(folder, broker_port, api_port=free_port())
    settings = json.loads(settings_file.read_text(encoding="utf-8"))
    values: dict[str, str] = {"api token": API_TOKEN}

    def secret_file(name: str) -> dict[str, str]:
        values[name] = secrets.token_urlsafe(24)
        (folder / name).write_text(values[name] + "\n", encoding="utf-8")
        return {"file": str(folder / name)}

    settings["broker"] |= {"username": "collector", "password": secret_file("broker-password")}
    settings["influx"] = {
        "url": f"http://127.0.0.1:{free_port()}",  # nobody there: the spool keeps the lines
        "org": "bureau",
        "bucket": "slawatch",
        "token": secret_file("influx-token"),
    }
    settings["alerting"] = {
        "smtp": {
            "host": "127.0.0.1",
            "sender": "slawatch@bureau.example",
            "username": "slawatch",
            "password": secret_file("smtp-password"),
        },
        "receivers": [
            {
                "id": "duty",
                "name": "值班室",
                "channels": [
                    {
                        "type": "dingtalk",
                        "access_token": secret_file("dingtalk-token"),
                        "secret": secret_file("dingtalk-secret"),
                    },
                    {"type": "wecom", "key": secret_file("wecom-key")},
                    {
                        "type": "webhook",
                        "url": "http://127.0.0.1:9/hook",
                        "token": secret_file("webhook-token"),
                    },
                ],
            }
        ],
        "routes": [{"notify": ["duty"]}],
    }
    users = folder / "users.yaml"
    add_user(users, "zhang", "operator", "zhang-password-1", "张工")
    values["personal token"] = new_token(users, "zhang")
    settings["console"] = {
        "users": str(users),
        "session_secret": {"file": str(folder / "session-secret")},
    }
    values["session secret"] = secrets.token_urlsafe(48)
    (folder / "session-secret").write_text(values["session secret"], encoding="utf-8")
    key = folder / "collector.pem"
    new_pair(key)
    settings["signing"] = {"key": str(key)}
    [values["signing key"]] = [
        line for line in key.read_text().splitlines() if not line.startswith("-----")
    ]
    settings_file.write_text(json.dumps(settings, ensure_ascii=False), encoding="utf-8")
    return settings_file, values


async def test_no_configured_secret_is_in_a_dead_letter_wherever_it_is_put(
    tmp_path: Path, broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings, values = configured_secrets(tmp_path, broker.port)
    # Each secret misplaced: in a misspelt field of a command, of a batch, in a reason.
    placed: list[Callable[[str], tuple[str, bytes]]] = [
        lambda v: (COMMAND_TOPIC, body({"ticket_id": "F-1", "by": "李工", "tokn": v})),
        lambda v: (COMMAND_TOPIC, body({"ticket_id": v, "by": "李工", "token": API_TOKEN})),
        lambda v: (STATUS, body(batch(remark=f"here: {v}"))),
        lambda v: (STATUS, body([{"nested": {"deeper": [v]}}])),
    ]
    sent = [place(value) for value in values.values() for place in placed]
    async with dead_letters(broker.port) as letters, running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        for topic, payload in sent:
            await publish(broker.port, topic, payload)
        await wait_for(lambda: len(letters.raw) == len(sent))
        status = json.dumps(collector.status(), ensure_ascii=False)
    letters.assert_free_of(*values.values())
    for name, value in values.items():
        assert value not in caplog.text, name
        assert value not in status, name
    assert all(letter["redacted"] for letter in letters.decoded)
    assert {letter["topic"] for letter in letters.decoded} == {COMMAND_TOPIC, STATUS}


async def test_the_devices_credentials_the_collector_can_read_are_redacted_too(
    tmp_path: Path, broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A camera password is the agents' secret; a collector that can read it (the demo
    gives every process the same environment) keeps it out of its dead letters too."""
    password = secrets.token_urlsafe(16)
    monkeypatch.setenv("SLAWATCH_TEST_CAMERA_PASSWORD", password)
    settings = write_settings(tmp_path, broker.port)
    district = tmp_path / "district.yaml"
    district.write_text(
        district.read_text(encoding="utf-8").replace(
            "kind: inventory\n",
            "kind: inventory\ncredentials:\n  cams:\n    username: admin\n"
            "    password: {env: SLAWATCH_TEST_CAMERA_PASSWORD}\n",
        ),
        encoding="utf-8",
    )
    async with dead_letters(broker.port) as letters, running(load_collector(settings)) as collector:
        await wait_for(lambda: collector.ingest.connected)
        await publish(broker.port, STATUS, body(batch(password_was=password)))
        await wait_for(lambda: len(letters.raw) == 1)
    letters.assert_free_of(password)
