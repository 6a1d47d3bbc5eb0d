"""Inventory seen with its live state: what the asset page, the site page
(topology and racks) and their API twins show. Composed here because it
needs both the CMDB (assets, racks, dependencies, ports) and what incidents
know (check states, open incidents); cmdb never reaches up for it.

An asset's state is the worst of its checks (critical > warning > unknown >
ok); an asset nobody polls is `unknown`. Marks on a drawing: `root`,
`impacted` and `at-risk` come from open incidents; `at-risk` is also
everything downstream of a root or of an asset in critical state that is not
in an incident yet (its power or uplink is in trouble, it may fall next).
"If it failed" is the impact service's answer (cmdb.impact).

Every function takes the Viewer: staff only (client users have the portal).
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable

from accounts.errors import NotFound
from accounts.viewer import Viewer
from cmdb import rackspace
from cmdb import services as cmdb
from cmdb.resources import read_all, reading, require_staff
from cmdb.tables import Asset, Dependency, Interface, Rack, Site
from cmdb.impact import impact_of
from cmdb.topology import Edge, Graph
from incidents import checks, timeseries, workflow
from incidents.services import IncidentFilter, aware, list_incidents
from incidents.tables import AffectedAsset, CheckState, Incident

#: Worse first: an asset shows the worst state among its checks.
SEVERITY = {"critical": 0, "warning": 1, "unknown": 2, "ok": 3}
SAMPLE_WINDOW = dt.timedelta(hours=24)


def worst(states: Iterable[str]) -> str:
    found = sorted(states, key=lambda s: SEVERITY.get(s, 2))
    return found[0] if found else "unknown"


async def check_states(asset_ids: Iterable[int], site_id: int | None = None) -> dict[int, dict[str, dict]]:
    """asset id -> check key -> {"state", "since", "message"}, for `asset_ids`
    and (when given) every asset at `site_id` — a subquery, so a 500-asset
    site is not 500 bound parameters."""
    ids = sorted(set(asset_ids))
    out: dict[int, dict[str, dict]] = {i: {} for i in ids}
    where = _of_assets(CheckState.asset, ids, site_id)
    if where is None:
        return out
    rows = await CheckState.select(CheckState.asset, CheckState.key, CheckState.state, CheckState.since,
                                   CheckState.message).where(where)
    for r in rows:
        out.setdefault(r["asset"], {})[r["key"]] = {"state": r["state"], "since": aware(r["since"]),
                                                    "message": r["message"]}
    return out


async def incident_roles(asset_ids: Iterable[int], site_id: int | None = None) -> dict[int, set[str]]:
    """asset id -> the roles (root, impacted) it holds in open incidents (`site_id` as in check_states)."""
    out: dict[int, set[str]] = {}
    where = _of_assets(AffectedAsset.asset_id, sorted(set(asset_ids)), site_id)
    if where is None:
        return out
    rows = await AffectedAsset.select(AffectedAsset.asset_id, AffectedAsset.role).where(
        where,
        AffectedAsset.incident.is_in(Incident.select(Incident.id).where(Incident.status.is_in(list(workflow.OPEN_STATUSES)))),
    )
    for r in rows:
        out.setdefault(r["asset_id"], set()).add("at-risk" if r["role"] == "at_risk" else r["role"])
    return out


def _of_assets(column, ids: list[int], site_id: int | None):
    """`column` among `ids` or the assets of `site_id` (None when neither is given)."""
    clauses = []
    if ids:
        clauses.append(column.is_in(ids))
    if site_id is not None:
        clauses.append(column.is_in(Asset.select(Asset.id).where(Asset.site == site_id)))
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else clauses[0] | clauses[1]


def marks(graph: Graph, states: dict[int, str], roles: dict[int, set[str]]) -> dict[int, set[str]]:
    """root / impacted from open incidents, at-risk downstream of trouble (pure)."""
    out = {a: set(r) for a, r in roles.items()}
    troubled = [a for a, r in roles.items() if "root" in r] + [a for a, s in states.items() if s == "critical"]
    for asset in graph.downstream(troubled):
        if not out.get(asset):
            out[asset] = {"at-risk"}
    return out


# ------------------------------------------------------------------ the site


async def site_topology(viewer: Viewer, site_id: int) -> dict:
    """The site's dependency graph with live state: its assets (not
    decommissioned), the assets elsewhere they hang on, client ports (an
    interface given to a client) as leaves, and the edges between them."""
    require_staff(viewer)
    async with reading():
        site = await Site.select(Site.id, Site.code, Site.name, Site.kind, Site.address).where(Site.id == site_id).first()
        if site is None:
            raise NotFound(f"no site {site_id}", field="id")
        assets = await Asset.select(
            Asset.id, Asset.name, Asset.kind, Asset.mgmt_ip, Asset.client, Asset.client.name.as_alias("client_name"),
            Asset.rack, Asset.site,
        ).where(Asset.site == site_id, Asset.status != "decommissioned").order_by(Asset.name_norm)
        ids = [a["id"] for a in assets]
        here = Asset.select(Asset.id).where(Asset.site == site_id)
        edges, ports = await read_all(
            Dependency.select(Dependency.asset, Dependency.depends_on, Dependency.kind).where(
                Dependency.asset.is_in(here) | Dependency.depends_on.is_in(here)),
            Interface.select(Interface.id, Interface.asset, Interface.if_index, Interface.name, Interface.client,
                             Interface.client.name.as_alias("client_name")).where(
                Interface.asset.is_in(here), Interface.client.is_not_null()
            ).order_by(Interface.asset).order_by(Interface.if_index),
        )
        # Assets elsewhere that the site hangs on (or that hang on it) are drawn too;
        # decommissioned ones of this site are not, nor are their edges and ports.
        drawn = set(ids)
        others = sorted({e[k] for e in edges for k in ("asset", "depends_on")} - drawn)
        outside = [a for a in await Asset.select(
            Asset.id, Asset.name, Asset.kind, Asset.mgmt_ip, Asset.client, Asset.client.name.as_alias("client_name"),
            Asset.rack, Asset.site, Asset.site.name.as_alias("site_name"),
        ).where(Asset.id.is_in(others)) if a["site"] != site_id] if others else []
        outside_ids = [a["id"] for a in outside]
        drawn.update(outside_ids)
        edges = [e for e in edges if e["asset"] in drawn and e["depends_on"] in drawn]
        ports = [p for p in ports if p["asset"] in drawn]
        states, roles = await read_all(check_states(outside_ids, site_id), incident_roles(outside_ids, site_id))
    worst_of = {a: worst(c["state"] for c in checks_.values()) for a, checks_ in states.items()}
    graph = Graph(Edge(e["asset"], e["depends_on"], e["kind"]) for e in edges)
    marked = marks(graph, worst_of, roles)
    nodes = [_asset_node(a, worst_of, marked, outside=False) for a in assets]
    nodes += [_asset_node(a, worst_of, marked, outside=True) for a in outside]
    links = [{"from": f"asset-{e['asset']}", "to": f"asset-{e['depends_on']}", "kind": e["kind"]} for e in edges]
    for p in ports:
        link = states.get(p["asset"], {}).get(f"link:{p['if_index']}")
        # A client's port shares its device's fate: hit when the device is, at risk when it is.
        held = marked.get(p["asset"], set())
        nodes.append({
            "key": f"port-{p['id']}", "type": "port", "interface_id": p["id"], "asset_id": p["asset"],
            "if_index": p["if_index"], "name": p["name"], "client_id": p["client"], "client_name": p["client_name"],
            "state": link["state"] if link else worst_of.get(p["asset"], "unknown"),
            "marks": ["impacted"] if held & {"root", "impacted"} else sorted(held & {"at-risk"}),
        })
        links.append({"from": f"port-{p['id']}", "to": f"asset-{p['asset']}", "kind": "uplink"})
    return {"site": dict(site), "nodes": nodes, "edges": links}


def _asset_node(a: dict, states: dict[int, str], marked: dict[int, set[str]], *, outside: bool) -> dict:
    return {
        "key": f"asset-{a['id']}", "type": "asset", "asset_id": a["id"], "name": a["name"], "kind": a["kind"],
        "mgmt_ip": a["mgmt_ip"], "client_id": a["client"], "client_name": a["client_name"], "rack_id": a["rack"],
        "site_id": a["site"], "outside": outside, "site_name": a.get("site_name"),
        "state": states.get(a["id"], "unknown"), "marks": sorted(marked.get(a["id"], ())),
    }


async def rack_elevations(viewer: Viewer, *, site_id: int | None = None, rack_id: int | None = None) -> list[dict]:
    """Racks (of a site, or one rack) with the assets at their U, live state,
    and the free runs of units."""
    require_staff(viewer)
    async with reading():
        where = Rack.site == site_id if rack_id is None else Rack.id == rack_id
        racks = await Rack.select(Rack.id, Rack.name, Rack.height_u, Rack.site, Rack.site.name.as_alias("site_name"),
                                  Rack.client, Rack.client.name.as_alias("client_name")).where(where).order_by(Rack.name_norm)
        if rack_id is not None and not racks:
            raise NotFound(f"no rack {rack_id}", field="id")
        rack_ids = [r["id"] for r in racks]
        placed = await Asset.select(
            Asset.id, Asset.name, Asset.kind, Asset.model, Asset.manufacturer, Asset.rack, Asset.position_u,
            Asset.height_u, Asset.client, Asset.client.name.as_alias("client_name"), Asset.status,
        ).where(Asset.rack.site == site_id if rack_id is None else Asset.rack == rack_id).order_by(Asset.position_u) \
            if rack_ids else []
        ids = [] if site_id is not None else [a["id"] for a in placed]  # a whole site: by subquery
        states, roles = await read_all(check_states(ids, site_id), incident_roles(ids, site_id))
    by_rack: dict[int, list[dict]] = {r: [] for r in rack_ids}
    for a in placed:
        by_rack[a["rack"]].append({
            "id": a["id"], "name": a["name"], "kind": a["kind"], "manufacturer": a["manufacturer"], "model": a["model"],
            "position_u": a["position_u"], "height_u": a["height_u"], "client_id": a["client"],
            "client_name": a["client_name"], "status": a["status"],
            "state": worst(c["state"] for c in states.get(a["id"], {}).values()),
            "marks": sorted(roles.get(a["id"], ())),
        })
    out = []
    for r in racks:
        items = by_rack[r["id"]]
        taken = rackspace.occupied(((a["position_u"], a["height_u"]) for a in items), r["height_u"])
        out.append({
            "id": r["id"], "name": r["name"], "height_u": r["height_u"], "site_id": r["site"], "site_name": r["site_name"],
            "client_id": r["client"], "client_name": r["client_name"], "assets": items,
            "free": [list(run) for run in rackspace.free_runs(r["height_u"], taken)],
            "free_u": r["height_u"] - len(taken),
        })
    return out


async def rack_space(viewer: Viewer, rack_id: int, size: int = 1, ignore_asset: int | None = None) -> dict:
    """Where an asset `size` U high fits in a rack (the asset form's choice of
    position). `ignore_asset`: the asset being moved, whose own units count as free."""
    require_staff(viewer)
    rack = await Rack.select(Rack.id, Rack.name, Rack.height_u).where(Rack.id == rack_id).first()
    if rack is None:
        raise NotFound(f"no rack {rack_id}", field="rack_id")
    where = [Asset.rack == rack_id]
    if ignore_asset is not None:
        where.append(Asset.id != ignore_asset)
    placed = await Asset.select(Asset.position_u, Asset.height_u).where(*where)
    taken = rackspace.occupied(((a["position_u"], a["height_u"]) for a in placed), rack["height_u"])
    return {
        "rack_id": rack_id, "name": rack["name"], "height_u": rack["height_u"],
        "free": [list(run) for run in rackspace.free_runs(rack["height_u"], taken)],
        "positions": rackspace.fitting_positions(rack["height_u"], taken, size),
    }


# ------------------------------------------------------------------ the asset


async def sample_series(asset_id: int, since: dt.datetime) -> dict[str, list[tuple[dt.datetime, float]]]:
    """key -> [(at, value)] in time order, for the asset's graphs, at the
    resolution the span calls for (incidents.timeseries: raw, or bucket means)."""
    out: dict[str, list[tuple[dt.datetime, float]]] = {}
    for p in await timeseries.series(asset_id, since, None, checks.MAX_SAMPLES_RETURNED * 4):
        out.setdefault(p["key"], []).append((aware(p["at"]), p["value"]))
    return {k: sorted(v) for k, v in sorted(out.items())}


async def _named(ids: Iterable[int]) -> dict[int, dict]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    rows = await Asset.select(Asset.id, Asset.name, Asset.kind, Asset.site, Asset.site.name.as_alias("site_name"),
                              Asset.client, Asset.client.name.as_alias("client_name")).where(Asset.id.is_in(ids))
    return {r["id"]: r for r in rows}


async def asset_view(viewer: Viewer, asset_id: int, *, now: dt.datetime | None = None) -> dict:
    """Everything the asset page shows: the asset, its ports with link state
    and client, its checks, what it depends on and what depends on it (with
    state), what a failure would hit, its incidents and its sample series."""
    require_staff(viewer)
    now = now or dt.datetime.now(dt.timezone.utc)
    async with reading():
        asset = await cmdb.assets.get(viewer, asset_id)
        up_edges, down_edges, ports, names = await read_all(
            cmdb.load_upstream([asset_id]), cmdb.load_downstream([asset_id]),
            Interface.select(Interface.id, Interface.if_index, Interface.name, Interface.role, Interface.client,
                             Interface.client.name.as_alias("client_name"), Interface.service).where(
                Interface.asset == asset_id).order_by(Interface.if_index),
            Asset.select(Asset.site.name.as_alias("site_name"), Asset.rack.name.as_alias("rack_name"),
                         Asset.client.name.as_alias("client_name")).where(Asset.id == asset_id).first(),
        )
        graph = Graph([*up_edges, *down_edges])
        up, down = graph.upstream([asset_id]), graph.downstream([asset_id])
        related = {asset_id, *up, *down}
        info, states, roles, series = await read_all(
            _named(related), check_states(related), incident_roles(related), sample_series(asset_id, now - SAMPLE_WINDOW))
        _, incidents = await list_incidents(viewer, IncidentFilter(asset_id=asset_id), limit=20, offset=0)
        hit = await impact_of([asset_id])
    worst_of = {a: worst(c["state"] for c in cs.values()) for a, cs in states.items()}
    own = states.get(asset_id, {})

    def chain(depths: dict[int, int], edges: list[Edge], towards: str) -> list[dict]:
        via: dict[int, Edge] = {}
        for e in edges:
            far = e.depends_on if towards == "up" else e.asset
            via.setdefault(far, e)
        return [{
            "asset_id": a, "name": info.get(a, {}).get("name"), "kind": info.get(a, {}).get("kind"),
            "site_id": info.get(a, {}).get("site"), "site_name": info.get(a, {}).get("site_name"),
            "depth": d, "edge": via[a].kind if a in via else None,
            "through_id": (via[a].asset if towards == "up" else via[a].depends_on) if a in via else None,
            "state": worst_of.get(a, "unknown"), "marks": sorted(roles.get(a, ())),
        } for a, d in depths.items()]

    interfaces = []
    for p in ports:
        link = own.get(f"link:{p['if_index']}")
        interfaces.append({
            "id": p["id"], "if_index": p["if_index"], "name": p["name"], "role": p["role"], "client_id": p["client"],
            "client_name": p["client_name"], "service_id": p["service"],
            "link_state": link["state"] if link else None, "link_since": link["since"] if link else None,
            "link_message": link["message"] if link else None,
        })
    downstream = chain(down, down_edges, "down")
    return {
        "asset": {**asset, **(names or {})},
        "state": worst_of.get(asset_id, "unknown"),
        "marks": sorted(roles.get(asset_id, ())),
        "interfaces": interfaces,
        "checks": [{"key": k, **v} for k, v in sorted(own.items())],
        "upstream": chain(up, up_edges, "up"),
        "downstream": downstream,
        "impact": {"assets": len(hit["downstream"]), "services": len(hit["services"]),
                   "clients": [{"client_id": c["client_id"], "name": c["name"], "impact": c["impact"]}
                               for c in hit["clients"]]},
        "incidents": incidents,
        "samples": {k: [{"at": at, "value": v} for at, v in pts] for k, pts in series.items()},
    }
