"""Canned replies: templates with {placeholders} per category and language,
filled from an incident and posted as a comment, with their use counted.

A placeholder the incident cannot fill (no port on a power incident, no
battery reading) is an error naming it — shown before anything is sent, never
a blank in a message to a client. The person may give the value by hand
(`values`), which also overrides what the incident says.
"""

from __future__ import annotations

import datetime as dt
import string
from typing import Any, Mapping

from database.transactions import atomic
from accounts.errors import Forbidden, Invalid, NotFound
from accounts.viewer import Viewer
from database import rawsql
from incidents import kb, services, workflow
from incidents.desk_tables import CannedReply
from database.rawsql import Sql

#: name -> what it becomes.
PLACEHOLDERS: dict[str, str] = {
    "client_name": "the affected client's name (several: joined with commas)",
    "asset": "the root asset's name (or the first affected one)",
    "port": "the port of the incident's link check (its interface name, else ifIndex N)",
    "site": "the site of the root asset",
    "incident_number": "the incident's number",
    "sla_due": "the resolution due time, YYYY-MM-DD HH:MM in the SLA plan's time zone",
    "battery_minutes": "minutes of battery left on an affected UPS (its latest reading)",
}
_FIELDS = ("name", "category", "language", "body", "visibility")


def placeholders_of(body: str) -> list[str]:
    """The placeholder names a template uses (Invalid on broken braces)."""
    try:
        names = [field for _, field, spec, conv in string.Formatter().parse(body) if field is not None]
    except ValueError as exc:
        raise Invalid(f"body: {exc} (write {{{{ and }}}} for literal braces)", field="body") from None
    for name in names:
        if name not in PLACEHOLDERS:
            raise Invalid(f"body: unknown placeholder {{{name}}}; known: {', '.join(PLACEHOLDERS)}", field="body")
    return list(dict.fromkeys(names))


def fill(body: str, values: Mapping[str, str | None]) -> str:
    """The template with every placeholder filled; Invalid naming the first one without a value."""
    missing = [n for n in placeholders_of(body) if not (values.get(n) or "").strip()]
    if missing:
        raise Invalid(
            f"no value for {{{missing[0]}}}" + (f" (nor {', '.join('{' + m + '}' for m in missing[1:])})"
                                                if missing[1:] else "")
            + "; give it in 'values' or pick another reply",
            field=missing[0],
            errors=[{"field": m, "message": f"the incident has no {m.replace('_', ' ')}: {PLACEHOLDERS[m]}"}
                    for m in missing],
        )
    return body.format(**{n: str(values[n]).strip() for n in placeholders_of(body)})


