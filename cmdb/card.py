"""The client card, inventory part: everything an engineer needs before a call,
in a handful of indexed queries on one connection. Only this client's rows
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
from cmdb.resources import read_all, reading, scope
from cmdb.tables import Asset, Client, Contact, IPAddress, Prefix, Rack, Service

from cmdb import services as svc


#: What the card shows of each asset (the whole row, SNMP settings included, is at /assets/{id}):
#: a large client has hundreds of assets, and the card must stay fast.
CARD_ASSET_FIELDS = (
    "name", "kind", "manufacturer", "model", "serial", "site_id", "rack_id", "position_u", "height_u", "client_id",
    "mgmt_ip", "status", "snmp_version", "profile",
)


async def client_card(viewer: Viewer, client_id: int) -> dict:
    async with reading():
        row, contacts, assets, prefixes, services = await read_all(
            Client.select().where(Client.id == client_id, *scope(svc.CLIENT, viewer)).first(),
            Contact.select().where(Contact.client == client_id).order_by(Contact.name_norm),
            Asset.select(
                Asset.id, *(svc.ASSET.col(svc.ASSET.by_name[f].column) for f in CARD_ASSET_FIELDS),
                Asset.site.name.as_alias("site_name"), Asset.rack.name.as_alias("rack_name"),
            ).where(Asset.client == client_id).order_by(Asset.name_norm),
            Prefix.select().where(Prefix.client == client_id).order_by(Prefix.family).order_by(Prefix.first_key),
            Service.select(*Service._meta.columns, Service.site.name.as_alias("site_name")).where(
                Service.client == client_id
            ).order_by(Service.site).order_by(Service.id),
        )
        if row is None:
            raise NotFound(f"no client {client_id}", field="id")
        asset_ids = [a["id"] for a in assets]
        ip_where = IPAddress.client == client_id
        if asset_ids:
            # addresses on its assets, unless recorded as another client's
            ip_where = ip_where | (IPAddress.asset.is_in(asset_ids) & IPAddress.client.is_null())
        ips, racks, dependencies, service_assets, used = await read_all(
            IPAddress.select().where(ip_where).order_by(IPAddress.family).order_by(IPAddress.ip_key),
            _racks(client_id, assets),
            _dependencies(client_id, asset_ids, {a["id"]: a["name"] for a in assets}),
            svc.assets_of_services([s["id"] for s in services]),
            svc.used_counts([p["id"] for p in prefixes]),
        )
    columns = [(f, svc.ASSET.by_name[f].column) for f in CARD_ASSET_FIELDS]
    asset_items = [
        {"id": a["id"], **{f: a[c] for f, c in columns}, "site_name": a["site_name"], "rack_name": a["rack_name"]}
        for a in assets
    ]

    by_site: dict[int, dict] = {}
    for s in services:
        group = by_site.setdefault(s["site"], {"site_id": s["site"], "site_name": s["site_name"], "services": []})
        group["services"].append({**svc.services.to_api(s, viewer), "asset_ids": service_assets[s["id"]]})
    prefix_items = [
        {**svc.prefixes.to_api(p, viewer),
         "utilisation": addressing.utilisation(addressing.parse_prefix(p["prefix"]), used.get(p["id"], 0))}
        for p in prefixes
    ]
    return {
        "client": svc.clients.to_api(row, viewer),
        "contacts": [svc.contacts.to_api(c, viewer) for c in contacts],
        "ip_addresses": [svc.ip_addresses.to_api(i, viewer) for i in ips],
        "prefixes": prefix_items,
        "services_by_site": list(by_site.values()),
        "racks": racks,
        "assets": {
            "count": len(assets),
            "by_kind": dict(Counter(a["kind"] for a in assets).most_common()),
            "by_manufacturer": dict(Counter(a["manufacturer"] or "unknown" for a in assets).most_common()),
            "items": asset_items,
        },
        "dependencies": dependencies,
    }


async def _racks(client_id: int, assets: list[dict]) -> list[dict]:
    """Racks leased to the client and racks that hold its assets."""
    units: dict[int, int] = {}
    for a in assets:
        if a["rack"] and a["position_u"]:
            units[a["rack"]] = units.get(a["rack"], 0) + a["height_u"]
    where = Rack.client == client_id
    if units:
        where = where | Rack.id.is_in(sorted(units))
    rows = await Rack.select(Rack.id, Rack.name, Rack.height_u, Rack.client, Rack.site, Rack.site.name.as_alias("site_name")).where(
        where
    ).order_by(Rack.site).order_by(Rack.name_norm)
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


async def _dependencies(client_id: int, asset_ids: list[int], names: dict[int, str]) -> dict:
    """The chains the client's assets hang on: what powers them and what they
    are reached through, however far upstream (e.g. the UPS at the remote site)."""
    edges = await svc.load_upstream(asset_ids) if asset_ids else []
    upstream_ids = sorted({e.depends_on for e in edges} - set(asset_ids))
    upstream: dict[int, dict] = {}
    if upstream_ids:
        for a in await Asset.select(
            Asset.id, Asset.name, Asset.kind, Asset.status, Asset.client, Asset.site, Asset.site.name.as_alias("site_name"),
            Asset.mgmt_ip,
        ).where(Asset.id.is_in(upstream_ids)):
            shared = a["client"] is not None and a["client"] != client_id
            upstream[a["id"]] = {
                "id": a["id"],
                "name": None if shared else a["name"],
                "kind": a["kind"],
                "status": a["status"],
                "site_id": a["site"],
                "site_name": a["site_name"],
                "mgmt_ip": None if shared else a["mgmt_ip"],
                "other_client": shared,
            }

    def name(i: int) -> str | None:
        return names.get(i) or (upstream.get(i) or {}).get("name")

    return {
        "edges": [
            {"asset_id": e.asset, "asset_name": name(e.asset), "depends_on_id": e.depends_on,
             "depends_on_name": name(e.depends_on), "kind": e.kind}
            for e in edges
        ],
        "upstream_assets": [upstream[i] for i in upstream_ids if i in upstream],
    }
