"""This host's clock state as chrony and systemd report it (their real output formats)."""

from __future__ import annotations

from agent.clock import from_chrony, from_timedatectl
from agent.wire import ClockState

# `chronyc -c tracking` on a synchronised host and on one that lost its sources.
SYNCED = (
    "A9FEA97B,169.254.169.123,4,1733570000.123456789,-0.000012345,0.000001234,0.000023456,"
    "-12.345,0.001,0.010,0.000123,0.000456,64.2,Normal\n"
)
UNSYNCED = (
    "00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,"
    "0.000000,0.000000,0.0,Not synchronised\n"
)
STEPPED_AWAY = SYNCED.replace("-0.000012345", "-3600.5")


def test_chrony_says_synchronised_only_when_normal_and_within_a_second() -> None:
    assert from_chrony(SYNCED) is ClockState.SYNCHRONISED
    assert from_chrony(UNSYNCED) is ClockState.UNSYNCHRONISED
    assert from_chrony(STEPPED_AWAY) is ClockState.UNSYNCHRONISED
    assert from_chrony("506 Cannot talk to daemon") is ClockState.UNKNOWN


def test_timedatectl_yes_no_or_unknown() -> None:
    assert from_timedatectl("yes\n") is ClockState.SYNCHRONISED
    assert from_timedatectl("no\n") is ClockState.UNSYNCHRONISED
    assert from_timedatectl("") is ClockState.UNKNOWN
