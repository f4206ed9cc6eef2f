"""Dead letters with no secret in them: what the collector refused, as the dead-letter
topic shows it to whoever may read it.

A dead letter keeps the topic, the reason, the size and the SHA-256 of the payload, and
the payload with the value of every secret the collector is configured with replaced by
``***`` wherever it appears: in any field of any shape (a command wrapped in a list, a
misspelt key, the token in ``by``, a token sent on a status topic), in the topic and in
the reason, as written or JSON-escaped. Whatever sits under a key named like a secret
(``token``, ``password``…) is replaced too, whatever it holds (a wrong token is often
nearly the right one), and so is anything shaped like a console user's personal token
(``sw_…``): the collector keeps only their hashes and cannot search for the tokens
themselves. A command that is not JSON is not kept at all, nor is JSON nested too deep
to be searched.

The digest is of the payload as received, or, when something was replaced, of the
payload with the secrets replaced (before the 4 KB cut; ``redacted`` says which): a
digest of the original would let a reader of the dead letters test guesses of the secret
it held, everything else being shown.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from collector.ingest.consumer import COMMAND_TOPIC, DeadLetter

REDACTED = "***"
# Keys whose value is a secret whatever it is (compared without case).
SECRET_KEYS = frozenset(
    {
        "token",
        "api_token",
        "access_token",
        "password",
        "passwd",
        "secret",
        "session_secret",
        "auth_key",
        "priv_key",
        "community",
        "snmp_community",
        "authorization",
    }
)
# A console user's personal token (``slawatch-collector users token``: "sw_" and 43
# characters of URL-safe base64); only its SHA-256 is kept, so it is found by its shape.
PERSONAL_TOKEN = re.compile(r"(?<![A-Za-z0-9_-])sw_[A-Za-z0-9_-]{32,}")
NOT_KEPT = "(not JSON: not kept, it may hold the API token)"
TOO_DEEP = "(nested too deep to search for secrets: not kept)"


def reason_of(exc: Exception) -> str:
    """The refusal in words, never quoting the input (pydantic's own messages do)."""
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(map(str, error['loc'])) or '(payload)'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
    return str(exc)


def pem_lines(key: Path) -> list[str]:
    """The base64 lines of a PEM key file (the secret part of it), if it can be read."""
    try:
        text = key.read_text(encoding="ascii")
    except (OSError, ValueError):
        return []
    return [line.strip() for line in text.splitlines() if line and not line.startswith("-----")]


def _forms(secret: str) -> set[str]:
    """A secret as it may be written: as it is, trimmed, and JSON-escaped both ways."""
    forms = set()
    for value in (secret, secret.strip()):
        forms |= {
            value,
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
        }
    return {form for form in forms if form.strip()}


class DeadLetters:
    """Builds every dead letter the collector publishes, with the secrets it is told of
    (``secrets``: their values) replaced."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._forms: list[str] = []
        self.know(secrets)

    def know(self, secrets: Iterable[str]) -> None:
        """Redact these secrets' values from now on (as well as those already known)."""
        forms = set(self._forms)
        for secret in secrets:
            forms |= _forms(secret)
        # The longest first: a secret that contains another is replaced whole.
        self._forms = sorted(forms, key=lambda form: (-len(form), form))

    def holds_secret(self, text: str) -> bool:
        return self.text(text) != text

    def text(self, text: str) -> str:
        """``text`` with every known secret, and anything shaped like a personal token,
        replaced."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return PERSONAL_TOKEN.sub(REDACTED, text)

    def refused(self, topic: str, payload: bytes, exc: Exception) -> DeadLetter:
        """The dead letter of a message refused whole."""
        return self.letter(topic, reason_of(exc), payload)

    def letter(self, topic: str, reason: str, payload: bytes) -> DeadLetter:
        """The dead letter of ``payload`` refused on ``topic`` for ``reason``."""
        shown, replaced, is_json = self._payload(payload)
        digest = hashlib.sha256(_utf8(shown) if replaced else payload).hexdigest()
        if is_json is None:
            shown = TOO_DEEP
        elif topic == COMMAND_TOPIC and not is_json:
            shown = NOT_KEPT
        return DeadLetter(
            topic=self.text(topic),
            reason=self.text(reason),
            payload=_utf8(shown),
            payload_bytes=len(payload),
            payload_sha256=digest,
            redacted=replaced,
        )

    def _payload(self, payload: bytes) -> tuple[str, bool, bool | None]:
        """The payload as shown (UTF-8, undecodable bytes replaced) with the secrets
        replaced; whether anything was; whether it is JSON (None: nested too deep to
        tell, so that none of it is shown)."""
        raw = payload.decode("utf-8", errors="replace")
        shown = raw
        is_json: bool | None = True
        try:
            cleaned, changed = self._tree(json.loads(payload))
            if changed:
                # Written again from what the JSON means: an escaped secret (\u0074oken…)
                # is found and replaced too.
                shown = json.dumps(cleaned, ensure_ascii=False)
        except ValueError:
            is_json = False
        except RecursionError:
            is_json = None
        shown = self.text(shown)
        return shown, shown != raw, is_json

    def _tree(self, node: Any) -> tuple[Any, bool]:
        """A decoded JSON value with secrets replaced in every string, key and value under
        a secret's key; and whether anything was."""
        if isinstance(node, str):
            cleaned = self.text(node)
            return cleaned, cleaned != node
        if isinstance(node, list):
            items = [self._tree(item) for item in node]
            return [item for item, _ in items], any(changed for _, changed in items)
        if isinstance(node, dict):
            result: dict[str, Any] = {}
            changed = False
            for key, value in node.items():
                name = self.text(key)
                if key.lower() in SECRET_KEYS and value != REDACTED:
                    result[name], changed = REDACTED, True
                    continue
                result[name], inner = self._tree(value)
                changed = changed or inner or name != key
            return result, changed
        return node, False  # numbers, booleans, null: a secret in a number is found as text


def _utf8(text: str) -> bytes:
    """UTF-8, a lone surrogate (which JSON's \\ud800 can decode to) replaced."""
    return text.encode("utf-8", errors="replace")
