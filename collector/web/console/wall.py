"""The wall's figures, now first: per contract the share of its units online now and how
many are offline, against the contract's own target; today's rate beside it; regions
against the strictest target among the contracts; and a banner for an outage.

One function gives both the page and its live refresh (``/wall.json``): every value is
text, with a level (good, bad, none) the page colours by.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from collector.web.console.views import NO_CONTRACT, DeviceIndex, share
from slawatch.config.policies import PolicyBook
from slawatch.messages import Language, text

# Below this share online a region or contract is an outage, whatever its target.
OUTAGE = 0.5


@dataclass(frozen=True, slots=True)
class Card:
    key: str
    name: str
    now: str  # the big figure: online now
    offline: str  # "离线 54 台"
    today: str  # today's rate and the target
    level: str  # good, bad, none (no agent reports)


def _percent(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f}%"


def level(now: float | None, target: float) -> str:
    if now is None:
        return "none"
    return "good" if now >= target else "bad"


def figures(
    index: DeviceIndex,
    online: dict[str, dict[str, Counter[str]]],
    policies: PolicyBook,
    rates: dict[str, float | None],
    language: Language,
) -> dict[str, Any]:
    """The wall's cards (contracts), tiles (regions) and outage lines, as text."""
    targets: dict[str, float] = {}
    cards = []
    # The contracts by name; devices under none (switches, mostly) last.
    for key, counts in sorted(
        online["contracts"].items(), key=lambda kv: (kv[0] == NO_CONTRACT, kv[0])
    ):
        contract = index.contracts.get(key)
        target = targets[key] = policies.for_contract(contract).targets.online_rate
        now = share(counts)
        today = rates.get(key)
        cards.append(
            Card(
                key=key,
                name=contract.name if contract else text("report.no_contract", language),
                now=text("console.no_agent", language) if now is None else _percent(now, 2),
                offline=text("wall.offline", language, count=counts["down"])
                + (
                    text("wall.unknown", language, count=counts["unknown"])
                    if counts["unknown"]
                    else ""
                ),
                today=text(
                    "wall.today",
                    language,
                    rate=_percent(today, 2),
                    target=_percent(target, 0),
                ),
                level=level(now, target),
            )
        )
    strictest = max(targets.values(), default=policies.default.targets.online_rate)
    tiles = []
    outage = []
    for key, counts in sorted(online["regions"].items()):
        now = share(counts)
        name = index.region_name(key)
        tiles.append(
            {
                "key": key,
                "name": name,
                "now": _percent(now) if now is not None else text("console.no_agent", language),
                "offline": text("wall.offline", language, count=counts["down"]),
                "level": level(now, strictest),
            }
        )
        if now is not None and now < OUTAGE:
            total = counts["up"] + counts["degraded"] + counts["down"]
            outage.append(
                text("wall.outage", language, name=name, down=counts["down"], total=total)
            )
    for card in cards:
        counts = online["contracts"][card.key]
        now = share(counts)
        if now is not None and now < OUTAGE and card.key != NO_CONTRACT:
            total = counts["up"] + counts["degraded"] + counts["down"]
            outage.insert(
                0, text("wall.outage", language, name=card.name, down=counts["down"], total=total)
            )
    return {
        "contracts": [asdict(card) for card in cards],
        "regions": tiles,
        "outage": outage,
        "target": _percent(strictest, 0),
    }
