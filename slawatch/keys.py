"""Ed25519 keys: the collector signs its ledger heads, evidence bundles and acks with one;
each agent signs its batches and liveness messages with one of its own.

PEM files that openssl reads as they are (PKCS#8 private, SubjectPublicKeyInfo public), so
an evaluator checks a signature with ``openssl pkeyutl -verify`` and no slawatch. A public
key is also written as one line of text (``ed25519:`` and the raw key in base64), the form
an inventory registers an agent's key in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from slawatch.config.errors import unreadable
from slawatch.messages import Language, Said, said_in


class KeyFileError(ValueError):
    """A key file that is missing, unreadable or not an Ed25519 key (the message names it,
    from the catalogue: as a string, in English)."""

    def __init__(self, said: Said) -> None:
        super().__init__(said)
        self.said = said

    def said_in(self, language: Language) -> str:
        return said_in(self.said, language)


def key_id(public: Ed25519PublicKey) -> str:
    """The first 16 hex digits of the SHA-256 of the raw public key: names the key in heads."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def new_pair(private_path: Path) -> Path:
    """Write a new private key (mode 0600, never overwriting) and ``<name>.pub`` beside it."""
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_path = private_path.with_name(private_path.name + ".pub")
    for path in (private_path, public_path):
        if path.exists():
            raise KeyFileError(Said("keys.exists", path=str(path)))
    # O_EXCL with the mode at creation: the private key is never readable by others, even
    # for an instant.
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(private_pem)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return public_path


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise KeyFileError(
            Said("keys.private_unreadable", path=str(path), why=unreadable(exc))
        ) from None
    except (ValueError, TypeError):
        raise KeyFileError(Said("keys.private_not_pem", path=str(path))) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(Said("keys.not_ed25519", path=str(path)))
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise KeyFileError(
            Said("keys.public_unreadable", path=str(path), why=unreadable(exc))
        ) from None
    except ValueError:
        raise KeyFileError(Said("keys.public_not_pem", path=str(path))) from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(Said("keys.not_ed25519", path=str(path)))
    return key


def signature_holds(public: Ed25519PublicKey, signature: bytes, message: bytes) -> bool:
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return False
    return True


TEXT_PREFIX = "ed25519:"


def public_text(public: Ed25519PublicKey) -> str:
    """The public key as one line: ``ed25519:`` and the 32 raw bytes in base64."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return TEXT_PREFIX + base64.b64encode(raw).decode()


def public_from_text(text: str) -> Ed25519PublicKey:
    """The key :func:`public_text` wrote; KeyFileError (naming what is wrong) otherwise."""
    if not text.startswith(TEXT_PREFIX):
        raise KeyFileError(Said("keys.text_prefix", prefix=repr(TEXT_PREFIX)))
    try:
        raw = base64.b64decode(text.removeprefix(TEXT_PREFIX), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise KeyFileError(Said("keys.text_base64")) from None
