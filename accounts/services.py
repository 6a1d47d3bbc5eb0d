"""Users, passwords (argon2), API tokens (SHA-256 at rest) and the audit log."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from accounts import audit_log
from database.transactions import atomic, read_row
from accounts.errors import Conflict, Invalid, NotFound
from accounts.ratelimit import FailureLimiter
from accounts.tables import ApiToken, Session, User
from accounts.viewer import ROLES, SYSTEM, Viewer

log = logging.getLogger("rackcard.accounts")
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
    *,
    by: Viewer | None = None,
) -> User:
    """Create a user (audited; `by` is who asked, SYSTEM for the CLI)."""
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
    async with atomic():
        await user.save()
        await audit_log.record(by or SYSTEM, "create", "user", user.id, {
            "email": email, "role": role, "client_id": client_id, "name": name, "timezone": timezone,
            "password": bool(password)})
    return user


async def authenticate_password(email: str, password: str, *, limiter: FailureLimiter | None = None,
                                source: str | None = None) -> User | None:
    """The user when the password is right, or None. Every attempt, good or bad, is
    audited with its source address (a failure names the address tried, never the
    password). With a `limiter` (the app's, accounts.http.limiter_of), failures
    count per source address and per account, and past the limit TooMany (429) is
    raised before checking."""
    tried = (email or "").strip().lower()
    account = f"acct:{tried[:254]}"
    keys = (account, f"addr:{source}") if source else (account,)
    if limiter is not None:
        limiter.check(*keys)
    user = await User.objects().where(User.email == tried).first()
    if user is None or not user.active or not user.password_hash:
        hash_password(password or "x")  # same work either way: no user enumeration by timing
        ok = False
    else:
        ok = verify_password(user.password_hash, password)
    if ok:
        if limiter is not None:
            limiter.succeeded(account)
        await audit_log.record(viewer_for_user(user), "login", "user", user.id, {"method": "password"})
        return user
    if limiter is not None:
        limiter.failed(*keys)
    reason = "unknown user" if user is None else "inactive user" if not user.active else "wrong password"
    await audit_log.record(None, "login_failed", "user", user.id if user else None,
                           {"method": "password", "reason": reason}, actor=tried)
    return None


async def create_token(
    email: str | None = None, name: str = "", probe: str | None = None, site_code: str | None = None,
    *, ingest: str | None = None, by: Viewer | None = None,
) -> str:
    """Create an API token and return it; only its hash is stored, so it is shown once.

    Three kinds: a user's token (`email`), a probe worker's (`probe`), or an
    alert-ingest token (`ingest`: may post monitoring alerts, nothing else).
    `by` is who asked (audited; the CLI and internal jobs act as SYSTEM)."""
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
    row = ApiToken(
        user=user.id if user else None,
        name=name or (f"probe {probe}" if probe else f"ingest {ingest}" if ingest else ""),
        kind="probe" if probe else "ingest" if ingest else "user",
        token_hash=_token_hash(token),
        prefix=token[:10],
        site_code=site_code,
    )
    async with atomic():
        await row.save()
        await audit_log.record(by or SYSTEM, "create", "api_token", row.id, {
            "name": row.name, "kind": row.kind, "prefix": row.prefix, "site_code": site_code,
            "user": user.email if user else None})
    return token


#: The columns of a user a Viewer is made of, as read by the checks below.
_VIEWER_COLUMNS = ('u.id AS user_id, u.email, u.role, u.client_id, u.timezone, u.language, u.active')


def _viewer_of_row(row) -> Viewer:
    return Viewer(user_id=row["user_id"], email=row["email"], role=row["role"], client_id=row["client_id"],
                  timezone=row["timezone"] or "UTC", language=row["language"] or "")


async def viewer_for_token(token: str) -> Viewer | None:
    """The viewer a bearer token acts as, or None (unknown, revoked, or its user disabled).

    Every API request pays for this: one indexed statement (token and user together)
    through `read_row`, no cache, so a revocation or a disabled user takes effect on
    the very next request in every process."""
    if not token or not token.startswith(TOKEN_PREFIX):
        return None
    row = await read_row(
        f"SELECT t.id, t.kind, t.name, t.site_code, t.last_used_at, {_VIEWER_COLUMNS} "
        'FROM rc_api_token t LEFT JOIN rc_user u ON u.id = t."user" WHERE t.token_hash = ? AND NOT t.revoked',
        _token_hash(token))
    if row is None:
        return None
    _touch(row["id"], row["last_used_at"])
    if row["kind"] == "probe":
        return Viewer(user_id=None, email=f"probe:{row['name']}", role="probe", probe_name=row["name"],
                      site_code=row["site_code"])
    if row["kind"] == "ingest":
        return Viewer(user_id=None, email=f"ingest:{row['name']}", role="ingest", probe_name=row["name"])
    if row["user_id"] is None or not row["active"]:
        return None
    return _viewer_of_row(row)


#: last_used_at is kept to this precision: one write per token per interval, not per request.
LAST_USED_PRECISION = dt.timedelta(minutes=10)
_touching: set[int] = set()


def _touch(token_id: int, last: dt.datetime | str | None) -> None:
    """Move the token's last_used_at when it is older than LAST_USED_PRECISION,
    off the request's path (a busy SQLite writer must not delay a read)."""
    now = dt.datetime.now(dt.timezone.utc)
    if isinstance(last, str):
        last = dt.datetime.fromisoformat(last)
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=dt.timezone.utc)
    if (last is not None and now - last < LAST_USED_PRECISION) or token_id in _touching:
        return
    _touching.add(token_id)

    async def write() -> None:
        try:
            await ApiToken.update({ApiToken.last_used_at: now}).where(ApiToken.id == token_id)
        except Exception:  # noqa: BLE001 - a bookkeeping write; the next use tries again
            log.debug("could not record the use of token %s", token_id, exc_info=True)
        finally:
            _touching.discard(token_id)

    task = asyncio.get_running_loop().create_task(write())
    _pending.add(task)
    task.add_done_callback(_pending.discard)


