"""Periods as evaluators write them, in the policy's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from collector.sla.period import PeriodError, parse_period

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-Q3", datetime(2026, 6, 30, 16), datetime(2026, 9, 30, 16)),
        ("2026-Q4", datetime(2026, 9, 30, 16), datetime(2026, 12, 31, 16)),
        ("2026-07-01/2026-10-01", datetime(2026, 6, 30, 16), datetime(2026, 9, 30, 16)),
        ("2026-12", datetime(2026, 11, 30, 16), datetime(2026, 12, 31, 16)),
        ("2026", datetime(2025, 12, 31, 16), datetime(2026, 12, 31, 16)),
        ("2026-07-15", datetime(2026, 7, 14, 16), datetime(2026, 7, 15, 16)),
        (
            "2026-07-01T08:00/2026-07-01T20:00:00Z",
            datetime(2026, 7, 1, 0),
            datetime(2026, 7, 1, 20),
        ),
    ],
)
def test_every_form_resolves_to_local_midnights(text: str, start: datetime, end: datetime) -> None:
    period = parse_period(text, SHANGHAI)
    assert (period.start, period.end) == (start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))


@pytest.mark.parametrize("text", ["Q3", "2026-13", "2026-10-01/2026-07-01", "yesterday/today"])
def test_an_unreadable_period_says_what_is_accepted(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text, SHANGHAI)
