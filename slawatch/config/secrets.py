"""What every secret the settings and the inventory reference must hold, judged when a
process starts and by ``check-config``, with the same rules.

A secret is a reference (``{env: NAME}`` or ``{file: PATH}``) read at run time; what it
holds is judged then: the API token is not blank and has at least 16 characters, the
console's session secret at least 32 characters and an estimated 128 bits of entropy,
an SNMP community is not empty, an SNMPv3 key has at least 8 characters (Net-SNMP's
minimum), the other tokens, keys and passwords of the collector's settings are not
blank. A refusal names the key and the reference, never the value.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from slawatch.config.errors import KeyPath, format_key_path
from slawatch.config.types import GENERATE, SecretRef
from slawatch.messages import Said

if TYPE_CHECKING:
    from slawatch.config.inventory import Inventory
    from slawatch.config.settings import AgentSettings, CollectorSettings

MIN_TOKEN_CHARS = 16
MIN_SESSION_SECRET_CHARS = 32
MIN_SESSION_SECRET_BITS = 128
# Net-SNMP refuses a shorter pass phrase (RFC 3414's password-to-key needs 8 octets).
MIN_SNMP_KEY_CHARS = 8

# What is wrong with a secret's value (said after "the … from env:NAME"), or None.
Rule = Callable[[str], Said | None]


def entropy_bits(value: str) -> float:
    """An estimate of how much a secret could be guessed: its length times the Shannon
    entropy of its characters' frequencies. 40 times "s" scores 0 bits, "ab" 20 times
    scores 40; 48 random bytes in base64 score ~350. It only sees repetition, so it
    refuses predictable secrets, never vouches for a phrase a person chose."""
    if not value:
        return 0.0
    length = len(value)
    counts = Counter(value).values()
    per_char = sum(count / length * math.log2(length / count) for count in counts)
    return length * per_char


def not_blank(value: str) -> Said | None:
    return Said("secret.blank") if not value.strip() else None


def api_token(value: str) -> Said | None:
    if len(value) < MIN_TOKEN_CHARS:
        return Said("secret.too_short", chars=len(value), least=MIN_TOKEN_CHARS)
    return not_blank(value)


def session_secret(value: str) -> Said | None:
    if len(value) < MIN_SESSION_SECRET_CHARS:
        return Said(
            "secret.session_too_short",
            chars=len(value),
            least=MIN_SESSION_SECRET_CHARS,
            generate=GENERATE,
        )
    bits = entropy_bits(value)
    if bits < MIN_SESSION_SECRET_BITS:
        return Said(
            "secret.predictable",
            bits=f"{bits:.0f}",
            least=MIN_SESSION_SECRET_BITS,
            generate=GENERATE,
        )
    return None


def snmp_community(value: str) -> Said | None:
    return Said("secret.community_empty") if not value.strip() else None


def snmp_key(value: str) -> Said | None:
    if len(value) < MIN_SNMP_KEY_CHARS:
        return Said("secret.snmp_key_short", chars=len(value), least=MIN_SNMP_KEY_CHARS)
    return None


@dataclass(frozen=True, slots=True)
class Secret:
    """One secret a config file references: where (its key path), what it is called in a
    message (a ``secret.what.*`` catalogue key), and the rule its value must meet."""

    path: KeyPath
    ref: SecretRef
    what: str
    rule: Rule | None = None


class SecretError(LookupError):
    """A secret that cannot be read or breaks its rule; the message (the catalogue's words,
    ``Said``) never holds its value."""

    def __init__(self, path: KeyPath, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{format_key_path(path)}: {message}")


def api_token_of(ref: SecretRef) -> Secret:
    return Secret(("api", "token"), ref, "secret.what.api_token", api_token)


def session_secret_of(ref: SecretRef) -> Secret:
    return Secret(("console", "session_secret"), ref, "secret.what.session_secret", session_secret)


def read(secret: Secret) -> str:
    """The secret's value, read now; SecretError when it cannot be read or breaks its rule."""
    try:
        value = secret.ref.resolve().get_secret_value()
    except LookupError as exc:
        said = exc.args[0] if exc.args and isinstance(exc.args[0], Said) else str(exc)
        raise SecretError(secret.path, said) from None
    problem = secret.rule(value) if secret.rule is not None else None
    if problem is not None:
        what = Said(secret.what)
        raise SecretError(
            secret.path, Said("secret.broken", what=what, ref=str(secret.ref), problem=problem)
        )
    return value


def problems(secrets: Iterable[Secret]) -> list[SecretError]:
    """Every secret of ``secrets`` that cannot be read or breaks its rule."""
    found = []
    for secret in secrets:
        try:
            read(secret)
        except SecretError as exc:
            found.append(exc)
    return found


def values(secrets: Iterable[Secret]) -> list[str]:
    """The values of those of ``secrets`` that can be read now (to redact them)."""
    found = []
    for secret in secrets:
        try:
            found.append(secret.ref.resolve().get_secret_value())
        except LookupError:
            continue  # unreadable: refused at start-up, and nothing to redact
    return found


def collector_secrets(settings: CollectorSettings) -> list[Secret]:
    """Every secret the collector's settings reference (the signing key is a file of its
    own, checked by ``check-config``; the inventory's credentials are the agents')."""
    found: list[Secret] = []
    if settings.broker.password is not None:
        found.append(broker_password_of(settings.broker.password))
    if settings.influx is not None:
        found.append(
            Secret(
                ("influx", "token"), settings.influx.token, "secret.what.influx_token", not_blank
            )
        )
    ledger = settings.ledger
    if not isinstance(ledger, Path) and ledger.password is not None:  # on PostgreSQL
        found.append(
            Secret(
                ("ledger", "password"), ledger.password, "secret.what.ledger_password", not_blank
            )
        )
    if settings.api is not None:
        found.append(api_token_of(settings.api.token))
    if settings.alerting is not None:
        found += [
            Secret(path, ref, f"secret.what.alerting.{path[-1]}", not_blank)
            for path, ref in settings.alerting.secrets()
        ]
    if settings.console is not None:
        found.append(session_secret_of(settings.console.session_secret))
    return found


def agent_secrets(settings: AgentSettings) -> list[Secret]:
    """The secrets of the agent's own settings (its devices' are the inventory's)."""
    if settings.broker.password is None:
        return []
    return [broker_password_of(settings.broker.password)]


def broker_password_of(ref: SecretRef) -> Secret:
    return Secret(("broker", "password"), ref, "secret.what.broker_password", not_blank)


def credential_secrets(inventory: Inventory) -> list[Secret]:
    """The devices' credentials: camera passwords, SNMP communities, SNMPv3 keys."""
    found: list[Secret] = []
    for name, credential in inventory.credentials.items():
        at = ("credentials", name)
        if credential.password is not None:
            found.append(Secret((*at, "password"), credential.password, "secret.what.password"))
        if credential.snmp_community is not None:
            found.append(
                Secret(
                    (*at, "snmp_community"),
                    credential.snmp_community,
                    "secret.what.snmp_community",
                    snmp_community,
                )
            )
        v3 = credential.snmp_v3
        if v3 is not None:
            found.append(
                Secret(
                    (*at, "snmp_v3", "auth_key"), v3.auth_key, "secret.what.snmp_auth_key", snmp_key
                )
            )
            found.append(
                Secret(
                    (*at, "snmp_v3", "priv_key"), v3.priv_key, "secret.what.snmp_priv_key", snmp_key
                )
            )
    return found
