"""Users, passwords (argon2), API tokens (SHA-256 at rest) and the audit log."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from accounts.errors import Conflict, Invalid, NotFound
from accounts.tables import ApiToken, AuditLog, User
from accounts.viewer import ROLES, Viewer

_hasher = PasswordHasher()
TOKEN_PREFIX = "rc_"
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _token_hash(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is safe here (unlike passwords)
    # and keeps per-request authentication cheap.
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    if "@" not in email or email.startswith("@") or email.endswith("@") or " " in email:
        raise Invalid(f"{email!r} is not an e-mail address", field="email")
    return email


async def create_user(
    email: str,
    role: str,
    password: str | None = None,
    client_id: int | None = None,
    name: str = "",
    timezone: str = "UTC",
) -> User:
    email = normalise_email(email)
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}", field="role")
    if role == "client" and client_id is None:
        raise Invalid("a client user needs a client", field="client_id")
    if role != "client" and client_id is not None:
        raise Invalid("only client users belong to a client", field="client_id")
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        raise Invalid(f"password must have at least {MIN_PASSWORD_LENGTH} characters", field="password")
    if await User.exists().where(User.email == email):
        raise Conflict(f"a user with e-mail {email} already exists", field="email")
    user = User(
        email=email,
        role=role,
        client_id=client_id,
        name=name,
        timezone=timezone,
        password_hash=hash_password(password) if password else "",
    )
    await user.save()
    return user


async def authenticate_password(email: str, password: str) -> User | None:
    user = await User.objects().where(User.email == (email or "").strip().lower()).first()
    if user is None or not user.active or not user.password_hash:
        hash_password(password or "x")  # same work either way: no user enumeration by timing
        return None
    return user if verify_password(user.password_hash, password) else None


async def create_token(
    email: str | None = None, name: str = "", probe: str | None = None, site_code: str | None = None,
    *, ingest: str | None = None,
) -> str:
    """Create an API token and return it; only its hash is stored, so it is shown once.

    Three kinds: a user's token (`email`), a probe worker's (`probe`), or an
    alert-ingest token (`ingest`: may post monitoring alerts, nothing else)."""
    user = None
    if probe is not None and ingest is not None:
        raise Invalid("a token is either a probe token or an ingest token", field="ingest")
    if ingest is not None and not ingest.strip():
        raise Invalid("an ingest token needs a name", field="ingest")
    if probe is None and ingest is None:
        if email is None:
            raise Invalid("a user token needs the user's e-mail", field="email")
        user = await User.objects().where(User.email == email.strip().lower()).first()
        if user is None:
            raise NotFound(f"no user with e-mail {email}", field="email")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await ApiToken(
        user=user.id if user else None,
        name=name or (f"probe {probe}" if probe else f"ingest {ingest}" if ingest else ""),
        kind="probe" if probe else "ingest" if ingest else "user",
        token_hash=_token_hash(token),
        prefix=token[:10],
        site_code=site_code,
    ).save()
    return token


async def viewer_for_token(token: str) -> Viewer | None:
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    row = await ApiToken.objects().where(
        (ApiToken.token_hash == _token_hash(token)) & (ApiToken.revoked == False)  # noqa: E712
    ).first()
    if row is None:
        return None
    if row.kind == "probe":
        return Viewer(user_id=None, email=f"probe:{row.name}", role="probe", probe_name=row.name, site_code=row.site_code)
    if row.kind == "ingest":
        return Viewer(user_id=None, email=f"ingest:{row.name}", role="ingest", probe_name=row.name)
    user = await User.objects().where(User.id == row.user).first()
    if user is None or not user.active:
        return None
    return viewer_for_user(user)


def viewer_for_user(user: User) -> Viewer:
    return Viewer(user_id=user.id, email=user.email, role=user.role, client_id=user.client_id, timezone=user.timezone)


async def audit(viewer: Viewer, action: str, entity: str, entity_id: int | None, changes: dict | None = None) -> None:
    """Record a change. Call inside the change's transaction so both land or neither."""
    await AuditLog(
        at=dt.datetime.now(dt.timezone.utc),
        user_id=viewer.user_id,
        actor=viewer.email,
        action=action,
        entity=entity,
        entity_id=entity_id,
        changes=json.dumps(changes or {}, default=str),
    ).save()
