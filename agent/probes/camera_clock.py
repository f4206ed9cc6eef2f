"""A camera's clock from its GetSystemDateAndTime reply, with or without UTCDateTime.

Some firmwares leave UTCDateTime out and send only LocalDateTime and a POSIX ``TZ``
(npm ``onvif`` connects to them all the same): the UTC time is then the local time less
the zone's offset. Whether daylight saving is in effect cannot be taken from the reply:
real cameras say ``DaylightSavings true`` in winter and keep standard time in summer
(the captures in ``/work/shared/testdata/onvif`` do both), so a zone with a summer time
gives two readings, an hour apart, and the clock is judged by the nearer. The zone is
read here rather than by ``dateutil.tz.tzstr`` because that refuses the forms cameras
actually send (Hikvision's ``CST-8:00:00``, ``CST6CDT:``, ``EST+5:00:00EDT04:00:00``).
A ``GMT+8``/``UTC+8`` zone is left unjudged: firmwares write it both the POSIX way
(8 hours west) and the everyday way (8 hours east), and a wrong guess would call a right
clock 16 hours off.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from lxml import etree

from agent.probes.onvif_soap import BadReplyError, find, text_of
from slawatch.messages import Said

_NAME = r"(?:<[^>]+>|[A-Za-z]{3,})"
_OFFSET = r"([+-]?)(\d{1,2})(?::(\d{1,2}))?(?::(\d{1,2}))?"
_POSIX_TZ = re.compile(rf"(?P<std>{_NAME}){_OFFSET}(?:(?P<dst>{_NAME})(?:{_OFFSET})?)?")
_FIELDS = ("Year", "Month", "Day", "Hour", "Minute", "Second")


@dataclass(frozen=True, slots=True)
class CameraClock:
    """What a GetSystemDateAndTime reply says of the camera's clock."""

    readings: tuple[datetime, ...]  # in UTC; none when it cannot be placed (``note`` says why)
    note: str | None = None

    def offset_s(self, moment: float) -> float | None:
        """Seconds the camera's clock is ahead of ``moment`` (the nearer reading)."""
        offsets = [reading.timestamp() - moment for reading in self.readings]
        return min(offsets, key=abs) if offsets else None


def _east(sign: str, hours: str, minutes: str | None, seconds: str | None) -> int:
    """Seconds east of UTC for a POSIX offset (``-8`` is eight hours east)."""
    west = int(hours) * 3600 + int(minutes or 0) * 60 + int(seconds or 0)
    return west if sign == "-" else -west


def utc_offsets(tz: str) -> tuple[int, ...]:
    """Seconds east of UTC of a POSIX ``TZ``: standard time, then summer time if it has
    one; none when the zone cannot be told for sure."""
    found = _POSIX_TZ.match(tz.strip())
    if found is None or found["std"].upper() in ("GMT", "UTC"):
        return ()
    standard = _east(*found.group(2, 3, 4, 5))
    if found["dst"] is None:
        return (standard,)
    if found.group(8) is None:
        return standard, standard + 3600  # POSIX: one hour ahead unless given
    return standard, _east(*found.group(7, 8, 9, 10))


def _moment(element: etree._Element, zone: tzinfo) -> datetime:
    try:
        year, month, day, hour, minute, second = (
            int(text_of(element, name) or "") for name in _FIELDS
        )
        return datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except ValueError as exc:
        raise BadReplyError(Said("why.bad_time", error=str(exc))) from exc


def camera_clock(reply: etree._Element) -> CameraClock:
    """The camera's clock from a GetSystemDateAndTime reply (its response element or its
    whole envelope); raise BadReplyError when the reply holds no date and time at all."""
    utc = find(reply, "UTCDateTime")
    if utc is not None:
        return CameraClock((_moment(utc, UTC),))
    local = find(reply, "LocalDateTime")
    if local is None:
        raise BadReplyError(Said("why.no_time"))
    tz = text_of(reply, "TimeZone", "TZ")
    if not tz:
        return CameraClock((), Said("why.clock_no_tz"))
    offsets = utc_offsets(tz)
    if not offsets:
        return CameraClock((), Said("why.clock_tz_unknown", tz=tz))
    readings = tuple(
        _moment(local, timezone(timedelta(seconds=offset))).astimezone(UTC) for offset in offsets
    )
    zones = " / ".join(f"UTC{offset / 3600:+g}" for offset in offsets)
    return CameraClock(readings, Said("why.clock_local", tz=tz, zones=zones))
