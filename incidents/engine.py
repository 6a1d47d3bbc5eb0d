"""The incident engine's storage wrapper: loads what rules.decide needs, applies
its decisions. Called by incidents.checks.record_observations inside the same
transaction as the check-state update, so a state change and its incident
land together or not at all; `tick(now)` runs it with no updates on a timer
(recovery hold, maintenance ends) and drives escalation and SLA breaches.

Opening an incident relies on the unique partial index "one open incident per
fingerprint": when a concurrent writer opened the same one first, the insert
fails inside a savepoint and the decision attaches to that incident instead.

It runs on every probe batch, so it is built for throughput (bench/storm.py): a
batch that changes nothing the rules read (healthy polls, a problem poll repeated
before its hold-down completes, on assets no incident involves) stops after
loading the open incidents; otherwise the CMDB around the batch, the check states
and the maintenance windows come back in one statement after the dependency walk,
and the decisions are written a statement per table (runs of AttachAsset in bulk).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Callable, Iterable, Sequence

from database.transactions import INTEGRITY_ERRORS, atomic, current_engine, is_unique_violation
from incidents import rules, services, sla_store, workflow
from database.rawsql import Sql, as_time
from incidents.rules import (
    AssetInfo,
    AttachAsset,
    CheckStatus,
    CheckUpdate,
    Decision,
    Edge,
    IncidentView,
    InterfaceInfo,
    MaintenanceWindow,
    Note,
    OpenIncident,
    Params,
    Reclassify,
    Reopen,
    Resolve,
    Retitle,
    SetFlapping,
    Suppress,
    Topology,
)
from incidents.tables import Incident, Suppression

log = logging.getLogger("rackcard.incidents.engine")

_params = Params()
_ola_minutes: tuple[int, ...] = (30, 120, 480)


def configure(engine_settings) -> None:
    """Set the rules' parameters and the OLA times from settings (called at start-up)."""
    global _params, _ola_minutes
    _params = Params.from_settings(engine_settings)
    _ola_minutes = tuple(engine_settings.ola_minutes)


def params() -> Params:
    """The rules' parameters in force (from settings)."""
    return _params


# ---------------------------------------------------------------- loading
# Plain SQL (database.rawsql): these run on every probe batch that reaches the
# rules. A set of ids is one parameter; the dependency graph is walked (one
# recursive statement on SQLite, a statement per level on PostgreSQL), then what
# the rules need of the CMDB, the check states and the maintenance windows come
# back in ONE statement.


async def load_topology(seed: Iterable[int], extra: Iterable[int] = ()) -> Topology:
    """The part of the CMDB the rules need: the seed assets and their site-mates,
    everything upstream (power, uplink) and downstream (what a fault impacts),
    plus `extra` assets (those of the incidents in play)."""
    topology, _, _ = await _load(set(seed), set(extra))
    return topology


# One row per fact, tagged: c = check state, a = asset (with its site), e = edge
# (a dependency with both ends in `down`: the other end is checked in Python),
# i = interface, s = service (live) the asset delivers, p = client with an SLA plan,
# w = maintenance window. The first SELECT names the columns. On SQLite the check
# timestamps come as the stored text (`|| ''` drops the declared type, and with it
# Piccolo's converter): as_time parses only rows not seen before (_built).
_CHECKS = """
SELECT 'c' AS t, asset AS a, streak AS b, CAST(NULL AS INTEGER) AS c, CAST(NULL AS INTEGER) AS d, "key" AS s1,
       state AS s2, source AS s3, CAST(value AS TEXT) AS s4, {since} AS t1, {last} AS t2
  FROM inc_check_state WHERE asset IN (SELECT id FROM ids)"""
