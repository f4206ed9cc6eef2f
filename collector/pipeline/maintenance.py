"""Maintenance windows announced in the console: rows of the ledger (evidence of what was
announced, when, by whom), applied by every SLA computation like the policy's own.

A window is one "maintenance" row when announced and another when ended early; the
latest row of each window id is the window. A partial index (made by the Ledger) keeps
finding them instant in a ledger of millions of rows.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slawatch.config.policy import MaintenanceWindow

KIND = "maintenance"


@dataclass(frozen=True, slots=True)
class Announced:
    id: str
    window: MaintenanceWindow
    by: str
    ended_early: bool

    def body(self, event: str) -> dict[str, Any]:
        window = self.window
        return {
            "event": event,
            "id": self.id,
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "reason": window.reason,
            "devices": list(window.devices),
            "regions": list(window.regions),
            "links": list(window.links),
            "by": self.by,
        }


def announced(db: sqlite3.Connection) -> list[Announced]:
    """Every window the ledger holds, as its latest row left it, in order of announcement."""
    latest: dict[str, Announced] = {}
    for (body,) in db.execute("SELECT body FROM ledger WHERE kind = 'maintenance' ORDER BY seq"):
        found = json.loads(body)
        window = MaintenanceWindow(
            start=datetime.fromisoformat(found["start"]),
            end=datetime.fromisoformat(found["end"]),
            reason=found["reason"],
            devices=found["devices"],
            regions=found["regions"],
            links=found["links"],
        )
        latest[found["id"]] = Announced(found["id"], window, found["by"], found["event"] == "ended")
    return list(latest.values())
