"""Canonical JSON: one text per value, so hashes and byte comparisons mean something."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# One encoder for every ledger row: ``json.dumps`` with options builds a new one per call.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(body: Mapping[str, Any]) -> str:
    """Sorted keys, no spaces, UTF-8 text as is."""
    return _ENCODER.encode(body)