def _clean(data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    kb.check_fields(data, _FIELDS)
    out: dict[str, Any] = {}
    if "name" in data or not partial:
        name = data.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
            raise Invalid("a reply needs a name (200 characters at most)", field="name")
        out["name"] = name.strip()
    if "category" in data or not partial:
        category = data.get("category") or ""
        if category and category not in workflow.CATEGORIES:
            raise Invalid(f"category must be empty (any) or one of {', '.join(workflow.CATEGORIES)}", field="category")
        out["category"] = category
    if "language" in data or not partial:
        language = data.get("language", "en")
        if language not in kb.LANGUAGES:
            raise Invalid(f"language must be one of {', '.join(kb.LANGUAGES)}", field="language")
        out["language"] = language
    if "body" in data or not partial:
        body = data.get("body")
        if not isinstance(body, str) or not body.strip() or len(body) > 10_000:
            raise Invalid("a reply needs a body (10,000 characters at most)", field="body")
        placeholders_of(body)
        out["body"] = body.strip()
    if "visibility" in data or not partial:
        visibility = data.get("visibility", "public")
        if visibility not in workflow.VISIBILITIES:
            raise Invalid("visibility must be 'internal' or 'public'", field="visibility")
        out["visibility"] = visibility
    return out


def _serialise(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"], "name": row["name"], "category": row["category"] or None, "language": row["language"],
        "body": row["body"], "placeholders": placeholders_of(row["body"]), "visibility": row["visibility"],
        "uses": row["uses"], "created_at": services.aware(row["created_at"]),
        "updated_at": services.aware(row["updated_at"]),
    }


def _require_staff(viewer: Viewer) -> None:
    if not viewer.is_staff:
        raise Forbidden("canned replies are for staff")


async def _row(reply_id: int) -> dict:
    row = await CannedReply.select().where(CannedReply.id == reply_id).first()
    if row is None:
        raise NotFound(f"no reply {reply_id}", field="id")
    return row


async def create(viewer: Viewer, data: Mapping[str, Any]) -> dict:
    _require_staff(viewer)
    values = _clean(data, partial=False)
    now = services.utcnow()
    rows = await CannedReply.insert(CannedReply(**values, created_by=viewer.email, created_at=now,
                                                updated_at=now)).returning(CannedReply.id)
    return _serialise(await _row(rows[0]["id"]))


async def update(viewer: Viewer, reply_id: int, data: Mapping[str, Any]) -> dict:
    _require_staff(viewer)
    values = _clean(data, partial=True)
    await _row(reply_id)
    if values:
        values["updated_at"] = services.utcnow()
        await CannedReply.update({getattr(CannedReply, k): v for k, v in values.items()}).where(
            CannedReply.id == reply_id)
    return _serialise(await _row(reply_id))


async def delete(viewer: Viewer, reply_id: int) -> None:
    _require_staff(viewer)
    deleted = await CannedReply.delete().where(CannedReply.id == reply_id).returning(CannedReply.id)
    if not deleted:
        raise NotFound(f"no reply {reply_id}", field="id")


async def get(viewer: Viewer, reply_id: int) -> dict:
    _require_staff(viewer)
    return _serialise(await _row(reply_id))


async def list_replies(viewer: Viewer, *, category: str | None = None, language: str | None = None) -> list[dict]:
    """Replies for a category (and those for any category), most used first."""
    _require_staff(viewer)
    if category and category not in workflow.CATEGORIES:
        raise Invalid(f"category must be one of {', '.join(workflow.CATEGORIES)}", field="category")
    if language and language not in kb.LANGUAGES:
        raise Invalid(f"language must be one of {', '.join(kb.LANGUAGES)}", field="language")
    query = CannedReply.select()
    if category:
        query = query.where(CannedReply.category.is_in([category, ""]))
    if language:
        query = query.where(CannedReply.language == language)
    rows = await query.order_by(CannedReply.uses, ascending=False).order_by(CannedReply.id)
    return [_serialise(r) for r in rows]


async def client_language(incident_id: int) -> str | None:
    """The language the incident's clients read: most of their contacts who get
    incident e-mail, else most of their portal users who chose one, else most
    of their contacts; None when no client is affected or none says."""
    from collections import Counter

    q = Sql()

    def clients() -> str:
        return f"(SELECT client_id FROM inc_affected_client WHERE incident = {q(incident_id)})"

    rows = await q.fetch(
        f"SELECT language, CASE WHEN notify THEN 0 ELSE 2 END AS rank FROM cmdb_contact WHERE client IN {clients()} "
        f"UNION ALL SELECT language, 1 AS rank FROM rc_user WHERE client_id IN {clients()} AND language <> ''")
    for rank in (0, 1, 2):
        found = Counter(r["language"] for r in rows if r["rank"] == rank and r["language"] in kb.LANGUAGES)
        if found:
            return found.most_common(1)[0][0]
    return None


# ---------------------------------------------------------------- filling from an incident


def _when(value: dt.datetime, timezone: str | None) -> str:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone or "UTC")
    local = services.aware(value).astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {timezone or 'UTC'}"


