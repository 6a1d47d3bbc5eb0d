"""Users and API tokens managed by an administrator (the admin pages): list,
create, revoke/disable — each change audited, like the inventory's."""

from __future__ import annotations

from accounts import services
from accounts.errors import Forbidden, Invalid
from accounts.tables import ApiToken, User
from accounts.viewer import ROLES, Viewer


def require_admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise Forbidden("users and tokens are for administrators")


async def list_users(viewer: Viewer) -> list[dict]:
    require_admin(viewer)
    rows = await User.select(User.id, User.email, User.name, User.role, User.client_id, User.active,
                             User.created_at).order_by(User.email)
    return list(rows)


async def create_user(viewer: Viewer, data: dict) -> dict:
    """Every bad field reported at once (e-mail, role, client, password), then the account service's own rules."""
    require_admin(viewer)
    errors = []
    email = str(data.get("email") or "").strip()
    role = str(data.get("role") or "")
    password = str(data.get("password") or "")
    raw_client = str(data.get("client_id") or "").strip()
    client_id = None
    if "@" not in email:
        errors.append({"field": "email", "message": "an e-mail address is required"})
    if role not in ROLES:
        errors.append({"field": "role", "message": f"role must be one of {', '.join(ROLES)}"})
    if raw_client:
        if not raw_client.isdigit():
            errors.append({"field": "client_id", "message": "client_id must be a client's id"})
        else:
            client_id = int(raw_client)
    if password and len(password) < services.MIN_PASSWORD_LENGTH:
        errors.append({"field": "password",
                       "message": f"password must have at least {services.MIN_PASSWORD_LENGTH} characters"})
    if errors:
        raise Invalid("; ".join(e["message"] for e in errors), field=errors[0]["field"], errors=errors)
    user = await services.create_user(email, role, password or None, client_id=client_id,
                                      name=str(data.get("name") or "").strip()[:200])
    await services.audit(viewer, "create", "user", user.id, {"email": user.email, "role": role, "client_id": client_id})
    return {"id": user.id, "email": user.email, "role": user.role}


async def set_active(viewer: Viewer, user_id: int, active: bool) -> None:
    """Disable or enable a user (the admin page); the same change, audit and refusal as the API's."""
    require_admin(viewer)
    if user_id == viewer.user_id and not active:
        raise Invalid("you cannot disable your own account", field="id")
    await services.set_user_active(user_id, active, actor=viewer)


async def list_tokens(viewer: Viewer) -> list[dict]:
    require_admin(viewer)
    rows = await ApiToken.select(
        ApiToken.id, ApiToken.name, ApiToken.kind, ApiToken.prefix, ApiToken.site_code, ApiToken.created_at,
        ApiToken.last_used_at, ApiToken.revoked, ApiToken.user.email.as_alias("email"),
    ).order_by(ApiToken.id, ascending=False)
    return list(rows)


async def create_token(viewer: Viewer, data: dict) -> str:
    """A user token (`email`) or a probe token (`probe`, optionally limited to `site`); shown once."""
    require_admin(viewer)
    email = str(data.get("email") or "").strip()
    probe = str(data.get("probe") or "").strip()
    if bool(email) == bool(probe):
        raise Invalid("give either a user's e-mail or a probe name", field="email" if not email else "probe")
    return await services.create_token(email or None, str(data.get("name") or "").strip()[:100], probe or None,
                                       str(data.get("site") or "").strip() or None, by=viewer)


async def revoke_token(viewer: Viewer, token_id: int) -> None:
    require_admin(viewer)
    await services.revoke_token(token_id, actor=viewer)
