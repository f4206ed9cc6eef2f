"""The time axis the ledger and the SLA engine share: integer milliseconds since the epoch.

Below both, so the ledger never reaches up into the SLA engine for it.
"""

from __future__ import annotations

from datetime import UTC, datetime


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_epoch_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
