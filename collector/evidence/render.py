"""report.html (Jinja2) and report.pdf (WeasyPrint from the same HTML, CJK font embedded).

Words come from the message catalogue; numbers and moments are written the way the
report's language writes them; every moment is local to the policy's time zone.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from collector.evidence import charts
from collector.evidence.heads import SignedHead
from collector.evidence.tables import Kind, Table, headings, outcome
from collector.sla.report import NONE_KEY
from slawatch import __version__
from slawatch.config.policies import PolicyBook
from slawatch.config.policy import Policy, SettlementRule
from slawatch.messages import Language, reason_text, text

# The PDF lists at most this many tickets (late first); all are in tickets.csv and XLSX.
PDF_TICKETS = 200
FIGURE_NAMES = (
    "online_rate",
    "intact_rate",
    "networking_rate",
    "realtime_video_availability",
    "historical_video_availability",
    "fault_rate",
    "response_timeliness_rate",
    "repair_timeliness_rate",
)
_REGION_COLUMNS = (
    "contract",
    "name",
    "units",
    "online_rate",
    "intact_rate",
    "tickets",
    "late",
)
# A ticket's devices the PDF names (the rest are counted; tickets.csv lists them all).
PDF_DEVICES = 3
# Zones that keep China's one civil time: written as the reader says it, 北京时间.
_BEIJING = {"Asia/Shanghai", "Asia/Chongqing", "Asia/Harbin", "Asia/Urumqi", "PRC"}


@dataclass(frozen=True, slots=True)
class Ledger:
    rows: int
    head: str
    key: str | None  # the signing key's id, when the bundle is signed
    anchor: SignedHead | None  # the last signed head covering the slice
    signed_here: bool  # the export signed it (its key was given)
    first: int = 0  # the slice's first row (its opening snapshot's)

    def anchoring(self, w: Writer) -> str:
        """Which head covers the slice's rows, and which rows none covers."""
        said = []
        if self.anchor is not None:
            by_export = w.t("report.anchored_by_export") if self.signed_here else ""
            said.append(
                w.t(
                    "report.anchored",
                    first=self.first,
                    seq=self.anchor.seq,
                    key_id=self.anchor.key,
                    by_export=by_export,
                )
            )
        first = self.first if self.anchor is None else self.anchor.seq + 1
        if first < self.rows:
            said.append(
                w.t("report.unanchored", first=first, last=self.rows - 1, count=self.rows - first)
            )
        return "；".join(said) if w.language == "zh" else "; ".join(said)


class Writer:
    """Formats in one language and time zone."""

    def __init__(self, language: Language, zone: ZoneInfo) -> None:
        self.language, self.zone = language, zone

    def t(self, key: str, **values: object) -> str:
        return text(key, self.language, **values)

    def percent(self, value: float | None) -> str:
        return "—" if value is None else f"{value * 100:.3f}%"

    def money(self, value: str | Decimal | None) -> str:
        """Every amount with its currency, in either language (¥ is the yen's sign too)."""
        if value is None:
            return "—"
        amount = Decimal(value)
        return f"{'−' if amount < 0 else ''}CNY {abs(amount):,.2f}"

    def balance(self, value: str | Decimal | None) -> str:
        """A balance with its direction: 补 paid to the contractor, 退 refunded."""
        if value is None:
            return "—"
        amount = Decimal(value)
        if not amount:
            return self.money(amount)
        direction = "settle.top_up" if amount > 0 else "settle.refund"
        return self.t(direction, amount=self.money(abs(amount)))

    def count(self, value: int) -> str:
        return f"{value:,}"

    def moment(self, value: datetime | str | None) -> str:
        if value is None:
            return "—"
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is not None:
            value = value.astimezone(self.zone)
        if self.language == "zh":
            return f"{value.year}年{value.month}月{value.day}日 {value:%H:%M}"
        return f"{value:%Y-%m-%d %H:%M}"

    def short(self, value: str | None, year: int) -> str:
        """A moment in a table cell: without its year when it is the period's."""
        if value is None:
            return "—"
        local = datetime.fromisoformat(value).astimezone(self.zone)
        if local.year != year:
            return self.moment(local)
        if self.language == "zh":
            return f"{local.month}月{local.day}日 {local:%H:%M}"
        return f"{local:%m-%d %H:%M}"

    def zone_name(self) -> str:
        """The report's time zone as its reader says it: 北京时间 (UTC+8), not a tz id."""
        key = str(self.zone.key)
        if key in _BEIJING:
            return self.t("report.zone_beijing")
        offset = datetime.now(self.zone).utcoffset() or timedelta()
        hours = offset.total_seconds() / 3600
        shown = f"{hours:+.0f}" if hours.is_integer() else f"{hours:+.1f}"
        return self.t("report.zone_offset", zone=key, offset=shown)

    def duration(self, value: timedelta) -> str:
        hours, rest = divmod(int(value.total_seconds()), 3600)
        minutes = rest // 60
        if self.language == "zh":
            return (
                f"{hours} 小时" + (f" {minutes} 分钟" if minutes else "")
                if hours
                else f"{minutes} 分钟"
            )
        return f"{hours} h" + (f" {minutes} min" if minutes else "") if hours else f"{minutes} min"

    def name(self, group: dict[str, Any]) -> str:
        """What a group is called: its name, else its id; devices of no contract say so."""
        if group["key"] == NONE_KEY:
            return self.t("report.no_contract")
        return str(group["name"] or group["key"])

    def cell(self, kind: Kind, value: Any) -> dict[str, str]:
        if value is None:
            return {"text": "—", "css": "num muted"}
        if kind is Kind.RATE:
            return {"text": self.percent(value), "css": "num"}
        if kind is Kind.MONEY:
            return {"text": self.money(value), "css": "num"}
        if kind is Kind.MOMENT:
            return {"text": self.moment(value), "css": "num"}
        if kind is Kind.COUNT:
            return {"text": self.count(value), "css": "num"}
        return {"text": str(value), "css": ""}


