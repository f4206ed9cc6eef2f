"""Deliver one alert to one channel: DingTalk and WeCom robots, a JSON webhook, e-mail.

Why not Apprise: it answers each notification with a bool, so a receiver that will never
take an alert (a 4xx, a robot's error code) cannot be told from one that is down for a
while, and the ledger's at-least-once delivery needs that difference (retry the one,
skip the other). HTTP is aiohttp's, mail is aiosmtplib's; the robots' request formats
and DingTalk's signature (加签: HMAC-SHA256 of ``timestamp\\nsecret``) are theirs,
documented by DingTalk and WeCom.

Errors never carry a secret: robot keys travel in the query string, which aiohttp puts
in its exceptions, so every error is re-raised with secrets replaced by ``***``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote_plus

import aiohttp
import aiosmtplib

from collector.alerting.text import AlertWriter
from slawatch.config.alerting import (
    Channel,
    DingTalkChannel,
    EmailChannel,
    SmtpSettings,
    WebhookChannel,
    WeComChannel,
)

Send = Callable[[dict[str, Any]], Awaitable[None]]


class PermanentDeliveryError(Exception):
    """The receiver will never take this alert (a 4xx answer, a robot's error code)."""


class DeliveryUnreachableError(Exception):
    """The receiver cannot be reached now; the alert is retried."""


def redact(message: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***").replace(quote_plus(secret), "***")
    return message


def dingtalk_signature(secret: str, timestamp_ms: int) -> str:
    """DingTalk's 加签: Base64(HMAC-SHA256(secret, "timestamp\\nsecret")), URL-encoded."""
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return quote_plus(base64.b64encode(digest).decode())


class ChannelSender:
    """One channel of one receiver, with its secrets resolved once at start-up."""

    def __init__(
        self,
        channel: Channel,
        writer: AlertWriter,
        session: aiohttp.ClientSession,
        smtp: SmtpSettings | None,
    ) -> None:
        self.channel = channel
        self._writer = writer
        self._session = session
        self._smtp = smtp
        self._secrets: list[str] = []
        self._token = self._secret_value(getattr(channel, "access_token", None))
        self._token = self._token or self._secret_value(getattr(channel, "key", None))
        self._token = self._token or self._secret_value(getattr(channel, "token", None))
        self._signing = self._secret_value(getattr(channel, "secret", None))
        self._smtp_password = self._secret_value(smtp.password if smtp else None)

    def _secret_value(self, ref: Any) -> str | None:
        if ref is None:
            return None
        value: str = ref.resolve().get_secret_value()
        self._secrets.append(value)
        return value

    @property
    def kind(self) -> str:
        return self.channel.type

    async def send(self, alert: dict[str, Any]) -> None:
        try:
            if isinstance(self.channel, EmailChannel):
                await self._mail(self.channel, alert)
            else:
                await self._post(alert)
        except (PermanentDeliveryError, DeliveryUnreachableError) as exc:
            raise type(exc)(redact(str(exc), self._secrets)) from None
        except (aiohttp.ClientError, aiosmtplib.SMTPException, TimeoutError, OSError) as exc:
            detail = redact(f"{type(exc).__name__}: {exc}", self._secrets)
            if isinstance(exc, aiosmtplib.SMTPResponseException) and 500 <= exc.code < 600:
                raise PermanentDeliveryError(detail) from None
            raise DeliveryUnreachableError(detail) from None

    def _request(self, alert: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, str]]:
        message = self._writer.write(alert)
        channel = self.channel
        headers: dict[str, str] = {}
        if isinstance(channel, DingTalkChannel):
            url = f"{channel.url}?access_token={quote_plus(self._token or '')}"
            if self._signing:
                stamp = int(time.time() * 1000)
                url += f"&timestamp={stamp}&sign={dingtalk_signature(self._signing, stamp)}"
            body = {
                "msgtype": "markdown",
                "markdown": {"title": message.title, "text": message.markdown},
            }
        elif isinstance(channel, WeComChannel):
            url = f"{channel.url}?key={quote_plus(self._token or '')}"
            body = {"msgtype": "markdown", "markdown": {"content": message.markdown}}
        else:
            assert isinstance(channel, WebhookChannel)
            url = str(channel.url)
            body = {**alert, "title": message.title, "text": message.markdown}
            if self._token:
                headers["Authorization"] = f"Bearer {self._token}"
        return url, body, headers

    async def _post(self, alert: dict[str, Any]) -> None:
        url, body, headers = self._request(alert)
        timeout = aiohttp.ClientTimeout(total=10)
        async with self._session.post(url, json=body, headers=headers, timeout=timeout) as reply:
            answer = await reply.text()
            if 400 <= reply.status < 500 and reply.status != 429:
                raise PermanentDeliveryError(f"HTTP {reply.status}: {answer[:300]}")
            if reply.status >= 300:
                raise DeliveryUnreachableError(f"HTTP {reply.status}: {answer[:300]}")
        if isinstance(self.channel, DingTalkChannel | WeComChannel) and answer:
            # The robots answer 200 with an error code in the body when they refuse.
            try:
                errcode = json.loads(answer).get("errcode", 0)
            except ValueError:
                errcode = 0
            if errcode != 0:
                raise PermanentDeliveryError(f"robot refused: {answer[:300]}")

    async def _mail(self, channel: EmailChannel, alert: dict[str, Any]) -> None:
        smtp = self._smtp
        assert smtp is not None
        message = self._writer.write(alert)
        mail = EmailMessage()
        mail["Subject"] = message.title
        mail["From"] = smtp.sender
        mail["To"] = ", ".join(channel.to)
        mail.set_content(message.plain, charset="utf-8")
        await aiosmtplib.send(
            mail,
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=self._smtp_password,
            start_tls=smtp.starttls,
            use_tls=smtp.tls,
            timeout=smtp.timeout.total_seconds(),
        )
