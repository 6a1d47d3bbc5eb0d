"""HTTP authentication: bearer tokens for /api/v1, guards by role.

Guards and the `viewer` dependency live here, at the bottom of the import
graph, so every app's handlers can use them.
"""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from accounts.services import viewer_for_token
from accounts.viewer import Viewer


async def authenticate(connection: ASGIConnection) -> Viewer:
    viewer = getattr(connection.state, "viewer", None)
    if viewer is not None:
        return viewer
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthorizedException("missing bearer token: send 'Authorization: Bearer <token>'")
    viewer = await viewer_for_token(token.strip())
    if viewer is None:
        raise NotAuthorizedException("invalid or revoked token")
    connection.state.viewer = viewer
    return viewer


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


async def _provide_viewer(request: ASGIConnection) -> Viewer:
    return await authenticate(request)


#: Add to a router's dependencies: handlers then take `viewer: Viewer`.
viewer_dependency = {"viewer": Provide(_provide_viewer)}

#: Handler parameter type: `async def handler(viewer: CurrentViewer)`.
CurrentViewer = NamedDependency[Viewer]
