"""Terminal columns that line up with Chinese text: a CJK character takes two columns."""

from __future__ import annotations

from wcwidth import wcswidth


def fit(text: str, width: int) -> str:
    """``text`` cut (with …) or padded to ``width`` terminal columns."""
    while wcswidth(text) > width:
        text = text[:-2] + "…"
    return text + " " * (width - wcswidth(text))
