"""KPI reports from storage: loads incident histories set-based (a handful of
statements per few thousand incidents, never one per incident), measures them
with the pure incidents.kpi, and keeps the facts of resolved and closed
incidents in inc_kpi_fact so a report over 100,000 incidents re-reads facts
instead of re-measuring histories. A fact is valid while its incident's
`updated_at` and SLA plan are unchanged (every status move, comment,
escalation and priority change bumps `updated_at`). Open incidents are always
measured live (their breach and age depend on now).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass, fields
from typing import Any, Iterable, Mapping, Sequence

from accounts.dbutil import atomic
from accounts.errors import Forbidden, Invalid
from accounts.viewer import Viewer
from incidents import kpi, rawsql, sla, workflow
from incidents.rawsql import Sql, as_time

UTC = dt.timezone.utc
CHUNK = 4000
#: Incidents of a cohort measured per chunk when their facts are missing or stale.
FACT_COLUMNS = tuple(f.name for f in fields(kpi.Facts))
_FACT_KINDS = {
    "id": "int", "opened_at": "time", "resolved_at": "time", "plan_id": "int", "self_healed": "bool",
    "fcr": "bool", "resolutions": "int", "reopens": "int", "response_breached": "bool",
    "resolution_breached": "bool", **{n: "float" for n in ("ttfr", "ttfr_bus", "tta", "tta_bus", "ttr", "ttr_bus",
                                                            "aht", "aht_bus")},
}
_CLOSED = (workflow.RESOLVED, workflow.CLOSED)
_FAR = dt.datetime(9999, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Query:
    start: dt.datetime
    end: dt.datetime
    group_by: str | None = None
    client_id: int | None = None
    category: str | None = None
    bucket: str = "day"


def parse_query(*, from_: str | None, to: str | None, group_by: str | None, client_id: int | None,
                category: str | None, bucket: str | None, now: dt.datetime) -> Query:
    """Validate the report's parameters (422 naming the field). Dates are UTC
    days (`to` inclusive) or ISO instants with an offset; default: the last 30 days."""

    def instant(value: str | None, name: str, default: dt.datetime, day_end: bool) -> dt.datetime:
        if not value:
            return default
        try:
            if len(value) == 10:
                day = dt.date.fromisoformat(value)
                return dt.datetime.combine(day + dt.timedelta(days=1 if day_end else 0), dt.time(), UTC)
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise Invalid(f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time with offset", field=name) from None
        if parsed.tzinfo is None:
            raise Invalid(f"{name} needs a UTC offset (e.g. 2026-11-01T00:00:00+00:00)", field=name)
        return parsed.astimezone(UTC)

    end = instant(to, "to", now, True)
    start = instant(from_, "from", end - dt.timedelta(days=30), False)
    if start >= end:
        raise Invalid("from must be before to", field="from")
    if end - start > dt.timedelta(days=3660):
        raise Invalid("the period may span at most ten years", field="from")
    if group_by and group_by not in kpi.GROUP_BYS:
        raise Invalid(f"group_by must be one of {', '.join(kpi.GROUP_BYS)}", field="group_by")
    if category and category not in workflow.CATEGORIES:
        raise Invalid(f"category must be one of {', '.join(workflow.CATEGORIES)}", field="category")
    if bucket and bucket not in kpi.BUCKETS:
        raise Invalid(f"bucket must be one of {', '.join(kpi.BUCKETS)}", field="bucket")
    if client_id is not None and client_id < 1:
        raise Invalid("client_id must be a positive id", field="client_id")
    return Query(start, end, group_by or None, client_id, category or None, bucket or "day")


# ---------------------------------------------------------------- histories


def _filters(q: Sql, query: Query, alias: str = "i") -> str:
    out = ""
    if query.category:
        out += f" AND {alias}.category = {q(query.category)}"
    if query.client_id is not None:
        out += f" AND {alias}.id IN (SELECT incident FROM inc_affected_client WHERE client_id = {q(query.client_id)})"
    return out


async def _plans() -> dict[int, sla.SlaPlan]:
    return {r["id"]: sla.SlaPlan.from_record(dict(r)) for r in await rawsql.fetch("SELECT * FROM inc_sla_plan")}


async def _client_users() -> set[int]:
    return {r["id"] for r in await rawsql.fetch("SELECT id FROM rc_user WHERE role = 'client'")}


async def load_histories(ids: Sequence[int], plans: Mapping[int, sla.SlaPlan] | None = None,
                         client_users: set[int] | None = None) -> list[tuple[kpi.History, dt.datetime, int | None]]:
    """(History, updated_at, plan_id) for each id, in four statements."""
    if not ids:
        return []
    plans = await _plans() if plans is None else plans
    client_users = await _client_users() if client_users is None else client_users
    q = Sql()
    rows = await q.fetch(
        "SELECT id, opened_at, category, priority, source, status, line, self_healed, sla_plan_id, updated_at "
        f"FROM inc_incident WHERE id IN {q.ints(ids)}")
    entries: dict[int, list[kpi.Entry]] = {r["id"]: [] for r in rows}
    q = Sql()
    for r in await q.fetch(
            "SELECT incident, at, kind, visibility, author, author_user_id, data FROM inc_timeline "
            f"WHERE incident IN {q.ints(ids)} AND kind IN ('status', 'escalation', 'comment')"):
        kind = r["kind"]
        if kind == "comment":
            staff = r["author"] not in kpi.MACHINE_AUTHORS and r["author_user_id"] not in client_users
            entries[r["incident"]].append(kpi.Entry(as_time(r["at"]), kind, public=r["visibility"] == "public",
                                                    staff=staff))
        else:
            data = r["data"]
            data = json.loads(data) if isinstance(data, str) else (data or {})
            entries[r["incident"]].append(kpi.Entry(as_time(r["at"]), kind, to=str(data.get("to") or ""),
                                                    frm=str(data.get("from") or "")))
    links = await _call_links([r["id"] for r in rows if r["source"] not in kpi.AUTO_SOURCES])
    out = []
    for r in rows:
        plan = plans.get(r["sla_plan_id"]) if r["sla_plan_id"] is not None else None
        out.append((kpi.History(
            id=r["id"], opened_at=as_time(r["opened_at"]), category=r["category"], priority=r["priority"],
            source=r["source"], status=r["status"], line=r["line"], entries=tuple(entries[r["id"]]),
            self_healed=bool(r["self_healed"]), plan=plan, linked_to=tuple(links.get(r["id"], ())),
        ), as_time(r["updated_at"]), r["sla_plan_id"]))
    return out


async def _call_links(call_ids: Sequence[int]) -> dict[int, list[int]]:
    """Client calls -> the auto-opened incidents they are linked to (kpi.DEFINITIONS["proactive_pct"]):
    the call's parent, or one sharing an affected asset while both were open."""
    if not call_ids:
        return {}
    q = Sql()  # (each placeholder once: SQLite's are positional)
    rows = await q.fetch(
        "SELECT m.id AS call_id, a.id AS auto_id FROM inc_incident m JOIN inc_incident a ON a.id = m.parent_id "
        f"WHERE m.id IN {q.ints(call_ids)} AND a.source IN ('probe', 'trap') "
        "UNION "
        "SELECT m.id, a.id FROM inc_affected_asset ma "
        "JOIN inc_affected_asset aa ON aa.asset_id = ma.asset_id AND aa.incident <> ma.incident "
        "JOIN inc_incident a ON a.id = aa.incident "
        "JOIN inc_incident m ON m.id = ma.incident "
        f"WHERE ma.incident IN {q.ints(call_ids)} AND a.source IN ('probe', 'trap') "
        f"AND m.opened_at < COALESCE(a.resolved_at, {q(_FAR)}) AND a.opened_at < COALESCE(m.resolved_at, {q(_FAR)})")
    out: dict[int, list[int]] = {}
    for r in rows:
        out.setdefault(r["call_id"], []).append(r["auto_id"])
    return out