_FACTS = """
SELECT 'a' AS t, a.id AS a, a.site AS b, a.client AS c, CAST(NULL AS INTEGER) AS d, a.name AS s1, a.kind AS s2,
       s.name AS s3, s.kind AS s4, CAST(NULL AS TIMESTAMPTZ) AS t1, CAST(NULL AS TIMESTAMPTZ) AS t2
  FROM cmdb_asset a LEFT JOIN cmdb_site s ON s.id = a.site WHERE a.id IN (SELECT id FROM ids)
UNION ALL SELECT 'e', d.asset, d.depends_on, NULL, NULL, d.kind, NULL, NULL, NULL, NULL, NULL FROM cmdb_dependency d
  WHERE d.asset IN (SELECT id FROM down)
UNION ALL SELECT 'i', i.asset, i.if_index, i.client, i.service, i.role, i.name, cl.name, NULL, NULL, NULL
  FROM cmdb_interface i LEFT JOIN cmdb_client cl ON cl.id = i.client WHERE i.asset IN (SELECT id FROM ids)
UNION ALL SELECT 's', sa.asset, sa.service, s.client, NULL, NULL, NULL, NULL, NULL, NULL, NULL
  FROM cmdb_service_asset sa JOIN cmdb_service s ON s.id = sa.service
  WHERE sa.asset IN (SELECT id FROM ids) AND s.status <> 'terminated'
UNION ALL SELECT 'p', c.id, c.sla_plan_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM cmdb_client c
  WHERE c.sla_plan_id IS NOT NULL AND c.id IN (
    SELECT client FROM cmdb_asset WHERE id IN (SELECT id FROM ids)
    UNION SELECT client FROM cmdb_interface WHERE asset IN (SELECT id FROM ids)
    UNION SELECT s.client FROM cmdb_service_asset sa JOIN cmdb_service s ON s.id = sa.service
          WHERE sa.asset IN (SELECT id FROM ids) AND s.status <> 'terminated')"""
_WINDOWS = """
SELECT 'w', id, asset_id, site_id, client_id, NULL, NULL, NULL, NULL, starts_at, ends_at
  FROM inc_maintenance_window WHERE starts_at <= {now} AND ends_at >= {since}"""


async def _walk(seed: set[int]) -> set[int]:
    """The seed and the live assets of its sites, everything they depend on
    (transitively), everything that depends on any of those (transitively), and
    the direct feeds of all of them."""
    if not seed:
        return set()
    q = Sql()
    if q.sqlite:
        # SQLite walks a recursive CTE row by row through the indexes: one statement.
        return {r[0] for r in await q.fetch(_WALK.format(seed=q.ints(seed)))}
    # PostgreSQL plans a recursive CTE for millions of rows (hash joins over the
    # whole dependency table, JIT): a level per statement, each an index lookup.
    ids = set(seed) | {r["id"] for r in await q.fetch(
        "SELECT id FROM cmdb_asset WHERE status <> 'decommissioned' "
        f"AND site IN (SELECT site FROM cmdb_asset WHERE id IN {q.ints(seed)})")}
    for column, other in (("asset", "depends_on"), ("depends_on", "asset")):  # up, then down
        frontier = set(ids)
        while frontier:
            q = Sql()
            found = {r["x"] for r in await q.fetch(
                f"SELECT {other} AS x FROM cmdb_dependency WHERE {column} IN {q.ints(frontier)}")}
            frontier = found - ids
            ids |= frontier
    q = Sql()  # ... and the other feeds of all of them (a second UPS decides lost vs at risk)
    ids |= {r["x"] for r in await q.fetch(f"SELECT depends_on AS x FROM cmdb_dependency WHERE asset IN {q.ints(ids)}")}
    return ids


