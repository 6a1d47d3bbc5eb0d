"""SLA plans, maintenance windows and webhook endpoints: validation and storage.
Every change is audited and runs in one transaction."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from accounts import secretbox
from database.transactions import atomic
from accounts.errors import Conflict, Forbidden, Invalid, NotFound
from accounts.services import audit
from accounts.viewer import Viewer
import validation
from validation import columns
from cmdb import addressing
from cmdb.tables import Asset, Client, Site
from incidents import chat, workflow
from incidents.services import aware, refresh_sla, utcnow
from incidents.tables import Delivery, DeliveryAttempt, Incident, MaintenanceWindow, SlaPlan, WebhookEndpoint

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
MINUTE_FIELDS = tuple(f"{k}_{p.lower()}" for k in ("response", "resolution") for p in workflow.PRIORITIES)
#: A year: longer SLA deadlines are typing errors (and overflow date arithmetic).
MAX_SLA_MINUTES = 525_600
MAX_WEBHOOK_SECRET = 110  # encrypted at rest, the stored form must fit the 200-character column
PLAN_FIELDS = ("name", "hours", "timezone", "business_days", "business_start", "business_end", *MINUTE_FIELDS)


def _staff(viewer: Viewer) -> None:
    if not viewer.is_staff:
        raise Forbidden("this is for staff users")


def _admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise Forbidden("this is for administrators")


def _limit(table, column: str) -> int | None:
    """The most characters `column` holds: one declaration for the column and its validation."""
    return columns.max_length(table._meta.get_column_by_name(column))


def _unknown(data: dict, allowed: tuple[str, ...]) -> None:
    extra = sorted(set(data) - set(allowed))
    if extra:
        raise Invalid(f"unknown field(s): {', '.join(extra)}", field=extra[0])


async def _row(table, row_id: int, what: str) -> dict:
    """One row by id, or NotFound naming it ("no SLA plan 7")."""
    row = await table.select().where(table.id == row_id).first()
    if row is None:
        raise NotFound(f"no {what} {row_id}", field="id")
    return row


async def _name_free(table, name: str, what: str) -> None:
    """Names are unique: say so naming the field (the unique index still holds under races)."""
    if await table.exists().where(table.name == name):
        raise Conflict(f"{what} named {name!r} exists", field="name")


async def _delete(viewer: Viewer, table, row_id: int, what: str, entity: str, check=None) -> None:
    """Delete one row and audit it; `check()` may refuse (Conflict) before anything is deleted."""
    async with atomic():
        if not await table.exists().where(table.id == row_id):
            raise NotFound(f"no {what} {row_id}", field="id")
        if check is not None:
            await check()
        await table.delete().where(table.id == row_id)
        await audit(viewer, "delete", entity, row_id)


# ---------------------------------------------------------------- SLA plans


def _plan_out(row: dict) -> dict:
    return {
        "id": row["id"],
        "name": row["name"],
        "hours": row["hours"],
        "timezone": row["timezone"],
        "business_days": [int(d) for d in row["business_days"].split(",") if d],
        "business_start": row["business_start"],
        "business_end": row["business_end"],
        "response_minutes": {p: row[f"response_{p.lower()}"] for p in workflow.PRIORITIES},
        "resolution_minutes": {p: row[f"resolution_{p.lower()}"] for p in workflow.PRIORITIES},
    }


def _plan_values(data: dict, current: dict | None) -> dict:
    """Validate a plan body (flat fields, or response_minutes/resolution_minutes
    maps); every problem reported at once."""
    problems = validation.Problems()
    data = dict(data)
    for kind in ("response", "resolution"):
        mapping = data.pop(f"{kind}_minutes", None)
        if mapping is not None:
            if not isinstance(mapping, dict):
                problems.add(f"{kind}_minutes", "must map P1..P4 to minutes")
                continue
            for p, v in mapping.items():
                if p not in workflow.PRIORITIES:
                    problems.add(f"{kind}_minutes", f"unknown priority {str(p)[:20]!r}")
                else:
                    data[f"{kind}_{p.lower()}"] = v
    problems.take(_unknown, data, PLAN_FIELDS)
    values = {**(current or {}), **data}
    name = problems.take(validation.text, values.get("name") or "", "name", max_length=_limit(SlaPlan, "name"),
                         multiline=False)
    if name == "":
        problems.add("name", "a plan needs a name")
    values["name"] = name
    if values.get("hours", "24x7") not in ("24x7", "business"):
        problems.add("hours", "must be '24x7' or 'business'")
    tz = problems.take(validation.text, values.get("timezone") or "UTC", "timezone", max_length=64, multiline=False)
    if tz is not None:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            problems.add("timezone", f"unknown time zone {tz!r}")
    days = values.get("business_days", "1,2,3,4,5")
    if isinstance(days, (list, tuple)):
        days = ",".join(str(d) if isinstance(d, (int, str)) else "x" for d in days)
    try:
        parsed = sorted({validation.integer(d, "business_days") for d in str(days).split(",") if d.strip()}
                        ) if len(str(days)) < 100 else []
    except Invalid:
        parsed = []
    if not parsed or any(d < 1 or d > 7 for d in parsed):
        problems.add("business_days", "business_days are ISO weekdays 1 (Monday) .. 7")
    else:
        values["business_days"] = ",".join(map(str, parsed))
    for f in ("business_start", "business_end"):
        if not _HHMM.match(str(values.get(f, "09:00" if f == "business_start" else "18:00"))):
            problems.add(f, "must be HH:MM")
    if not problems and values.get("business_start", "09:00") >= values.get("business_end", "18:00"):
        problems.add("business_end", "business_end must be after business_start")
    for f in MINUTE_FIELDS:
        if f in values:
            values[f] = problems.take(validation.integer, values[f], f, min=1, max=MAX_SLA_MINUTES)
    problems.raise_if_any()
    return {k: v for k, v in values.items() if k in PLAN_FIELDS}


async def list_plans(viewer: Viewer) -> list[dict]:
    _staff(viewer)
    return [_plan_out(r) for r in await SlaPlan.select().order_by(SlaPlan.name)]


async def get_plan(viewer: Viewer, plan_id: int) -> dict:
    _staff(viewer)
    return _plan_out(await _row(SlaPlan, plan_id, "SLA plan"))


async def create_plan(viewer: Viewer, data: dict) -> dict:
    _admin(viewer)
    values = _plan_values(data, None)
    async with atomic():
        await _name_free(SlaPlan, values["name"], "an SLA plan")
        rows = await SlaPlan.insert(SlaPlan(**values)).returning(SlaPlan.id)
        await audit(viewer, "create", "sla_plan", rows[0]["id"], values)
    return await get_plan(viewer, rows[0]["id"])


async def update_plan(viewer: Viewer, plan_id: int, data: dict, *, now: dt.datetime | None = None) -> dict:
    """Change a plan; open incidents governed by it get their due times recomputed."""
    _admin(viewer)
    now = now or utcnow()
    async with atomic():
        current = await _row(SlaPlan, plan_id, "SLA plan")
        values = _plan_values(data, {k: current[k] for k in PLAN_FIELDS})
        if values["name"] != current["name"]:
            await _name_free(SlaPlan, values["name"], "an SLA plan")
        await SlaPlan.update({getattr(SlaPlan, k): v for k, v in values.items()}).where(SlaPlan.id == plan_id)
        await audit(viewer, "update", "sla_plan", plan_id, {k: v for k, v in values.items() if current[k] != v})
        for r in await Incident.select(Incident.id).where(
                (Incident.sla_plan_id == plan_id) & Incident.status.is_in(list(workflow.OPEN_STATUSES))):
            await refresh_sla(r["id"], now)
    return await get_plan(viewer, plan_id)


async def delete_plan(viewer: Viewer, plan_id: int) -> None:
    _admin(viewer)

    async def unused() -> None:
        users = await Client.count().where(Client.sla_plan_id == plan_id)
        if users:
            raise Conflict(f"{users} client(s) use this plan; give them another plan first", field="id")

    await _delete(viewer, SlaPlan, plan_id, "SLA plan", "sla_plan", check=unused)


# ---------------------------------------------------------------- maintenance windows

WINDOW_FIELDS = ("asset_id", "site_id", "client_id", "starts_at", "ends_at", "reason")


def _window_out(row: dict) -> dict:
    return {
        "id": row["id"],
        "asset_id": row["asset_id"],
        "site_id": row["site_id"],
        "client_id": row["client_id"],
        "starts_at": aware(row["starts_at"]),
        "ends_at": aware(row["ends_at"]),
        "reason": row["reason"],
        "created_by": row["created_by"],
    }


def _when(value: Any, field: str) -> dt.datetime:
    return validation.moment(value, field)


async def _window_values(data: dict, current: dict | None) -> dict:
    problems = validation.Problems()
    problems.take(_unknown, data, WINDOW_FIELDS)
    values = {**(current or {}), **data}
    targets = [f for f in ("asset_id", "site_id", "client_id") if values.get(f) is not None]
    if len(targets) != 1:
        problems.add("asset_id", "a window is on exactly one of asset_id, site_id or client_id")
    else:
        target = targets[0]
        table = {"asset_id": Asset, "site_id": Site, "client_id": Client}[target]
        values[target] = problems.take(validation.ident, values[target], target)
        if values[target] is not None and not await table.exists().where(table.id == values[target]):
            problems.add(target, f"no {target[:-3]} {values[target]}")
    for f in ("starts_at", "ends_at"):
        if values.get(f) is None:
            problems.add(f, f"{f} is required")
        else:
            values[f] = problems.take(_when, values[f], f)
    if values.get("starts_at") and values.get("ends_at") and values["ends_at"] <= values["starts_at"]:
        problems.add("ends_at", "ends_at must be after starts_at")
    values["reason"] = problems.take(validation.text, values.get("reason") or "", "reason",
                                     max_length=_limit(MaintenanceWindow, "reason"))
    problems.raise_if_any()
    return {k: values.get(k) for k in WINDOW_FIELDS}


WINDOW_WHEN = ("active", "upcoming", "past")
WINDOW_SORTS = ("starts_at", "ends_at", "reason")


async def list_windows(viewer: Viewer, *, active_at: dt.datetime | str | None = None, when: str | None = None,
                       site_id: int | None = None, asset_id: int | None = None, sort: str | None = None,
                       limit: int = 50, offset: int = 0) -> tuple[int, list[dict]]:
    """(count, one page of windows, newest first unless `sort` says otherwise): `active_at`
    keeps the windows open then, `when` the ones open now (active), still to come
    (upcoming) or over (past); `site_id` the windows on that site or one of its
    assets, `asset_id` those on that asset. `sort` is one of WINDOW_SORTS, '-' first
    for descending."""
    _staff(viewer)
    where = []
    if active_at is not None:
        # a '+' of an offset often arrives unescaped in a query string, i.e. as a space
        active_at = _when(active_at if isinstance(active_at, dt.datetime) else active_at.replace(" ", "+"), "active_at")
        where.append((MaintenanceWindow.starts_at <= active_at) & (MaintenanceWindow.ends_at > active_at))
    if when is not None:
        now = utcnow()
        by_when = {"active": (MaintenanceWindow.starts_at <= now) & (MaintenanceWindow.ends_at > now),
                   "upcoming": MaintenanceWindow.starts_at > now, "past": MaintenanceWindow.ends_at <= now}
        if when not in by_when:
            raise Invalid(f"when must be one of {', '.join(WINDOW_WHEN)}", field="when")
        where.append(by_when[when])
    if site_id is not None:
        on_assets = [r["id"] for r in await Asset.select(Asset.id).where(Asset.site == site_id)]
        where.append((MaintenanceWindow.site_id == site_id) | MaintenanceWindow.asset_id.is_in(on_assets or [0]))
    if asset_id is not None:
        where.append(MaintenanceWindow.asset_id == asset_id)
    order, ascending = "starts_at", False
    if sort:
        order, ascending = sort.lstrip("-"), not sort.startswith("-")
        if order not in WINDOW_SORTS:
            raise Invalid(f"sort must be one of {', '.join(WINDOW_SORTS)} (with '-' for descending)", field="sort")
    count_q, q = MaintenanceWindow.count(), MaintenanceWindow.select()
    for condition in where:
        count_q, q = count_q.where(condition), q.where(condition)
    column = getattr(MaintenanceWindow, order)
    rows = await q.order_by(column, ascending=ascending).order_by(MaintenanceWindow.id, ascending=ascending
                                                                  ).limit(limit).offset(offset)
    return await count_q, [_window_out(r) for r in rows]


async def get_window(viewer: Viewer, window_id: int) -> dict:
    _staff(viewer)
    return _window_out(await _row(MaintenanceWindow, window_id, "maintenance window"))


async def create_window(viewer: Viewer, data: dict) -> dict:
    _staff(viewer)
    values = await _window_values(data, None)
    async with atomic():
        rows = await MaintenanceWindow.insert(MaintenanceWindow(**values, created_by=viewer.email)).returning(
            MaintenanceWindow.id)
        await audit(viewer, "create", "maintenance_window", rows[0]["id"], values)
    return await get_window(viewer, rows[0]["id"])


async def update_window(viewer: Viewer, window_id: int, data: dict) -> dict:
    _staff(viewer)
    async with atomic():
        current = await _row(MaintenanceWindow, window_id, "maintenance window")
        values = await _window_values(data, {k: current[k] for k in WINDOW_FIELDS})
        await MaintenanceWindow.update({getattr(MaintenanceWindow, k): v for k, v in values.items()}).where(
            MaintenanceWindow.id == window_id)
        await audit(viewer, "update", "maintenance_window", window_id, values)
    return await get_window(viewer, window_id)


async def delete_window(viewer: Viewer, window_id: int) -> None:
    _staff(viewer)
    await _delete(viewer, MaintenanceWindow, window_id, "maintenance window", "maintenance_window")


# ---------------------------------------------------------------- webhooks

WEBHOOK_FIELDS = ("name", "url", "secret", "events", "active", "kind", "chat_id", "language")
WEBHOOK_KINDS = ("webhook", "slack", "telegram")
TELEGRAM_API = "https://api.telegram.org"
_TELEGRAM_TOKEN = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,80}$")
EVENTS = ("opened", "escalated", "breached", "resolved", "reopened", "comment")


def _webhook_out(row: dict, *, secret: str | None = None) -> dict:
    """A webhook as the API shows it: the signing secret is write-only
    (`secret_set`), shown once in the answer that generated it."""
    out = {
        "id": row["id"],
        "name": row["name"],
        "url": row["url"],
        "events": [e for e in row["events"].split(",") if e],
        "active": row["active"],
        "secret_set": bool(row["secret"]),
        "kind": row["kind"],
        "chat_id": row["chat_id"],
        "language": row["language"],
    }
    if secret is not None:
        out["secret"] = secret
    return out


#: Webhooks may target loopback, link-local, private and metadata addresses only
#: when the operator says so (RACKCARD_ALLOW_PRIVATE_WEBHOOKS): otherwise a
#: webhook is a way to make the server call into its own network.
ALLOW_PRIVATE_WEBHOOKS = False


def webhook_target(url: str) -> str:
    """An http(s) URL whose host is not an internal address (unless allowed)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise Invalid("url must be an http(s) URL", field="url")
    if not ALLOW_PRIVATE_WEBHOOKS:
        reason = addressing.internal_host(parsed.hostname)
        if reason:
            raise Invalid(f"url points at {reason}; set RACKCARD_ALLOW_PRIVATE_WEBHOOKS=true to allow it", field="url")
    return url