async def incident_values(incident_id: int) -> dict[str, str | None]:
    """What the incident can fill in (None = it does not know)."""
    rows = await rawsql.fetch(
        "SELECT i.id, i.resolution_due_at, p.timezone FROM inc_incident i "
        "LEFT JOIN inc_sla_plan p ON p.id = i.sla_plan_id WHERE i.id = {}", incident_id)
    if not rows:
        raise NotFound(f"no incident {incident_id}", field="id")
    incident = rows[0]
    clients = [r["name"] for r in await rawsql.fetch(
        "SELECT COALESCE(c.name, ac.name) AS name FROM inc_affected_client ac "
        "LEFT JOIN cmdb_client c ON c.id = ac.client_id WHERE ac.incident = {} ORDER BY ac.id", incident_id)]
    assets = await kb.incident_assets(incident_id)
    root = assets[0] if assets else None
    site = None
    if root is not None:
        found = await rawsql.fetch("SELECT s.name FROM cmdb_asset a JOIN cmdb_site s ON s.id = a.site "
                                   "WHERE a.id = {}", root["asset_id"])
        site = found[0]["name"] if found else None
    port = None
    links = await rawsql.fetch("SELECT asset_id, \"key\" FROM inc_incident_check WHERE incident = {} "
                               "AND \"key\" LIKE 'link:%' ORDER BY id", incident_id)
    if links:
        asset_id, if_index = links[0]["asset_id"], links[0]["key"].split(":", 1)[1]
        q = Sql()
        names = await q.fetch(f"SELECT name FROM cmdb_interface WHERE asset = {q(asset_id)} "
                              f"AND CAST(if_index AS TEXT) = {q(if_index)}")
        port = (names[0]["name"] if names and names[0]["name"] else f"ifIndex {if_index}")
    battery = None
    if assets:
        q = Sql()
        readings = await q.fetch(
            "SELECT value FROM inc_check_state WHERE \"key\" = 'power:minutes_remaining' "
            f"AND asset IN {q.ints(a['asset_id'] for a in assets)} AND value IS NOT NULL "
            "ORDER BY last_observed_at DESC")
        for r in readings:
            try:
                minutes = float(r["value"])
            except (TypeError, ValueError):
                continue
            if 0 <= minutes < 65535:  # 65535 and up: "no estimate"
                battery = f"{minutes:g}"
                break
    return {
        "client_name": ", ".join(clients) or None,
        "asset": root["name"] if root else None,
        "port": port,
        "site": site,
        "incident_number": str(incident["id"]),
        "sla_due": _when(incident["resolution_due_at"], incident["timezone"]) if incident["resolution_due_at"] else None,
        "battery_minutes": battery,
    }


def _given(values: Any) -> dict[str, str]:
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise Invalid("values must be an object of placeholder -> text", field="values")
    for name, value in values.items():
        if name not in PLACEHOLDERS:
            raise Invalid(f"values: unknown placeholder {name!r}; known: {', '.join(PLACEHOLDERS)}", field="values")
        if not isinstance(value, (str, int, float)):
            raise Invalid(f"values.{name} must be text", field=name)
    return {k: str(v) for k, v in values.items() if str(v).strip()}


async def render(viewer: Viewer, incident_id: int, reply_id: int, values: Any = None) -> dict:
    """The reply filled for the incident: {"body", "visibility", "values"}; 422 naming a missing placeholder."""
    _require_staff(viewer)
    row = await _row(reply_id)
    known = {**await incident_values(incident_id), **_given(values)}
    body = fill(row["body"], known)
    return {"reply_id": reply_id, "incident_id": incident_id, "body": body, "visibility": row["visibility"],
            "values": {n: known.get(n) for n in placeholders_of(row["body"])}}


async def send(viewer: Viewer, incident_id: int, reply_id: int, values: Any = None) -> dict:
    """Fill the reply, post it as a comment on the incident and count the use (all or nothing)."""
    filled = await render(viewer, incident_id, reply_id, values)
    async with atomic():
        incident = await services.comment(viewer, incident_id, filled["body"], filled["visibility"])
        q = Sql()
        await q.fetch(f"UPDATE inc_canned_reply SET uses = uses + 1 WHERE id = {q(reply_id)}")
    return incident