# base = the seed and the live assets of its sites; up = base and everything it
# depends on; down = up and everything that depends on any of it; plus the direct
# feeds of all of those (an asset's other power/uplink source decides lost vs at risk).
_WALK = """
WITH RECURSIVE
  seed(id) AS (SELECT * FROM {seed} AS s),
  base(id) AS (
    SELECT id FROM seed
    UNION SELECT a.id FROM cmdb_asset a WHERE a.status <> 'decommissioned'
      AND a.site IN (SELECT site FROM cmdb_asset WHERE id IN (SELECT id FROM seed))),
  up(id) AS (SELECT id FROM base UNION SELECT d.depends_on FROM cmdb_dependency d JOIN up ON d.asset = up.id),
  down(id) AS (SELECT id FROM up UNION SELECT d.asset FROM cmdb_dependency d JOIN down ON d.depends_on = down.id)
SELECT id FROM down
UNION SELECT d.depends_on FROM cmdb_dependency d WHERE d.asset IN (SELECT id FROM down)"""


# The immutable rule inputs built from rows, by the row's values: a storm reads the
# same 500 assets and checks on every batch, and building them is most of the load's
# Python time. Shared safely (frozen dataclasses); bounded.
_built: dict[tuple, object] = {}
_BUILT_MAX = 200_000


def _keep(key: tuple, value):
    if len(_built) >= _BUILT_MAX:
        _built.clear()
    _built[key] = value
    return value


async def _load(seed: set[int], extra: set[int], *, checks: bool = False, now: dt.datetime | None = None,
                lookback: dt.timedelta | None = None
                ) -> tuple[Topology, dict[tuple[int, str], CheckStatus], list[MaintenanceWindow]]:
    """The topology around `seed` (see load_topology), with the check states of
    its assets when `checks`, and the maintenance windows in force at `now` or
    ended within `lookback` when `now` is given — in one statement."""
    down = await _walk(seed)
    ids = down | extra
    q = Sql()
    checks_sql = _CHECKS.format(since="since", last="last_observed_at")
    if q.sqlite:
        checks_sql = _CHECKS.format(since="(since || '')", last="(last_observed_at || '')")
    parts = ([checks_sql] if checks else []) + [_FACTS]
    values: dict[str, object] = {"ids": ids, "down": down}
    if now is not None:
        parts.append(_WINDOWS)
        values.update(now=now, since=now - (lookback or dt.timedelta(0)))
    sql = "\nUNION ALL".join(parts)
    sql = sql.replace("(SELECT id FROM ids)", "{ids}").replace("(SELECT id FROM down)", "{down}")
    rows = await q.fetch(q.numbered(sql, **values)) if ids else []
    states: dict[tuple[int, str], CheckStatus] = {}
    assets = []
    edges: set[tuple[int, int, str]] = set()
    interfaces: dict[int, list[tuple[int, InterfaceInfo]]] = {}
    services_of: dict[int, set[int]] = {}
    service_clients: dict[int, int] = {}
    plan_of: dict[int, int] = {}
    windows = []
    # (by position: the same on sqlite3.Row and asyncpg's Record, and the loop runs ~1,500 times a batch)
    for t, a, b, c, d, s1, s2, s3, s4, t1, t2 in rows:
        if t == "c":
            key = (t, a, s1, s2, t1, b, s3, t2, s4)
            status = _built.get(key)
            if status is None:
                status = _keep(key, CheckStatus(asset_id=a, key=s1, state=s2, since=as_time(t1), streak=b, source=s3,
                                                last_observed_at=as_time(t2), value=s4))
            states[(a, s1)] = status
        elif t == "a":
            assets.append((a, b, c, s1, s2, s3, s4))
        elif t == "e":
            if b in down:  # both ends: in SQL, SQLite would probe every pair on the unique index
                edges.add((a, b, s1))
        elif t == "i":
            interfaces.setdefault(a, []).append((b, InterfaceInfo(if_index=b, role=s1, client_id=c, service_id=d,
                                                                   name=s2 or "", client_name=s3 or "")))
        elif t == "s":
            services_of.setdefault(a, set()).add(b)
            service_clients[b] = c
        elif t == "p":
            plan_of[a] = b
        else:
            windows.append(MaintenanceWindow(id=a, starts_at=as_time(t1), ends_at=as_time(t2), asset_id=b, site_id=c,
                                             client_id=d))
    infos = {}
    site_names: dict[int, str] = {}
    none: frozenset[int] = frozenset()
    for asset_id, site_id, client_id, name, kind, site_name, site_kind in assets:
        svc = frozenset(services_of[asset_id]) if asset_id in services_of else none
        ifs = tuple(i for _, i in sorted(interfaces[asset_id], key=lambda pair: pair[0])) if asset_id in interfaces else ()
        if site_kind is not None:
            site_names[site_id] = site_name
        svc_clients = frozenset(service_clients[x] for x in svc) if svc else none
        key = ("a", asset_id, name, kind, site_id, site_kind, client_id, ifs, svc, svc_clients)
        info = _built.get(key)
        if info is None:
            info = _keep(key, AssetInfo(
                id=asset_id, name=name, kind=kind, site_id=site_id,
                site_kind=site_kind if site_kind is not None else "datacenter", client_id=client_id, interfaces=ifs,
                service_ids=svc, service_client_ids=svc_clients))
        infos[asset_id] = info
    ranks = await sla_store.plan_ranks() if plan_of else {}
    windows.sort(key=lambda w: w.id)
    topology = Topology(
        assets=infos,
        edges=tuple(_built.get(e) or _keep(e, Edge(*e)) for e in sorted(edges) if e[0] in infos and e[1] in infos),
        site_names=site_names,
        client_plan_rank={c: ranks[p] for c, p in plan_of.items() if p in ranks},
    )
    return topology, states, windows


