"""The live views over HTTP (/api/v1, staff): a site's topology with state,
rack elevations with free units, where an asset fits in a rack, and the
asset overview the asset page is drawn from. Thin handlers over incidents.live."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import FromPath, QueryParameter

from accounts.http import CurrentViewer, require_staff
from cmdb.services import MAX_RACK_U
from incidents import live
from incidents.schemas import AssetOverview, RackElevation, RackSpace, SiteTopology

STAFF = [require_staff]


@get("/sites/{site_id:int}/topology", guards=STAFF, tags=["sites"],
     summary="The site's dependency graph with live state: assets, what they hang on elsewhere, client ports")
async def site_topology(viewer: CurrentViewer, site_id: FromPath[int]) -> SiteTopology:
    return await live.site_topology(viewer, site_id)


@get("/sites/{site_id:int}/racks", guards=STAFF, tags=["sites"],
     summary="Every rack of the site with its assets at their U (live state) and the free units")
async def site_racks(viewer: CurrentViewer, site_id: FromPath[int]) -> list[RackElevation]:
    return await live.rack_elevations(viewer, site_id=site_id)


@get("/racks/{rack_id:int}/elevation", guards=STAFF, tags=["racks"],
     summary="The rack's assets at their U with live state, and the free units")
async def rack_elevation(viewer: CurrentViewer, rack_id: FromPath[int]) -> RackElevation:
    return (await live.rack_elevations(viewer, rack_id=rack_id))[0]


@get("/racks/{rack_id:int}/space", guards=STAFF, tags=["racks"],
     summary="Where an asset `height_u` high fits (asset_id: the asset being moved, its own units count as free)")
async def rack_space(
    viewer: CurrentViewer, rack_id: FromPath[int],
    height_u: Annotated[int, QueryParameter(ge=1, le=MAX_RACK_U)] = 1,
    asset_id: Annotated[int | None, QueryParameter(ge=1)] = None,
) -> RackSpace:
    return await live.rack_space(viewer, rack_id, height_u, asset_id)


@get("/assets/{asset_id:int}/overview", guards=STAFF, tags=["assets"],
     summary="The asset with its ports (link state, client), checks, dependencies up and down with state, "
     "impact if it failed, incidents and the last 24 h of samples")
async def asset_overview(viewer: CurrentViewer, asset_id: FromPath[int]) -> AssetOverview:
    return await live.asset_view(viewer, asset_id)


api_routes = [site_topology, site_racks, rack_elevation, rack_space, asset_overview]
