"""Canonical JSON: the ledger's hashes stay what they were when the encoder changed."""

from __future__ import annotations

import json
from typing import Any

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from collector.ledger.canonical import canonical

# What ledger rows hold: text (any Unicode a name or a device id may carry, control
# characters included), 64-bit integers, booleans, null, lists and objects.
scalars = (
    st.text() | st.integers(min_value=-(2**63), max_value=2**63 - 1) | st.booleans() | st.none()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def standard_library(body: dict[str, Any]) -> str:
    """How ledgers were hashed before orjson."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@given(st.dictionaries(st.text(), values, max_size=8))
def test_any_row_body_is_written_as_the_standard_library_wrote_it(body: dict[str, Any]) -> None:
    assert canonical(body) == standard_library(body)


def test_a_ticket_row_with_an_operators_name_keeps_its_bytes() -> None:
    body = {
        "event": "acknowledged",
        "detail": '值班员\t"王"\n\x1f\u2028',
        "ticket": {"id": "T-1", "device_ids": ["CAM-1", "CAM-2"], "backup_fiber": False},
        "merged_into": None,
    }
    assert canonical(body) == standard_library(body)
    assert canonical(body).startswith('{"detail":"值班员\\t\\"王\\"\\n\\u001f\u2028","event"')


# RFC 8785 (JCS) orders keys by UTF-16 code units and allows integers only within ±2^53;
# ledger keys are ASCII names and its integers counts and milliseconds, well inside.
ascii_keys = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E))
jcs_scalars = (
    st.text() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.booleans() | st.none()
)
jcs_values = st.recursive(
    jcs_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ascii_keys, inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(ascii_keys, jcs_values, max_size=8))
def test_a_row_body_is_rfc_8785_canonical_json_so_an_evaluator_can_rebuild_its_hash(
    body: dict[str, Any],
) -> None:
    """docs/evidence.md tells evaluators the body is JCS: any JCS library gives its bytes."""
    assert canonical(body).encode() == rfc8785.dumps(body)
