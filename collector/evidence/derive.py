"""What a bundle's figures are, derived from a Report: the same code for the export and
for the verifier's recomputation, so "equal" means byte-equal."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from collector.evidence.exemptions import effects_table, exemptions_table
from collector.evidence.tables import (
    Table,
    contracts_table,
    csv_bytes,
    devices_table,
    regions_table,
    ticket_contracts_table,
    ticket_entries,
    tickets_table,
)
from collector.sla.measure import Measurement
from collector.sla.render import write_json
from slawatch.config.inventory import Inventory
from slawatch.messages import Language

FIGURES = "figures.json"


@dataclass(frozen=True, slots=True)
class Derived:
    contracts: dict[str, Any]  # the SLA report by contract (figures.json, tickets aside)
    summary: Table
    regions: Table
    devices: Table
    tickets: list[dict[str, Any]]
    ticket_table: Table
    ticket_contracts: Table
    exemptions: Table
    exemption_effects: Table
    trends: list[dict[str, Any]]
    files: dict[str, bytes]  # figures.json, and the CSVs unless written elsewhere

    @property
    def tables(self) -> list[Table]:
        return [
            self.summary,
            self.regions,
            self.devices,
            self.ticket_table,
            self.ticket_contracts,
            self.exemptions,
            self.exemption_effects,
        ]


def derive(
    measurement: Measurement,
    inventory: Inventory,
    zone: ZoneInfo,
    language: Language,
    tables_ready: Callable[[list[Table]], None] | None = None,
) -> Derived:
    """Inside ``measured``: the ticket list is read from its scratch file here.
    ``tables_ready`` gets the tables as soon as they exist, to write them (``csv_files``
    and the workbook) in other processes while this one renders the report; without it,
    the CSVs are in ``files``."""
    report = measurement.report
    contracts = report.build(("contract",))
    tickets = ticket_entries(contracts["tickets"])
    regions = regions_table(report.build(("contract", "region")), language)
    devices = devices_table(report.build(("device",), settle=False), inventory, language)
    summary = contracts_table(contracts, language)
    ticket_table = tickets_table(tickets, zone, language)
    judged = report.judgements(("contract",))
    by_contract = ticket_contracts_table(judged, tickets, ticket_table, zone, language)
    exemptions = exemptions_table(measurement.exempted, zone, language)
    effects = effects_table(measurement.exempted, contracts["groups"])
    tables = [summary, regions, devices, ticket_table, by_contract, exemptions, effects]
    figures = io.BytesIO()
    write_json(contracts, figures)
    files = {FIGURES: figures.getvalue()}
    if tables_ready is None:
        files |= csv_files(tables, language)
    else:
        tables_ready(tables)
    return Derived(
        {key: value for key, value in contracts.items() if key != "tickets"},
        summary,
        regions,
        devices,
        tickets,
        ticket_table,
        by_contract,
        exemptions,
        effects,
        report.daily(("contract",)),
        files,
    )


def csv_files(tables: list[Table], language: Language) -> dict[str, bytes]:
    """Each table as its CSV file, by name."""
    return {f"{table.name}.csv": csv_bytes(table, language) for table in tables}
