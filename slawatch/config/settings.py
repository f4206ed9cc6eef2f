"""Settings of the running processes: an agent on an edge server and the central collector."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, Discriminator, Field, Tag, model_validator

from slawatch.config import secrets
from slawatch.config.alerting import Alerting
from slawatch.config.types import ConfigPath, Duration, Identifier, SecretRef, Strict
from slawatch.messages import Said

# MQTT topic levels must not contain wildcards or separators.
TopicLevel = Identifier


class TlsSettings(Strict):
    ca_file: ConfigPath | None = None
    cert_file: ConfigPath | None = None
    key_file: ConfigPath | None = None
    insecure: bool = False


class BrokerSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    # A prefix for the ids of every connection a process opens (each adds its role).
    client_id: str | None = Field(default=None, max_length=96)
    username: str | None = None
    password: SecretRef | None = None
    tls: TlsSettings | None = None
    keepalive: Duration = timedelta(seconds=30)
    # Start a pure-Python broker in-process (the demo); production points at mosquitto/EMQX.
    embedded: bool = False


class Concurrency(Strict):
    onvif: int = Field(default=500, ge=1)
    snmp: int = Field(default=100, ge=1)
    rtsp: int = Field(default=100, ge=1)
    tcp: int = Field(default=200, ge=1)


class PollSettings(Strict):
    interval: Duration = timedelta(seconds=60)
    jitter: float = Field(default=0.1, ge=0, le=1)
    deep_interval: Duration = timedelta(minutes=15)
    timeout: Duration = timedelta(seconds=3)
    retries: int = Field(default=1, ge=0, le=5)
    clock_skew_limit: Duration = timedelta(seconds=10)
    recording_tolerance: Duration = timedelta(minutes=30)
    concurrency: Concurrency = Concurrency()

    @model_validator(mode="after")
    def _timeout_fits(self) -> PollSettings:
        if self.timeout * (self.retries + 1) >= self.interval:
            raise ValueError(Said("rule.probe_window"))
        return self


class OutboxSettings(Strict):
    dir: ConfigPath
    max_bytes: int = Field(default=1 << 30, ge=1 << 20)


class AgentSettings(Strict):
    kind: Literal["agent"]
    agent_id: TopicLevel
    site: TopicLevel
    inventory: ConfigPath
    profiles: ConfigPath | None = None
    broker: BrokerSettings = BrokerSettings()
    outbox: OutboxSettings
    poll: PollSettings = PollSettings()
    metrics_bind: str | None = Field(default=None, pattern=r"^[^:]+:\d{1,5}$")
    # The agent's own signing key (``slawatch-agent keys new``; its public key registered
    # in the inventory): batches and liveness messages are signed with it. Required to run.
    key: ConfigPath | None = None
    # The collector's public key (the ``.pub`` beside its signing key): a batch leaves the
    # outbox only on an ack signed by it. Required to run (``probe`` and ``discover`` need
    # neither).
    collector_key: ConfigPath | None = None
    # ``detect``: ask chrony / systemd whether this host's clock is synchronised;
    # ``trusted``: declare it is (a container whose host keeps its time).
    clock: Literal["detect", "trusted"] = "detect"


class InfluxSettings(Strict):
    url: AnyHttpUrl
    org: str
    bucket: str
    token: SecretRef
    batch_lines: int = Field(default=5000, ge=1, le=100_000)


class SpoolSettings(Strict):
    dir: ConfigPath
    max_bytes: int = Field(default=10 << 30, ge=1 << 20)


class LedgerDatabase(Strict):
    """A ledger on PostgreSQL (docs/reliability.md: what an acknowledgement then means).
    ``postgres`` is a libpq DSN without a password; ``password`` says where that is."""

    postgres: str = Field(pattern=r"^postgres(ql)?://")
    password: SecretRef | None = None
    # Passed to the server per connection; a commit returns (and the agent's batch is
    # acknowledged) only once it is as durable as this says: "on" flushed on the primary
    # (and on a synchronous standby when synchronous_standby_names names one),
    # "remote_apply" applied there too.
    synchronous_commit: Literal["on", "remote_apply", "remote_write", "local"] = "on"
    # Collectors sharing the ledger: one holds this lease and is active; another takes
    # over once it has not been renewed for this long (collector/ledger/lease.py).
    lease: Duration = Field(default=timedelta(seconds=10), ge=timedelta(seconds=1))

    @model_validator(mode="after")
    def _no_password_in_dsn(self) -> LedgerDatabase:
        # Checked again by psycopg's parser when connecting (collector/ledger/backend.py);
        # here so check-config refuses it. Never echoed: it is a secret.
        if re.search(r"://[^/@]*:[^/@]*@|[?&]password=|\bpassword\s*=", self.postgres):
            raise ValueError(Said("rule.dsn_password"))
        return self


def _ledger_kind(value: Any) -> str:
    return "file" if isinstance(value, str | Path) else "postgres"


# A file's path, or the PostgreSQL mapping: an error names the one that was meant.
LedgerLocation = Annotated[
    Annotated[ConfigPath, Tag("file")] | Annotated[LedgerDatabase, Tag("postgres")],
    Discriminator(_ledger_kind),
]


class ApiSettings(Strict):
    # Loopback by default: the network reaches the API through a TLS reverse proxy
    # (deploy/nginx/slawatch.conf, docs/security.md).
    bind: str = Field(default="127.0.0.1:8080", pattern=r"^[^:]+:\d{1,5}$")
    token: SecretRef
    # Every route needs a session or a token; these two may be opened for a Prometheus
    # scrape or a load balancer's health check that cannot send one.
    open_metrics: bool = False
    open_health: bool = False
    # Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (the client's address
    # for the login throttle, https for Secure cookies and the Origin check).
    trusted_proxies: list[str] = ["127.0.0.1", "::1"]

    def token_value(self) -> str:
        """The token, read now; a short or blank one is refused (it would let anyone in
        who can guess it), as a missing one is: SecretError (a LookupError) naming the
        key and the reference, never the value."""
        return secrets.read(secrets.api_token_of(self.token))


class SigningSettings(Strict):
    """The collector signs its ledger's head (docs/evidence.md): the key is a file
    (``slawatch-collector keys new``), never a value in the settings."""

    key: ConfigPath
    # Where each signed head is appended (an evaluator fetches or receives this file);
    # default: beside the ledger, ``<ledger>.heads.jsonl``.
    heads_file: ConfigPath | None = None
    every_rows: int = Field(default=10_000, ge=1)
    every: Duration = timedelta(minutes=5)
    # Each head is also published here, retained; default ``slawatch/v1/ledger/head/<sites>``
    # (the collector's sites joined by ``,``): districts sharing a broker keep their own.
    topic: str | None = None


class ConsoleSettings(Strict):
    """The web console (served on ``api.bind``; docs/console.md)."""

    # Named users, roles, Argon2 password hashes, hashed personal tokens.
    users: ConfigPath
    # Signs the session cookies: at least 32 characters and an estimated 128 bits of
    # entropy (slawatch/config/secrets.py), from the environment or a file.
    session_secret: SecretRef
    # The wall without logging in (a duty-room screen): no addresses, no user names, no
    # other page. Everything else needs a session or a token.
    open_read: bool = False
    # Send the session cookie over HTTPS only, whatever the request says (it is Secure
    # anyway whenever the console is reached over https, or a trusted proxy says so).
    secure_cookie: bool = False
    language: Literal["zh", "en"] = "zh"
    # A session ends after this long unused, and this long after its login in any case.
    idle_timeout: Duration = Field(default=timedelta(minutes=30), gt=timedelta(0))
    absolute_timeout: Duration = Field(default=timedelta(hours=12), gt=timedelta(0))
    # Failed logins before a lockout, per user name and per client address, counted over
    # lockout_for; an admin lifts a lockout on the console's security page.
    max_failures_per_user: int = Field(default=5, ge=1)
    max_failures_per_address: int = Field(default=20, ge=1)
    lockout_for: Duration = Field(default=timedelta(minutes=15), gt=timedelta(0))
    # Origins (scheme://host[:port]) a browser may post forms from, besides the console's
    # own: the public address the reverse proxy serves it on.
    allowed_origins: list[str] = []

    def session_secret_value(self) -> str:
        """The session secret, read now; a short or predictable one is refused:
        SecretError (a LookupError) naming the key and the reference, never the value."""
        return secrets.read(secrets.session_secret_of(self.session_secret))


class CollectorSettings(Strict):
    kind: Literal["collector"]
    inventory: ConfigPath
    # The site's policy: debounce, network-fault rule, escalation, and every contract that
    # names no policy of its own.
    policy: ConfigPath
    # The policies the inventory's contracts name (files, or directories of them): each
    # contract's tickets carry its own policy's deadlines.
    contract_policies: list[ConfigPath] = []
    broker: BrokerSettings = BrokerSettings()
    shared_group: TopicLevel | None = None
    # An observation further ahead of the collector's clock than this is refused (a
    # publisher's clock, or a forgery, must not move the watermark into the future).
    clock_tolerance: Duration = timedelta(minutes=5)
    # An observation this much older than the latest one (event time) is refused: it can
    # no longer change a state or a settled period, and an outbox never holds that much.
    late_bound: Duration = timedelta(days=30)
    influx: InfluxSettings | None = None
    spool: SpoolSettings
    ledger: LedgerLocation
    api: ApiSettings | None = None
    # Receivers, channels and routes of the alerts (docs/collector.md); MQTT always gets them.
    alerting: Alerting | None = None
    signing: SigningSettings | None = None
    console: ConsoleSettings | None = None

    @property
    def beside_ledger(self) -> Path:
        """Where the files kept beside the ledger go (its signed heads, the console's
        exports): the ledger file's folder, or for a ledger on PostgreSQL the spool's."""
        if isinstance(self.ledger, LedgerDatabase):
            return self.spool.dir.parent
        return self.ledger.parent
