"""Canonical JSON: one text per value, so hashes and byte comparisons mean something.

The text is what ``json.dumps(body, sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` writes, which is how every ledger so far was hashed; orjson writes
the same bytes ~12× faster (0.44 µs against 5.2 µs for a state row, and every state
change and ticket event writes one). They agree on what ledger rows hold (text,
integers within 64 bits, booleans, null, lists and objects with text keys);
``tests/collector/ledger/test_canonical.py`` holds them to it. They would differ on floats
(``1e16`` against ``1e+16``), which no row carries.
"""

from __future__ import annotations

from typing import Any

import orjson

_OPTIONS = orjson.OPT_SORT_KEYS


def canonical(body: dict[str, Any]) -> str:
    """Sorted keys, no spaces, UTF-8 text as is."""
    return orjson.dumps(body, option=_OPTIONS).decode()
