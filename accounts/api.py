"""Accounts API: who am I; for administrators, the users and API tokens
(list, disable a user, revoke a token — the CLI's `user list|disable`,
`token list|revoke`)."""

import datetime as dt
from typing import Any, Optional, TypedDict

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


class UserOut(TypedDict):
    id: int
    email: str
    name: str
    role: str  # admin | engineer | noc | client
    client_id: Optional[int]
    active: bool
    created_at: dt.datetime


class TokenOut(TypedDict):
    """An API token, never the token itself: `prefix` tells tokens apart."""

    id: int
    name: str
    kind: str  # user | probe | ingest
    prefix: str
    user_id: Optional[int]  # null for probe and ingest tokens
    email: Optional[str]
    site_code: Optional[str]  # a probe token limited to one site
    created_at: dt.datetime
    last_used_at: Optional[dt.datetime]
    revoked: bool


class AuditEntry(TypedDict):
    id: int
    at: dt.datetime
    user_id: Optional[int]
    actor: str
    source: str  # the request's peer address, or "cli"
    action: str  # create | update | delete | import | export | login | login_failed | ...
    object_type: str
    object_id: Optional[int]
    changes: dict[str, Any]  # field -> [before, after], or what was done


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
async def list_users(viewer: CurrentViewer) -> list[UserOut]:
    return await services.list_users()


@post("/users/{user_id:int}/disable", guards=[require_admin], status_code=200,
      summary="Disable a user: their tokens and logins stop working at once")
async def disable_user(viewer: CurrentViewer, user_id: PathId) -> UserOut:
    return await services.set_user_active(user_id, False, actor=viewer)


@post("/users/{user_id:int}/enable", guards=[require_admin], status_code=200, summary="Enable a disabled user again")
async def enable_user(viewer: CurrentViewer, user_id: PathId) -> UserOut:
    return await services.set_user_active(user_id, True, actor=viewer)


@get("/tokens", guards=[require_admin], summary="API tokens, without the tokens themselves (administrators only)")
async def list_tokens(viewer: CurrentViewer, include_revoked: bool = False) -> list[TokenOut]:
    return await services.list_tokens(include_revoked=include_revoked)


@post("/tokens/{token_id:int}/revoke", guards=[require_admin], status_code=200,
      summary="Revoke an API token: the next request with it is 401")
async def revoke_token(viewer: CurrentViewer, token_id: PathId) -> TokenOut:
    return await services.revoke_token(token_id, actor=viewer)


api_routes = [me, list_users, disable_user, enable_user, list_tokens, revoke_token]