async def load_views(asset_ids: Iterable[int] | None, now: dt.datetime, params: Params) -> list[IncidentView]:
    """Open incidents, and those resolved within the reopen window, that touch
    `asset_ids` (None = all of them)."""
    q = Sql()
    sql = ("SELECT id, fingerprint, status, category, priority, opened_at, resolved_at, flapping, acted, title, "
           "battery_exhausted_at, battery_minutes_left "
           f"FROM inc_incident WHERE (status IN {q.texts(workflow.OPEN_STATUSES)} "
           f"OR (status = {q(workflow.RESOLVED)} AND resolved_at >= {q(now - params.reopen_window)}))")
    if asset_ids is not None:
        ids = set(asset_ids)
        if not ids:
            return []
        sql += f" AND id IN (SELECT incident FROM inc_affected_asset WHERE asset_id IN {q.ints(ids)})"
    rows = await q.fetch(sql + " ORDER BY id")
    if not rows:
        return []
    inc_ids = [r["id"] for r in rows]
    roles: dict[int, dict[int, str]] = {i: {} for i in inc_ids}
    checks: dict[int, set[tuple[int, str]]] = {i: set() for i in inc_ids}
    clients: dict[int, set[int]] = {i: set() for i in inc_ids}
    at_risk: dict[int, set[int]] = {i: set() for i in inc_ids}
    # the three kinds of links in one round trip
    q = Sql()
    for r in await q.fetch(
            f"SELECT 'a' AS t, incident, asset_id AS x, role AS y FROM inc_affected_asset WHERE incident IN {q.ints(inc_ids)} "
            f'UNION ALL SELECT \'k\', incident, asset_id, "key" FROM inc_incident_check WHERE incident IN {q.ints(inc_ids)} '
            f"UNION ALL SELECT 'c', incident, client_id, impact FROM inc_affected_client WHERE incident IN {q.ints(inc_ids)}"):
        if r["t"] == "a":
            roles[r["incident"]][r["x"]] = r["y"]
        elif r["t"] == "k":
            checks[r["incident"]].add((r["x"], r["y"]))
        else:
            clients[r["incident"]].add(r["x"])
            if r["y"] == services.AT_RISK:
                at_risk[r["incident"]].add(r["x"])
    changes = await _recent_changes({c for cs in checks.values() for c in cs}, now - params.flap_window)
    return [
        IncidentView(
            id=r["id"], fingerprint=r["fingerprint"], status=r["status"], category=r["category"],
            priority=r["priority"], opened_at=services.aware(r["opened_at"]),
            resolved_at=services.aware(r["resolved_at"]),
            root_checks=frozenset(checks[r["id"]]), asset_roles=roles[r["id"]],
            client_ids=frozenset(clients[r["id"]]), flapping=bool(r["flapping"]), acted=bool(r["acted"]),
            recent_changes=tuple(sorted(t for c in checks[r["id"]] for t in changes.get(c, ()))),
            at_risk_client_ids=frozenset(at_risk[r["id"]]), title=r["title"] or "",
            battery_exhausted_at=services.aware(r["battery_exhausted_at"]),
            battery_minutes_left=r["battery_minutes_left"],
        )
        for r in rows
    ]


