"""KPI reports from storage: loads incident histories set-based (a handful of
statements per few thousand incidents, never one per incident), measures them
with the pure incidents.kpi, and keeps each incident's facts in inc_kpi_fact,
so a report over 100,000 incidents aggregates kept facts in one scan instead
of re-measuring histories.

Freshness: database triggers (see the migration) queue a resolved or closed
incident in inc_kpi_dirty whenever its row changes (every status move,
comment, escalation and priority change updates the row), and the next report
measures the queued ones again; open incidents are measured on every report
(their breach and age depend on now). A resolved incident keeps the SLA plan
it was measured with.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from database.transactions import reading
from accounts.errors import Forbidden, Invalid
from accounts.services import audit
from accounts.viewer import Viewer
from database import rawsql
from incidents import kpi, sla, workflow
from database.rawsql import Sql, as_time
from validation.spreadsheet import inert_value

UTC = dt.timezone.utc
CHUNK = 4000
#: Incidents of a cohort measured per chunk when their facts are missing or stale.
FACT_COLUMNS = kpi.Facts._fields
#: Durations: minutes in kpi.Facts, whole seconds in the table.
SECONDS = ("ttfr", "ttfr_bus", "tta", "tta_bus", "ttr", "ttr_bus", "aht", "aht_bus", "first_call")
_FACT_KINDS = {
    "id": "int", "opened_at": "time", "resolved_at": "time", "plan_id": "int", "self_healed": "bool",
    "fcr": "bool", "resolutions": "int", "reopens": "int", "response_breached": "bool",
    "resolution_breached": "bool", **{n: "int" for n in SECONDS},
}
_SECOND_AT = tuple(kpi.Facts._fields.index(n) for n in SECONDS)


def _row_of(f: kpi.Facts) -> list:
    row = list(f)
    for i in _SECOND_AT:
        if row[i] is not None:
            row[i] = round(row[i] * 60)
    return row


def _fact_of(values: Iterable[Any]) -> kpi.Facts:
    row = list(values)
    for i in _SECOND_AT:
        if row[i] is not None:
            row[i] = row[i] / 60
    return kpi.Facts._make(row)
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

    def days(self) -> dict[str, str]:
        """{"from", "to"}: the period as the UTC dates a period picker shows (`to` inclusive)."""
        return {"from": self.start.date().isoformat(),
                "to": (self.end - dt.timedelta(microseconds=1)).date().isoformat()}


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
                         client_users: set[int] | None = None) -> list[tuple[kpi.History, dt.datetime]]:
    """(History, updated_at) for each id, in a handful of statements."""
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
    links = await _links([r["id"] for r in rows if r["source"] not in kpi.AUTO_SOURCES], "calls")
    calls = await _links([r["id"] for r in rows if r["source"] in kpi.AUTO_SOURCES], "autos")
    out = []
    for r in rows:
        plan = plans.get(r["sla_plan_id"]) if r["sla_plan_id"] is not None else None
        out.append((kpi.History(
            id=r["id"], opened_at=as_time(r["opened_at"]), category=r["category"], priority=r["priority"],
            source=r["source"], status=r["status"], line=r["line"], entries=tuple(entries[r["id"]]),
            self_healed=bool(r["self_healed"]), plan=plan,
            linked_to=tuple(a for a, _ in links.get(r["id"], ())), calls=tuple(t for _, t in calls.get(r["id"], ())),
        ), as_time(r["updated_at"])))
    return out


async def _links(ids: Sequence[int], side: str) -> dict[int, list[tuple[int, dt.datetime]]]:
    """Links between client calls and auto-opened incidents (kpi.DEFINITIONS["proactive_pct"]):
    the call's parent, or sharing an affected asset while both were open.
    side "calls": call id -> [(auto id, auto opened_at)]; side "autos": auto id -> [(call id, call opened_at)]."""
    if not ids:
        return {}
    mine, other = ("m", "a") if side == "calls" else ("a", "m")
    q = Sql()  # (each placeholder once: SQLite's are positional)
    rows = await q.fetch(
        f"SELECT {mine}.id AS mine, {other}.id AS other, {other}.opened_at AS other_at "
        "FROM inc_incident m JOIN inc_incident a ON a.id = m.parent_id "
        f"WHERE {mine}.id IN {q.ints(ids)} AND a.source IN ('probe', 'trap') "
        "AND m.source NOT IN ('probe', 'trap') "
        "UNION "
        f"SELECT {mine}.id, {other}.id, {other}.opened_at FROM inc_affected_asset x "
        "JOIN inc_affected_asset y ON y.asset_id = x.asset_id AND y.incident <> x.incident "
        f"JOIN inc_incident {mine} ON {mine}.id = x.incident JOIN inc_incident {other} ON {other}.id = y.incident "
        f"WHERE x.incident IN {q.ints(ids)} AND a.source IN ('probe', 'trap') AND m.source NOT IN ('probe', 'trap') "
        f"AND m.opened_at < COALESCE(a.resolved_at, {q(_FAR)}) AND a.opened_at < COALESCE(m.resolved_at, {q(_FAR)})")
    out: dict[int, list[tuple[int, dt.datetime]]] = {}
    for r in rows:
        out.setdefault(r["mine"], []).append((r["other"], as_time(r["other_at"])))
    return out


# ---------------------------------------------------------------- facts


#: Open incidents' facts carry breach flags as of when they were measured: all
#: of them are measured again once this much (report) time has passed; in
#: between, only those whose row changed (or that have no facts yet).
OPEN_FRESH = dt.timedelta(seconds=30)
_open_measured: dict[int, dt.datetime] = {}  # id(engine) -> the `now` all open incidents were last measured at


#: The columns of inc_kpi_fact: the incident, when its row was measured, its facts.
_STORED = ("incident", "stamp", *FACT_COLUMNS[1:])
_STORED_KINDS = ("int", "time", *(_FACT_KINDS.get(c, "text") for c in FACT_COLUMNS[1:]))
#: Facts measured again replace the kept ones (a concurrent report may have measured them too).
_UPSERT = "ON CONFLICT (incident) DO UPDATE SET " + ", ".join(f'"{c}" = excluded."{c}"' for c in _STORED[1:])


async def refresh_facts(now: dt.datetime) -> int:
    """Measure again what changed: the incidents the triggers marked dirty
    (a resolved/closed incident changed, was resolved or reopened), the open
    incidents that changed or have no facts, and every open incident once
    their breach flags are OPEN_FRESH old. No scan of all incidents.
    Returns how many were measured."""
    q = Sql()
    dirty = await q.fetch("SELECT id, incident FROM inc_kpi_dirty")
    top = max((r["id"] for r in dirty), default=None)
    engine_key = id(q.engine)
    last = _open_measured.get(engine_key)
    every_open = last is None or not (last <= now < last + OPEN_FRESH)
    open_ids = {r["id"] for r in await rawsql.fetch(
        "SELECT i.id FROM inc_incident i LEFT JOIN inc_kpi_fact f ON f.incident = i.id "
        "WHERE i.status NOT IN ('resolved', 'closed')"
        + ("" if every_open else " AND (f.incident IS NULL OR f.stamp <> i.updated_at)"))}
    ids = sorted({r["incident"] for r in dirty} | open_ids)
    if ids:
        plans, client_users = await _plans(), await _client_users()
        for i in range(0, len(ids), CHUNK):
            chunk = ids[i:i + CHUNK]
            measured = [(kpi.facts(h, now), stamp) for h, stamp in await load_histories(chunk, plans, client_users)]
            # One upsert, found by the unique index on incident whatever the plan:
            # PostgreSQL plans each statement once per connection (rackcard.db), and a
            # DELETE of the chunk planned while the table was still empty scans it
            # once per id as it grows (a first report over 100,000 incidents: 324 s
            # against 22).
            await rawsql.insert("inc_kpi_fact", _STORED, _STORED_KINDS,
                                [(f.id, stamp, *_row_of(f)[1:]) for f, stamp in measured], _UPSERT)
    if every_open:
        _open_measured[engine_key] = now
    if top is not None:
        q = Sql()
        await q.fetch(f"DELETE FROM inc_kpi_dirty WHERE id <= {q(top)}")
    return len(ids)


# ---------------------------------------------------------------- aggregation in SQL
# The same numbers as kpi.metrics over the kept facts (a test holds them equal),
# without bringing 100,000 rows into Python.

_AUTO = "f.source IN ('probe', 'trap')"
_COUNTS = (
    ("incidents", "TRUE"),
    ("resolved", "f.resolved_at IS NOT NULL"),
    ("closed", "f.status = 'closed'"),
    ("fcr_eligible", "f.fcr IS NOT NULL"),
    ("fcr_yes", "f.fcr = TRUE"),
    ("under_sla", "f.response_breached IS NOT NULL"),
    ("response_breached", "f.response_breached = TRUE"),
    ("resolution_breached", "f.resolution_breached = TRUE"),
    ("resolved_once", "f.resolutions > 0"),
    ("reopened", "f.resolutions > 0 AND f.reopens > 0"),
    ("escalated", "f.escalated_from <> ''"),
    ("auto_opened", _AUTO),
    ("problems", f"{_AUTO} OR f.linked_to = ''"),
    ("proactive", f"{_AUTO} AND (f.first_call IS NULL OR f.first_call >= 0)"),
    ("self_healed", f"{_AUTO} AND f.self_healed = TRUE"),
    ("reached_L1", "TRUE"),
    ("escalated_L1", "f.escalated_from LIKE '%L1%'"),
    ("reached_L2", "f.escalated_from LIKE '%L1%' OR f.line IN ('L2', 'L3', 'vendor')"),
    ("escalated_L2", "f.escalated_from LIKE '%L2%'"),
    ("reached_L3", "f.escalated_from LIKE '%L2%' OR f.line IN ('L3', 'vendor')"),
    ("escalated_L3", "f.escalated_from LIKE '%L3%'"),
)
#: (metric, column, extra condition) whose mean, median and p90 are reported (_spreads).
_SPREADS = tuple((name, attr + clock, "") for name, attr in kpi._DURATION_ATTRS for clock in ("", "_bus")) + (
    ("detection_to_first_call", "first_call", f" AND {_AUTO} AND f.first_call >= 0"),)


#: Longer periods read the whole facts table in order rather than through the
#: opened_at index (on SQLite a range over most rows is slower by index).
SCAN_AFTER = dt.timedelta(days=62)


def _cohort(q: Sql, query: Query, *, scan: bool = True) -> str:
    column = "+f.opened_at" if scan and q.sqlite and query.end - query.start > SCAN_AFTER else "f.opened_at"
    where = f"{column} >= {q(query.start)} AND {column} < {q(query.end)}"
    if query.category:
        where += f" AND f.category = {q(query.category)}"
    if query.client_id is not None:
        where += f" AND f.incident IN (SELECT incident FROM inc_affected_client WHERE client_id = {q(query.client_id)})"
    return where


def _grouping(group_by: str | None) -> tuple[str, str | None]:
    """(joins, group expression) — None for the totals."""
    if group_by == "client":
        return " LEFT JOIN inc_affected_client g ON g.incident = f.incident", "g.client_id"
    if group_by == "site":
        return (" LEFT JOIN (SELECT DISTINCT incident, site_id FROM inc_affected_asset WHERE site_id IS NOT NULL) g "
                "ON g.incident = f.incident", "g.site_id")
    if group_by in ("category", "line", "source", "priority"):
        return "", f'f."{group_by}"'
    return "", None


def _numbers(q: Sql, column: str, condition: str) -> str:
    """An aggregate bringing a column's integers where `condition` holds back
    as one value per group: a JSON array on SQLite, an array on PostgreSQL
    (far cheaper than a row per incident, and integers print and parse much
    faster than floats)."""
    return f"{'json_group_array' if q.sqlite else 'array_agg'}({column}) FILTER (WHERE {condition})"


def _texts(q: Sql, expr: str) -> str:
    return f"group_concat({expr})" if q.sqlite else f"string_agg({expr}, ',')"


def _unpack(value: Any, cast=str) -> list:
    if value is None:
        return []
    if isinstance(value, str):
        return [cast(v) for v in value.split(",")] if value else []
    return [cast(v) for v in value]


_EPOCH = dt.date(1970, 1, 1)


def _day_list(value: Any) -> list[str]:
    """The cohort's opening days as ISO dates, from SQLite's text or PostgreSQL's day numbers."""
    if value is None or isinstance(value, str):
        return _unpack(value)
    names = {n: (_EPOCH + dt.timedelta(days=n)).isoformat() for n in set(value)}
    return [names[n] for n in value]


