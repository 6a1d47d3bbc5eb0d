"""The audit log: who did what, when, from where, and what changed.

Rows are only ever inserted. The database refuses UPDATE and DELETE on
`rc_audit_log` (triggers written by the accounts migration, on SQLite and
PostgreSQL alike), and no route changes or removes a row.

Where a request came from is kept in a context variable set by
`SourceAddressMiddleware` for every HTTP request (the peer address; proxies'
headers are not trusted), and by the CLI (`cli`). Callers of `record` pass only
the viewer and the change.

Secrets never reach a row: `mask` replaces the value of every key that names a
secret (password, token, secret, community, auth/priv keys) with "***", at any
depth, in addition to what the callers already redact.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from accounts.errors import Forbidden, Invalid
from accounts.tables import AuditLog
from accounts.viewer import Viewer
import validation

_source: ContextVar[str] = ContextVar("rackcard_audit_source", default="")

#: Keys whose values are secrets, wherever they appear in a change.
SECRET_KEY = re.compile(r"(password|secret|token|community|auth_key|priv_key|api_key)", re.IGNORECASE)
MASK = "***"


def set_source(address: str) -> None:
    """Where the current request or command comes from (an IP address, or `cli`)."""
    _source.set(address)


def source() -> str:
    return _source.get()


class SourceAddressMiddleware:
    """ASGI middleware: records the peer address of each HTTP request for the audit log."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope.get("type") == "http":
            client = scope.get("client")
            token = _source.set(client[0] if client else "")
            try:
                await self.app(scope, receive, send)
            finally:
                _source.reset(token)
            return
        await self.app(scope, receive, send)


def mask(value: Any) -> Any:
    """A copy of `value` with every secret-named key's value replaced by `***`."""
    if isinstance(value, dict):
        return {k: (MASK if v not in (None, "", [None, None]) else v) if SECRET_KEY.search(str(k)) else mask(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask(v) for v in value]
    return value


async def record(
    viewer: Viewer | None,
    action: str,
    entity: str,
    entity_id: int | None,
    changes: dict | None = None,
    *,
    actor: str | None = None,
) -> None:
    """Append one row. Call inside the change's transaction so both land or neither.
    `actor` overrides the viewer's e-mail (a failed login names the address tried)."""
    await AuditLog(
        at=dt.datetime.now(dt.timezone.utc),
        user_id=viewer.user_id if viewer else None,
        actor=(actor if actor is not None else viewer.email if viewer else "")[:254],
        action=action[:16],
        entity=entity[:32],
        entity_id=entity_id,
        source=source()[:64],
        changes=json.dumps(mask(changes or {}), default=str),
    ).save()


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class AuditFilter:
    object_type: str | None = None
    object_id: int | None = None
    user: str | None = None  # a user id or an e-mail (the actor)
    since: dt.datetime | None = None  # inclusive
    until: dt.datetime | None = None  # exclusive


def parse_time(raw: str | None, field: str) -> dt.datetime | None:
    """ISO 8601; a time without an offset is taken as UTC."""
    if raw is None or raw == "":
        return None
    try:
        value = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{field} must be an ISO 8601 date or time (got {raw!r})", field=field) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _clauses(f: AuditFilter) -> list:
    clauses = []
    if f.object_type:
        clauses.append(AuditLog.entity == f.object_type)
    if f.object_id is not None:
        clauses.append(AuditLog.entity_id == f.object_id)
    if f.user:
        user_id = validation.id_or_name(f.user)
        if user_id is not None:
            clauses.append(AuditLog.user_id == user_id)
        else:
            clauses.append(AuditLog.actor == f.user.strip().lower())
    if f.since is not None:
        clauses.append(AuditLog.at >= f.since)
    if f.until is not None:
        clauses.append(AuditLog.at < f.until)
    return clauses


async def entries(viewer: Viewer, f: AuditFilter, *, limit: int, offset: int) -> tuple[int, list[dict]]:
    """Newest first. Administrators only (the route guards too)."""
    if not viewer.is_admin:
        raise Forbidden("the audit log is for administrators")
    return await _read(f, limit, offset)


#: The objects whose staff page shows their history (audit `entity` names).
HISTORY_TYPES = ("client", "asset", "site", "rack", "incident", "contact", "prefix", "IP address", "service",
                 "interface", "dependency", "sla_plan", "maintenance_window", "webhook")
#: Histories only administrators read, as only they read the objects (webhook targets).
ADMIN_HISTORY_TYPES = ("webhook",)


async def object_history(viewer: Viewer, object_type: str, object_id: int, *, limit: int,
                         offset: int = 0) -> tuple[int, list[dict]]:
    """One object's entries, newest first, for its staff page. Every staff user
    reads the history of what they can open (the whole log, with logins,
    tokens and exports, stays the administrators'); a client user never."""
    if not viewer.is_staff:
        raise Forbidden("an object's history is for staff")
    if object_type not in HISTORY_TYPES:
        raise Invalid(f"object_type must be one of {', '.join(HISTORY_TYPES)}", field="object_type")
    if object_type in ADMIN_HISTORY_TYPES and not viewer.is_admin:
        raise Forbidden(f"the history of a {object_type} is for administrators")
    return await _read(AuditFilter(object_type=object_type, object_id=object_id), limit, offset)


async def _read(f: AuditFilter, limit: int, offset: int) -> tuple[int, list[dict]]:
    clauses = _clauses(f)
    count_q, rows_q = AuditLog.count(), AuditLog.select()
    if clauses:
        count_q, rows_q = count_q.where(*clauses), rows_q.where(*clauses)
    rows = await rows_q.order_by(AuditLog.at, ascending=False).order_by(AuditLog.id, ascending=False) \
        .limit(limit).offset(offset)
    return await count_q, [
        {
            "id": r["id"],
            "at": r["at"] if r["at"].tzinfo else r["at"].replace(tzinfo=dt.timezone.utc),
            "user_id": r["user_id"],
            "actor": r["actor"],
            "source": r["source"],
            "action": r["action"],
            "object_type": r["entity"],
            "object_id": r["entity_id"],
            "changes": json.loads(r["changes"] or "{}"),
        }
        for r in rows
    ]
