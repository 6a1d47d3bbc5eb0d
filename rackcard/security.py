"""Response headers every answer carries (API, pages, static files, errors):
a Content-Security-Policy without inline scripts, no framing, no MIME
sniffing, no referrer leaking to other sites; and `Cache-Control: no-store`
on every answer but the static files: API answers and pages may carry what no
cache should keep (a new token, a client's card, an export).

An ASGI middleware, so it also covers error responses and routes any app adds."""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

#: Scripts and styles from this server only; style attributes are allowed
#: (htmx and the pages set some), inline <script> is not.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")

HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
#: Static files (scripts, styles, images) are the same for everyone and may be cached.
CACHEABLE_PREFIXES = ("/static/",)


class SecurityHeaders(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        no_store = not scope["path"].startswith(CACHEABLE_PREFIXES)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if no_store:
                    headers["cache-control"] = "no-store"
            await send(message)

        await next_app(scope, receive, send_with_headers)
