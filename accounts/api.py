"""Accounts API: who am I."""

from litestar import get

from accounts.http import CurrentViewer


@get("/me", summary="The user (or probe) this token acts as")
async def me(viewer: CurrentViewer) -> dict:
    return {
        "user_id": viewer.user_id,
        "email": viewer.email,
        "role": viewer.role,
        "client_id": viewer.client_id,
        "timezone": viewer.timezone,
    }


api_routes = [me]