def _webhook_values(data: dict, current: dict | None) -> dict:
    problems = validation.Problems()
    problems.take(_unknown, data, WEBHOOK_FIELDS)
    values = {**(current or {}), **data}
    name = problems.take(validation.text, values.get("name") or "", "name",
                         max_length=_limit(WebhookEndpoint, "name"), multiline=False)
    if name == "":
        problems.add("name", "a webhook needs a name")
    values["name"] = name
    default_url = TELEGRAM_API if values.get("kind") == "telegram" else ""
    url = problems.take(validation.text, values.get("url") or default_url, "url",
                        max_length=_limit(WebhookEndpoint, "url"), multiline=False)
    if url is not None:
        problems.take(webhook_target, url)
    values["url"] = url  # a Telegram target without one gets the Bot API's
    kind = values.get("kind") or "webhook"
    if kind not in WEBHOOK_KINDS:
        problems.add("kind", f"kind must be one of {', '.join(WEBHOOK_KINDS)}")
    values["kind"] = kind
    if values.get("language", "en") not in chat.LANGUAGES:
        problems.add("language", f"language must be one of {', '.join(chat.LANGUAGES)}")
    values["language"] = values.get("language") or "en"
    chat_id = problems.take(validation.text, values.get("chat_id") or "", "chat_id", max_length=100, multiline=False)
    values["chat_id"] = chat_id or ""
    if kind == "telegram":
        # The bot token is the secret (sealed like a webhook's signing key); the URL is the Bot API's.
        if not values["chat_id"]:
            problems.add("chat_id", "a Telegram target needs chat_id (a chat id or @channel name)")
        token = values.get("secret")
        if not secretbox.is_sealed(token) and not _TELEGRAM_TOKEN.match(str(token or "")):
            problems.add("secret", "secret must be the bot token from @BotFather (123456:ABC...)")
    secret = values.get("secret") or secrets.token_urlsafe(32)
    if not secretbox.is_sealed(secret):  # the stored one, kept as it is
        secret = problems.take(validation.text, secret, "secret", max_length=MAX_WEBHOOK_SECRET, multiline=False)
        if secret is not None and len(secret) < 16:
            problems.add("secret", "secret must have at least 16 characters")
    values["secret"] = secret
    events = values.get("events") or []
    if isinstance(events, str):
        events = [e for e in events.split(",") if e]
    if not isinstance(events, (list, tuple)) or not all(isinstance(e, str) for e in events):
        problems.add("events", f"events must be a list of: {', '.join(EVENTS)}")
    else:
        unknown = [e[:30] for e in events if e not in EVENTS]
        if unknown:
            problems.add("events", f"unknown event(s) {', '.join(unknown[:5])}; known: {', '.join(EVENTS)}")
        values["events"] = ",".join(events)
    values["active"] = values.get("active", True)
    if not isinstance(values["active"], bool):
        problems.add("active", "must be true or false")
    problems.raise_if_any()
    return {k: values[k] for k in WEBHOOK_FIELDS}


