"""A refusal (401, 403, 404, 409, 429…) said twice: English JSON for a script, a page in
the reader's language for a browser. ``Refused`` carries the catalogue key so the page can
say it in words; any other HTTP error (a route that does not exist) gets its status's
sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import HTTPException
from starlette.exceptions import HTTPException as StarletteHTTPException

from slawatch.messages import Language, known, text


@dataclass(frozen=True, slots=True)
class Word:
    """A value that is itself said in the reader's language (a role's name)."""

    key: str


def _said(key: str, language: Language, values: dict[str, object]) -> str:
    words = {
        name: text(value.key, language) if isinstance(value, Word) else value
        for name, value in values.items()
    }
    return text(key, language, **words)


class Refused(HTTPException):
    """An HTTP refusal whose words come from the catalogue (``detail`` is the English)."""

    def __init__(self, status: int, key: str, **values: object) -> None:
        super().__init__(status, _said(key, "en", values))
        self.key = key
        self.values = values


def sentence(refusal: StarletteHTTPException, language: Language) -> str:
    """What a person reads: the refusal's own sentence, else its status's."""
    if isinstance(refusal, Refused):
        return _said(refusal.key, language, refusal.values)
    key = f"refused.status.{refusal.status_code}"
    return text(key if known(key) else "refused.status.other", language)


def title(status: int, language: Language) -> str:
    """The page's heading: what kind of refusal this is."""
    key = f"refused.title.{status}"
    return text(key if known(key) else "refused.title.other", language, status=status)
