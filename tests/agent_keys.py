"""Test agents' keys: each test agent id has a key made from the id, so the inventory a
test writes and the agent it runs agree without passing key files around; the test
collectors sign their acks with one key made the same way. Test-only: anyone can make
these keys (a real one comes from ``slawatch-agent keys new`` / ``slawatch-collector keys
new``)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from slawatch.keys import public_text


def agent_key(agent_id: str) -> Ed25519PrivateKey:
    seed = hashlib.sha256(f"slawatch test agent {agent_id}".encode()).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def registered(*agents: str) -> dict[str, Any]:
    """A site's ``agents`` and ``agent_keys`` for these test agents."""
    return {
        "agents": list(agents),
        "agent_keys": {agent: public_text(agent_key(agent).public_key()) for agent in agents},
    }


def agent_key_file(folder: Path, agent_id: str) -> Path:
    """The agent's key as the file its settings name (``key``)."""
    file = folder / f"{agent_id}-key.pem"
    pem = agent_key(agent_id).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    file.write_bytes(pem)
    file.chmod(0o600)
    return file


def collector_key() -> Ed25519PrivateKey:
    """The test collectors' signing key (the one their acks are signed with)."""
    seed = hashlib.sha256(b"slawatch test collector").digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def collector_key_file(folder: Path) -> Path:
    """The test collectors' key as the file a collector's ``signing.key`` names, with its
    ``.pub`` beside it (an agent's ``collector_key``)."""
    file = folder / "test-collector-key.pem"
    if not file.exists():
        key = collector_key()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        file.write_bytes(pem)
        file.chmod(0o600)
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        file.with_name(file.name + ".pub").write_bytes(public)
    return file


def signing_by_test_key(folder: Path) -> dict[str, Any]:
    """A collector's ``signing`` section with the test collectors' key."""
    return {"key": str(collector_key_file(folder))}
