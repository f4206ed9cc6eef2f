"""Who hears of a fault, by which channel, when on duty, and who hears when nobody acts.

Receivers are people or duty groups with channels (DingTalk robot, WeCom robot, a JSON
webhook, e-mail) and an optional duty schedule in the policy's time zone. Routes pick
receivers by the faulty devices' region, police station, contract and kind: the first
route that matches takes the alert; the last must match everything, so no alert goes
unheard. Robot keys and signing secrets are references (env or file), never part of a URL.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import AnyHttpUrl, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from slawatch.config.errors import UNSHOWN_VALUE_ERROR
from slawatch.config.inventory import DeviceKind
from slawatch.config.types import Duration, Identifier, SecretRef, Strict
from slawatch.messages import Said, text

# Query parameters that carry a robot's key or a signature: they belong in a secret.
_SECRET_PARAMS = frozenset({"access_token", "key", "secret", "sign", "token", "password"})
EMAIL = r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$"


def _no_secret_in_url(url: AnyHttpUrl) -> AnyHttpUrl:
    parts = urlsplit(str(url))
    if parts.password:
        raise PydanticCustomError(
            UNSHOWN_VALUE_ERROR, text("rule.url_password", "en"), {"said": "rule.url_password"}
        )
    found = sorted({name for name, _ in parse_qsl(parts.query)} & _SECRET_PARAMS)
    if found:
        raise PydanticCustomError(
            UNSHOWN_VALUE_ERROR,
            text("rule.url_secret", "en"),
            {"said": "rule.url_secret", "names": ", ".join(found)},
        )
    return url


class DingTalkChannel(Strict):
    """A DingTalk group robot; ``secret`` turns on its signing (加签)."""

    type: Literal["dingtalk"]
    url: AnyHttpUrl = AnyHttpUrl("https://oapi.dingtalk.com/robot/send")
    access_token: SecretRef
    secret: SecretRef | None = None

    _url = field_validator("url")(_no_secret_in_url)


class WeComChannel(Strict):
    """A WeCom (企业微信) group robot."""

    type: Literal["wecom"]
    url: AnyHttpUrl = AnyHttpUrl("https://qyapi.weixin.qq.com/cgi-bin/webhook/send")
    key: SecretRef

    _url = field_validator("url")(_no_secret_in_url)


class WebhookChannel(Strict):
    """Any HTTP receiver: the alert as JSON, with its title and text; optional bearer token."""

    type: Literal["webhook"]
    url: AnyHttpUrl
    token: SecretRef | None = None

    _url = field_validator("url")(_no_secret_in_url)


class EmailChannel(Strict):
    type: Literal["email"]
    to: Annotated[list[Annotated[str, Field(pattern=EMAIL)]], Field(min_length=1)]


Channel = Annotated[
    DingTalkChannel | WeComChannel | WebhookChannel | EmailChannel, Field(discriminator="type")
]


class OnDuty(Strict):
    """Daily hours in the policy's time zone; ``start`` after ``end`` spans midnight."""

    start: time
    end: time

    def covers(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


class Receiver(Strict):
    id: Identifier
    name: str
    channels: Annotated[list[Channel], Field(min_length=1)]
    on_duty: OnDuty | None = None
    # When a channel has failed (unreachable, or refusing alerts) for this long, the
    # fallback receiver is told and handed the alerts the channel did not deliver.
    failing_after: Duration = timedelta(minutes=10)
    fallback: Identifier | None = None


class RouteMatch(Strict):
    """Empty lists match anything; a ticket matches when any of its devices does."""

    region: list[Identifier] = []
    station: list[str] = []
    contract: list[Identifier] = []
    kind: list[DeviceKind] = []

    @property
    def everything(self) -> bool:
        return not (self.region or self.station or self.contract or self.kind)


class Route(Strict):
    match: RouteMatch = RouteMatch()
    # Opened, reopened and resolved alerts: to those of these on duty at the alert's time.
    notify: Annotated[list[Identifier], Field(min_length=1)]
    # Unacknowledged and repair-due alerts (escalations); the notify list when empty.
    escalate: list[Identifier] = []


class SmtpSettings(Strict):
    host: str
    port: int = Field(default=25, ge=1, le=65535)
    sender: Annotated[str, Field(min_length=3)]
    username: str | None = None
    password: SecretRef | None = None
    starttls: bool = False
    tls: bool = False
    timeout: Duration = timedelta(seconds=10)


class Alerting(Strict):
    language: Literal["zh", "en"] = "zh"
    smtp: SmtpSettings | None = None
    receivers: Annotated[list[Receiver], Field(min_length=1)]
    routes: Annotated[list[Route], Field(min_length=1)]

    @model_validator(mode="after")
    def _consistent(self) -> Alerting:
        ids = [receiver.id for receiver in self.receivers]
        duplicated = sorted({i for i in ids if ids.count(i) > 1})
        if duplicated:
            raise ValueError(Said("rule.receivers_unique", ids=", ".join(duplicated)))
        known = set(ids)
        named = {r for route in self.routes for r in (*route.notify, *route.escalate)}
        named |= {r.fallback for r in self.receivers if r.fallback is not None}
        unknown = sorted(named - known)
        if unknown:
            raise ValueError(Said("rule.no_receiver", ids=", ".join(unknown)))
        own = sorted(r.id for r in self.receivers if r.fallback == r.id)
        if own:
            raise ValueError(Said("rule.own_fallback", ids=", ".join(own)))
        if not self.routes[-1].match.everything:
            raise ValueError(Said("rule.last_route"))
        emails = any(isinstance(c, EmailChannel) for r in self.receivers for c in r.channels)
        if emails and self.smtp is None:
            raise ValueError(Said("rule.email_smtp"))
        return self

    def secrets(self) -> list[tuple[tuple[str | int, ...], SecretRef]]:
        """Every secret these settings reference, with its key path (resolved at start-up
        and by check-config, so a missing one is named before any alert needs it)."""
        found: list[tuple[tuple[str | int, ...], SecretRef | None]] = []
        if self.smtp is not None:
            found.append((("alerting", "smtp", "password"), self.smtp.password))
        for r, receiver in enumerate(self.receivers):
            for c, channel in enumerate(receiver.channels):
                at = ("alerting", "receivers", r, "channels", c)
                if isinstance(channel, DingTalkChannel):
                    found += [((*at, "access_token"), channel.access_token)]
                    found += [((*at, "secret"), channel.secret)]
                elif isinstance(channel, WeComChannel):
                    found.append(((*at, "key"), channel.key))
                elif isinstance(channel, WebhookChannel):
                    found.append(((*at, "token"), channel.token))
        return [(path, ref) for path, ref in found if ref is not None]
