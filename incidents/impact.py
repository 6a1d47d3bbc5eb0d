"""Impact views: what an asset's failure would hit, and the clients to warn
before a maintenance window — the inventory's answer (cmdb.impact) with the SLA
plans of the clients involved. Staff only."""

from __future__ import annotations

from accounts.errors import Forbidden, NotFound
from accounts.viewer import Viewer
from cmdb.impact import impact_of
from cmdb.tables import Asset
from incidents import admin
from incidents.tables import SlaPlan


def _staff(viewer: Viewer) -> None:
    if not viewer.is_staff:
        raise Forbidden("impact views are for staff")


async def _with_plans(result: dict) -> dict:
    plan_ids = sorted({c["sla_plan_id"] for c in result["clients"] if c["sla_plan_id"] is not None})
    names = {r["id"]: r["name"] for r in await SlaPlan.select(SlaPlan.id, SlaPlan.name).where(
        SlaPlan.id.is_in(plan_ids))} if plan_ids else {}
    result["sla_plans"] = [
        {"sla_plan_id": p, "name": names.get(p, f"plan {p}"),
         "client_ids": [c["client_id"] for c in result["clients"] if c["sla_plan_id"] == p]}
        for p in plan_ids
    ]
    return result


async def asset_impact(viewer: Viewer, asset_id: int) -> dict:
    """What would be hit if this asset failed."""
    _staff(viewer)
    if not await Asset.exists().where(Asset.id == asset_id):
        raise NotFound(f"no asset {asset_id}", field="id")
    return await _with_plans(await impact_of([asset_id]))


async def window_impact(viewer: Viewer, window_id: int) -> dict:
    """The clients to warn before a maintenance window: what its asset, the
    assets of its site, or its client's assets would hit while they are down."""
    _staff(viewer)
    window = await admin.get_window(viewer, window_id)
    query = Asset.select(Asset.id).where(Asset.status != "decommissioned")
    if window["asset_id"] is not None:
        ids = [window["asset_id"]]
    elif window["site_id"] is not None:
        ids = [r["id"] for r in await query.where(Asset.site == window["site_id"]).order_by(Asset.id)]
    else:
        ids = [r["id"] for r in await query.where(Asset.client == window["client_id"]).order_by(Asset.id)]
    return {"window": window, **await _with_plans(await impact_of(ids))}
