"""Headers on every response of the API and console: a Content-Security-Policy that lets
no inline or foreign script run (the console has none; a string that slipped through
escaping still could not execute), no framing, no MIME sniffing, no Referer beyond the
console; and the session cookie marked Secure whenever the request came over https (or
a trusted proxy said so: uvicorn's proxy headers set the scheme) or the settings ask.

A pure ASGI middleware: Starlette's ``BaseHTTPMiddleware`` would buffer the console's
event stream.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    def __init__(self, app: ASGIApp, always_secure_cookies: bool = False) -> None:
        self.app = app
        self.always_secure = always_secure_cookies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = self.always_secure or scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, _secure(value) if secure and name == b"set-cookie" else value)
                    for name, value in message.get("headers", [])
                ]
                message["headers"] = headers + HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)


def _secure(cookie: bytes) -> bytes:
    return cookie if b"; secure" in cookie.lower() else cookie + b"; Secure"
