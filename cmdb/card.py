"""The client card, inventory part: everything an engineer needs before a call,
in a handful of indexed queries on one connection, written as plain SQL (the
card is the page the desk opens most: building the same statements through the
ORM cost more CPU than running them). Only this client's rows
appear; an upstream asset of another client (rare: a shared switch) is shown
without its name or owner.

Incidents are not here (cmdb never imports incidents): rackcard/composed.py
merges further sections into the card.
"""

from __future__ import annotations

from collections import Counter

from accounts.errors import NotFound
from accounts.viewer import Viewer
from cmdb import addressing
from cmdb.resources import reading, scope
from cmdb.tables import Asset, Client, Contact, IPAddress, Prefix, Service
from database.rawsql import Sql, columns, fetch_all

from cmdb import services as svc


#: What the card shows of each asset (the whole row, SNMP settings included, is at /assets/{id}):
#: a large client has hundreds of assets, and the card must stay fast.
CARD_ASSET_FIELDS = (
    "name", "kind", "manufacturer", "model", "serial", "site_id", "rack_id", "position_u", "height_u", "client_id",
    "mgmt_ip", "status", "snmp_version", "profile",
)


async def client_card(viewer: Viewer, client_id: int) -> dict:
    scope(svc.CLIENT, viewer)  # who may not read clients at all is refused here
    if viewer.is_client and viewer.client_id != client_id:
        raise NotFound(f"no client {client_id}", field="id")
    asset_columns = ("id", *(svc.ASSET.by_name[f].column for f in CARD_ASSET_FIELDS))

    def of_client(sql: str) -> tuple[Sql, str]:
        q = Sql()
        return q, q.numbered(sql, client=client_id)

    async with reading():
        # one round: every statement starts from the client id (the racks, the
        # dependency walk and the services' assets select the client's rows
        # themselves), so PostgreSQL gets the whole card in one trip
        queries = [
            of_client(f"SELECT {columns(Client)} FROM cmdb_client WHERE id = {{client}}"),
            of_client(f"SELECT {columns(Contact)} FROM cmdb_contact WHERE client = {{client}} ORDER BY name_norm"),
            of_client(f"SELECT {columns(Asset, 'a', asset_columns)}, s.name AS site_name, r.name AS rack_name"
                      " FROM cmdb_asset a LEFT JOIN cmdb_site s ON a.site = s.id LEFT JOIN cmdb_rack r ON a.rack = r.id"
                      " WHERE a.client = {client} ORDER BY a.name_norm"),
            of_client(f"SELECT {columns(Prefix, 'p')}, {svc.USED_IN_PREFIX} AS used FROM cmdb_prefix p"
                      " WHERE p.client = {client} ORDER BY p.family, p.first_key"),
            of_client(f"SELECT {columns(Service, 'v')}, s.name AS site_name FROM cmdb_service v"
                      " LEFT JOIN cmdb_site s ON v.site = s.id WHERE v.client = {client} ORDER BY v.site, v.id"),
            # addresses on its assets too, unless recorded as another client's: two index
            # lookups (as one OR, PostgreSQL would scan every address that has no client)
            of_client(f"SELECT {columns(IPAddress)} FROM cmdb_ip_address WHERE client = {{client}} UNION ALL"
                      f" SELECT {columns(IPAddress)} FROM cmdb_ip_address WHERE client IS NULL"
                      " AND asset IN (SELECT id FROM cmdb_asset WHERE client = {client}) ORDER BY family, ip_key"),
            # racks leased to the client and racks that hold its assets (a union of
            # two index lookups; an OR would scan every rack on PostgreSQL)
            of_client("SELECT r.id AS id, r.name AS name, r.height_u AS height_u, r.client AS client, r.site AS site,"
                      " s.name AS site_name FROM cmdb_rack r LEFT JOIN cmdb_site s ON r.site = s.id"
                      " WHERE r.id IN (SELECT id FROM cmdb_rack WHERE client = {client} UNION"
                      " SELECT rack FROM cmdb_asset WHERE client = {client} AND rack IS NOT NULL"
                      " AND position_u IS NOT NULL) ORDER BY r.site, r.name_norm"),
            of_client(svc.walk_sql("up", "SELECT id FROM cmdb_asset WHERE client = {client}", far_asset=True)),
            of_client("SELECT sa.service AS service, sa.asset AS asset FROM cmdb_service_asset sa"
                      " WHERE sa.service IN (SELECT id FROM cmdb_service WHERE client = {client}) ORDER BY sa.asset"),
        ]
        found, contacts, assets, prefixes, services, ips, rack_rows, edges, service_assets = await fetch_all(queries)
        if not found:
            raise NotFound(f"no client {client_id}", field="id")
        row = found[0]
    fields = [(f, svc.ASSET.by_name[f].column) for f in CARD_ASSET_FIELDS]
    asset_items = [
        {"id": a["id"], **{f: a[c] for f, c in fields}, "site_name": a["site_name"], "rack_name": a["rack_name"]}
        for a in assets
    ]

    assets_of_service: dict[int, list[int]] = {}
    for link in service_assets:
        assets_of_service.setdefault(link["service"], []).append(link["asset"])
    by_site: dict[int, dict] = {}
    for s in services:
        group = by_site.setdefault(s["site"], {"site_id": s["site"], "site_name": s["site_name"], "services": []})
        group["services"].append({**svc.services.to_api(s, viewer), "asset_ids": assets_of_service.get(s["id"], [])})
    prefix_items = [
        {**svc.prefixes.to_api(p, viewer),
         "utilisation": addressing.utilisation(addressing.parse_prefix(p["prefix"]), p["used"])}
        for p in prefixes
    ]
    return {
        "client": svc.clients.to_api(row, viewer),
        "contacts": [svc.contacts.to_api(c, viewer) for c in contacts],
        "ip_addresses": [svc.ip_addresses.to_api(i, viewer) for i in ips],
        "prefixes": prefix_items,
        "services_by_site": list(by_site.values()),
        "racks": _racks(client_id, assets, rack_rows),
        "assets": {
            "count": len(assets),
            "by_kind": dict(Counter(a["kind"] for a in assets).most_common()),
            "by_manufacturer": dict(Counter(a["manufacturer"] or "unknown" for a in assets).most_common()),
            "items": asset_items,
        },
        "dependencies": _dependencies(client_id, assets, edges),
    }


