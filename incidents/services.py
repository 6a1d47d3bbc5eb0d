"""Incident service layer: reading, the workflow (transitions, comments,
escalation), manual incidents, affected assets/clients, the timeline, SLA due
times, and the notification outbox.

Every public function takes the `Viewer`. Writes run in `atomic()`: a rejected
request changes nothing. The engine (incidents.engine) uses the `store_*`
helpers below inside its own transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import validation
from database.transactions import atomic, reading
from accounts.services import audit
from accounts.errors import Conflict, Forbidden, Invalid, NotFound
from accounts.viewer import Viewer
from cmdb.impact import impact_of
from cmdb.tables import Asset, Client
from database import rawsql
from incidents import sla_store, workflow
from database.rawsql import Sql
from piccolo.columns.combination import WhereRaw
from incidents.tables import (
    AffectedAsset,
    AffectedClient,
    Incident,
    Notification,
    TimelineEntry,
)

UTC = dt.timezone.utc
SYSTEM_AUTHOR = "system"
ENGINE_AUTHOR = "engine"
#: A client's impact on an incident: its equipment is hit, or only at risk (fed by a source in trouble).
DOWN, AT_RISK = "down", "at_risk"
#: Roles of affected assets, weakest first: a link is only ever strengthened.
ROLES = ("at_risk", "impacted", "root")


def utcnow() -> dt.datetime:
    return dt.datetime.now(UTC)


def aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _require_staff(viewer: Viewer) -> None:
    if not viewer.is_staff:
        raise Forbidden("only staff may change incidents")


# ---------------------------------------------------------------- timeline


_ENTRY_COLUMNS = ("incident", "at", "kind", "visibility", "author", "author_user_id", "body", "data")
_ENTRY_KINDS = ("int", "time", "text", "text", "text", "int", "text", "json")


async def add_entry(
    incident_id: int,
    kind: str,
    body: str,
    *,
    at: dt.datetime,
    visibility: str = "internal",
    author: str = SYSTEM_AUTHOR,
    author_user_id: int | None = None,
    data: dict | None = None,
) -> None:
    """Append to the timeline (it is never updated nor deleted)."""
    await rawsql.insert("inc_timeline", _ENTRY_COLUMNS, _ENTRY_KINDS, [
        (incident_id, at, kind, visibility, author, author_user_id, body, json.dumps(data or {}, default=str))])


async def add_entries(incident_id: int, entries: Sequence[tuple[str, str, dict]], *, at: dt.datetime,
                      author: str = SYSTEM_AUTHOR, visibility: str = "internal") -> None:
    """Append several (kind, body, data) entries in one statement."""
    await rawsql.insert("inc_timeline", _ENTRY_COLUMNS, _ENTRY_KINDS, [
        (incident_id, at, kind, visibility, author, None, body, json.dumps(data or {}, default=str))
        for kind, body, data in entries])


# ---------------------------------------------------------------- notifications (outbox)


async def enqueue(incident_id: int, event: str, at: dt.datetime, *, public: bool, extra: dict | None = None) -> None:
    """Write an outbox row in the caller's transaction; incidents.notify fans it
    out to webhooks and e-mail after commit. A failing receiver never touches the incident."""
    payload = await incident_summary(incident_id)
    payload = {"event": event, "at": at.isoformat(), "incident": payload, **(extra or {})}
    await Notification.insert(
        Notification(incident=incident_id, event=event, public=public, payload=json.dumps(payload, default=str),
                     created_at=at)
    )


async def incident_summary(incident_id: int) -> dict:
    row = await Incident.select().where(Incident.id == incident_id).first()
    assets, clients = await _links([incident_id])
    return _serialise(row, assets.get(incident_id, []), clients.get(incident_id, []))


# ---------------------------------------------------------------- storage helpers (engine + manual)


async def store_incident(
    *,
    fingerprint: str,
    title: str,
    category: str,
    priority: str,
    source: str,
    at: dt.datetime,
    description: str = "",
    created_by: str = ENGINE_AUTHOR,
    parent_id: int | None = None,
) -> int:
    """Insert an open incident. Raises the engine's unique violation when an
    open incident with this fingerprint exists (the partial unique index)."""
    rows = await Incident.insert(
        Incident(
            fingerprint=fingerprint,
            title=title[:300],
            description=description,
            category=category,
            priority=priority,
            status=workflow.NEW,
            line="L1",
            line_since=at,
            source=source,
            opened_at=at,
            created_by=created_by,
            parent_id=parent_id,
            updated_at=at,
        )
    ).returning(Incident.id)
    return rows[0]["id"]


async def store_assets(incident_id: int, roles: dict[int, str], at: dt.datetime,
                       known: dict[int, tuple[str, int | None]] | None = None) -> list[int]:
    """Link assets with their role (root > impacted > at_risk: never weakened). `known` maps
    asset_id -> (name, site_id) when the caller has them; else they are read
    from the CMDB. Returns the asset ids newly linked."""
    if not roles:
        return []
    q = Sql()
    existing = {
        r["asset_id"]: r["role"]
        for r in await q.fetch("SELECT asset_id, role FROM inc_affected_asset "
                               f"WHERE incident = {q(incident_id)} AND asset_id IN {q.ints(roles)}")
    }
    missing = [a for a in roles if a not in existing]
    info = dict(known or {})
    lookup = [a for a in missing if a not in info]
    if lookup:
        q = Sql()
        for r in await q.fetch(f"SELECT id, name, site FROM cmdb_asset WHERE id IN {q.ints(lookup)}"):
            info[r["id"]] = (r["name"], r["site"])
    # A concurrent writer may have linked one meanwhile: root still wins.
    await rawsql.insert(
        "inc_affected_asset", ("incident", "asset_id", "name", "site_id", "role", "added_at"),
        ("int", "int", "text", "int", "text", "time"),
        [(incident_id, a, info.get(a, (f"asset {a}", None))[0], info.get(a, ("", None))[1], roles[a], at)
         for a in missing],
        "ON CONFLICT (incident, asset_id) DO UPDATE SET role = excluded.role WHERE excluded.role = 'root'")
    strength = {r: n for n, r in enumerate(ROLES)}
    for role in ROLES[1:]:
        upgrade = [a for a, was in existing.items() if roles[a] == role and strength.get(was, 1) < strength[role]]
        if upgrade:
            q = Sql()
            await q.fetch(f"UPDATE inc_affected_asset SET role = {q(role)} WHERE incident = {q(incident_id)} "
                          f"AND asset_id IN {q.ints(upgrade)}")
    return missing


async def store_checks(incident_id: int, checks: Iterable[tuple[int, str]]) -> None:
    await rawsql.insert("inc_incident_check", ("incident", "asset_id", "key"), ("int", "int", "text"),
                        [(incident_id, a, k) for a, k in sorted(set(checks))],
                        'ON CONFLICT (incident, asset_id, "key") DO NOTHING')


async def store_clients(incident_id: int, client_ids: Iterable[int], at: dt.datetime, *, impact: str = DOWN
                        ) -> list[int]:
    """Link clients (a snapshot of their names) as `down` or `at_risk`; a client at
    risk whose equipment is now hit becomes `down` (never the other way).
    Returns the ones newly linked or newly down."""
    wanted = {c for c in client_ids if c is not None}
    if not wanted:
        return []
    q = Sql()
    have = {r["client_id"]: r["impact"] for r in await q.fetch(
        f"SELECT client_id, impact FROM inc_affected_client WHERE incident = {q(incident_id)} "
        f"AND client_id IN {q.ints(wanted)}")}
    new = sorted(wanted - set(have))
    if new:
        q = Sql()
        names = {r["id"]: r["name"] for r in await q.fetch(f"SELECT id, name FROM cmdb_client WHERE id IN {q.ints(new)}")}
        await rawsql.insert(
            "inc_affected_client", ("incident", "client_id", "name", "added_at", "impact"),
            ("int", "int", "text", "time", "text"),
            [(incident_id, c, names.get(c, f"client {c}"), at, impact) for c in new],
            "ON CONFLICT (incident, client_id) DO NOTHING")
    hit = sorted(c for c, was in have.items() if impact == DOWN and was == AT_RISK)
    if hit:
        q = Sql()
        await q.fetch(f"UPDATE inc_affected_client SET impact = {q(DOWN)} WHERE incident = {q(incident_id)} "
                      f"AND client_id IN {q.ints(hit)}")
    return new + hit


async def set_status(incident_id: int, from_status: str, to_status: str, at: dt.datetime, *,
                     author: str, author_user_id: int | None = None, reason: str = "",
                     fields: dict | None = None) -> None:
    """Move an incident (compare-and-set on the status, so a concurrent change
    is a conflict rather than a lost update) and record it on the timeline."""
    values: dict[Any, Any] = {Incident.status: to_status, Incident.updated_at: at}
    for name, value in (fields or {}).items():
        values[getattr(Incident, name)] = value
    updated = await Incident.update(values).where(
        (Incident.id == incident_id) & (Incident.status == from_status)
    ).returning(Incident.id)
    if not updated:
        raise Conflict(f"incident {incident_id} changed meanwhile; reload it and try again", field="to")
    body = f"status {from_status} → {to_status}" + (f": {reason}" if reason else "")
    await add_entry(incident_id, "status", body, at=at, visibility="public", author=author,
                    author_user_id=author_user_id, data={"from": from_status, "to": to_status})
    await refresh_sla(incident_id, at)


# ---------------------------------------------------------------- SLA


async def refresh_sla(incident_id: int, now: dt.datetime) -> None:
    """Recompute the incident's plan, due times and breach flags from its
    clients, priority and status history; record new breaches and notify them."""
    rows = await rawsql.fetch(
        "SELECT priority, status, opened_at, first_response_at, resolved_at, response_breached, resolution_breached "
        "FROM inc_incident WHERE id = {}", incident_id)
    if not rows:
        return
    row = rows[0]
    client_ids = [r["client_id"] for r in await rawsql.fetch(
        "SELECT client_id FROM inc_affected_client WHERE incident = {}", incident_id)]
    result = await _due_times(incident_id, row, client_ids, now)
    values = {
        Incident.sla_plan_id: result.plan_id,
        Incident.response_due_at: result.response_due_at,
        Incident.resolution_due_at: result.resolution_due_at,
        Incident.response_breached: result.response_breached,
        Incident.resolution_breached: result.resolution_breached,
    }
    await Incident.update(values).where(Incident.id == incident_id)
    for kind, was, now_flag, due in (
        ("response", row["response_breached"], result.response_breached, result.response_due_at),
        ("resolution", row["resolution_breached"], result.resolution_breached, result.resolution_due_at),
    ):
        if now_flag and not was:
            await add_entry(incident_id, "sla", f"SLA {kind} time breached (due {due:%Y-%m-%d %H:%M} UTC)",
                            at=now, data={"breach": kind, "due": due})
            await enqueue(incident_id, "breached", now, public=False, extra={"breach": kind})


async def _due_times(incident_id: int, row: dict, client_ids: Sequence[int], now: dt.datetime) -> sla_store.DueTimes:
    """Due times and breaches of an incident row under the most demanding plan of `client_ids`."""
    history = [
        (aware(r["at"]), json.loads(r["data"] or "{}").get("to", ""))
        for r in await rawsql.fetch(
            "SELECT at, data FROM inc_timeline WHERE incident = {} AND kind = 'status' ORDER BY at, id", incident_id)
    ]
    return await sla_store.due_times(
        client_ids=client_ids,
        priority=row["priority"],
        opened_at=aware(row["opened_at"]),
        first_response_at=aware(row["first_response_at"]),
        resolved_at=aware(row["resolved_at"]) if row["status"] in (workflow.RESOLVED, workflow.CLOSED) else None,
        status_history=history,
        now=now,
    )


async def due_times_for_client(row: dict, client_id: int, now: dt.datetime) -> sla_store.DueTimes:
    """The incident (a row of inc_incident) measured against one client's own plan:
    what that client's SLA promises, whatever the other affected clients' plans are."""
    return await _due_times(row["id"], row, [client_id], now)


async def check_breaches(now: dt.datetime) -> int:
    """Timer: flag open incidents whose due times passed. Returns how many changed."""
    candidates = await Incident.select(Incident.id).where(
        Incident.status.is_in(list(workflow.OPEN_STATUSES))
        & (
            ((Incident.response_breached == False) & (Incident.response_due_at <= now))  # noqa: E712
            | ((Incident.resolution_breached == False) & (Incident.resolution_due_at <= now))  # noqa: E712
        )
    )
    for r in candidates:
        async with atomic():
            await refresh_sla(r["id"], now)
    return len(candidates)


# ---------------------------------------------------------------- reading


def _serialise(row: dict, assets: list[dict], clients: list[dict]) -> dict:
    status = row["status"]
    return {
        "id": row["id"],
        "fingerprint": row["fingerprint"],
        "title": row["title"],
        "description": row["description"],
        "category": row["category"],
        "priority": row["priority"],
        "status": status,
        "allowed_transitions": list(workflow.allowed_transitions(status)),
        "line": row["line"],
        "line_since": aware(row["line_since"]),
        "assignee": row["assignee"],
        "source": row["source"],
        "opened_at": aware(row["opened_at"]),
        "acknowledged_at": aware(row["acknowledged_at"]),
        "first_response_at": aware(row["first_response_at"]),
        "resolved_at": aware(row["resolved_at"]),
        "closed_at": aware(row["closed_at"]),
        "self_healed": row["self_healed"],
        "flapping": row["flapping"],
        "parent_id": row["parent_id"],
        "sla_plan_id": row["sla_plan_id"],
        "response_due_at": aware(row["response_due_at"]),
        "resolution_due_at": aware(row["resolution_due_at"]),
        "response_breached": row["response_breached"],
        "resolution_breached": row["resolution_breached"],
        "battery_exhausted_at": aware(row["battery_exhausted_at"]),
        "affected_assets": assets,
        "affected_clients": clients,
        "clients_down": sum(1 for c in clients if c["impact"] == DOWN),
        "clients_at_risk": sum(1 for c in clients if c["impact"] == AT_RISK),
    }


async def _links(ids: list[int]) -> tuple[dict[int, list[dict]], dict[int, list[dict]]]:
    assets: dict[int, list[dict]] = {i: [] for i in ids}
    clients: dict[int, list[dict]] = {i: [] for i in ids}
    if not ids:
        return assets, clients
    qa, qc = Sql(), Sql()
    asset_rows, client_rows = await rawsql.gather_reads(
        qa.fetch(f"SELECT incident, asset_id, name, role, site_id FROM {AffectedAsset._meta.tablename}"
                 f" WHERE incident IN {qa.ints(ids)} ORDER BY id"),
        qc.fetch(f"SELECT incident, client_id, name, impact FROM {AffectedClient._meta.tablename}"
                 f" WHERE incident IN {qc.ints(ids)} ORDER BY id"),
    )
    for r in asset_rows:
        assets[r["incident"]].append(
            {"asset_id": r["asset_id"], "name": r["name"], "role": r["role"], "site_id": r["site_id"]}
        )
    for r in client_rows:
        clients[r["incident"]].append({"client_id": r["client_id"], "name": r["name"], "impact": r["impact"]})
    return assets, clients


def _of_client() -> str:
    """`id IN` this, with the client id as its one `{}`: the incidents a client is affected by."""
    return f"(SELECT incident FROM {AffectedClient._meta.tablename} WHERE client_id = {{}})"


def _scoped_client(viewer: Viewer) -> int | None:
    """The client whose incidents are all the viewer may see (None: staff see every one)."""
    if viewer.is_staff:
        return None
    if viewer.is_client and viewer.client_id is not None:
        return viewer.client_id
    raise Forbidden("incidents are for staff and client users")


def _visible_to(viewer: Viewer):
    """A where-clause limiting incidents to what the viewer may see (None = everything)."""
    client_id = _scoped_client(viewer)
    if client_id is None:
        return None
    return WhereRaw(f"{Incident._meta.tablename}.id IN {_of_client()}", client_id)


@dataclass(frozen=True)
class IncidentFilter:
    status: str | None = None  # a status, or "open" = every status before resolved
    client_id: int | None = None
    asset_id: int | None = None
    site_id: int | None = None
    category: str | None = None


def _where(q: Sql, f: IncidentFilter, viewer: Viewer) -> str:
    """The WHERE of an incident list (the filter and what the viewer may see) as
    plain SQL on `Sql` q: the lists are what every desk reads most."""
    clauses = []
    if f.status:
        if f.status == "open":
            clauses.append(f"status IN ({rawsql.literals(workflow.OPEN_STATUSES)})")
        elif f.status in workflow.STATUSES:
            clauses.append(f"status = {q(f.status)}")
        else:
            raise Invalid(f"status must be 'open' or one of {', '.join(workflow.STATUSES)}", field="status")
    if f.category:
        if f.category not in workflow.CATEGORIES:
            raise Invalid(f"category must be one of {', '.join(workflow.CATEGORIES)}", field="category")
        clauses.append(f"category = {q(f.category)}")
    if f.client_id is not None:
        clauses.append("id IN " + _of_client().format(q(f.client_id)))
    assets = AffectedAsset._meta.tablename
    if f.asset_id is not None:
        clauses.append(f"id IN (SELECT incident FROM {assets} WHERE asset_id = {q(f.asset_id)})")
    if f.site_id is not None:
        clauses.append(f"id IN (SELECT incident FROM {assets} WHERE site_id = {q(f.site_id)})")
    scoped = _scoped_client(viewer)
    if scoped is not None:
        clauses.append("id IN " + _of_client().format(q(scoped)))
    return " WHERE " + " AND ".join(clauses) if clauses else ""


#: What an incident list may be sorted by (`-` first for descending); default: newest first.
SORTS = ("opened_at", "priority", "status", "title", "id")


def _order(sort: str | None) -> str:
    if not sort:
        return " ORDER BY opened_at DESC, id DESC"
    name = sort.lstrip("-")
    if name not in SORTS:
        raise Invalid(f"sort must be one of {', '.join(SORTS)} (a leading '-' sorts descending)", field="sort")
    return f" ORDER BY {name} {'DESC' if sort.startswith('-') else 'ASC'}, id DESC"


async def list_incidents(viewer: Viewer, f: IncidentFilter, *, limit: int, offset: int,
                         sort: str | None = None, count: bool = True) -> tuple[int, list[dict]]:
    """A page of incidents and how many match (`count=False`: the page's own length)."""
    order = _order(sort)
    async with reading():
        q = Sql()
        where = _where(q, f, viewer)
        rows = await q.rows(f"SELECT {rawsql.columns(Incident)} FROM {Incident._meta.tablename}{where}{order}"
                            f" LIMIT {q(limit)} OFFSET {q(offset)}")
        (assets, clients), total = await rawsql.gather_reads(
            _links([r["id"] for r in rows]), _count(f, viewer) if count and (offset or len(rows) >= limit) else _none())
    return len(rows) if total is None else total, [_serialise(r, assets[r["id"]], clients[r["id"]]) for r in rows]


async def _count(f: IncidentFilter, viewer: Viewer) -> int:
    q = Sql()
    return (await q.fetch(f"SELECT COUNT(*) AS n FROM {Incident._meta.tablename}{_where(q, f, viewer)}"))[0]["n"]


async def _none() -> None:
    return None


async def get_incident(viewer: Viewer, incident_id: int) -> dict:
    where = [Incident.id == incident_id]
    scope = _visible_to(viewer)
    if scope is not None:
        where.append(scope)
    row = await Incident.select().where(*where).first()
    if row is None:
        raise NotFound(f"no incident {incident_id}", field="id")
    assets, clients = await _links([incident_id])
    out = _serialise(row, assets[incident_id], clients[incident_id])
    timeline_q = TimelineEntry.select(
        TimelineEntry.id, TimelineEntry.at, TimelineEntry.kind, TimelineEntry.visibility, TimelineEntry.author,
        TimelineEntry.body, TimelineEntry.data,
    ).where(TimelineEntry.incident == incident_id)
    if not viewer.is_staff:
        timeline_q = timeline_q.where(TimelineEntry.visibility == "public")
    out["timeline"] = [
        {
            "id": t["id"],
            "at": aware(t["at"]),
            "kind": t["kind"],
            "visibility": t["visibility"],
            "author": t["author"],
            "body": t["body"],
            "data": json.loads(t["data"] or "{}"),
        }
        for t in await timeline_q.order_by(TimelineEntry.at).order_by(TimelineEntry.id)
    ]
    return out


async def client_card_incidents(viewer: Viewer, client_id: int, *, history: int = 20) -> dict:
    """The client card's incidents section: every open incident of the client
    and the latest `history` resolved or closed ones (newest first)."""
    if viewer.is_client and viewer.client_id != client_id:
        raise NotFound(f"no client {client_id}", field="client_id")
    (_, open_rows), history_rows = await rawsql.gather_reads(
        list_incidents(viewer, IncidentFilter(status="open", client_id=client_id), limit=500, offset=0, count=False),
        _history(viewer, client_id, history))
    return {"open_incidents": open_rows, "incident_history": history_rows}


async def _history(viewer: Viewer, client_id: int, history: int) -> list[dict]:
    q = Sql()
    where = _where(q, IncidentFilter(client_id=client_id), viewer)
    rows = await q.rows(
        f"SELECT {rawsql.columns(Incident)} FROM {Incident._meta.tablename}{where}"
        f" AND status IN ({rawsql.literals((workflow.RESOLVED, workflow.CLOSED))})"
        f" ORDER BY opened_at DESC, id DESC LIMIT {q(history)}")
    assets, clients = await _links([r["id"] for r in rows])
    return [_serialise(r, assets[r["id"]], clients[r["id"]]) for r in rows]


async def _load_for_update(incident_id: int) -> dict:
    row = await Incident.select().where(Incident.id == incident_id).first()
    if row is None:
        raise NotFound(f"no incident {incident_id}", field="id")
    return row


# ---------------------------------------------------------------- workflow


async def transition(viewer: Viewer, incident_id: int, to: str, *, now: dt.datetime | None = None,
                     reason: str = "") -> dict:
    _require_staff(viewer)
    now = now or utcnow()
    if to not in workflow.STATUSES:
        raise Invalid(f"'to' must be one of {', '.join(workflow.STATUSES)}", field="to")
    async with atomic():
        row = await _load_for_update(incident_id)
        current = row["status"]
        allowed = workflow.allowed_transitions(current)
        if to not in allowed:
            listed = ", ".join(allowed) or "none (the incident is closed)"
            raise Conflict(
                f"cannot move incident {incident_id} from {current} to {to}; allowed: {listed}",
                field="to",
                errors=[{"field": "to", "message": f"{current} → {to} is not allowed", "allowed": list(allowed)}],
            )
        fields: dict[str, Any] = {"acted": True}
        if to == workflow.ACKNOWLEDGED:
            fields["acknowledged_at"] = now
            if row["first_response_at"] is None:
                fields["first_response_at"] = now
            if row["assignee"] is None:
                fields["assignee"] = viewer.email
        elif to == workflow.IN_PROGRESS and current == workflow.RESOLVED:
            fields.update(resolved_at=None, self_healed=False)
        elif to == workflow.RESOLVED:
            fields.update(resolved_at=now, self_healed=False)
            if row["first_response_at"] is None:
                fields["first_response_at"] = now
        elif to == workflow.CLOSED:
            fields["closed_at"] = now
        if current == workflow.PENDING_CLIENT and workflow.is_open(to):
            # The client answered: the line gets its whole OLA to act on it.
            fields.update(line_since=now, ola_exceeded=False)
        if current == workflow.RESOLVED and workflow.is_open(to):
            # One open incident per fault (the unique index also holds under races).
            other = await Incident.select(Incident.id).where(
                (Incident.fingerprint == row["fingerprint"]) & Incident.status.is_in(list(workflow.OPEN_STATUSES))
            ).first()
            if other is not None:
                raise Conflict(f"incident {other['id']} is open for the same fault; work on that one instead",
                               field="to")
        await set_status(incident_id, current, to, now, author=viewer.email, author_user_id=viewer.user_id,
                         reason=reason, fields=fields)
        await audit(viewer, "update", "incident", incident_id, {"status": [current, to], "reason": reason})
        if to == workflow.RESOLVED:
            await enqueue(incident_id, "resolved", now, public=True)
        elif current == workflow.RESOLVED and to == workflow.IN_PROGRESS:
            await enqueue(incident_id, "reopened", now, public=True)
    return await get_incident(viewer, incident_id)


async def comment(viewer: Viewer, incident_id: int, body: str, visibility: str = "internal", *,
                  now: dt.datetime | None = None) -> dict:
    _require_staff(viewer)
    if visibility not in workflow.VISIBILITIES:
        raise Invalid("visibility must be 'internal' or 'public'", field="visibility")
    await add_comment(viewer, incident_id, body, visibility, now=now or utcnow())
    return await get_incident(viewer, incident_id)


async def add_comment(viewer: Viewer, incident_id: int, body: str, visibility: str, *, now: dt.datetime,
                      client_id: int | None = None) -> None:
    """Append a comment (the caller has checked who may write where).

    A staff public comment is a first response and goes to every affected
    client's contacts. A client's comment (`client_id` set) is public to that
    client and to staff only: it is tagged with the client and mailed to the
    NOC, never to the other clients of a shared incident."""
    body = (body or "").strip()
    if not body:
        raise Invalid("a comment needs a body", field="body")
    if len(body) > 10000:
        raise Invalid("a comment is at most 10000 characters", field="body")
    async with atomic():
        row = await _load_for_update(incident_id)
        if row["status"] == workflow.CLOSED:
            raise Conflict(f"incident {incident_id} is closed; reopen is not possible after closing", field="id")
        await add_entry(incident_id, "comment", body, at=now, visibility=visibility, author=viewer.email,
                        author_user_id=viewer.user_id, data={"client_id": client_id} if client_id else None)
        staff_public = visibility == "public" and client_id is None
        values: dict[Any, Any] = {Incident.updated_at: now}
        if client_id is None:
            values[Incident.acted] = True
        if staff_public and row["first_response_at"] is None:
            values[Incident.first_response_at] = now
        await Incident.update(values).where(Incident.id == incident_id)
        if staff_public:
            await refresh_sla(incident_id, now)
        if visibility == "public":
            await enqueue(incident_id, "comment", now, public=staff_public, extra={"comment": body})
        await audit(viewer, "comment", "incident", incident_id, {"visibility": visibility, "body": body})


async def escalate(viewer: Viewer, incident_id: int, *, now: dt.datetime | None = None, reason: str = "") -> dict:
    """Move the incident to the next support line by hand (the only way to reach vendor)."""
    _require_staff(viewer)
    now = now or utcnow()
    async with atomic():
        row = await _load_for_update(incident_id)
        if not workflow.is_open(row["status"]):
            raise Conflict(f"incident {incident_id} is {row['status']}; only open incidents escalate", field="id")
        target = workflow.next_line(row["line"])
        if target is None:
            raise Conflict(f"incident {incident_id} is already with the vendor", field="line")
        await _move_line(incident_id, row["line"], target, now, author=viewer.email, user_id=viewer.user_id,
                         reason=reason or "escalated by hand", acted=True)
        await audit(viewer, "update", "incident", incident_id, {"line": [row["line"], target], "reason": reason})
    return await get_incident(viewer, incident_id)


async def _move_line(incident_id: int, from_line: str, to_line: str, now: dt.datetime, *, author: str,
                     user_id: int | None, reason: str, acted: bool) -> None:
    values: dict[Any, Any] = {Incident.line: to_line, Incident.line_since: now, Incident.ola_exceeded: False,
                              Incident.updated_at: now}
    if acted:
        values[Incident.acted] = True
    updated = await Incident.update(values).where(
        (Incident.id == incident_id) & (Incident.line == from_line)
    ).returning(Incident.id)
    if not updated:
        raise Conflict(f"incident {incident_id} changed line meanwhile; reload it", field="line")
    await add_entry(incident_id, "escalation", f"escalated {from_line} → {to_line}: {reason}", at=now,
                    author=author, author_user_id=user_id, data={"from": from_line, "to": to_line})
    await enqueue(incident_id, "escalated", now, public=False, extra={"from": from_line, "to": to_line})


async def escalate_due(now: dt.datetime, ola_minutes: Sequence[int]) -> int:
    """Timer: escalate every open incident whose line sat on it past its OLA
    (L1 -> L2 -> L3; L3 past its OLA is flagged once: vendor only by hand)."""
    rows = await Incident.select(
        Incident.id, Incident.status, Incident.line, Incident.line_since, Incident.ola_exceeded
    ).where(Incident.status.is_in(list(workflow.OPEN_STATUSES)) & (Incident.line != "vendor"))
    done = 0
    for r in rows:
        action = workflow.ola_action(r["status"], r["line"], aware(r["line_since"]), r["ola_exceeded"], now,
                                     ola_minutes)
        if action is None:
            continue
        async with atomic():
            deadline = workflow.ola_deadline(r["line"], aware(r["line_since"]), ola_minutes)
            try:
                if action == "escalate":
                    await _move_line(r["id"], r["line"], workflow.AUTO_ESCALATES[r["line"]], now, author=SYSTEM_AUTHOR,
                                     user_id=None, reason=f"{r['line']} OLA ran out at {deadline:%Y-%m-%d %H:%M} UTC",
                                     acted=False)
                else:
                    await Incident.update({Incident.ola_exceeded: True}).where(Incident.id == r["id"])
                    await add_entry(r["id"], "escalation",
                                    f"{r['line']} OLA ran out at {deadline:%Y-%m-%d %H:%M} UTC; "
                                    "escalate to the vendor by hand if needed", at=now)
            except Conflict:
                continue  # moved by someone else meanwhile: nothing to do
        done += 1
    return done


# ---------------------------------------------------------------- manual incidents


@dataclass(frozen=True)
class ManualIncident:
    title: str
    category: str
    client_id: int | None
    source: str
    description: str = ""
    asset_ids: tuple[int, ...] = ()
    priority: str | None = None


async def create_manual(viewer: Viewer, data: ManualIncident, *, now: dt.datetime | None = None) -> dict:
    """Open an incident from a call, e-mail or chat; the client's SLA applies."""
    _require_staff(viewer)
    incident_id = await open_manual(viewer, data, now=now or utcnow())
    return await get_incident(viewer, incident_id)


async def open_manual(viewer: Viewer, data: ManualIncident, *, now: dt.datetime,
                      opening_data: dict | None = None) -> int:
    """Validate and store an incident opened by a person (staff, or a client
    through the portal once the portal has checked the assets are theirs);
    returns its id. `opening_data` is added to the public opening entry's data."""
    problems = validation.Problems()  # every bad field at once
    title = (data.title or "").strip()
    if not title:
        problems.add("title", "an incident needs a title")
    if data.category not in workflow.CATEGORIES:
        problems.add("category", f"category must be one of {', '.join(workflow.CATEGORIES)}")
    if data.source not in workflow.MANUAL_SOURCES:
        problems.add("source", f"source must be one of {', '.join(workflow.MANUAL_SOURCES)}")
    if data.priority is not None and data.priority not in workflow.PRIORITIES:
        problems.add("priority", f"priority must be one of {', '.join(workflow.PRIORITIES)}")
    if data.client_id is not None and not await Client.exists().where(Client.id == data.client_id):
        problems.add("client_id", f"no client {data.client_id}")
    asset_ids = list(dict.fromkeys(data.asset_ids))
    if data.client_id is None and not asset_ids:
        problems.add("client_id", "name the client (client_id) or the equipment (asset_ids)")
    assets = {r["id"]: r for r in await Asset.select(Asset.id, Asset.name, Asset.site, Asset.client).where(
        Asset.id.is_in(asset_ids))} if asset_ids else {}
    unknown = [a for a in asset_ids if a not in assets]
    if unknown:
        problems.add("asset_ids", f"no asset(s) {', '.join(map(str, unknown))}")
    problems.raise_if_any()
    # The clients behind the assets: theirs, and those of everything downstream (power, uplink).
    hit = await impact_of(asset_ids)
    impact = {c["client_id"]: c["impact"] for c in hit["clients"]}
    if data.client_id is not None:
        impact[data.client_id] = DOWN
    client_ids = set(impact)
    at_risk = {c for c, level in impact.items() if level == AT_RISK}
    service_ids = {s["service_id"] for s in hit["services"] if s["impact"] == DOWN}
    priority = data.priority or await sla_store.manual_priority(data.category, client_ids - at_risk, service_ids)
    async with atomic():
        incident_id = await store_incident(
            fingerprint=f"manual:{uuid.uuid4().hex}",
            title=title,
            category=data.category,
            priority=priority,
            source=data.source,
            at=now,
            description=data.description,
            created_by=viewer.email,
        )
        await store_assets(incident_id, {a: "root" for a in asset_ids}, now,
                           {a: (r["name"], r["site"]) for a, r in assets.items()})
        await store_clients(incident_id, client_ids - at_risk, now)
        await store_clients(incident_id, at_risk, now, impact=AT_RISK)
        await add_entry(incident_id, "event",
                        f"opened by {viewer.email} from {data.source}" + (f": {data.description}" if data.description else ""),
                        at=now, visibility="public", author=viewer.email, author_user_id=viewer.user_id,
                        data={"source": data.source, "priority": priority,
                              "priority_given": data.priority is not None, **(opening_data or {})})
        await refresh_sla(incident_id, now)
        await enqueue(incident_id, "opened", now, public=True)
        await audit(viewer, "create", "incident", incident_id, {
            "title": title, "category": data.category, "source": data.source, "priority": priority,
            "client_id": data.client_id, "asset_ids": asset_ids, "description": data.description})
    return incident_id


async def set_priority(viewer: Viewer, incident_id: int, priority: str, *, now: dt.datetime | None = None,
                       reason: str = "") -> dict:
    """Change the priority by hand: the due times are recomputed from the history."""
    _require_staff(viewer)
    now = now or utcnow()
    if priority not in workflow.PRIORITIES:
        raise Invalid(f"priority must be one of {', '.join(workflow.PRIORITIES)}", field="priority")
    async with atomic():
        row = await _load_for_update(incident_id)
        if row["priority"] != priority:
            await change_priority(incident_id, row["priority"], priority, now, author=viewer.email,
                                  user_id=viewer.user_id, reason=reason)
            await Incident.update({Incident.acted: True}).where(Incident.id == incident_id)
            await audit(viewer, "update", "incident", incident_id,
                        {"priority": [row["priority"], priority], "reason": reason})
    return await get_incident(viewer, incident_id)


async def change_priority(incident_id: int, old: str, new: str, now: dt.datetime, *, author: str,
                          user_id: int | None = None, reason: str = "") -> None:
    await Incident.update({Incident.priority: new, Incident.updated_at: now}).where(Incident.id == incident_id)
    await add_entry(incident_id, "priority", f"priority {old} → {new}" + (f": {reason}" if reason else ""),
                    at=now, author=author, author_user_id=user_id, data={"from": old, "to": new})
    await refresh_sla(incident_id, now)


async def assign(viewer: Viewer, incident_id: int, assignee: str | None = None, *,
                 now: dt.datetime | None = None) -> dict:
    """Give the incident to someone (by default the viewer: "assign to me"), with a timeline entry."""
    _require_staff(viewer)
    now = now or utcnow()
    assignee = (assignee or viewer.email).strip().lower()
    if not assignee or len(assignee) > 254:
        raise Invalid("assignee must be an e-mail of at most 254 characters", field="assignee")
    async with atomic():
        row = await _load_for_update(incident_id)
        if not workflow.is_open(row["status"]):
            raise Conflict(f"incident {incident_id} is {row['status']}; only open incidents are assigned", field="id")
        if row["assignee"] != assignee:
            await Incident.update({Incident.assignee: assignee, Incident.acted: True, Incident.updated_at: now}) \
                .where(Incident.id == incident_id)
            await add_entry(incident_id, "assignment", f"assigned to {assignee}", at=now, author=viewer.email,
                            author_user_id=viewer.user_id, data={"from": row["assignee"], "to": assignee})
            await audit(viewer, "update", "incident", incident_id, {"assignee": [row["assignee"], assignee]})
    return await get_incident(viewer, incident_id)
