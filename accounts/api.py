"""Accounts API: who am I; for administrators, the users and API tokens
(list, disable a user, revoke a token — the CLI's `user list|disable`,
`token list|revoke`)."""

from typing import Optional, TypedDict

from litestar import get, post

from accounts import services
from accounts.http import CurrentViewer, require_admin
from validation.params import PathId


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


@get("/users", guards=[require_admin], summary="Users (administrators only)")
async def list_users(viewer: CurrentViewer) -> list[dict]:
    return await services.list_users()


@post("/users/{user_id:int}/disable", guards=[require_admin], status_code=200,
      summary="Disable a user: their tokens and logins stop working at once")
async def disable_user(viewer: CurrentViewer, user_id: PathId) -> dict:
    return await services.set_user_active(user_id, False, actor=viewer)


@post("/users/{user_id:int}/enable", guards=[require_admin], status_code=200, summary="Enable a disabled user again")
async def enable_user(viewer: CurrentViewer, user_id: PathId) -> dict:
    return await services.set_user_active(user_id, True, actor=viewer)


@get("/tokens", guards=[require_admin], summary="API tokens, without the tokens themselves (administrators only)")
async def list_tokens(viewer: CurrentViewer, include_revoked: bool = False) -> list[dict]:
    return await services.list_tokens(include_revoked=include_revoked)


@post("/tokens/{token_id:int}/revoke", guards=[require_admin], status_code=200,
      summary="Revoke an API token: the next request with it is 401")
async def revoke_token(viewer: CurrentViewer, token_id: PathId) -> dict:
    return await services.revoke_token(token_id, actor=viewer)


api_routes = [me, list_users, disable_user, enable_user, list_tokens, revoke_token]