def _racks(client_id: int, assets: list[dict], rows: list[dict]) -> list[dict]:
    """Racks leased to the client and racks that hold its assets."""
    units: dict[int, int] = {}
    for a in assets:
        if a["rack"] and a["position_u"]:
            units[a["rack"]] = units.get(a["rack"], 0) + a["height_u"]
    return [
        {
            "id": r["id"],
            "name": r["name"],
            "site_id": r["site"],
            "site_name": r["site_name"],
            "height_u": r["height_u"],
            "leased": r["client"] == client_id,
            "holds_assets": r["id"] in units,
            "units_used_by_client": units.get(r["id"], 0),
        }
        for r in rows
    ]


def _dependencies(client_id: int, assets: list[dict], edges: list[dict]) -> dict:
    """The chains the client's assets hang on: what powers them and what they
    are reached through, however far upstream (e.g. the UPS at the remote site).
    An upstream asset of another client (a shared switch) is shown without its
    name or address."""
    names = {a["id"]: a["name"] for a in assets}
    upstream: dict[int, dict] = {}
    for e in edges:
        i = e["depends_on"]
        if i in names or i in upstream or e["far_kind"] is None:
            continue
        shared = e["far_client"] is not None and e["far_client"] != client_id
        upstream[i] = {
            "id": i,
            "name": None if shared else e["far_name"],
            "kind": e["far_kind"],
            "status": e["far_status"],
            "site_id": e["far_site"],
            "site_name": e["far_site_name"],
            "mgmt_ip": None if shared else e["far_mgmt_ip"],
            "other_client": shared,
        }

    def name(i: int) -> str | None:
        return names.get(i) or (upstream.get(i) or {}).get("name")

    return {
        "edges": [
            {"asset_id": e["asset"], "asset_name": name(e["asset"]), "depends_on_id": e["depends_on"],
             "depends_on_name": name(e["depends_on"]), "kind": e["kind"]}
            for e in edges
        ],
        "upstream_assets": [upstream[i] for i in sorted(upstream)],
    }
