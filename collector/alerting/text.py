"""An alert as people read it: devices by name, address, region and police station, the
fault's class and reason in words, every time in the policy's time zone.

Words come from the catalogue (``slawatch/messages.py``), Chinese unless the settings say
``language: en``. One Markdown text serves the robots; e-mail gets it as plain text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from collector.alerting.routing import (
    CLOCK_ALERTS,
    CLOCK_OK,
    FAILING,
    HANDED_OVER,
    RECOVERED,
    STORE_ALERTS,
    STORE_RECOVERED,
    Place,
)
from slawatch.messages import Language, reason_text, text

SHOWN_DEVICES = 5
SHOWN_ALERTS = 10  # undelivered alerts a "receiver failing" alert lists


@dataclass(frozen=True, slots=True)
class AlertMessage:
    title: str
    markdown: str

    @property
    def plain(self) -> str:
        lines = self.markdown.splitlines()
        return "\n".join(line.removeprefix("### ").removeprefix("- ") for line in lines) + "\n"


class AlertWriter:
    def __init__(
        self,
        places: dict[str, Place],
        links: dict[str, str],
        zone: ZoneInfo,
        language: Language = "zh",
    ) -> None:
        self._places = places
        self._links = links
        self._zone = zone
        self._language = language

    def refer(self, places: dict[str, Place], links: dict[str, str]) -> None:
        """A new inventory's places and links (the collector reloaded it)."""
        self._places, self._links = places, links

    def _t(self, key: str, **values: object) -> str:
        return text(key, self._language, **values)

    def _local(self, stamp: str | None) -> str:
        if stamp is None:
            return "—"
        return datetime.fromisoformat(stamp).astimezone(self._zone).strftime("%Y-%m-%d %H:%M")

    def _line(self, label: str, value: str) -> str:
        colon = "：" if self._language == "zh" else ": "
        return f"- {self._t(label)}{colon}{value}"

    def _aside(self, main: str, aside: str) -> str:
        return f"{main}（{aside}）" if self._language == "zh" else f"{main} ({aside})"

    def _list(self, items: Iterable[str]) -> str:
        return ("、" if self._language == "zh" else ", ").join(items)

    def _device(self, device_id: str) -> str:
        place = self._places.get(device_id)
        return self._aside(place.device.name, device_id) if place else device_id

    def write(self, alert: dict[str, Any]) -> AlertMessage:
        kind = alert["alert"]
        if kind == FAILING:
            return self._receiver_failing(alert)
        if kind == RECOVERED:
            return self._receiver_recovered(alert)
        if kind in STORE_ALERTS:
            return self._store(alert)
        if kind in CLOCK_ALERTS:
            return self._clock(alert)
        if kind == HANDED_OVER:
            return self._handed_over(alert)
        ticket = alert["ticket"]
        title = f"{self._t('alert.' + alert['alert'])} {ticket['id']}"
        reason = reason_text(ticket["reason"], self._language)
        lines = [
            f"### {title}",
            self._line(
                "label.class", self._aside(self._t("class." + ticket["fault_class"]), reason)
            ),
        ]
        devices: list[str] = ticket["device_ids"]
        if ticket.get("link"):
            link = self._links.get(ticket["link"]) or ticket["link"]
            comma = "，" if self._language == "zh" else ", "
            count = self._t("text.devices_count", count=len(devices))
            lines.append(self._line("label.link", f"{link}{comma}{count}"))
        found = [self._places[d] for d in devices if d in self._places]
        if len(devices) == 1:
            lines.append(self._line("label.device", self._device(devices[0])))
            if found:
                lines.append(self._line("label.address", found[0].device.address))
        else:
            shown = self._list(self._device(d) for d in devices[:SHOWN_DEVICES])
            if len(devices) > SHOWN_DEVICES:
                more = self._t(
                    "text.and_more", count=len(devices), more=len(devices) - SHOWN_DEVICES
                )
                shown = f"{shown} {more}"
            lines.append(self._line("label.devices", shown))
        regions = sorted({p.region_name for p in found})
        stations = sorted({p.station for p in found if p.station})
        if regions:
            lines.append(self._line("label.region", self._list(regions)))
        if stations:
            lines.append(self._line("label.station", self._list(stations)))
        lines += [
            self._line("label.detected", self._local(ticket["detected_at"])),
            self._line("label.response_deadline", self._local(ticket["response_deadline"])),
            self._line("label.repair_deadline", self._local(ticket["repair_deadline"])),
        ]
        if ticket.get("resolved_at"):
            lines.append(self._line("label.resolved", self._local(ticket["resolved_at"])))
        return AlertMessage(title, "\n".join(lines))

    def _channel(self, alert: dict[str, Any]) -> list[str]:
        """Which receiver's channel an alert about a channel is about."""
        lines = [
            self._line("label.receiver", self._aside(alert["receiver_name"], alert["channel"]))
        ]
        if alert.get("channel_kind"):
            lines.append(self._line("label.channel", self._t("channel." + alert["channel_kind"])))
        return lines

    def _why(self, alert: dict[str, Any]) -> str:
        return self._t("delivery." + alert.get("reason", "refused"))

    def _receiver_failing(self, alert: dict[str, Any]) -> AlertMessage:
        title = f"{self._t('alert.receiver_failing')} {alert['receiver']}"
        lines = [
            f"### {title}",
            *self._channel(alert),
            self._line("label.reason", self._why(alert)),
            self._line("label.failing_since", self._local(alert["since"])),
            self._line("label.error", alert["error"]),
        ]
        undelivered: list[dict[str, Any]] = alert.get("undelivered", [])
        if undelivered:
            count = self._t("text.alerts_count", count=len(undelivered))
            if alert.get("fallback_name"):
                comma = "，" if self._language == "zh" else ", "
                count += comma + self._t("text.handed_to", name=alert["fallback_name"])
            lines.append(self._line("label.undelivered", count))
            lines += [f"  - {self._summary(item)}" for item in undelivered[:SHOWN_ALERTS]]
            if len(undelivered) > SHOWN_ALERTS:
                more = self._t("text.more_alerts", more=len(undelivered) - SHOWN_ALERTS)
                lines.append(f"  - {more}")
        return AlertMessage(title, "\n".join(lines))

    def _summary(self, item: dict[str, Any]) -> str:
        """One undelivered alert in a line: its kind, its ticket (or receiver), its time."""
        subject = item.get("ticket") or item.get("receiver") or ""
        return self._aside(
            f"{self._t('alert.' + item['alert'])} {subject}", self._local(item["at"])
        )

    def _receiver_recovered(self, alert: dict[str, Any]) -> AlertMessage:
        title = f"{self._t('alert.receiver_recovered')} {alert['receiver']}"
        lines = [
            f"### {title}",
            *self._channel(alert),
            self._line("label.failing_since", self._local(alert["since"])),
            self._line("label.recovered", self._local(alert["recovered"])),
        ]
        return AlertMessage(title, "\n".join(lines))

    def _store(self, alert: dict[str, Any]) -> AlertMessage:
        """The collector's ledger disk takes no commit (or again does): no device is at
        fault, and the agents hold what was not acknowledged."""
        title = f"{self._t('alert.' + alert['alert'])} {alert['collector']}"
        lines = [
            f"### {title}",
            self._line("label.reason", self._t("store." + alert["reason"])),
            self._line("label.failing_since", self._local(alert["since"])),
            self._line("label.error", alert["error"]),
            self._line("label.ledger", alert["ledger"]),
        ]
        if alert["alert"] == STORE_RECOVERED:
            lines.append(self._line("label.recovered", self._local(alert["recovered"])))
        else:
            lines.append(self._t("text.store_held"))
        return AlertMessage(title, "\n".join(lines))

    def _clock(self, alert: dict[str, Any]) -> AlertMessage:
        """An edge agent's clock is off by the offset (its devices unknown, its statuses
        kept aside), or right again."""
        title = f"{self._t('alert.' + alert['alert'])} {alert['agent_id']}"
        lines = [
            f"### {title}",
            self._line("label.agent", f"{alert['agent_id']} · {alert['site']}"),
            self._line("label.clock_offset", f"{alert['offset_s']:+.1f} s"),
            self._line("label.tolerance", f"{alert['tolerance_s']:g} s"),
            self._line("label.time_service", self._t("time_service." + alert["clock"])),
            self._line("label.off_since", self._local(alert["since"])),
        ]
        if alert["alert"] == CLOCK_OK:
            lines.append(self._line("label.recovered", self._local(alert["at"])))
        else:
            devices = self._t("text.devices_count", count=alert["devices"])
            lines += [self._line("label.device", devices), self._t("text.clock_held")]
        return AlertMessage(title, "\n".join(lines))

    def _handed_over(self, alert: dict[str, Any]) -> AlertMessage:
        """The alert a failing channel did not deliver, with whose it was and why."""
        original = self.write(alert["original"])
        title = f"{self._t('text.handed_over')}{original.title}"
        channel = self._t("channel." + alert["channel_kind"]) if alert.get("channel_kind") else ""
        lines = [
            f"### {title}",
            self._line(
                "label.handed_from",
                self._aside(alert["receiver_name"], f"{channel} {alert['channel']}".strip()),
            ),
            self._line("label.reason", self._why(alert)),
            *original.markdown.splitlines()[1:],
        ]
        return AlertMessage(title, "\n".join(lines))