# ---------------------------------------------------------------- facts


async def refresh_facts(query: Query, now: dt.datetime) -> int:
    """Measure and keep the facts of the period's resolved/closed incidents
    whose facts are missing or stale. Returns how many were (re)measured."""
    q = Sql()
    stale = [r["id"] for r in await q.fetch(
        "SELECT i.id FROM inc_incident i LEFT JOIN inc_kpi_fact f ON f.incident = i.id "
        f"WHERE i.opened_at >= {q(query.start)} AND i.opened_at < {q(query.end)} "
        f"AND i.status IN ('resolved', 'closed') "
        "AND (f.incident IS NULL OR f.stamp <> i.updated_at OR COALESCE(f.plan_id, 0) <> COALESCE(i.sla_plan_id, 0))"
        + _filters(q, query))]
    if not stale:
        return 0
    plans, client_users = await _plans(), await _client_users()
    for i in range(0, len(stale), CHUNK):
        chunk = stale[i:i + CHUNK]
        measured = [(kpi.facts(h, now), stamp) for h, stamp, _ in await load_histories(chunk, plans, client_users)]
        async with atomic():
            q = Sql()
            await q.fetch(f"DELETE FROM inc_kpi_fact WHERE incident IN {q.ints(chunk)}")
            columns = ("incident", "stamp", *FACT_COLUMNS[1:])
            kinds = ("int", "time", *(_FACT_KINDS.get(c, "text") for c in FACT_COLUMNS[1:]))
            await rawsql.insert("inc_kpi_fact", columns, kinds,
                                [(f.id, stamp, *(getattr(f, c) for c in FACT_COLUMNS[1:])) for f, stamp in measured],
                                "ON CONFLICT (incident) DO NOTHING")  # a concurrent report measured it too
    return len(stale)


