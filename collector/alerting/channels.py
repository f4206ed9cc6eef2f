"""Deliver one alert to one channel: DingTalk and WeCom robots, a JSON webhook, e-mail.

Why not Apprise: it answers each notification with a bool, so a receiver that refuses an
alert (a 4xx, a robot's error code) cannot be told from one that is down for a while, nor
why it refused, and the notifier needs both: an unreachable channel holds its alerts and
retries, a refusing one moves on, and either way the fallback receiver is told the reason
in words (a rotated signing secret, a removed robot, a refused mailbox). HTTP is aiohttp's,
mail is aiosmtplib's; the robots' request formats, error codes and DingTalk's signature
(加签: HMAC-SHA256 of ``timestamp\nsecret``) are theirs, documented by DingTalk and WeCom.

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


class DeliveryError(Exception):
    """A channel did not take an alert; ``reason`` is a code with words in the catalogue
    (``delivery.<reason>`` in ``slawatch/messages.py``), the message is the detail."""

    def __init__(self, detail: str, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason


class PermanentDeliveryError(DeliveryError):
    """The receiver refused this alert (a 4xx answer, a robot's error code, an SMTP 5xx):
    sending it again as it is would be refused again."""

    def __init__(self, detail: str, reason: str = "refused") -> None:
        super().__init__(detail, reason)


class DeliveryUnreachableError(DeliveryError):
    """The receiver cannot be reached now (or asks us to slow down); the alert is retried."""

    def __init__(self, detail: str, reason: str = "unreachable") -> None:
        super().__init__(detail, reason)


# DingTalk's and WeCom's documented error codes, by what an operator has to do about them.
# DingTalk answers 310000 for every security setting (signature, keywords, IP allow list):
# its message says which.
_ROBOT_TOKEN_INVALID = frozenset({300001, 300005, 400013, 400101, 400102, 93000, 93004})
_ROBOT_RATE_LIMITED = frozenset({130101, 410100, 45009, 45033})
_ROBOT_TOO_LONG = frozenset({460101, 40058, 45002})
_HTTP_REASONS = {401: "unauthorized", 403: "unauthorized", 404: "not_found", 410: "not_found",
                 413: "too_long"}  # fmt: skip


def robot_reason(errcode: int, errmsg: str) -> str:
    """The reason code of a robot's non-zero ``errcode`` (and its message)."""
    message = errmsg.lower()
    if errcode == 310000:
        if "sign" in message:
            return "sign_mismatch"
        if "timestamp" in message:
            return "timestamp_invalid"
        if "keyword" in message:
            return "keywords_missing"
        if "ip" in message or "whitelist" in message:
            return "ip_not_allowed"
    if errcode in _ROBOT_TOKEN_INVALID or "token" in message:
        return "token_invalid"
    if errcode in _ROBOT_RATE_LIMITED:
        return "rate_limited"
    if errcode in _ROBOT_TOO_LONG:
        return "too_long"
    return "robot_refused"


def smtp_error(exc: aiosmtplib.SMTPException, detail: str) -> DeliveryError:
    """A mail server's answer: 5xx is a refusal (550 no such mailbox, 535 login refused),
    4xx and a lost connection are tried again."""
    codes: list[int] = []
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in exc.recipients]
    elif isinstance(exc, aiosmtplib.SMTPResponseException):
        codes = [exc.code]
    if codes and all(500 <= code < 600 for code in codes):
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError) or codes[0] in (530, 534, 535):
            return PermanentDeliveryError(detail, "mail_auth")
        return PermanentDeliveryError(detail, "mail_refused")
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return DeliveryUnreachableError(detail, "timeout")
    return DeliveryUnreachableError(detail, "unreachable")


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
        except DeliveryError as exc:
            raise type(exc)(redact(str(exc), self._secrets), exc.reason) from None
        except aiosmtplib.SMTPException as exc:
            raise smtp_error(exc, redact(f"{type(exc).__name__}: {exc}", self._secrets)) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            detail = redact(f"{type(exc).__name__}: {exc}", self._secrets)
            reason = "timeout" if isinstance(exc, TimeoutError) else "unreachable"
            raise DeliveryUnreachableError(detail, reason) from None

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
            detail = f"HTTP {reply.status}: {answer[:300]}"
            if reply.status == 429:
                raise DeliveryUnreachableError(detail, "rate_limited")
            if 400 <= reply.status < 500:
                reason = _HTTP_REASONS.get(reply.status, "http_refused")
                raise PermanentDeliveryError(detail, reason)
            if reply.status >= 300:
                raise DeliveryUnreachableError(detail, "server_error")
        if isinstance(self.channel, DingTalkChannel | WeComChannel) and answer:
            # The robots answer 200 with an error code in the body when they refuse.
            try:
                found = json.loads(answer)
            except ValueError:
                found = {}
            errcode = found.get("errcode", 0) if isinstance(found, dict) else 0
            if isinstance(errcode, int) and errcode != 0:
                reason = robot_reason(errcode, str(found.get("errmsg", "")))
                detail = f"robot refused: {answer[:300]}"
                if reason == "rate_limited":
                    raise DeliveryUnreachableError(detail, reason)
                raise PermanentDeliveryError(detail, reason)

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
