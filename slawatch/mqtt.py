"""One way to open an MQTT connection from settings, for the agent and the collector, and
the names a district's collector goes by on a broker it may share with others."""

from __future__ import annotations

import hashlib
import ssl

import aiomqtt

from slawatch.config.settings import BrokerSettings

HEAD_TOPIC_ROOT = "slawatch/v1/ledger/head"


def district_of(sites: list[str]) -> str:
    """The district's name on the broker, from its sites (a digest of them when long)."""
    joined = "+".join(sorted(sites))
    if len(joined) > 40:
        joined = hashlib.sha256(joined.encode()).hexdigest()[:16]
    return joined


def head_topic_for(sites: list[str]) -> str:
    """Where the district's signed ledger head is retained: two districts on one broker
    never overwrite each other's (``+`` is a wildcard in a topic: the sites are joined by
    ``,`` there)."""
    return f"{HEAD_TOPIC_ROOT}/{district_of(sites).replace('+', ',')}"


def tls_context(broker: BrokerSettings) -> ssl.SSLContext | None:
    if broker.tls is None:
        return None
    context = ssl.create_default_context(cafile=broker.tls.ca_file)
    if broker.tls.cert_file is not None:
        context.load_cert_chain(broker.tls.cert_file, broker.tls.key_file)
    if broker.tls.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def mqtt_client(
    broker: BrokerSettings,
    client_id: str,
    *,
    clean_session: bool,
    will: aiomqtt.Will | None = None,
    max_inflight_messages: int | None = None,
) -> aiomqtt.Client:
    """A client for ``broker``; the password is read from its reference now, never logged.

    ``client_id`` names the connection's role; ``broker.client_id``, when set, is a prefix
    to it, so the several connections of one process never share an id (a broker gives a
    reused id's session to the newest connection, and a clean one discards its queue).
    """
    return aiomqtt.Client(
        broker.host,
        broker.port,
        username=broker.username,
        password=broker.password.resolve().get_secret_value() if broker.password else None,
        identifier=f"{broker.client_id}-{client_id}" if broker.client_id else client_id,
        clean_session=clean_session,
        keepalive=int(broker.keepalive.total_seconds()),
        will=will,
        tls_context=tls_context(broker),
        max_inflight_messages=max_inflight_messages,
    )
