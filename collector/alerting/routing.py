"""Which receivers an alert goes to: by the ticket's devices, the alert's kind and who is
on duty at the alert's own time (event time, in the policy's time zone).

Deterministic from the ledger's alert row, so a restart re-sends the same alert to the
same receivers, and an escalation written at 00:23 goes to the night shift even when it
is delivered at 08:05. The notifier's own alerts about a failing channel name their
receivers in the row (``to``: the failing receiver's fallback), whoever is on duty.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from slawatch.config.alerting import Alerting, Receiver, Route
from slawatch.config.inventory import Device, Inventory, contracts_of_devices

ESCALATIONS = frozenset({"unacknowledged", "repair_due"})
# The notifier's alerts about a channel (collector/alerting/notify.py): it failed, an alert
# it could not deliver goes to the fallback, it delivers again.
FAILING, HANDED_OVER, RECOVERED = "receiver_failing", "handed_over", "receiver_recovered"
CHANNEL_ALERTS = frozenset({FAILING, HANDED_OVER, RECOVERED})
# The collector's own: its ledger's disk takes no commit (locked, full), and again does.
# They concern no device: they go to the receivers of the last route (the catch-all).
STORE_FAILING, STORE_RECOVERED = "store_failing", "store_recovered"
STORE_ALERTS = frozenset({STORE_FAILING, STORE_RECOVERED})
# An edge agent's clock is off beyond the tolerance (its devices unknown), and right again:
# about the edge server, not a device, so to the same receivers.
CLOCK_OFF, CLOCK_OK = "agent_clock_off", "agent_clock_ok"
CLOCK_ALERTS = frozenset({CLOCK_OFF, CLOCK_OK})


@dataclass(frozen=True, slots=True)
class Place:
    """What an alert says about a device and what routes match on."""

    device: Device
    region_name: str
    station: str | None
    contract: str | None


def places(inventory: Inventory) -> dict[str, Place]:
    regions = {region.id: region for region in inventory.regions}
    contracts = contracts_of_devices(inventory)
    return {
        device.id: Place(
            device,
            regions[device.region].name,
            regions[device.region].police_station,
            contracts[device.id],
        )
        for device in inventory.devices
    }


def _matches(route: Route, place: Place) -> bool:
    match = route.match
    return (
        (not match.region or place.device.region in match.region)
        and (not match.station or place.station in match.station)
        and (not match.contract or place.contract in match.contract)
        and (not match.kind or place.device.kind in match.kind)
    )


def _on_duty(receiver: Receiver, moment: time) -> bool:
    return receiver.on_duty is None or receiver.on_duty.covers(moment)


class Router:
    def __init__(self, alerting: Alerting, inventory: Inventory, zone: ZoneInfo) -> None:
        self._routes = alerting.routes
        self._zone = zone
        self.receivers: dict[str, Receiver] = {r.id: r for r in alerting.receivers}
        self.places = places(inventory)

    def route(self, device_ids: list[str]) -> Route:
        """The first route any of the devices matches (the last route matches all)."""
        found = [self.places[d] for d in device_ids if d in self.places]
        return next(
            (route for route in self._routes if any(_matches(route, p) for p in found)),
            self._routes[-1],
        )

    def receivers_for(self, alert: dict[str, Any]) -> list[str]:
        if alert["alert"] in CHANNEL_ALERTS:
            return [r for r in alert.get("to", []) if r in self.receivers]
        if alert["alert"] in STORE_ALERTS | CLOCK_ALERTS:
            return list(self._routes[-1].notify)
        route = self.route(alert["ticket"]["device_ids"])
        listed = route.notify
        if alert["alert"] in ESCALATIONS and route.escalate:
            listed = route.escalate
        moment = datetime.fromisoformat(alert["at"]).astimezone(self._zone).time()
        on_duty = [r for r in listed if _on_duty(self.receivers[r], moment)]
        return on_duty or list(listed)  # nobody on duty by the schedule: tell them all
