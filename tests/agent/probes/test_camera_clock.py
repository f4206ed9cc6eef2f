"""The clock of a camera that sends no UTCDateTime, worked out from its local time and TZ,
checked against real cameras' captures: each capture's own UTCDateTime is taken out and
must be among the readings its LocalDateTime and TZ give."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from agent.probes.camera_clock import camera_clock, utc_offsets
from agent.probes.onvif_soap import parse_reply
from tests.conftest import SHARED_TESTDATA

CAPTURES = sorted(SHARED_TESTDATA.glob("onvif/*_GetSystemDateAndTime.xml"))


@pytest.mark.parametrize("capture", CAPTURES, ids=[c.stem for c in CAPTURES])
def test_local_time_and_tz_give_the_utc_the_camera_also_sent(capture: Path) -> None:
    root = parse_reply(capture.read_bytes())
    (utc,) = camera_clock(root).readings
    for element in list(root.iter("{*}UTCDateTime")):
        parent = element.getparent()
        assert parent is not None
        parent.remove(element)
    derived = camera_clock(root)
    assert utc in derived.readings, (derived, utc)
    assert derived.note is not None
    assert derived.note.startswith("no UTCDateTime: clock from local time and TZ")


@pytest.mark.parametrize(
    ("tz", "hours"),
    [
        ("CST-8:00:00", (8,)),  # Hikvision
        ("CST-08:00", (8,)),
        ("BRT3", (-3,)),
        ("CST6CDT:", (-6, -5)),
        ("EST+5:00:00EDT04:00:00,M3.5.0/01:00:00,M10.5.0/02:00:00", (-5, -4)),
        ("<+0530>-5:30", (5.5,)),
        ("GMT+08:00", ()),  # written both ways by firmwares: not judged
        ("Asia/Shanghai", ()),
    ],
)
def test_posix_zones_as_cameras_write_them(tz: str, hours: tuple[float, ...]) -> None:
    assert tuple(offset / 3600 for offset in utc_offsets(tz)) == hours


def test_an_unreadable_zone_leaves_the_clock_unjudged_with_a_note() -> None:
    reply = etree.fromstring(
        b'<r xmlns:tt="http://www.onvif.org/ver10/schema"><tt:TimeZone><tt:TZ>GMT+08:00</tt:TZ>'
        b"</tt:TimeZone><tt:LocalDateTime><tt:Time><tt:Hour>1</tt:Hour><tt:Minute>2</tt:Minute>"
        b"<tt:Second>3</tt:Second></tt:Time><tt:Date><tt:Year>2026</tt:Year><tt:Month>1</tt:Month>"
        b"<tt:Day>2</tt:Day></tt:Date></tt:LocalDateTime></r>"
    )
    clock = camera_clock(reply)
    assert clock.readings == ()
    assert clock.offset_s(0.0) is None
    assert clock.note == "no UTCDateTime, and the TZ 'GMT+08:00' does not say which UTC"