def _minutes(value: Any) -> list[float]:
    """The seconds of _numbers as minutes, in order: kpi.summary's sort is then
    linear, and so is most of the sort of several groups' values merged."""
    if value is None:
        return []
    seconds = json.loads(value) if isinstance(value, str) else list(value)
    seconds.sort()
    return [v / 60 for v in seconds]


async def _aggregate(query: Query, group_by: str | None, *, lists: bool = True) -> dict[Any, dict[str, Any]]:
    """group key (None for the totals) -> raw aggregates of ONE scan of the
    cohort's facts: counts summed in SQL, each duration's values brought back
    in one value per group, and (with `lists`) the days, categories and delays
    to the first call, which only the totals use. _metrics turns one into
    kpi.metrics' shape; _merge adds groups up."""
    joins, expr = _grouping(group_by)
    select_key = f"{expr} AS grp" if expr else "NULL AS grp"
    group = f" GROUP BY {expr}" if expr else ""
    q = Sql()
    sums = ", ".join(f"COUNT(*) FILTER (WHERE {cond}) AS \"{name}\"" for name, cond in _COUNTS)
    spreads = ", ".join(f"{_numbers(q, f'f.{col}', f'f.{col} IS NOT NULL{extra}')} AS \"v_{col}\""
                        for _, col, extra in _SPREADS)
    # PostgreSQL: each day as days since 1970-01-01 (to_char per row costs more than the rest of a column)
    days = _texts(q, "substr(f.opened_at, 1, 10)") if q.sqlite else \
        "array_agg((f.opened_at AT TIME ZONE 'UTC')::date - DATE '1970-01-01')"
    delay = (f"CASE WHEN {_AUTO} AND f.first_call >= 0 THEN "
             + ("f.incident || ':' || f.first_call" if q.sqlite
                else "f.incident::text || ':' || f.first_call::text") + " END")
    extra = f", {days} AS days, {_texts(q, 'f.category')} AS categories, {_texts(q, delay)} AS delays" \
        if lists else ", NULL AS days, NULL AS categories, NULL AS delays"
    rows = await q.fetch(f"SELECT {select_key}, {sums}, {spreads}{extra} FROM inc_kpi_fact f{joins} "
                         f"WHERE {_cohort(q, query)}{group}")
    return {r["grp"]: {
        "counts": {name: int(r[name] or 0) for name, _ in _COUNTS},
        "values": {col: _minutes(r[f"v_{col}"]) for _, col, _ in _SPREADS},
        "days": _day_list(r["days"]),
        "categories": _unpack(r["categories"]),
        "delays": [(int(d) / 60, int(i)) for i, d in (x.split(":") for x in _unpack(r["delays"]))],
    } for r in rows if r["incidents"]}


