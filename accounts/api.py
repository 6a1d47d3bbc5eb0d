"""Accounts API: who am I."""

from typing import Optional, TypedDict

from litestar import get

from accounts.http import CurrentViewer


class Me(TypedDict):
    user_id: Optional[int]  # null for a probe token
    email: str
    role: str  # admin | engineer | noc | client | probe
    client_id: Optional[int]  # set for client users
    timezone: str


@get("/me", summary="The user (or probe) this token acts as")
async def me(viewer: CurrentViewer) -> Me:
    return {
        "user_id": viewer.user_id,
        "email": viewer.email,
        "role": viewer.role,
        "client_id": viewer.client_id,
        "timezone": viewer.timezone,
    }


api_routes = [me]