async def _recent_changes(root_checks: set[tuple[int, str]], since: dt.datetime) -> dict[tuple[int, str], list]:
    if not root_checks:
        return {}
    out: dict[tuple[int, str], list] = {}
    q = Sql()
    for r in await q.fetch(f'SELECT asset, "key", at FROM inc_check_event WHERE asset IN {q.ints(a for a, _ in root_checks)} '
                           f'AND at >= {q(since)} AND "key" IN {q.texts(k for _, k in root_checks)}'):
        key = (r["asset"], r["key"])
        if key in root_checks:
            out.setdefault(key, []).append(services.aware(r["at"]))
    return out


async def load_checks(asset_ids: Iterable[int]) -> dict[tuple[int, str], CheckStatus]:
    ids = set(asset_ids)
    if not ids:
        return {}
    q = Sql()
    return {
        (r["asset"], r["key"]): CheckStatus(
            asset_id=r["asset"], key=r["key"], state=r["state"], since=services.aware(r["since"]),
            streak=r["streak"], source=r["source"], last_observed_at=services.aware(r["last_observed_at"]),
        )
        for r in await q.fetch('SELECT asset, "key", state, since, streak, source, last_observed_at '
                               f"FROM inc_check_state WHERE asset IN {q.ints(ids)}")
    }


# ---------------------------------------------------------------- the entry points

Decide = Callable[..., list[Decision]]


async def process(
    updates: Sequence[CheckUpdate], now: dt.datetime, *, params: Params | None = None, decide: Decide | None = None
) -> list[Decision]:
    """Hand check updates to the rules and apply the decisions, all in the
    caller's transaction (or a new one). Returns the decisions applied."""
    params = params or _params
    decide = decide or rules.decide
    async with atomic():
        # Every open incident (and those resolved within the reopen window): the
        # rules correlate with any of them, not only with the touched assets'.
        views = await load_views(None, now, params)
        if updates and _steady(updates, views, params, now):
            return []
        if updates:
            seed = {u.asset_id for u in updates}
        else:
            q = Sql()
            seed = {r["asset"] for r in await q.fetch(
                f"SELECT DISTINCT asset FROM inc_check_state WHERE state IN {q.texts(rules.PROBLEM_STATES | {rules.UNKNOWN})}")}
        # ... and the assets of the incidents in play, wherever they are
        in_views = {a for v in views for a in v.asset_roles} | {a for v in views for a, _ in v.root_checks}
        topology, checks, windows = await _load(seed, in_views, checks=True, now=now,
                                                lookback=max(params.reopen_window, dt.timedelta(hours=1)))
        decisions = decide(list(updates), views, topology, windows, now, checks, params)
        if decisions:
            await apply(decisions, topology, now)
    return decisions


