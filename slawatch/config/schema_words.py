"""A pydantic validation error said in the reader's words, from the catalogue.

pydantic's own messages are English and name its types ("Input should be a valid
integer"); the administrator fixing a config file or a 设备台账 reads Chinese. Each error
type the config models can raise has a catalogue entry (``schema.<type>``); a rule of
our own raises its words as ``Said`` (``ValueError(Said(...))``, or a PydanticCustomError
naming the catalogue key in its context as ``said``). What has no entry is said as "not
valid" with pydantic's type code, so nothing English slips into a Chinese message.
"""

from __future__ import annotations

import re

from pydantic_core import ErrorDetails

from slawatch.config.types import IDENTIFIER_PATTERN
from slawatch.messages import Said, known

# Error types that mean the same to the reader: one entry says them all.
_SAME = {
    "int_parsing": "int_type",
    "int_from_float": "int_type",
    "float_parsing": "float_type",
    "bool_parsing": "bool_type",
    "enum": "literal_error",
    "model_type": "dict_type",
    "model_attributes_type": "dict_type",
    "dataclass_type": "dict_type",
    "dataclass_exact_type": "dict_type",
    "date_parsing": "date_type",
    "date_from_datetime_parsing": "date_type",
    "date_from_datetime_inexact": "date_type",
    "datetime_parsing": "datetime_type",
    "datetime_from_date_parsing": "datetime_type",
    "time_parsing": "time_type",
    "url_parsing": "url_type",
    "url_scheme": "url_type",
    "url_syntax_violation": "url_type",
    "ip_v4_address": "ip_any_address",
    "ip_v6_address": "ip_any_address",
    "path_not_file": "path_type",
    "path_not_directory": "path_type",
    "string_unicode": "string_type",
    "timedelta_type": "duration",
    "timedelta_parsing": "duration",
    "unexpected_keyword_argument": "extra_forbidden",
}
_QUOTED = re.compile(r"'[^']*'|-?\d+(?:\.\d+)?")


def said_for(error: ErrorDetails) -> Said:
    """The words for one of pydantic's errors (its English is kept as the ``Said``'s str)."""
    kind = error["type"]
    context = error.get("ctx") or {}
    raised = context.get("error")
    if isinstance(raised, Exception) and raised.args and isinstance(raised.args[0], Said):
        return raised.args[0]
    said = context.get("said")
    if isinstance(said, str):
        return Said(said, **{k: v for k, v in context.items() if k != "said"})
    if kind == "string_pattern_mismatch" and context.get("pattern") == IDENTIFIER_PATTERN:
        return Said("schema.identifier")
    if kind in ("literal_error", "enum", "union_tag_invalid"):
        expected = str(context.get("expected", context.get("expected_tags", "")))
        choices = " / ".join(_QUOTED.findall(expected)) or expected  # no English "or"
        return Said("schema.literal_error", expected=choices)
    key = f"schema.{_SAME.get(kind, kind)}"
    if known(key):
        return Said(key, **{k: v for k, v in context.items() if isinstance(v, str | int | float)})
    if kind == "value_error":
        return Said("schema.rule", detail=str(raised) if raised is not None else error["msg"])
    return Said("schema.other", kind=kind)
