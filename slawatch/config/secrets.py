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
from typing import TYPE_CHECKING

from slawatch.config.errors import KeyPath, format_key_path
from slawatch.config.types import SecretRef

if TYPE_CHECKING:
    from slawatch.config.inventory import Inventory
    from slawatch.config.settings import AgentSettings, CollectorSettings

MIN_TOKEN_CHARS = 16
MIN_SESSION_SECRET_CHARS = 32
MIN_SESSION_SECRET_BITS = 128
# Net-SNMP refuses a shorter pass phrase (RFC 3414's password-to-key needs 8 octets).
MIN_SNMP_KEY_CHARS = 8
# How to make a secret that passes every rule (64 characters, ~350 bits by the estimate).
GENERATE = "openssl rand -base64 48"

# What is wrong with a secret's value (a phrase after "the … from env:NAME"), or None.
Rule = Callable[[str], str | None]


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


def not_blank(value: str) -> str | None:
    return "is empty or only whitespace" if not value.strip() else None


def api_token(value: str) -> str | None:
    if len(value) < MIN_TOKEN_CHARS:
        return f"has {len(value)} characters; give at least {MIN_TOKEN_CHARS}"
    return not_blank(value)


def session_secret(value: str) -> str | None:
    if len(value) < MIN_SESSION_SECRET_CHARS:
        return (
            f"has {len(value)} characters; give at least {MIN_SESSION_SECRET_CHARS} "
            f"(make one with {GENERATE})"
        )
    bits = entropy_bits(value)
    if bits < MIN_SESSION_SECRET_BITS:
        return (
            f"is too predictable: an estimated {bits:.0f} bits of entropy (its length times "
            f"the Shannon entropy of its characters), at least {MIN_SESSION_SECRET_BITS} "
            f"needed (make one with {GENERATE})"
        )
    return None


def snmp_community(value: str) -> str | None:
    return "is empty: give the community the device answers" if not value.strip() else None


def snmp_key(value: str) -> str | None:
    if len(value) < MIN_SNMP_KEY_CHARS:
        return (
            f"has {len(value)} characters; SNMPv3 needs at least {MIN_SNMP_KEY_CHARS} "
            "(Net-SNMP refuses a shorter one)"
        )
    return None


@dataclass(frozen=True, slots=True)
class Secret:
    """One secret a config file references: where (its key path), what it is called in a
    message, and the rule its value must meet."""

    path: KeyPath
    ref: SecretRef
    what: str
    rule: Rule | None = None


class SecretError(LookupError):
    """A secret that cannot be read or breaks its rule; the message never holds its value."""

    def __init__(self, path: KeyPath, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(f"{format_key_path(path)}: {message}")


def api_token_of(ref: SecretRef) -> Secret:
    return Secret(("api", "token"), ref, "the API token", api_token)


def session_secret_of(ref: SecretRef) -> Secret:
    return Secret(("console", "session_secret"), ref, "the session secret", session_secret)


def read(secret: Secret) -> str:
    """The secret's value, read now; SecretError when it cannot be read or breaks its rule."""
    try:
        value = secret.ref.resolve().get_secret_value()
    except LookupError as exc:
        raise SecretError(secret.path, str(exc)) from None
    problem = secret.rule(value) if secret.rule is not None else None
    if problem is not None:
        raise SecretError(secret.path, f"{secret.what} from {secret.ref} {problem}")
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
        found.append(
            Secret(
                ("broker", "password"), settings.broker.password, "the broker password", not_blank
            )
        )
    if settings.influx is not None:
        found.append(
            Secret(("influx", "token"), settings.influx.token, "the InfluxDB token", not_blank)
        )
    if settings.api is not None:
        found.append(api_token_of(settings.api.token))
    if settings.alerting is not None:
        found += [
            Secret(path, ref, f"the {path[-1]}", not_blank)
            for path, ref in settings.alerting.secrets()
        ]
    if settings.console is not None:
        found.append(session_secret_of(settings.console.session_secret))
    return found


def agent_secrets(settings: AgentSettings) -> list[Secret]:
    """The secrets of the agent's own settings (its devices' are the inventory's)."""
    if settings.broker.password is None:
        return []
    return [
        Secret(("broker", "password"), settings.broker.password, "the broker password", not_blank)
    ]


def credential_secrets(inventory: Inventory) -> list[Secret]:
    """The devices' credentials: camera passwords, SNMP communities, SNMPv3 keys."""
    found: list[Secret] = []
    for name, credential in inventory.credentials.items():
        at = ("credentials", name)
        if credential.password is not None:
            found.append(Secret((*at, "password"), credential.password, "the password"))
        if credential.snmp_community is not None:
            found.append(
                Secret(
                    (*at, "snmp_community"),
                    credential.snmp_community,
                    "the SNMP community",
                    snmp_community,
                )
            )
        v3 = credential.snmp_v3
        if v3 is not None:
            found.append(
                Secret((*at, "snmp_v3", "auth_key"), v3.auth_key, "the SNMPv3 auth key", snmp_key)
            )
            found.append(
                Secret((*at, "snmp_v3", "priv_key"), v3.priv_key, "the SNMPv3 priv key", snmp_key)
            )
    return found