def _steady(updates: Sequence[CheckUpdate], views: list[IncidentView], params: Params, now: dt.datetime) -> bool:
    """Nothing for the rules to do but what the timer does, on assets no incident involves:
    healthy polls of healthy checks (the steady state of a monitored network, most
    batches), and a state seen again that changes nothing the rules read (an unknown
    again; a problem poll repeated before the hold-down confirms it — in an outage,
    the rounds of polls between the first bad one and the confirming one).
    Anything else — a change, a confirmation, a trap, an asset in an incident — goes
    to the rules; what the passage of time alone decides (recovery, a maintenance
    window ending, a wait running out), the timer decides."""
    # (an asset only at risk is involved once it has a problem of its own: not a healthy poll)
    involved = ({a for v in views for a, role in v.asset_roles.items() if role != rules.AT_RISK}
                | {a for v in views for a, _ in v.root_checks})
    return all(u.asset_id not in involved and (
        (u.state == rules.OK and u.previous_state in (None, rules.OK)) or _repeated(u, params, now))
        for u in updates)


def _repeated(u: CheckUpdate, params: Params, now: dt.datetime) -> bool:
    """The same non-OK state again without confirming anything: since, the state and
    whether it counts as confirmed (trap, hold-down streak, reboot, flapping) unchanged."""
    if u.previous_state != u.state or u.state == rules.OK:
        return False
    if u.state not in rules.PROBLEM_STATES:
        return True
    horizon = now - params.flap_window
    return (u.source != "trap" and u.key != rules.UPTIME and u.streak < params.hold_down_polls
            and sum(1 for t in u.recent_changes if t > horizon) < params.flap_changes)


async def tick(now: dt.datetime, *, params: Params | None = None, ola_minutes: Sequence[int] | None = None,
               decide: Decide | None = None) -> dict:
    """Timer work: the rules with no updates (recovery hold, maintenance ends),
    OLA escalations, SLA breaches. Each part commits on its own."""
    decisions = await process([], now, params=params, decide=decide)
    escalated = await services.escalate_due(now, ola_minutes or _ola_minutes)
    breached = await services.check_breaches(now)
    return {"decisions": len(decisions), "escalated": escalated, "breached": breached}


# ---------------------------------------------------------------- applying decisions


