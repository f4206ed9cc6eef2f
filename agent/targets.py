"""Turn inventory devices into probe targets, with their secrets read once at start."""

from __future__ import annotations

from agent.probes.base import Credentials, Target
from slawatch.config.inventory import Credential, Inventory
from slawatch.config.secrets import credential_secrets, problems


def resolve_credentials(inventory: Inventory) -> dict[str, Credentials]:
    """Read every secret reference now, so a missing one, or one that breaks its rule (an
    empty community, an SNMPv3 key shorter than 8 characters), fails at start, by its
    key: SecretError (a LookupError; slawatch/config/secrets.py)."""
    refused = problems(credential_secrets(inventory))
    if refused:
        raise refused[0]
    return {name: _resolve(credential) for name, credential in inventory.credentials.items()}


def _resolve(credential: Credential) -> Credentials:
    v3 = credential.snmp_v3
    return Credentials(
        username=credential.username,
        password=credential.password.resolve().get_secret_value() if credential.password else None,
        community=(
            credential.snmp_community.resolve().get_secret_value()
            if credential.snmp_community
            else None
        ),
        v3_user=v3.user if v3 else None,
        v3_auth_protocol=v3.auth_protocol if v3 else "SHA",
        v3_auth_key=v3.auth_key.resolve().get_secret_value() if v3 else None,
        v3_priv_protocol=v3.priv_protocol if v3 else "AES",
        v3_priv_key=v3.priv_key.resolve().get_secret_value() if v3 else None,
    )


def build_targets(inventory: Inventory, credentials: dict[str, Credentials]) -> list[Target]:
    none = Credentials()
    ports: dict[str, set[int | str]] = {}
    for device in inventory.devices:
        uplink = device.uplink
        if uplink is not None and uplink.switch is not None and uplink.port is not None:
            ports.setdefault(uplink.switch, set()).add(uplink.port)
    return [
        Target(
            device,
            credentials.get(device.credentials, none) if device.credentials else none,
            tuple(sorted(ports.get(device.id, ()), key=str)),
        )
        for device in inventory.devices
    ]