_pending: set[asyncio.Task] = set()


def _token_out(row: dict) -> dict:
    return {
        "id": row["id"], "name": row["name"], "kind": row["kind"], "prefix": row["prefix"],
        "user_id": row["user"], "email": row.get("user.email"), "site_code": row["site_code"],
        "created_at": row["created_at"], "last_used_at": row["last_used_at"], "revoked": row["revoked"],
    }


async def list_tokens(*, include_revoked: bool = False) -> list[dict]:
    """Every API token (never the token itself: its first characters tell them apart)."""
    query = ApiToken.select(ApiToken.all_columns(), ApiToken.user.email).order_by(ApiToken.id)
    if not include_revoked:
        query = query.where(ApiToken.revoked == False)  # noqa: E712
    return [_token_out(r) for r in await query]


async def revoke_token(token_id: int, actor: Viewer | None = None) -> dict:
    """Revoke a token by id: it stops working at once (the next request is 401)."""
    async with atomic():
        row = await ApiToken.select(ApiToken.all_columns(), ApiToken.user.email).where(ApiToken.id == token_id).first()
        if row is None:
            raise NotFound(f"no token {token_id}", field="id")
        await ApiToken.update({ApiToken.revoked: True}).where(ApiToken.id == token_id)
        if actor is not None:
            await audit(actor, "update", "api_token", token_id, {"revoked": [row["revoked"], True]})
    return {**_token_out(row), "revoked": True}


def _user_out(row: dict) -> dict:
    return {"id": row["id"], "email": row["email"], "name": row["name"], "role": row["role"],
            "client_id": row["client_id"], "active": row["active"], "created_at": row["created_at"]}


async def list_users() -> list[dict]:
    return [_user_out(r) for r in await User.select().order_by(User.email)]