class _Applier:
    def __init__(self, topology: Topology, now: dt.datetime):
        self.topology = topology
        self.now = now
        self.refs: dict[str, int] = {}
        self.sla_dirty: set[int] = set()

    def known(self) -> dict[int, tuple[str, int | None]]:
        return {a.id: (a.name, a.site_id) for a in self.topology.assets.values()}

    async def ref(self, ref) -> int:
        if isinstance(ref, int):
            return ref
        if ref in self.refs:
            return self.refs[ref]
        row = await Incident.select(Incident.id).where(
            (Incident.fingerprint == ref) & Incident.status.is_in(list(workflow.OPEN_STATUSES))).first()
        if row is None:
            raise LookupError(f"decision refers to {ref!r}, which is neither open nor opened in this batch")
        self.refs[ref] = row["id"]
        return row["id"]

    async def open(self, d: OpenIncident) -> None:
        txn = current_engine().current_transaction.get()
        savepoint = await txn.savepoint()
        try:
            incident_id = await services.store_incident(
                fingerprint=d.fingerprint, title=d.title, category=d.category, priority=d.priority,
                source=d.source, at=d.at, description=d.description)
            await savepoint.release()
            created = True
        except INTEGRITY_ERRORS as exc:
            if not is_unique_violation(exc):
                raise
            await savepoint.rollback_to()
            created = False
            row = await Incident.select(Incident.id).where(
                (Incident.fingerprint == d.fingerprint) & Incident.status.is_in(list(workflow.OPEN_STATUSES))).first()
            if row is None:  # pragma: no cover - the index said it exists
                raise
            incident_id = row["id"]
        self.refs[d.fingerprint] = incident_id
        await services.store_assets(incident_id, dict(d.asset_roles), d.at, self.known())
        await services.store_checks(incident_id, d.root_checks)
        await services.store_clients(incident_id, d.client_ids - d.at_risk_client_ids, d.at)
        await services.store_clients(incident_id, d.at_risk_client_ids, d.at, impact=services.AT_RISK)
        if d.battery_exhausted_at is not None:
            await Incident.update({Incident.battery_exhausted_at: d.battery_exhausted_at,
                                   Incident.battery_minutes_left: d.battery_minutes_left}).where(
                Incident.id == incident_id)
        if created:
            body = d.title + (f"\n{d.description}" if d.description else "")
            await services.add_entry(incident_id, "event", f"opened: {body}", at=d.at, visibility="public",
                                     author=services.ENGINE_AUTHOR,
                                     data={"fingerprint": d.fingerprint, "source": d.source,
                                           "root_checks": sorted(d.root_checks)})
            await services.refresh_sla(incident_id, self.now)
            await services.enqueue(incident_id, "opened", d.at, public=True)
        else:
            await services.add_entry(incident_id, "probe", f"the same fault was reported again: {d.title}", at=d.at,
                                     author=services.ENGINE_AUTHOR, data={"root_checks": sorted(d.root_checks)})
            self.sla_dirty.add(incident_id)

    async def attach(self, batch: list[AttachAsset]) -> None:
        """A run of consecutive AttachAsset decisions, applied per incident in bulk
        (an outage attaches hundreds of assets at once)."""
        by_incident: dict[int, list[AttachAsset]] = {}
        for d in batch:
            by_incident.setdefault(await self.ref(d.incident), []).append(d)
        for incident_id, ds in by_incident.items():
            roles: dict[int, str] = {}
            for d in ds:
                roles[d.asset_id] = max(d.role, roles.get(d.asset_id, rules.AT_RISK), key=rules.ROLE_STRENGTH.__getitem__)
            new_assets = set(await services.store_assets(incident_id, roles, self.now, self.known()))
            await services.store_checks(incident_id, [(d.asset_id, d.check_key) for d in ds if d.check_key])
            down = {c for d in ds if d.role != rules.AT_RISK for c in d.client_ids}
            added = await services.store_clients(incident_id, down, self.now)
            added += await services.store_clients(
                incident_id, {c for d in ds if d.role == rules.AT_RISK for c in d.client_ids} - down, self.now,
                impact=services.AT_RISK)
            # The due times follow the most demanding plan of the affected clients:
            # only a client with a plan can change them (most of an outage's are not).
            if any(c in self.topology.client_plan_rank for c in added):
                self.sla_dirty.add(incident_id)
            entries = []
            for d in ds:
                if not (d.note or d.asset_id in new_assets):
                    continue
                new_assets.discard(d.asset_id)
                info = self.topology.assets.get(d.asset_id)
                name = info.name if info else f"asset {d.asset_id}"
                entries.append(("probe", d.note or f"{name} joined as {d.role}",
                                {"asset_id": d.asset_id, "role": d.role, "check": d.check_key}))
            await services.add_entries(incident_id, entries, at=self.now, author=services.ENGINE_AUTHOR)

    async def retitle(self, d: Retitle) -> None:
        incident_id = await self.ref(d.incident)
        await Incident.update({Incident.title: d.title[:300], Incident.battery_exhausted_at: d.battery_exhausted_at,
                               Incident.battery_minutes_left: d.battery_minutes_left}).where(Incident.id == incident_id)
        if d.note:
            await services.add_entry(incident_id, "probe", d.note, at=d.at, author=services.ENGINE_AUTHOR,
                                     visibility="internal",
                                     data={"battery_exhausted_at": d.battery_exhausted_at.isoformat()
                                           if d.battery_exhausted_at else None,
                                           "battery_minutes_left": d.battery_minutes_left})

    async def note(self, d: Note) -> None:
        await services.add_entry(await self.ref(d.incident), "probe", d.text, at=d.at, author=services.ENGINE_AUTHOR)

    async def flapping(self, d: SetFlapping) -> None:
        incident_id = await self.ref(d.incident)
        await Incident.update({Incident.flapping: d.flapping, Incident.updated_at: d.at}).where(Incident.id == incident_id)
        text = "flapping: held open until stable" if d.flapping else "stable again: no longer flapping"
        await services.add_entry(incident_id, "event", text, at=d.at, author=services.ENGINE_AUTHOR,
                                 data={"flapping": d.flapping})

    async def reclassify(self, d: Reclassify) -> None:
        incident_id = await self.ref(d.incident)
        row = await Incident.select(Incident.category, Incident.priority).where(Incident.id == incident_id).first()
        if d.category and d.category != row["category"]:
            await Incident.update({Incident.category: d.category}).where(Incident.id == incident_id)
            await services.add_entry(incident_id, "event",
                                     f"category {row['category']} → {d.category}" + (f": {d.reason}" if d.reason else ""),
                                     at=self.now, author=services.ENGINE_AUTHOR,
                                     data={"from": row["category"], "to": d.category})
        if d.priority and d.priority != row["priority"]:
            await services.change_priority(incident_id, row["priority"], d.priority, self.now,
                                           author=services.ENGINE_AUTHOR, reason=d.reason)

    async def resolve(self, d: Resolve) -> None:
        incident_id = await self.ref(d.incident)
        row = await Incident.select(Incident.status).where(Incident.id == incident_id).first()
        if not workflow.is_open(row["status"]):
            return
        reason = d.reason or ("recovered by itself" if d.self_healed else "recovered")
        await services.set_status(incident_id, row["status"], workflow.RESOLVED, d.at, author=services.ENGINE_AUTHOR,
                                  reason=reason, fields={"resolved_at": d.at, "self_healed": d.self_healed})
        await services.enqueue(incident_id, "resolved", d.at, public=True, extra={"self_healed": d.self_healed})

    async def reopen(self, d: Reopen) -> None:
        row = await Incident.select(Incident.status, Incident.acted, Incident.fingerprint).where(
            Incident.id == d.incident).first()
        if row is None or row["status"] != workflow.RESOLVED:
            return
        to = workflow.IN_PROGRESS if row["acted"] else workflow.NEW
        txn = current_engine().current_transaction.get()
        savepoint = await txn.savepoint()
        try:
            await services.set_status(d.incident, workflow.RESOLVED, to, d.at, author=services.ENGINE_AUTHOR,
                                      reason=d.reason or "the fault came back within the reopen window",
                                      fields={"resolved_at": None, "self_healed": False})
            await savepoint.release()
        except INTEGRITY_ERRORS as exc:
            if not is_unique_violation(exc):
                raise
            # Another incident with this fingerprint is open already: note it there instead.
            await savepoint.rollback_to()
            await self.note(Note(row["fingerprint"], f"the fault of incident {d.incident} came back", d.at))
            return
        self.refs[row["fingerprint"]] = d.incident
        await services.enqueue(d.incident, "reopened", d.at, public=True)

    async def suppress(self, d: Suppress) -> None:
        await Suppression.insert(Suppression(window=d.window_id, asset_id=d.asset_id, check_key=d.check_key, at=d.at))


async def apply(decisions: Sequence[Decision], topology: Topology, now: dt.datetime) -> None:
    """Apply decisions in order, in the current transaction."""
    applier = _Applier(topology, now)
    handlers = {
        OpenIncident: applier.open,
        Note: applier.note,
        SetFlapping: applier.flapping,
        Reclassify: applier.reclassify,
        Retitle: applier.retitle,
        Resolve: applier.resolve,
        Reopen: applier.reopen,
        Suppress: applier.suppress,
    }
    run: list[AttachAsset] = []
    for decision in decisions:
        if isinstance(decision, AttachAsset):
            run.append(decision)
            continue
        if run:
            await applier.attach(run)
            run = []
        await handlers[type(decision)](decision)
    if run:
        await applier.attach(run)
    for incident_id in sorted(applier.sla_dirty):
        await services.refresh_sla(incident_id, now)