def _fact(r: Mapping[str, Any]) -> kpi.Facts:
    values = {c: r[c] for c in FACT_COLUMNS[1:]}
    values["opened_at"] = as_time(values["opened_at"])
    values["resolved_at"] = as_time(values["resolved_at"])
    for name in ("self_healed", "fcr", "response_breached", "resolution_breached"):
        if values[name] is not None:
            values[name] = bool(values[name])
    return kpi.Facts(id=r["incident"], **values)


async def _stored_facts(query: Query) -> list[kpi.Facts]:
    q = Sql()
    cols = ", ".join(f'f."{c}"' for c in ("incident", *FACT_COLUMNS[1:]))
    where = f"f.opened_at >= {q(query.start)} AND f.opened_at < {q(query.end)}"
    if query.category:
        where += f" AND f.category = {q(query.category)}"
    if query.client_id is not None:
        where += f" AND f.incident IN (SELECT incident FROM inc_affected_client WHERE client_id = {q(query.client_id)})"
    # Only facts still valid: the incident is resolved/closed with the same stamp.
    rows = await q.fetch(
        f"SELECT {cols} FROM inc_kpi_fact f JOIN inc_incident i ON i.id = f.incident AND i.updated_at = f.stamp "
        f"WHERE {where} AND i.status IN ('resolved', 'closed')")
    return [_fact(r) for r in rows]


async def _open_facts(query: Query, now: dt.datetime) -> list[kpi.Facts]:
    q = Sql()
    ids = [r["id"] for r in await q.fetch(
        f"SELECT i.id FROM inc_incident i WHERE i.status NOT IN ('resolved', 'closed')" + _filters(q, query))]
    out = []
    for i in range(0, len(ids), CHUNK):
        out.extend(kpi.facts(h, now) for h, _, _ in await load_histories(ids[i:i + CHUNK]))
    return out


async def _resolved_times(query: Query) -> list[dt.datetime]:
    q = Sql()
    rows = await q.fetch(
        f"SELECT i.resolved_at FROM inc_incident i WHERE i.resolved_at >= {q(query.start)} "
        f"AND i.resolved_at < {q(query.end)} AND i.status IN ('resolved', 'closed')" + _filters(q, query))
    return [as_time(r["resolved_at"]) for r in rows]