async def find_user(key: int | str) -> dict:
    """A user by id or e-mail."""
    where = User.id == key if isinstance(key, int) else User.email == str(key).strip().lower()
    row = await User.select().where(where).first()
    if row is None:
        raise NotFound(f"no user {key}", field="id" if isinstance(key, int) else "email")
    return row


async def set_user_active(key: int | str, active: bool, actor: Viewer | None = None) -> dict:
    """Disable (or enable again) a user: a disabled user's tokens and logins stop working at once."""
    async with atomic():
        row = await find_user(key)
        if actor is not None and actor.user_id == row["id"] and not active:
            raise Conflict("you cannot disable yourself", field="id")
        await User.update({User.active: active}).where(User.id == row["id"])
        if actor is not None:
            await audit(actor, "update", "user", row["id"], {"active": [row["active"], active]})
    return {**_user_out(row), "active": active}


def viewer_for_user(user: User) -> Viewer:
    return Viewer(user_id=user.id, email=user.email, role=user.role, client_id=user.client_id,
                  timezone=user.timezone, language=user.language or "")


#: A browser session lasts this long after its last use (a wall board stays logged in all shift).
SESSION_LIFETIME = dt.timedelta(days=7)
#: A used session's expiry is pushed forward at most this often (one UPDATE per hour, not per request).
SESSION_REFRESH = dt.timedelta(hours=1)
LANGUAGES = ("en", "ru")


async def login(email: str, password: str, old_key: str | None = None, *, limiter: FailureLimiter | None = None,
                source: str | None = None) -> tuple[str, User] | None:
    """Check the password and open a new session (the old one, if any, is ended:
    the key changes at every login, so a key planted before login is worthless).
    Failures count per source address and account in `limiter` (TooMany past it)."""
    user = await authenticate_password(email, password, limiter=limiter, source=source)
    if user is None:
        return None
    if old_key:
        await end_session(old_key)
    key = secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.timezone.utc)
    await Session(key_hash=_token_hash(key), user=user.id, created_at=now, expires_at=now + SESSION_LIFETIME).save()
    return key, user


async def end_session(key: str) -> None:
    if key:
        await Session.delete().where(Session.key_hash == _token_hash(key))


async def viewer_for_session(key: str) -> Viewer | None:
    """The viewer behind a session cookie, the same Viewer an API token gives."""
    if not key or len(key) > 100:
        return None
    row = await read_row(
        f"SELECT s.id, s.expires_at, {_VIEWER_COLUMNS} "
        'FROM rc_session s JOIN rc_user u ON u.id = s."user" WHERE s.key_hash = ?', _token_hash(key))
    now = dt.datetime.now(dt.timezone.utc)
    if row is None:
        return None
    expires = row["expires_at"]
    if isinstance(expires, str):
        expires = dt.datetime.fromisoformat(expires)
    expires = expires if expires.tzinfo else expires.replace(tzinfo=dt.timezone.utc)
    if expires <= now or not row["active"]:
        await Session.delete().where(Session.id == row["id"])
        return None
    if expires - now < SESSION_LIFETIME - SESSION_REFRESH:
        await Session.update({Session.expires_at: now + SESSION_LIFETIME}).where(Session.id == row["id"])
    return _viewer_of_row(row)


async def set_language(viewer: Viewer, language: str) -> None:
    """The user's UI language ("" = follow the browser)."""
    if language not in (*LANGUAGES, ""):
        raise Invalid(f"language must be one of {', '.join(LANGUAGES)} or empty", field="language")
    if viewer.user_id is None:
        raise Invalid("only users have a language setting", field="language")
    await User.update({User.language: language}).where(User.id == viewer.user_id)


async def audit(viewer: Viewer, action: str, entity: str, entity_id: int | None, changes: dict | None = None) -> None:
    """Record a change. Call inside the change's transaction so both land or neither."""
    await audit_log.record(viewer, action, entity, entity_id, changes)
