"""The report's charts (PNG), drawn by matplotlib in a CJK font so Chinese labels render.

Figures are made without pyplot (no global state, no display: Agg draws the PNG); no
timestamp or version goes in a PNG, so equal figures give equal bytes.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import matplotlib
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from slawatch.messages import Language, text

# Debian's fonts-noto-cjk; the family holds Simplified Chinese glyphs.
CJK_FAMILY = "Noto Sans CJK SC"
_FONT_DIRS = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts"))
COLOURS = ("#1f5fa8", "#d9822b", "#2e8b57", "#8e44ad", "#c0392b", "#16a085")


class FontMissingError(RuntimeError):
    pass


@cache
def cjk_font() -> str:
    """The CJK family, registered with matplotlib; FontMissingError says what to install."""
    for folder in _FONT_DIRS:
        for path in sorted(folder.rglob("NotoSansCJK-*.ttc")):
            font_manager.fontManager.addfont(str(path))
    names = {entry.name for entry in font_manager.fontManager.ttflist}
    if CJK_FAMILY not in names:
        raise FontMissingError(
            f"no {CJK_FAMILY} font: install Debian's fonts-noto-cjk (scripts/system-deps)"
        )
    return CJK_FAMILY


def _figure(width: float, height: float) -> tuple[Figure, Any]:
    matplotlib.rcParams["font.family"] = cjk_font()
    matplotlib.rcParams["axes.unicode_minus"] = False
    figure = Figure(figsize=(width, height), dpi=150, layout="constrained")
    return figure, figure.add_subplot()


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def trend_chart(
    trends: Sequence[dict[str, Any]], targets: dict[str, float], lang: Language
) -> bytes:
    """Each contract's online rate per day, with its target dashed in the same colour and
    labelled in the legend (which contract, what target)."""
    figure, axes = _figure(7.5, 3.2)
    shown: set[date] = set()
    for n, trend in enumerate(trends):
        colour = COLOURS[n % len(COLOURS)]
        days = [date.fromisoformat(day) for day in trend["days"]]
        shown.update(days)
        values = [float("nan") if v is None else v for v in trend["online_rate"]]
        name = trend["name"] or trend["key"]
        # A month or less: each day's point marked (a one-day period is one point, which
        # a line alone would not draw).
        marker = "o" if len(days) <= 31 else None
        axes.plot(days, values, color=colour, linewidth=1.4, marker=marker, markersize=3,
                  label=name)  # fmt: skip
        target = targets.get(trend["key"])
        if target is not None:
            label = text("report.target_line", lang, name=name, target=f"{target * 100:.1f}%")
            axes.axhline(target, color=colour, linestyle="--", linewidth=0.8, label=label)
    if len(shown) == 1:  # matplotlib would widen one day's axis to years around it
        (day,) = shown
        axes.set_xlim(day - timedelta(days=1), day + timedelta(days=1))
        axes.set_xticks([day])
    axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    axes.set_ylabel(text("column.online_rate", lang))
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower left")
    figure.autofmt_xdate()
    return _png(figure)


def tickets_chart(
    tickets: Sequence[dict[str, Any]],
    lang: Language,
    outcome_of: Callable[[dict[str, Any]], str],
    responded_late: Callable[[dict[str, Any]], bool],
) -> bytes:
    """Tickets of each fault class, two bars each: the response (late or in time) and
    the repair (in time, late, pending), so a late response shows as plainly as a late
    repair."""
    classes = ["front_end", "network"]
    repairs = Counter((ticket["fault_class"], outcome_of(ticket)) for ticket in tickets)
    late = Counter(ticket["fault_class"] for ticket in tickets if responded_late(ticket))
    total = Counter(ticket["fault_class"] for ticket in tickets)
    figure, axes = _figure(4.5, 2.6)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    width = 0.38
    places = list(range(len(classes)))
    response_at = [p - width / 2 for p in places]
    repair_at = [p + width / 2 for p in places]
    late_responses = [late[name] for name in classes]
    axes.bar(response_at, [total[n] - late[n] for n in classes], width, color="#7fb58f",
             label=text("response.in_time", lang))  # fmt: skip
    axes.bar(response_at, late_responses, width, bottom=[total[n] - late[n] for n in classes],
             color="#e07b39", label=text("response.late", lang))  # fmt: skip
    bottom = [0] * len(classes)
    for outcome, colour in (("in_time", "#2e8b57"), ("late", "#c0392b"), ("pending", "#999999")):
        heights = [repairs[(name, outcome)] for name in classes]
        axes.bar(repair_at, heights, width, bottom=bottom, color=colour,
                 label=text(f"outcome.{outcome}", lang))  # fmt: skip
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ticks = [*response_at, *repair_at]
    kinds = [text("report.chart_response", lang)] * len(classes)
    kinds += [text("report.chart_repair", lang)] * len(classes)
    names = [text(f"class.{name}", lang) for name in classes] * 2
    axes.set_xticks(ticks, [f"{kind}\n{name}" for kind, name in zip(kinds, names, strict=True)],
                    fontsize=7)  # fmt: skip
    axes.set_ylabel(text("column.tickets", lang))
    axes.legend(fontsize=6.5, ncols=2)
    return _png(figure)


def bars_chart(labels: Sequence[str], values: Sequence[float], unit: str, percent: bool) -> bytes:
    """A horizontal bar per item, the first on top (worst devices or regions)."""
    figure, axes = _figure(4.5, 0.6 + 0.28 * max(1, len(labels)))
    positions = list(range(len(labels)))[::-1]
    axes.barh(positions, values, color="#c0392b")
    axes.set_yticks(positions, labels, fontsize=8)
    if percent:
        axes.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
        low = min(values, default=0.0)
        axes.set_xlim(max(0.0, low - 0.05), 1.0)
    axes.set_xlabel(unit)
    return _png(figure)
