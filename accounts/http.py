"""HTTP authentication: bearer tokens for /api/v1, session cookies for pages, guards by role.

Guards and the `viewer` dependency live here, at the bottom of the import
graph, so every app's handlers can use them.
"""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from accounts.ratelimit import FailureLimiter
from accounts.services import viewer_for_session, viewer_for_token
from accounts.viewer import Viewer


async def authenticate(connection: ASGIConnection) -> Viewer:
    viewer = getattr(connection.state, "viewer", None)
    if viewer is not None:
        return viewer
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException("missing bearer token: send 'Authorization: Bearer <token>'")
    limiter = limiter_of(connection)
    address = f"addr:{connection.client.host if connection.client else 'unknown'}"
    if limiter is not None:
        limiter.check(address)
    viewer = await viewer_for_token(token.strip())
    if viewer is None:
        if limiter is not None:
            limiter.failed(address)
        raise NotAuthorizedException("invalid or revoked token")
    connection.state.viewer = viewer
    return viewer


def limiter_of(connection: ASGIConnection) -> FailureLimiter | None:
    """The app's counter of failed logins/tokens (set up by the composition root)."""
    return getattr(connection.app.state, "auth_limiter", None)


async def require_token(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    await authenticate(connection)


async def require_staff(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    viewer = await authenticate(connection)
    if not viewer.is_staff:
        raise PermissionDeniedException("this endpoint is for staff users")


async def require_inventory(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Inventory writes: admins and engineers (the NOC reads the inventory only)."""
    viewer = await authenticate(connection)
    if not viewer.edits_inventory:
        raise PermissionDeniedException("changing the inventory is for engineers and administrators")


async def require_client(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """The portal: client users of one client only (staff use the staff routes)."""
    viewer = await authenticate(connection)
    if not viewer.is_client or viewer.client_id is None:
        raise PermissionDeniedException("this endpoint is for client users (the portal)")


async def require_admin(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    viewer = await authenticate(connection)
    if not viewer.is_admin:
        raise PermissionDeniedException("this endpoint is for administrators")


async def require_probe(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    viewer = await authenticate(connection)
    if not viewer.is_probe:
        raise PermissionDeniedException("this endpoint takes a probe token (rackcard token create --probe NAME)")


async def require_ingest(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    viewer = await authenticate(connection)
    if not viewer.is_ingest:
        raise PermissionDeniedException("this endpoint takes an ingest token (rackcard token create --ingest NAME)")


async def _provide_viewer(request: ASGIConnection) -> Viewer:
    return await authenticate(request)


#: Add to a router's dependencies: handlers then take `viewer: Viewer`.
viewer_dependency = {"viewer": Provide(_provide_viewer)}

#: Handler parameter type: `async def handler(viewer: CurrentViewer)`.
CurrentViewer = NamedDependency[Viewer]


#: The browser session cookie (a random key; see accounts.services.login).
SESSION_COOKIE = "rc_session"


class LoginRequired(NotAuthorizedException):
    """A page was asked for without a session: the app answers with a redirect to /login?next=..."""


class StaffOnly(PermissionDeniedException):
    """A client user opened a staff page: the app sends them to their portal."""


async def page_viewer(connection: ASGIConnection) -> Viewer:
    """The viewer of a page request, from its session cookie (the same Viewer a token gives)."""
    viewer = getattr(connection.state, "viewer", None)
    if viewer is not None:
        return viewer
    viewer = await viewer_for_session(connection.cookies.get(SESSION_COOKIE, ""))
    if viewer is None:
        raise LoginRequired("log in first")
    connection.state.viewer = viewer
    return viewer


async def require_session(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    await page_viewer(connection)


async def require_staff_session(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if not (await page_viewer(connection)).is_staff:
        raise StaffOnly("staff pages are for staff users")


async def _provide_page_viewer(request: ASGIConnection) -> Viewer:
    return await page_viewer(request)


#: Add to a page router's dependencies: handlers then take `viewer: Viewer` (from the session).
page_viewer_dependency = {"viewer": Provide(_provide_page_viewer)}
