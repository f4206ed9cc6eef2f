"""Reporting periods, written the way people name them, resolved in the policy's time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from slawatch.epoch import epoch_ms

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_YEAR = re.compile(r"^(\d{4})$")


class PeriodError(ValueError):
    """A period that cannot be read; the message shows the accepted forms."""


@dataclass(frozen=True, slots=True)
class Period:
    """[start, end) in UTC; ``label`` is how the user named it. A period in progress ends
    at the ledger's watermark, and ``scheduled_end`` is where it will end."""

    start: datetime
    end: datetime
    label: str
    scheduled_end: datetime | None = None

    @property
    def in_progress(self) -> bool:
        return self.scheduled_end is not None

    def observed_to(self, watermark: datetime | None) -> Period:
        """The part of the period the ledger has observed: up to its watermark (the last
        observation time) when that falls before the end. Carrying the last state on to
        the end would turn a 2-minute outage at the watermark into weeks of downtime."""
        if watermark is not None and watermark >= self.end:
            return self
        cut = self.start if watermark is None else max(self.start, watermark)
        return Period(self.start, cut, self.label, self.end)

    @property
    def start_ms(self) -> int:
        return epoch_ms(self.start)

    @property
    def end_ms(self) -> int:
        return epoch_ms(self.end)

    def days(self, zone: ZoneInfo) -> list[date]:
        """Local calendar days the period touches."""
        first = self.start.astimezone(zone).date()
        last = (self.end - timedelta(microseconds=1)).astimezone(zone).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _moment(text: str, zone: ZoneInfo) -> datetime:
    """A date (local midnight) or an ISO 8601 date-time (local if it names no zone)."""
    try:
        if len(text) == 10:
            return local_midnight(date.fromisoformat(text), zone)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"{text!r} is neither a date nor an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def parse_period(text: str, zone: ZoneInfo) -> Period:
    """``2026-07-01/2026-10-01``, ``2026-Q3``, ``2026-07``, ``2026``, or a day ``2026-07-01``."""
    try:
        return _parse_period(text.strip(), zone)
    except PeriodError:
        raise
    except (OverflowError, ValueError) as exc:  # a bound past the calendar's: 9999-12-31, 0000
        raise PeriodError(f"{text.strip()!r}: outside the calendar ({exc})") from None


def _parse_period(text: str, zone: ZoneInfo) -> Period:
    if "/" in text:
        first, _, last = text.partition("/")
        start, end = _moment(first.strip(), zone), _moment(last.strip(), zone)
    elif found := _QUARTER.match(text):
        year, quarter = int(found.group(1)), int(found.group(2))
        start = local_midnight(date(year, 3 * quarter - 2, 1), zone)
        end = local_midnight(date(year + quarter // 4, 3 * quarter % 12 + 1, 1), zone)
    elif found := _MONTH.match(text):
        year, month = int(found.group(1)), int(found.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(f"{text!r}: no month {month}")
        start = local_midnight(date(year, month, 1), zone)
        end = local_midnight(date(year + month // 12, month % 12 + 1, 1), zone)
    elif found := _YEAR.match(text):
        year = int(found.group(1))
        start = local_midnight(date(year, 1, 1), zone)
        end = local_midnight(date(year + 1, 1, 1), zone)
    else:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise PeriodError(
                f"{text!r}: give START/END (dates or ISO date-times), 2026-Q3, 2026-07, 2026 "
                "or a day 2026-07-01"
            ) from None
        start, end = local_midnight(day, zone), local_midnight(day + timedelta(days=1), zone)
    if end <= start:
        raise PeriodError(f"{text!r}: the end must come after the start")
    return Period(start, end, text)
