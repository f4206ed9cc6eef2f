"""The spool on a disk that fills: a sync that fails leaves no half line behind once the
collector rewinds it, and what comes again after space returns is written whole."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from collector.timeseries.spool import OPEN_SEGMENT, Spool
from tests.collector.conftest import fill


def line(n: int) -> str:
    return f"device_status,device=CAM{n:05d} health=1i,rtt_ms=3.5 {1_700_000_000_000 + n}"


def stored(spool: Spool, lines: list[str]) -> None:
    """What the collector does with a commit's lines."""
    spool.append(lines)
    spool.sync()


def test_a_sync_refused_by_a_full_disk_is_rewound_and_written_whole_later(
    small_disk: Path,
) -> None:
    spool = Spool(small_disk / "spool", max_bytes=1 << 30, segment_lines=1_000_000)
    kept = [line(n) for n in range(100)]
    spool.append(kept)
    spool.sync()
    filler = fill(small_disk)
    refused = [line(n) for n in range(100, 10_100)]  # ~640 kB: more than the buffer holds
    with pytest.raises(OSError, match="No space left") as full:
        stored(spool, refused)
    assert full.value.errno == errno.ENOSPC
    spool.rewind()
    assert (small_disk / "spool" / OPEN_SEGMENT).read_text().splitlines() == kept
    filler.unlink()
    stored(spool, refused)  # the input came again
    spool.close()
    assert (small_disk / "spool" / OPEN_SEGMENT).read_text().splitlines() == kept + refused