async def list_webhooks(viewer: Viewer) -> list[dict]:
    _admin(viewer)
    return [_webhook_out(r) for r in await WebhookEndpoint.select().order_by(WebhookEndpoint.name)]


async def get_webhook(viewer: Viewer, webhook_id: int, *, secret: str | None = None) -> dict:
    _admin(viewer)
    return _webhook_out(await _row(WebhookEndpoint, webhook_id, "webhook"), secret=secret)


async def create_webhook(viewer: Viewer, data: dict) -> dict:
    """Register an endpoint; a secret the server generated is shown in this answer, once."""
    _admin(viewer)
    values = _webhook_values(data, None)
    generated = values["secret"] if not data.get("secret") else None
    async with atomic():
        await _name_free(WebhookEndpoint, values["name"], "a webhook")
        rows = await WebhookEndpoint.insert(WebhookEndpoint(**{**values, "secret": secretbox.seal(values["secret"])})
                                            ).returning(WebhookEndpoint.id)
        await audit(viewer, "create", "webhook", rows[0]["id"], {**values, "secret": "***"})
    return await get_webhook(viewer, rows[0]["id"], secret=generated)


async def update_webhook(viewer: Viewer, webhook_id: int, data: dict) -> dict:
    _admin(viewer)
    async with atomic():
        current = await _row(WebhookEndpoint, webhook_id, "webhook")
        values = _webhook_values(data, {k: current[k] for k in WEBHOOK_FIELDS})
        values["secret"] = secretbox.seal(values["secret"])  # a kept secret is sealed already
        if values["name"] != current["name"]:
            await _name_free(WebhookEndpoint, values["name"], "a webhook")
        await WebhookEndpoint.update({getattr(WebhookEndpoint, k): v for k, v in values.items()}).where(
            WebhookEndpoint.id == webhook_id)
        await audit(viewer, "update", "webhook", webhook_id, {**values, "secret": "***"})
    return await get_webhook(viewer, webhook_id)


