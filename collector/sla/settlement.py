"""The quarter's rent from the contract's rule and the measured online rate.

Exact arithmetic (fractions) throughout; money is rounded half-up to the fen only at the
end, and the balance is the difference of the two rounded amounts that change hands.
``docs/sla-semantics.md`` has the formulas and a worked example.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import numpy as np

from collector.sla.exposure import Int64s
from collector.sla.period import Period, local_midnight
from slawatch.config.policy import Settlement as SettlementPolicy
from slawatch.config.policy import SettlementRule
from slawatch.epoch import epoch_ms

FEN = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Money:
    unit_months: Fraction
    base: Decimal
    due: Decimal
    prepaid: Decimal
    balance: Decimal  # positive: top-up to the contractor; negative: refund


def fen(amount: Fraction) -> Decimal:
    exact = Decimal(amount.numerator) / Decimal(amount.denominator)
    return exact.quantize(FEN, rounding=ROUND_HALF_UP)


def months(period: Period, zone: ZoneInfo) -> list[tuple[int, int, int]]:
    """The calendar months the period touches: (start ms, end ms, length ms) of each."""
    first = period.start.astimezone(zone).date().replace(day=1)
    spans: list[tuple[int, int, int]] = []
    while True:
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        start = epoch_ms(local_midnight(first, zone))
        end = epoch_ms(local_midnight(following, zone))
        if start >= period.end_ms:
            return spans
        spans.append((start, end, end - start))
        first = following


def month_overlaps(
    counted_from: Int64s, counted_to: Int64s, calendar: list[tuple[int, int, int]]
) -> Int64s:
    """Per unit, the milliseconds it is counted in each calendar month: (units, months)."""
    starts = np.array([start for start, _, _ in calendar], dtype=np.int64)
    ends = np.array([end for _, end, _ in calendar], dtype=np.int64)
    overlap: Int64s = np.minimum(counted_to[:, None], ends) - np.maximum(
        counted_from[:, None], starts
    )
    return np.maximum(overlap, 0)


def unit_months(month_ms: Iterable[int], calendar: list[tuple[int, int, int]]) -> Fraction:
    """Σ over months of the counted milliseconds (of any number of units) over the month's
    length: each unit adds its in-service share of each calendar month."""
    shares = (Fraction(ms, length) for ms, (_, _, length) in zip(month_ms, calendar, strict=True))
    return sum(shares, Fraction(0))


def settle(
    rule: SettlementPolicy, priced: list[tuple[Decimal, Fraction]], rate: Fraction, target: float
) -> Money:
    """``priced``: (unit price, unit-months) pairs; ``rate``: the measured online rate."""
    base = sum((Fraction(price) * amount for price, amount in priced), Fraction(0))
    if rule.rule is SettlementRule.FULL_ABOVE_TARGET and rate >= Fraction(str(target)):
        due = base
    else:
        due = base * rate
    prepaid = base * Fraction(rule.prepay_rate)
    return Money(
        unit_months=sum((amount for _, amount in priced), Fraction(0)),
        base=fen(base),
        due=fen(due),
        prepaid=fen(prepaid),
        balance=fen(due) - fen(prepaid),
    )