def _named_contracts(listed: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """A listed table's first column (the contract's key) as the contract's name."""
    for row in listed["rows"]:
        row[0] = {**row[0], "text": names.get(row[0]["text"], row[0]["text"])}
    return listed


def _region_names(listed: dict[str, Any], language: Language) -> dict[str, Any]:
    """The regions table's name column as the region's own name: its contract has a
    column of its own (the group's name is "contract/region", "-/城关街道")."""
    for row in listed["rows"]:
        row[1] = {**row[1], "text": str(row[1]["text"]).rsplit("/", 1)[-1]}
    listed["headings"][1] = text("column.region", language)
    return listed


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _rules(policy: Policy, w: Writer) -> list[str]:
    deadlines = policy.repair_deadlines
    prepay = f"{policy.settlement.prepay_rate * 100:.0f}%"
    rules = [
        w.t(f"rule.method.{policy.method.value}"),
        w.t(f"rule.unknown.{policy.unknown.value}"),
        w.t("rule.response", limit=w.duration(policy.response_deadline)),
        w.t(
            "rule.repair",
            front_end=w.duration(deadlines.front_end),
            backup=w.duration(deadlines.network_backup_fiber),
            no_backup=w.duration(deadlines.network_no_backup),
        ),
        w.t(f"rule.settlement.{policy.settlement.rule.value}", prepay=prepay),
    ]
    for name in FIGURE_NAMES:
        target = getattr(policy.targets, "max_fault_rate" if name == "fault_rate" else name)
        if target is not None:
            bound = "≤" if name == "fault_rate" else "≥"
            rules.append(f"{w.t(f'column.{name}')} {bound} {w.percent(target)}")
    if policy.maintenance_windows:
        rules.append(w.t("rule.maintenance", count=len(policy.maintenance_windows)))
    return rules


def _contract(group: dict[str, Any], policy: Policy, w: Writer) -> dict[str, Any]:
    figures = []
    for name in FIGURE_NAMES:
        verdict = group["targets"].get(name)
        if verdict is None:
            target, said, css = "—", w.t("report.no_target"), "muted"
        else:
            bound = "≥" if verdict["at_least"] else "≤"
            target = f"{bound} {w.percent(verdict['target'])}"
            said = w.t("report.met") if verdict["met"] else w.t("report.missed")
            css = "met" if verdict["met"] else "missed"
        figures.append(
            {
                "label": w.t(f"column.{name}"),
                "target": target,
                "value": w.percent(group[name]),
                "verdict": said,
                "verdict_class": css,
            }
        )
    coverage = w.t(
        "report.coverage_text",
        coverage=w.percent(group["coverage"]),
        unknown=w.t(f"rule.unknown.{policy.unknown.value}"),
    )
    return {
        "name": w.name(group),
        "policy": w.t("report.policy_of", policy=policy.name or policy.id),
        "figures": figures,
        "coverage": coverage,
    }


def _explained(group: dict[str, Any], policy: Policy, w: Writer) -> dict[str, Any] | None:
    """How a contract's money follows from its figures under its policy, in words: which
    figure carries money and how, the arithmetic, and which direction the balance goes."""
    money = group["settlement"]
    if money is None:
        return None
    rule = policy.settlement
    rate = w.percent(money["rate"])
    target = w.percent(policy.targets.online_rate)
    amounts = {name: w.money(money[name]) for name in ("base", "due", "prepaid")}
    if rule.rule is SettlementRule.PRO_RATA:
        due = w.t("settle.pro_rata", rate=rate, **amounts)
    elif group["targets"]["online_rate"]["met"]:
        due = w.t("settle.full_met", rate=rate, target=target, **amounts)
    else:
        due = w.t("settle.full_missed", rate=rate, target=target, **amounts)
    balance = Decimal(money["balance"])
    direction = {"top_up": "settle.balance_top_up", "refund": "settle.balance_refund"}
    said = [
        w.t(f"settle.money_on.{rule.rule.value}"),
        due,
        w.t("settle.prepaid", prepay=f"{rule.prepay_rate * 100:.0f}%", **amounts),
        w.t(direction.get(money["direction"], "settle.balance_none"), amount=w.money(abs(balance))),
    ]
    reported = [
        w.t(f"column.{name}")
        + w.t("settle.verdict", verdict=w.t("report.met" if verdict["met"] else "report.missed"))
        for name, verdict in group["targets"].items()
        if name in money["reported_only"]
    ]
    if reported:
        joined = "、".join(reported) if w.language == "zh" else ", ".join(reported)
        said.append(w.t("settle.reported", figures=joined))
    policy_name = w.t("report.policy_of", policy=policy.name or policy.id)
    return {"name": w.name(group), "policy": policy_name, "lines": said}


def _table(table: Table, keep: tuple[str, ...], rows: list[list[Any]], w: Writer) -> dict[str, Any]:
    at = [n for n, column in enumerate(table.columns) if column.key in keep]
    labels = headings(table, w.language)
    return {
        "headings": [labels[n] for n in at],
        "rows": [[w.cell(table.columns[n].kind, row[n]) for n in at] for row in rows],
    }


def _pdf_tickets(tickets: list[dict[str, Any]]) -> list[int]:
    """Late tickets first, then pending, then the rest; the latest detected first."""
    rank = {"late": 0, "pending": 1, "in_time": 2}
    order = sorted(
        range(len(tickets)),
        key=lambda n: (rank[outcome(tickets[n])], tickets[n]["detected_at"]),
    )
    grouped: dict[int, list[int]] = {}
    for n in order:
        grouped.setdefault(rank[outcome(tickets[n])], []).append(n)
    return [n for r in sorted(grouped) for n in reversed(grouped[r])][:PDF_TICKETS]


@dataclass(frozen=True, slots=True)
class _Verdicts:
    """A ticket's verdicts in each contract it counts in: (contract, response, repair)."""

    by_ticket: dict[str, list[tuple[str, str, str]]]

    @classmethod
    def of(cls, ticket_contracts: Table, names: dict[str, str]) -> _Verdicts:
        at = {column.key: n for n, column in enumerate(ticket_contracts.columns)}
        found: dict[str, list[tuple[str, str, str]]] = {}
        for row in ticket_contracts.rows:
            key = str(row[at["contract"]])
            found.setdefault(str(row[at["id"]]), []).append(
                (names.get(key, key), str(row[at["response_outcome"]]), str(row[at["outcome"]]))
            )
        return cls(found)

    def response_late(self, ticket_id: str, late: str) -> bool:
        return any(response == late for _, response, _ in self.by_ticket.get(ticket_id, []))


def _ticket_rows(
    tickets: list[dict[str, Any]],
    shown: list[int],
    verdicts: _Verdicts,
    device_names: dict[str, str],
    year: int,
    w: Writer,
) -> list[dict[str, Any]]:
    """The PDF's ticket list: what failed, on which devices (by name), and when it was
    answered and repaired against each deadline; each contract's verdicts when several."""
    late = w.t("response.late")
    rows = []
    for n in shown:
        ticket = tickets[n]
        ids = ticket["device_ids"]
        named = [device_names.get(i, i) for i in ids[:PDF_DEVICES]]
        if len(ids) > PDF_DEVICES:
            named.append(w.t("report.device_more", count=len(ids)))
        acknowledged = ticket["acknowledged_at"]
        response = [
            w.short(acknowledged, year) if acknowledged else w.t("report.not_acknowledged"),
            *(
                [w.t("report.by", name=ticket["acknowledged_by"])]
                if ticket["acknowledged_by"]
                else []
            ),
            w.t("report.deadline", moment=w.short(ticket["response_deadline"], year)),
        ]
        repair = [
            w.short(ticket["resolved_at"], year)
            if ticket["resolved_at"]
            else w.t("report.not_resolved"),
            w.t("report.deadline", moment=w.short(ticket["repair_deadline"], year)),
        ]
        judged = verdicts.by_ticket.get(ticket["id"], [])
        if len(judged) > 1:
            said = [f"{name}：{response}，{repair}" for name, response, repair in judged]
        elif judged:
            said = [judged[0][1], judged[0][2]]
        else:
            said = [w.t(f"outcome.{outcome(ticket)}")]
        rows.append(
            {
                "id": ticket["id"],
                "fault": [
                    w.t(f"class.{ticket['fault_class']}"),
                    reason_text(ticket["reason"], w.language),
                ],
                "devices": named,
                "detected": w.short(ticket["detected_at"], year),
                "response": response,
                "response_late": verdicts.response_late(ticket["id"], late),
                "repair": repair,
                "repair_late": outcome(ticket) == "late",
                "outcome": said,
            }
        )
    return rows


def _worst(
    table: Table, at: int, largest: bool, names: dict[str, str], count: int = 10
) -> list[tuple[str, float]]:
    """The ``count`` rows with the largest (or smallest) number in column ``at``, labelled
    by name (or the first column; a region by its contract's name and its own); rows
    without that number, or with nothing lost, are left out."""
    keys = [column.key for column in table.columns]
    name = keys.index("name")

    def label(row: list[Any]) -> str:
        if "region" in keys:
            contract = str(row[keys.index("contract")])
            return f"{names.get(contract, contract)} · {str(row[name]).rsplit('/', 1)[-1]}"
        return str(row[name] or row[0])

    found = [
        (label(row), float(value))
        for row in table.rows
        if isinstance(value := row[at], int | float) and (value > 0 or not largest)
    ]
    found.sort(key=lambda item: -item[1] if largest else item[1])
    return found[:count]


# The effect table's figures in the PDF, each shown with and without the exemption.
_EFFECT_PAIRS = (
    "online_rate",
    "tickets",
    "response_timeliness_rate",
    "repair_timeliness_rate",
    "due",
)


def _exemptions(listed: Table, effects: Table, w: Writer) -> dict[str, Any]:
    """The exemption section (templates/_exemptions.html.j2): every request touching the
    period, back-dated ones marked, and what each approved one moved; cells of several
    lines, so that a page's width holds them."""
    kinds = {column.key: column.kind for column in (*listed.columns, *effects.columns)}

    def said(row: list[Any], table: Table, key: str) -> str:
        value = row[[column.key for column in table.columns].index(key)]
        return "" if value is None else w.cell(kinds[key], value)["text"]

    requests = []
    for row in listed.rows:
        got = {column.key: said(row, listed, column.key) for column in listed.columns}
        requests.append(
            {
                "id": [got["exemption"], got["what"]],
                "scope": [got["scope"]],
                "period": [got["start"], f"— {got['end']}" if got["end"] else ""],
                "back_dated": got["back_dated"],
                "reason": [got["cause"], got["reason"]],
                "requested": [got["requested_by"], got["requested_at"]],
                "decided": [
                    got["status"],
                    got["decided_by"],
                    got["decided_at"],
                    got["decision_note"],
                ],
            }
        )
    changes = []
    for row in effects.rows:
        got = {  # a figure that is none (nothing counted) is a dash, as in every table
            column.key: w.cell(column.kind, value)["text"]
            for column, value in zip(effects.columns, row, strict=True)
        }
        changes.append(
            {
                "id": got["exemption"],
                "contract": got["name"] or got["contract"],
                "pairs": [[got[key], got[f"{key}_without"]] for key in _EFFECT_PAIRS],
                "change": got["due_change"],
            }
        )
    return {
        "requests": requests,
        "effects": changes,
        "pair_headings": [w.t(f"column.{key}") for key in _EFFECT_PAIRS],
    }


def render_html(
    contracts: dict[str, Any],
    regions: Table,
    devices: Table,
    tickets: list[dict[str, Any]],
    ticket_contracts: Table,
    trends: list[dict[str, Any]],
    policies: PolicyBook,
    ledger: Ledger,
    language: Language,
    exemptions: tuple[Table, Table],
) -> str:
    """``exemptions``: the exemptions table and their effects (collector/evidence/exemptions.py)."""
    zone = ZoneInfo(policies.default.timezone)
    w = Writer(language, zone)
    by_id = {policy.id: policy for policy in policies.policies}
    groups = contracts["groups"]
    period = contracts["period"]
    targets = {
        g["key"]: g["targets"]["online_rate"]["target"]
        for g in groups
        if "online_rate" in g["targets"]
    }
    lost_at = [c.key for c in devices.columns].index("lost_h")
    contract_names = {g["key"]: w.name(g) for g in groups}
    worst_devices = _worst(devices, lost_at, largest=True, names=contract_names)
    rate_at = [c.key for c in regions.columns].index("online_rate")
    worst_regions = _worst(regions, rate_at, largest=False, names=contract_names)
    verdicts = _Verdicts.of(ticket_contracts, contract_names)
    response_late = w.t("response.late")
    chart_uris = {
        "trend": charts.trend_chart(
            [{**trend, "name": w.name(trend)} for trend in trends], targets, language
        ),
        "tickets": charts.tickets_chart(
            tickets,
            language,
            outcome,
            lambda ticket: verdicts.response_late(ticket["id"], response_late),
        ),
        "devices": charts.bars_chart(
            [label for label, _ in worst_devices],
            [value for _, value in worst_devices],
            w.t("column.lost_h"),
            percent=False,
        ),
        "regions": charts.bars_chart(
            [label for label, _ in worst_regions],
            [value for _, value in worst_regions],
            w.t("column.online_rate"),
            percent=True,
        ),
    }
    shown = _pdf_tickets(tickets)
    at = {column.key: n for n, column in enumerate(devices.columns)}
    device_names = {
        str(row[at["key"]]): str(row[at["name"]] or row[at["key"]]) for row in devices.rows
    }
    year = datetime.fromisoformat(period["start"]).astimezone(zone).year
    listed = _ticket_rows(tickets, shown, verdicts, device_names, year, w)
    cut = (
        w.t("report.ticket_list_cut", shown=len(shown), count=len(tickets))
        if len(shown) < len(tickets)
        else None
    )
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("collector.evidence", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    total = contracts["total"]
    return environment.get_template("report.html.j2").render(
        lang=language,
        t=w.t,
        version=__version__,
        period={
            "label": period["label"],
            "start_local": w.moment(period["start"]),
            "end_local": w.moment(period["end"]),
            "timezone": w.zone_name(),
            "in_progress": period["in_progress"],
        },
        ledger={
            "rows_text": w.count(ledger.rows),
            "slice": w.t(
                "report.ledger_slice",
                first=ledger.first,
                last=ledger.rows - 1,
                rows=w.count(ledger.rows - ledger.first),
                head=ledger.head[:16] + "…",
            )
            if ledger.first
            else "",
            "head": ledger.head,
            "anchoring": ledger.anchoring(w),
        },
        signature=w.t("report.signed_by", key_id=ledger.key)
        if ledger.key
        else w.t("report.unsigned"),
        contracts=[_contract(g, by_id[g["policy"]], w) for g in groups],
        settlement=[
            {
                "name": w.name(g),
                "units": w.count(g["units"]),
                "online_rate": w.percent(g["online_rate"]),
                **{
                    name: w.money((g["settlement"] or {}).get(name))
                    for name in ("base", "prepaid", "due")
                },
                "balance": w.balance((g["settlement"] or {}).get("balance")),
            }
            for g in groups
        ],
        total=None
        if total is None
        else {
            **{name: w.money(total[name]) for name in ("base", "prepaid", "due")},
            "balance": w.balance(total["balance"]),
        },
        explained=[
            found for g in groups if (found := _explained(g, by_id[g["policy"]], w)) is not None
        ],
        charts={name: _data_uri(png) for name, png in chart_uris.items()},
        regions=_region_names(
            _named_contracts(_table(regions, _REGION_COLUMNS, regions.rows, w), contract_names),
            w.language,
        ),
        devices_listed=w.t(
            "report.devices_listed",
            listed=w.count(len(devices.rows)),
            steady=w.count(devices.unlisted),
        ),
        exemptions=_exemptions(*exemptions, w),
        tickets={"rows": listed, "cut": cut},
        policies=[
            {"name": p.name or p.id, "rules": _rules(p, w)}
            for p in policies.policies
            if any(g["policy"] == p.id for g in groups)
        ],
    )


def render_pdf(html: str) -> bytes:
    from weasyprint import HTML

    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
