"""The asset, site and rack pages: the live views of incidents.live drawn as
server-made SVG (pages.drawings), refreshed in place by htmx.

/assets/{id}            details, ports with link state and client, checks with
                        since, graphs of samples, dependencies up and down with
                        state, impact if it failed, incidents, "poll now"
/sites/{id}             the site's topology and the elevation of each rack
/sites/{id}/live        the same drawings alone (htmx refresh)
/racks/{id}             one rack: elevation, its assets, free units
"""

from __future__ import annotations

import datetime as dt

from litestar import get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from accounts.errors import DomainError
from accounts.http import CurrentViewer
from incidents import checks, live, power
from pages.drawings import HELPERS
from pages.history import history

#: How often (seconds) the site page redraws its topology and racks.
REFRESH_S = 30


def _window(now: dt.datetime) -> dict:
    """Graphs end now (a silent probe shows as an empty stretch) and start at the first sample."""
    return {"chart_start": None, "chart_end": now}


@get("/assets/{asset_id:int}", name="asset_page")
async def asset_page(viewer: CurrentViewer, asset_id: FromPath[int]) -> Template:
    now = dt.datetime.now(dt.timezone.utc)
    view = await live.asset_view(viewer, asset_id, now=now)
    return Template("pages/asset.html", context={**HELPERS, **_window(now), "view": view, "asset": view["asset"],
                                                  "history": await history(viewer, "asset", asset_id),
                                                  "power_ok": asset_id in await power.switchable([asset_id]),
                                                  "nav": "inventory"})


@post("/assets/{asset_id:int}/poll", name="asset_poll", status_code=200)
async def asset_poll(viewer: CurrentViewer, asset_id: FromPath[int]) -> Template:
    """Poll now: the observations as a fragment (htmx puts it under the button)."""
    try:
        result = await checks.poll_asset_now(asset_id, viewer)
        error = None
    except DomainError as exc:
        result, error = None, exc.detail
    return Template("pages/_poll_result.html", context={"result": result, "error": error})


async def _site_context(viewer, site_id: int) -> dict:
    topology = await live.site_topology(viewer, site_id)
    racks = await live.rack_elevations(viewer, site_id=site_id)
    return {**HELPERS, "topology": topology, "site": topology["site"], "racks": racks, "refresh_s": REFRESH_S}


@get("/sites/{site_id:int}", name="site_page")
async def site_page(viewer: CurrentViewer, site_id: FromPath[int]) -> Template:
    context = await _site_context(viewer, site_id)
    unracked = [n for n in context["topology"]["nodes"] if n["type"] == "asset" and not n["outside"] and not n["rack_id"]]
    return Template("pages/site.html", context={**context, "unracked": unracked, "nav": "inventory",
                                                "history": await history(viewer, "site", site_id)})


@get("/sites/{site_id:int}/live", name="site_live")
async def site_live(viewer: CurrentViewer, site_id: FromPath[int]) -> Template:
    return Template("pages/_site_live.html", context=await _site_context(viewer, site_id))


@get("/racks/{rack_id:int}", name="rack_page")
async def rack_page(viewer: CurrentViewer, rack_id: FromPath[int]) -> Template:
    rack = (await live.rack_elevations(viewer, rack_id=rack_id))[0]
    return Template("pages/rack.html", context={**HELPERS, "rack": rack, "nav": "inventory",
                                                "history": await history(viewer, "rack", rack_id)})


@get("/assets/{asset_id:int}/poll", name="asset_poll_get", include_in_schema=False)
async def asset_poll_get(asset_id: FromPath[int]) -> Redirect:
    """A bookmarked or reloaded poll URL goes back to the asset page."""
    return Redirect(f"/assets/{asset_id}")


page_routes: list = [asset_page, asset_poll, asset_poll_get, site_page, site_live, rack_page]