async def _memberships(query: Query, ids: Iterable[int]) -> tuple[dict[int, list], dict]:
    """incident -> client or site keys, and key -> label (client/site grouping)."""
    ids = list(ids)
    if not ids:
        return {}, {}
    q = Sql()
    if query.group_by == "client":
        rows = await q.fetch(
            "SELECT ac.incident AS incident, ac.client_id AS key, COALESCE(c.name, ac.name) AS label "
            f"FROM inc_affected_client ac LEFT JOIN cmdb_client c ON c.id = ac.client_id WHERE ac.incident IN {q.ints(ids)}")
    else:
        rows = await q.fetch(
            "SELECT DISTINCT aa.incident AS incident, aa.site_id AS key, s.name AS label "
            "FROM inc_affected_asset aa LEFT JOIN cmdb_site s ON s.id = aa.site_id "
            f"WHERE aa.incident IN {q.ints(ids)} AND aa.site_id IS NOT NULL")
    members: dict[int, list] = {}
    labels: dict = {None: "(none)"}
    for r in rows:
        members.setdefault(r["incident"], []).append(r["key"])
        labels[r["key"]] = r["label"] or f"#{r['key']}"
    return members, labels


async def report(viewer: Viewer, query: Query, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The KPI report of kpi.report for the query, with the definitions."""
    if not viewer.is_staff:
        raise Forbidden("reports are for staff")
    now = now or dt.datetime.now(UTC)
    await refresh_facts(query, now)
    stored = await _stored_facts(query)
    open_now = await _open_facts(query, now)
    cohort = stored + [f for f in open_now if query.start <= f.opened_at < query.end]
    groups_of = None
    labels: dict | None = None
    if query.group_by in ("client", "site"):
        members, labels = await _memberships(query, [f.id for f in cohort] + [f.id for f in open_now])
        groups_of = lambda f: members.get(f.id) or [None]  # noqa: E731
    out = kpi.report(cohort, open_now, start=query.start, end=query.end, now=now,
                     resolved_times=await _resolved_times(query), group_by=query.group_by, groups_of=groups_of,
                     labels=labels, bucket=query.bucket)
    out["filters"] = {"client_id": query.client_id, "category": query.category}
    out["definitions"] = kpi.DEFINITIONS
    return out


# ---------------------------------------------------------------- CSV

TABLES = ("groups", "series", "backlog", "call_mix", "escalation_by_line", "detection_to_first_call")
_DURATION_COLUMNS = [f"{name}_{clock}_{stat}" for name in kpi.DURATIONS for clock in ("calendar", "business")
                     for stat in ("n", "mean", "median", "p90")]
_RATE_COLUMNS = ["incidents", "resolved", "resolved_pct", "closed", "closed_pct", "fcr_eligible",
                 "first_contact_resolution_pct", "under_sla", "response_breached", "response_breach_pct",
                 "resolution_breached", "resolution_breach_pct", "reopened", "reopen_rate_pct", "escalated",
                 "escalation_rate_pct", "auto_opened", "problems", "proactive", "proactive_pct", "self_healed",
                 "self_healed_pct"]


def _flat(metrics: Mapping[str, Any]) -> dict[str, Any]:
    row = {k: metrics.get(k) for k in _RATE_COLUMNS}
    for name in kpi.DURATIONS:
        for clock in ("calendar", "business"):
            for stat, value in metrics[name][clock].items():
                row[f"{name}_{clock}_{stat}"] = value
    return row


def csv_table(data: Mapping[str, Any], table: str) -> str:
    """One table of a report as CSV (the same numbers as the JSON report)."""
    if table not in TABLES:
        raise Invalid(f"table must be one of {', '.join(TABLES)}", field="table")
    if table == "groups":
        header = ["group", "label", *_RATE_COLUMNS, *_DURATION_COLUMNS]
        rows = [{"group": g["key"], "label": g["label"], **_flat(g)} for g in data["groups"]]
        rows.append({"group": "TOTAL", "label": "", **_flat(data["totals"])})
    elif table == "series":
        header, rows = ["period", "incoming", "resolved"], data["series"]
    elif table == "backlog":
        header = ["age", "incidents"]
        rows = [*data["backlog"]["ageing"], {"age": "TOTAL open", "incidents": data["backlog"]["open"]},
                {"age": "overdue now", "incidents": data["backlog"]["overdue_now"]}]
    elif table == "call_mix":
        header, rows = ["category", "incidents", "share_pct"], data["call_mix"]
    elif table == "escalation_by_line":
        header, rows = ["line", "reached", "escalated", "escalation_rate_pct"], data["escalation_by_line"]
    else:
        header, rows = ["incident_id", "minutes"], data["totals"]["detection_to_first_call"]["incidents"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in header})
    return out.getvalue()
