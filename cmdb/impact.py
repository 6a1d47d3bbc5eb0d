"""What would be hit if some assets failed: the assets downstream of them over
power and uplink edges (down, or only at risk when another feed stays up), the
clients and services on all of them, and the clients' SLA plan ids. Used before
maintenance (the clients to warn), for manual incidents (the clients behind a
core switch) and by the asset's impact view. Inventory only: the incident side
adds plan names."""

from __future__ import annotations

from typing import Iterable

from accounts.errors import NotFound
from cmdb.tables import Asset, Client, Dependency, Interface, Service, ServiceAsset
from cmdb.topology import Edge, Graph

DOWN, AT_RISK = "down", "at_risk"


async def _graph_below(start: set[int]) -> Graph:
    """The edges below `start` (level by level), plus every feed of the assets
    reached (their other power/uplink sources decide down vs at risk)."""
    edges: set[tuple[int, int, str]] = set()
    seen = set(start)
    frontier = list(seen)
    while frontier:
        rows = await Dependency.select(Dependency.asset, Dependency.depends_on, Dependency.kind).where(
            Dependency.depends_on.is_in(frontier))
        frontier = []
        for r in rows:
            edges.add((r["asset"], r["depends_on"], r["kind"]))
            if r["asset"] not in seen:
                seen.add(r["asset"])
                frontier.append(r["asset"])
    below = seen - set(start)
    if below:
        for r in await Dependency.select(Dependency.asset, Dependency.depends_on, Dependency.kind).where(
                Dependency.asset.is_in(list(below))):
            edges.add((r["asset"], r["depends_on"], r["kind"]))
    return Graph(Edge(*e) for e in sorted(edges))


async def impact_of(asset_ids: Iterable[int]) -> dict:
    """{"assets": the failing ones, "downstream": [{asset..., impact}], "clients":
    [{client_id, name, impact, sla_plan_id}], "services": [{service_id, kind,
    client_id, site_id, impact}]}. A client or service is `down` when any asset it
    relies on is down (a failing one included), else `at_risk`."""
    failed = list(dict.fromkeys(asset_ids))
    if not failed:
        return {"assets": [], "downstream": [], "clients": [], "services": []}
    graph = await _graph_below(set(failed))
    below = graph.impact(failed)
    impact = {a: DOWN for a in failed} | below
    ids = list(impact)
    rows = {r["id"]: r for r in await Asset.select(
        Asset.id, Asset.name, Asset.kind, Asset.site, Asset.client, Asset.status).where(Asset.id.is_in(ids))}
    missing = [a for a in failed if a not in rows]
    if missing:
        raise NotFound(f"no asset {missing[0]}", field="id")

    client_impact: dict[int, str] = {}
    service_impact: dict[int, str] = {}

    def hit(target: dict[int, str], key: int | None, level: str) -> None:
        if key is not None and target.get(key) != DOWN:
            target[key] = level

    for a, level in impact.items():
        if a in rows:
            hit(client_impact, rows[a]["client"], level)
    for r in await Interface.select(Interface.asset, Interface.client, Interface.service).where(
            Interface.asset.is_in(ids)):
        hit(client_impact, r["client"], impact[r["asset"]])
        hit(service_impact, r["service"], impact[r["asset"]])
    for r in await ServiceAsset.select(ServiceAsset.asset, ServiceAsset.service).where(ServiceAsset.asset.is_in(ids)):
        hit(service_impact, r["service"], impact[r["asset"]])
    services = []
    if service_impact:
        for r in await Service.select(Service.id, Service.kind, Service.client, Service.status, Service.site).where(
                Service.id.is_in(list(service_impact))).order_by(Service.id):
            if r["status"] == "terminated":
                continue
            hit(client_impact, r["client"], service_impact[r["id"]])
            services.append({"service_id": r["id"], "kind": r["kind"], "client_id": r["client"],
                             "site_id": r["site"], "impact": service_impact[r["id"]]})
    clients = []
    if client_impact:
        for r in await Client.select(Client.id, Client.name, Client.sla_plan_id).where(
                Client.id.is_in(list(client_impact))).order_by(Client.name):
            clients.append({"client_id": r["id"], "name": r["name"], "impact": client_impact[r["id"]],
                            "sla_plan_id": r["sla_plan_id"]})

    def asset(a: int) -> dict:
        r = rows.get(a, {})
        return {"asset_id": a, "name": r.get("name", f"asset {a}"), "kind": r.get("kind"), "site_id": r.get("site"),
                "client_id": r.get("client"), "impact": impact[a]}

    return {
        "assets": [asset(a) for a in failed],
        "downstream": [asset(a) for a in below if a in rows],
        "clients": clients,
        "services": services,
    }
