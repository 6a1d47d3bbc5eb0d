"""CSRF protection for every page form (staff pages, portal, login).

Double-submit with a signed token: the browser holds a random value in the
`rc_csrf` cookie (HttpOnly, SameSite=Lax); forms carry HMAC(secret, value) in
the `csrf_token` field and htmx requests in the `X-CSRF-Token` header (added by
static/rackcard.js from the `csrf-token` meta tag). A cross-site page can
neither read the cookie nor compute the HMAC, so it cannot forge the pair.

/api/v1 is exempt: it authenticates with a bearer header that a browser never
adds by itself.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from litestar import Request
from litestar.datastructures import Cookie
from litestar.exceptions import PermissionDeniedException
from litestar.types import Message, Scope

COOKIE = "rc_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Paths that take no browser forms (bearer-token API, schema, static files).
EXEMPT_PREFIXES = ("/api/", "/schema", "/static/")
_NEW = "rc_csrf_new"


class CsrfRefused(PermissionDeniedException):
    """A form or htmx request without a valid CSRF token (403)."""


def _sign(secret: str, value: str) -> str:
    return hmac.new(secret.encode(), f"csrf:{value}".encode(), hashlib.sha256).hexdigest()


def _secret(request: Request) -> str:
    return request.app.state.settings.secret_key


def cookie_value(request: Request) -> str:
    """This browser's CSRF value: the cookie's, or a new one sent with this response."""
    value = request.scope.get(_NEW) or request.cookies.get(COOKIE, "")
    if not value or len(value) > 100:
        value = secrets.token_urlsafe(32)
        request.scope[_NEW] = value  # type: ignore[typeddict-unknown-key]
    return value


def token(request: Request) -> str:
    """The token a form on this page must send back."""
    return _sign(_secret(request), cookie_value(request))


def rotate(request: Request) -> None:
    """A new CSRF value from this response on (at login, with the new session)."""
    request.scope[_NEW] = secrets.token_urlsafe(32)  # type: ignore[typeddict-unknown-key]


async def check(request: Request) -> None:
    """App-wide before_request: refuse an unsafe page request without a valid token."""
    if request.method in SAFE_METHODS or request.url.path.startswith(EXEMPT_PREFIXES):
        return
    sent = request.headers.get(HEADER, "")
    if not sent and request.content_type[0] in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sent = str((await request.form()).get(FIELD, ""))
    value = request.cookies.get(COOKIE, "")
    if not value or not sent or not hmac.compare_digest(sent, _sign(_secret(request), value)):
        raise CsrfRefused("the form's security token is missing or expired: reload the page and try again")


def cookie_header(scope: Scope, value: str) -> bytes:
    secure = is_secure(scope)
    return Cookie(key=COOKIE, value=value, path="/", httponly=True, samesite="lax", secure=secure).to_header(
        header=""
    ).strip().encode("latin-1")


def is_secure(scope: Scope) -> bool:
    """Cookies get Secure when the request came over HTTPS (uvicorn's proxy
    headers set the scheme behind a proxy) or the public URL is https."""
    if scope.get("scheme") == "https":
        return True
    app = scope.get("app")
    settings = getattr(getattr(app, "state", None), "settings", None)
    return bool(settings and settings.public_url.startswith("https://"))


async def before_send(message: Message, scope: Scope) -> None:
    """Set the cookie when this request created or rotated the CSRF value."""
    value = scope.get(_NEW)
    if value and message["type"] == "http.response.start":
        headers = list(message.get("headers", []))
        headers.append((b"set-cookie", cookie_header(scope, value)))
        message["headers"] = headers  # type: ignore[typeddict-item]