async def delete_webhook(viewer: Viewer, webhook_id: int) -> None:
    _admin(viewer)
    await _delete(viewer, WebhookEndpoint, webhook_id, "webhook", "webhook")


async def deliveries(viewer: Viewer, *, incident_id: int | None = None, limit: int = 100,
                     offset: int = 0) -> tuple[int, list[dict]]:
    """The delivery log, newest first: (count, one page of each notification's targets, status and attempts)."""
    _admin(viewer)
    q = Delivery.select(
        Delivery.id, Delivery.channel, Delivery.target, Delivery.status, Delivery.attempts, Delivery.last_error,
        Delivery.next_attempt_at, Delivery.delivered_at, Delivery.notification.event, Delivery.notification.incident,
    ).order_by(Delivery.id, ascending=False).limit(limit).offset(offset)
    count_q = Delivery.count()
    if incident_id is not None:
        q = q.where(Delivery.notification.incident == incident_id)
        count_q = count_q.where(Delivery.notification.incident == incident_id)
    rows = await q
    attempts: dict[int, list[dict]] = {r["id"]: [] for r in rows}
    if rows:
        for a in await DeliveryAttempt.select().where(DeliveryAttempt.delivery.is_in(list(attempts))).order_by(
                DeliveryAttempt.id):
            attempts[a["delivery"]].append({"at": aware(a["at"]), "ok": a["ok"], "status_code": a["status_code"],
                                            "error": a["error"], "duration_ms": a["duration_ms"]})
    return await count_q, [
        {
            "id": r["id"], "incident_id": r["notification.incident"], "event": r["notification.event"],
            "channel": r["channel"], "target": r["target"], "status": r["status"], "attempts": attempts[r["id"]],
            "last_error": r["last_error"], "next_attempt_at": aware(r["next_attempt_at"]),
            "delivered_at": aware(r["delivered_at"]),
        }
        for r in rows
    ]

