"""The exemptions of a period as the bundle lists them (exemptions.csv, its sheet and the
PDF's section), and what each approved one changed (exemption_effects.csv): each
contract's figures and money with it and without it, the period measured again without
that one exemption, so an evaluator sees what every consent of the bureau moved."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from collector.evidence.tables import Cell, Column, Kind, Table
from collector.pipeline.exemptions import Exemption
from collector.sla.exempt import Exempted
from slawatch.config.policies import PolicyBook
from slawatch.messages import Language, text

EXEMPTIONS = (
    Column("exemption", Kind.TEXT),
    Column("what", Kind.TEXT),
    Column("scope", Kind.TEXT),
    Column("start", Kind.MOMENT),
    Column("end", Kind.MOMENT),
    Column("cause", Kind.TEXT),
    Column("reason", Kind.TEXT),
    Column("requested_by", Kind.TEXT),
    Column("requested_at", Kind.MOMENT),
    Column("back_dated", Kind.TEXT),
    Column("status", Kind.TEXT),
    Column("decided_by", Kind.TEXT),
    Column("decided_at", Kind.MOMENT),
    Column("decision_note", Kind.TEXT),
)
# Figures compared with and without an exemption: (report key, column with, without).
COMPARED = (
    ("units", Kind.COUNT),
    ("online_rate", Kind.RATE),
    ("tickets", Kind.COUNT),
    ("response_timeliness_rate", Kind.RATE),
    ("repair_timeliness_rate", Kind.RATE),
)
MONEY = ("due", "balance")
EFFECTS = (
    Column("exemption", Kind.TEXT),
    Column("contract", Kind.TEXT),
    Column("name", Kind.TEXT),
    *(
        column
        for key, kind in COMPARED
        for column in (Column(key, kind), Column(f"{key}_without", kind))
    ),
    *(
        column
        for key in MONEY
        for column in (Column(key, Kind.MONEY), Column(f"{key}_without", Kind.MONEY))
    ),
    Column("due_change", Kind.MONEY),
)


def _scope(found: Exemption) -> str:
    if found.ticket is not None:
        return found.ticket
    return ", ".join((*found.devices, *found.regions, *found.links))


def _cause(found: Exemption, policies: PolicyBook, language: Language) -> str | None:
    """A ticket's cause as its policy words it; a service end's from the catalogue."""
    if found.cause is None:
        return None
    if found.what == "service_end":
        return text(f"exemption.cause.{found.cause}", language)
    for policy in policies.policies:
        if found.cause in policy.exemption_causes:
            return policy.exemption_causes[found.cause]
    return found.cause


def exemptions_table(exempted: Exempted, zone: ZoneInfo, language: Language) -> Table:
    def local(moment: datetime | None) -> datetime | None:
        if moment is None:
            return None
        return moment.astimezone(zone).replace(tzinfo=None, microsecond=0)

    rows: list[list[Cell]] = []
    for found in exempted.listed:
        decision = found.decision
        rows.append(
            [
                found.id,
                text(f"exemption.what.{found.what}", language),
                _scope(found),
                local(found.start),
                local(found.end),
                _cause(found, exempted.policies, language),
                found.reason,
                found.by,
                local(found.requested_at),
                text("console.exemption_back_dated", language) if found.back_dated else None,
                text(f"console.exemption_{found.status}", language),
                None if decision is None else decision.by,
                None if decision is None else local(decision.at),
                None if decision is None else decision.note,
            ]
        )
    return Table("exemptions", EXEMPTIONS, rows)


def _money(group: dict[str, Any] | None, name: str) -> Decimal | None:
    settlement = None if group is None else group["settlement"]
    return None if settlement is None else Decimal(settlement[name])


def effects_table(exempted: Exempted, groups: list[dict[str, Any]]) -> Table:
    """Per counted exemption, a row for each contract whose figures or money it changed:
    ``groups`` are the period's contract groups (with every counted exemption)."""
    rows: list[list[Cell]] = []
    for found in exempted.counted:
        without = {g["key"]: g for g in exempted.without(found).build(("contract",))["groups"]}
        for group in groups:
            other = without.get(group["key"])
            pairs: list[Cell] = []
            for key, _ in COMPARED:
                pairs += [group[key], None if other is None else other[key]]
            for key in MONEY:
                pairs += [_money(group, key), _money(other, key)]
            if all(pairs[n] == pairs[n + 1] for n in range(0, len(pairs), 2)):
                continue
            due, due_without = _money(group, "due"), _money(other, "due")
            change = None if due is None or due_without is None else due - due_without
            rows.append([found.id, group["key"], group["name"], *pairs, change])
    return Table("exemption_effects", EFFECTS, rows)