def _merge(raws: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The raw aggregates of disjoint groups added up (the totals of a grouping
    where each incident is in one group: category, line, source, priority)."""
    raws = list(raws)
    if not raws:
        return None
    return {
        "counts": {name: sum(r["counts"][name] for r in raws) for name, _ in _COUNTS},
        "values": {col: [v for r in raws for v in r["values"][col]] for _, col, _ in _SPREADS},
        **{key: [v for r in raws for v in r[key]] for key in ("days", "categories", "delays")},
    }


def _metrics(raw: dict[str, Any]) -> dict[str, Any]:
    m = _shape(raw["counts"])
    for name, col, _ in _SPREADS:
        stat = kpi.summary(raw["values"][col])
        if name == "detection_to_first_call":
            m[name] = stat
        else:
            m.setdefault(name, {})["business" if col.endswith("_bus") else "calendar"] = stat
    return m


def _shape(c: Mapping[str, int]) -> dict[str, Any]:
    pct = kpi.pct
    return {
        "incidents": c["incidents"], "resolved": c["resolved"], "resolved_pct": pct(c["resolved"], c["incidents"]),
        "closed": c["closed"], "closed_pct": pct(c["closed"], c["incidents"]),
        "first_contact_resolution_pct": pct(c["fcr_yes"], c["fcr_eligible"]), "fcr_eligible": c["fcr_eligible"],
        "under_sla": c["under_sla"], "response_breached": c["response_breached"],
        "response_breach_pct": pct(c["response_breached"], c["under_sla"]),
        "resolution_breached": c["resolution_breached"],
        "resolution_breach_pct": pct(c["resolution_breached"], c["under_sla"]),
        "reopened": c["reopened"], "reopen_rate_pct": pct(c["reopened"], c["resolved_once"]),
        "escalated": c["escalated"], "escalation_rate_pct": pct(c["escalated"], c["incidents"]),
        "auto_opened": c["auto_opened"], "problems": c["problems"], "proactive": c["proactive"],
        "proactive_pct": pct(c["proactive"], c["problems"]), "self_healed": c["self_healed"],
        "self_healed_pct": pct(c["self_healed"], c["auto_opened"]),
        "_lines": [{"line": line, "reached": c[f"reached_{line}"], "escalated": c[f"escalated_{line}"],
                    "escalation_rate_pct": pct(c[f"escalated_{line}"], c[f"reached_{line}"])}
                   for line in ("L1", "L2", "L3")],
    }


def _delay_rows(delays: list[tuple[float, int]], limit: int | None) -> list[dict[str, Any]]:
    ordered = sorted(delays, reverse=True)
    return [{"incident_id": i, "minutes": round(d, 1)} for d, i in (ordered[:limit] if limit else ordered)]


async def _series(query: Query, days: list[str]) -> list[dict[str, Any]]:
    """Incoming per period from the cohort's days; resolved from one scan of the incidents."""
    q = Sql()
    day_i = "substr(i.resolved_at, 1, 10)" if q.sqlite else "to_char(i.resolved_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    status = "+i.status" if q.sqlite else "i.status"
    resolved = {r["d"]: r["n"] for r in await q.fetch(
        f"SELECT {day_i} AS d, COUNT(*) AS n FROM inc_incident i WHERE {_range(q, query, 'i.resolved_at')} "
        f"AND {status} IN ('resolved', 'closed'){_filters(q, query)} GROUP BY {day_i}")}
    rows = kpi.series([], [], query.start, query.end, query.bucket)
    by_period = {r["period"]: r for r in rows}
    for counts, key in ((Counter(days), "incoming"), (resolved, "resolved")):
        for day, n in counts.items():
            period = kpi.bucket_start(dt.datetime.fromisoformat(day).replace(tzinfo=UTC), query.bucket).isoformat()
            if period in by_period:
                by_period[period][key] += int(n)
    return rows


def _range(q: Sql, query: Query, column: str) -> str:
    scan = "+" if q.sqlite and query.end - query.start > SCAN_AFTER else ""
    return f"{scan}{column} >= {q(query.start)} AND {scan}{column} < {q(query.end)}"


def _call_mix(categories: list[str], total: int) -> list[dict[str, Any]]:
    counts = Counter(categories)
    return [{"category": c, "incidents": counts.get(c, 0), "share_pct": kpi.pct(counts.get(c, 0), total)}
            for c in dict.fromkeys([*kpi.workflow.CATEGORIES, *counts])]


async def _open_facts(query: Query) -> list[kpi.Facts]:
    """Open incidents now (the filters apply, not the period), from the facts just measured."""
    q = Sql()
    where = "i.status NOT IN ('resolved', 'closed')" + _filters(q, query)
    cols = ", ".join(f'f."{c}"' for c in ("incident", *FACT_COLUMNS[1:]))
    rows = await q.fetch(f"SELECT {cols} FROM inc_kpi_fact f JOIN inc_incident i ON i.id = f.incident WHERE {where}")
    return [_fact_of(tuple(r) if q.sqlite else r.values()) for r in rows]


async def _labels(group_by: str | None, keys: Iterable[Any]) -> dict[Any, str]:
    keys = [k for k in keys if k is not None]
    labels: dict[Any, str] = {None: "(none)"}
    if group_by in ("client", "site") and keys:
        table = "cmdb_client" if group_by == "client" else "cmdb_site"
        q = Sql()
        labels.update({r["id"]: r["name"] for r in await q.fetch(
            f"SELECT id, name FROM {table} WHERE id IN {q.ints(keys)}")})
    return labels


async def _open_groups(query: Query, open_now: Sequence[kpi.Facts]) -> dict[int, list]:
    """incident -> client or site keys, for the open incidents' backlog per group."""
    if query.group_by not in ("client", "site") or not open_now:
        return {}
    q = Sql()
    ids = q.ints(f.id for f in open_now)
    if query.group_by == "client":
        rows = await q.fetch(f"SELECT incident, client_id AS k FROM inc_affected_client WHERE incident IN {ids}")
    else:
        rows = await q.fetch(f"SELECT DISTINCT incident, site_id AS k FROM inc_affected_asset "
                             f"WHERE incident IN {ids} AND site_id IS NOT NULL")
    out: dict[int, list] = {}
    for r in rows:
        out.setdefault(r["incident"], []).append(r["k"])
    return out


async def report(viewer: Viewer, query: Query, *, now: dt.datetime | None = None,
                 delay_list: int | None = kpi.DELAY_LIST) -> dict[str, Any]:
    """The KPI report (the shape of kpi.report), aggregated in SQL over the kept facts."""
    if not viewer.is_staff:
        raise Forbidden("reports are for staff")
    now = now or dt.datetime.now(UTC)
    await refresh_facts(now)
    async with reading():
        return await _report(query, now, delay_list)


async def _report(query: Query, now: dt.datetime, delay_list: int | None) -> dict[str, Any]:
    if query.group_by in ("category", "line", "source", "priority"):  # one group each: one scan for both
        raws = await _aggregate(query, query.group_by)
        total_raw = _merge(raws.values())
    else:
        total_raw = (await _aggregate(query, None)).get(None)
        raws = await _aggregate(query, query.group_by, lists=False) if query.group_by else {}
    empty = kpi.metrics([])
    if total_raw is None:
        totals = {**empty, "_lines": kpi.escalation_by_line([])}
        days, categories, delays = [], [], []
    else:
        totals = _metrics(total_raw)
        days, categories, delays = total_raw["days"], total_raw["categories"], total_raw["delays"]
    lines = totals.pop("_lines")
    totals["detection_to_first_call"]["incidents"] = _delay_rows(delays, delay_list)
    open_now = await _open_facts(query)
    out: dict[str, Any] = {
        "from": query.start, "to": query.end, "as_of": now, "group_by": query.group_by, "bucket": query.bucket,
        "totals": totals,
        "series": await _series(query, days),
        "backlog": kpi.backlog(open_now, now),
        "call_mix": _call_mix(categories, totals["incidents"]),
        "escalation_by_line": lines,
        "groups": [],
        "filters": {"client_id": query.client_id, "category": query.category},
        "definitions": kpi.DEFINITIONS,
    }
    if query.group_by:
        groups = {key: _metrics(raw) for key, raw in raws.items()}
        if query.group_by in ("client", "site"):
            members = await _open_groups(query, open_now)
            key_of = lambda f: members.get(f.id) or [None]  # noqa: E731
        else:
            key_of = lambda f: [getattr(f, query.group_by)]  # noqa: E731
        open_by: dict[Any, list[kpi.Facts]] = {}
        for f in open_now:
            for key in key_of(f):
                open_by.setdefault(key, []).append(f)
        labels = await _labels(query.group_by, set(groups) | set(open_by))
        for key in sorted(set(groups) | set(open_by), key=lambda k: (k is None, str(k))):
            row = groups.get(key) or {**empty}
            row.pop("_lines", None)
            snap = kpi.backlog(open_by.get(key, []), now)
            row.update(open_now=snap["open"], overdue_now=snap["overdue_now"])
            row.setdefault("detection_to_first_call", empty["detection_to_first_call"])
            out["groups"].append({"key": key, "label": labels.get(key, "" if key is None else str(key)), **row})
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


async def export_csv(viewer: Viewer, query: Query, table: str, *, now: dt.datetime | None = None) -> tuple[str, str]:
    """One table of the report as CSV and its file name, for the API and the
    reports page alike; an export, so it is audited (who, what, the period)."""
    if table not in TABLES:
        csv_table({}, table)  # the 422 naming the table
    data = await report(viewer, query, now=now, delay_list=None)
    await audit(viewer, "export", "kpi_report", None, {
        "table": table, "from": query.start.isoformat(), "to": query.end.isoformat(), "group_by": query.group_by,
        "client_id": query.client_id, "category": query.category})
    return f"kpi-{table}-{query.start:%Y%m%d}-{query.end:%Y%m%d}.csv", csv_table(data, table)


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
    return _csv(header, rows)


def _csv(header: list[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows as CSV under `header` (None as an empty cell, CRLF line ends)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else inert_value(row.get(k)) for k in header})
    return out.getvalue()


# ---------------------------------------------------------------- per-client SLA report


async def sla_report(viewer: Viewer, client_id: int, query: Query, *, now: dt.datetime | None = None) -> dict:
    """One client's SLA report for the period: the availability of each of its
    services from the check history (kpi.DEFINITIONS_SLA), and its incidents'
    response and resolution against its plan (the KPI report filtered to it)."""
    from accounts.errors import NotFound

    if not (viewer.is_staff or (viewer.is_client and viewer.client_id == client_id)):
        raise NotFound(f"no client {client_id}", field="client_id")
    now = now or dt.datetime.now(UTC)
    end = min(query.end, now)
    client = await rawsql.fetch("SELECT c.id, c.name, c.sla_plan_id, p.name AS plan_name FROM cmdb_client c "
                                "LEFT JOIN inc_sla_plan p ON p.id = c.sla_plan_id WHERE c.id = {}", client_id)
    if not client:
        raise NotFound(f"no client {client_id}", field="client_id")
    plan = None
    if client[0]["sla_plan_id"] is not None:
        plan = sla.SlaPlan.from_record(dict((await rawsql.fetch("SELECT * FROM inc_sla_plan WHERE id = {}",
                                                                 client[0]["sla_plan_id"]))[0]))
    services = [dict(r) for r in await rawsql.fetch(
        "SELECT s.id, s.kind, s.description, s.bandwidth_mbps, s.status, st.name AS site FROM cmdb_service s "
        "JOIN cmdb_site st ON st.id = s.site WHERE s.client = {} ORDER BY s.id", client_id)]
    checks: dict[int, set[tuple[int, str]]] = {s["id"]: set() for s in services}
    if services:
        q = Sql()
        for r in await q.fetch(f"SELECT service, asset FROM cmdb_service_asset WHERE service IN "
                               f"{q.ints(checks)}"):
            checks[r["service"]].add((r["asset"], "reachability"))
        q = Sql()
        for r in await q.fetch(f"SELECT service, asset, if_index FROM cmdb_interface WHERE service IN "
                               f"{q.ints(checks)}"):
            checks[r["service"]].add((r["asset"], f"link:{r['if_index']}"))
    history: dict[tuple[int, str], list[tuple[dt.datetime, str]]] = {}
    before: dict[tuple[int, str], str] = {}
    assets = {a for keys in checks.values() for a, _ in keys}
    if assets:
        q = Sql()
        for r in await q.fetch(f'SELECT asset, "key", to_state, at FROM inc_check_event WHERE asset IN '
                               f"{q.ints(assets)} AND at < {q(end)} ORDER BY at, id"):
            key, at = (r["asset"], r["key"]), as_time(r["at"])
            if at < query.start:
                before[key] = r["to_state"]
            else:
                history.setdefault(key, []).append((at, r["to_state"]))
    out_services = []
    for s in services:
        spans = [span for key in checks[s["id"]]
                 for span in kpi.down_spans(history.get(key, ()), query.start, end, before.get(key))]
        out_services.append({**s, "checks": sorted(f"{a}:{k}" for a, k in checks[s["id"]]),
                             **kpi.availability(spans, query.start, end)})
    incidents = await report(viewer if viewer.is_staff else _STAFF_READER, Query(query.start, query.end,
                                                                                 client_id=client_id), now=now)
    return {
        "client": {"id": client_id, "name": client[0]["name"]},
        "plan": None if plan is None else {
            "id": plan.id, "name": plan.name, "hours": "24x7" if plan.is_24x7 else "business",
            "response_minutes": dict(plan.response_minutes), "resolution_minutes": dict(plan.resolution_minutes)},
        "from": query.start, "to": query.end, "as_of": now,
        "services": out_services,
        "incidents": {k: incidents["totals"][k] for k in (
            "incidents", "resolved", "under_sla", "response_breached", "response_breach_pct", "resolution_breached",
            "resolution_breach_pct", "time_to_first_response", "time_to_resolve")},
        "open_now": incidents["backlog"]["open"],
        "definitions": {**kpi.DEFINITIONS_SLA, **{k: kpi.DEFINITIONS[k] for k in (
            "response_breach_pct", "resolution_breach_pct", "time_to_first_response", "time_to_resolve")}},
    }


SLA_TABLES = ("plan", "services", "incidents")
_SLA_SPREAD = ("time_to_first_response", "time_to_resolve")
_SLA_INCIDENT_COLUMNS = ["incidents", "resolved", "open_now", "under_sla", "response_breached", "response_breach_pct",
                         "resolution_breached", "resolution_breach_pct",
                         *(f"{name}_{clock}_{stat}" for name in _SLA_SPREAD for clock in ("calendar", "business")
                           for stat in ("n", "mean", "median", "p90"))]


def check_sla_table(table: str) -> None:
    """422 naming `table` unless it is one of the SLA report's tables (checked before the report is made)."""
    if table not in SLA_TABLES:
        raise Invalid(f"table must be one of {', '.join(SLA_TABLES)}", field="table")


async def sla_export_csv(viewer: Viewer, data: Mapping[str, Any], table: str) -> tuple[str, str]:
    """One table of a client's SLA report (sla_report) as CSV and its file name,
    for the staff page and the portal alike; an export, so it is audited."""
    content = sla_csv_table(data, table)
    await audit(viewer, "export", "sla_report", data["client"]["id"],
                {"table": table, "from": data["from"].isoformat(), "to": data["to"].isoformat()})
    return f"sla-{data['client']['id']}-{table}-{data['from']:%Y%m%d}-{data['to']:%Y%m%d}.csv", content


def sla_csv_table(data: Mapping[str, Any], table: str) -> str:
    """One table of a client's SLA report (sla_report) as CSV, the same numbers:
    `plan` (minutes per priority; only the header without a plan), `services`
    (availability and downtime of each), `incidents` (one row: counts, breach
    rates and the response/resolution spreads in minutes)."""
    check_sla_table(table)
    if table == "plan":
        plan = data["plan"]
        header = ["priority", "response_minutes", "resolution_minutes", "hours"]
        rows = [] if plan is None else [
            {"priority": p, "response_minutes": minutes, "resolution_minutes": plan["resolution_minutes"].get(p),
             "hours": plan["hours"]} for p, minutes in plan["response_minutes"].items()]
    elif table == "services":
        header = ["service_id", "kind", "bandwidth_mbps", "description", "site", "availability_pct",
                  "downtime_minutes"]
        rows = [{**s, "service_id": s["id"]} for s in data["services"]]
    else:
        header, row = _SLA_INCIDENT_COLUMNS, {**data["incidents"], "open_now": data["open_now"]}
        for name in _SLA_SPREAD:
            for clock in ("calendar", "business"):
                for stat, value in data["incidents"][name][clock].items():
                    row[f"{name}_{clock}_{stat}"] = value
        rows = [row]
    return _csv(header, rows)


#: The client's own numbers are read with staff rights after the scope check above (the report is about them only).
_STAFF_READER = Viewer(user_id=None, email="system", role="admin")
