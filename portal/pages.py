"""Portal pages (/portal) for client users: thin handlers over the same
PortalScope as the portal API, so a page can show nothing the API would not.
Mounted by rackcard/app.py behind a session (the staff login); a staff user
opening the portal is sent to the board."""

from __future__ import annotations

import datetime as dt
from itertools import groupby
from urllib.parse import urlencode
from typing import Annotated, Any

from litestar import Request, get, post
from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body, FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from accounts.errors import DomainError, Invalid
from accounts.http import CurrentViewer, page_viewer
from incidents import kpi, kpi_store, power
from rackcard.i18n import language_of
from portal.scope import REQUEST_KINDS, PortalScope
from portal.scope import Request as PortalRequest

FormBody = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
From = Annotated[str | None, QueryParameter(name="from", required=False)]
#: Knowledge-base articles per portal page.
KB_PAGE = 30
#: Incidents shown on the portal's front page.
RECENT_PAST = 20
#: Graph size (SVG user units) for an asset's samples.
GRAPH_W, GRAPH_H = 600, 120


class NotAClient(PermissionDeniedException):
    """A staff user on the portal (handled by sending them to the board)."""


async def require_client_session(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    viewer = await page_viewer(connection)
    if not viewer.is_client or viewer.client_id is None:
        raise NotAClient("the portal is for client users")


def by_site_and_rack(assets: list[dict]) -> list[dict]:
    """[{"site", "racks": [{"rack", "assets"}]}], sites and racks in name order (no rack last)."""
    out = []
    key_site = lambda a: a["site"]["name"]  # noqa: E731
    for site, in_site in groupby(sorted(assets, key=key_site), key=key_site):
        rows = sorted(in_site, key=lambda a: (a["rack"] is None, (a["rack"] or {}).get("name", ""),
                                              a["position_u"] or 0, a["name"]))
        racks = [{"rack": rack, "assets": list(items)}
                 for rack, items in groupby(rows, key=lambda a: (a["rack"] or {}).get("name"))]
        out.append({"site": site, "racks": racks})
    return out


def graph(samples: list[dict]) -> dict[str, dict]:
    """key -> {"points": "x,y ...", "min", "max", "last"}: an SVG polyline per sampled value."""
    series: dict[str, list[dict]] = {}
    for s in samples:
        series.setdefault(s["key"], []).append(s)
    out = {}
    for key, rows in series.items():
        values = [r["value"] for r in rows]
        low, high = min(values), max(values)
        span = (high - low) or 1.0
        n = max(len(rows) - 1, 1)
        points = " ".join(f"{i * GRAPH_W / n:.1f},{GRAPH_H - (v - low) * GRAPH_H / span:.1f}"
                          for i, v in enumerate(values))
        out[key] = {"points": points, "min": low, "max": high, "last": values[-1], "count": len(values)}
    return out


@get("/", name="portal")
async def overview(viewer: CurrentViewer) -> Template:
    scope = PortalScope(viewer)
    _, open_incidents = await scope.incidents("open", limit=200, offset=0)
    _, past = await scope.incidents("past", limit=RECENT_PAST, offset=0)
    assets = await scope.assets()
    return Template("portal/overview.html", context={
        "company": await scope.company(), "contacts": await scope.contacts(),
        "sites": by_site_and_rack(assets), "assets": assets, "ports": await scope.ports(),
        **await scope.addresses(), "services": await scope.services(),
        "open_incidents": open_incidents, "past_incidents": past, "maintenance": await scope.maintenance(),
        "power_ok": await scope.power_cycle_offered([a["id"] for a in assets]),
        "nav": "portal",
    })


@post("/me/notifications", status_code=303)
async def my_notifications_submit(viewer: CurrentViewer, data: FormBody) -> Redirect:
    """The overview's "my incident e-mail" form (the same change as PATCH /api/v1/portal/me/notifications)."""
    await PortalScope(viewer).set_my_notifications(str(data.get("notify", "")) == "on",
                                                   str(data.get("language", "en")))
    return Redirect("/portal#contacts", status_code=303)


@get("/assets/{asset_id:int}")
async def asset_page(viewer: CurrentViewer, asset_id: FromPath[int]) -> Template:
    scope = PortalScope(viewer)
    samples = await scope.samples(asset_id)  # 404 unless it is the client's own
    asset = next(a for a in await scope.assets() if a["id"] == asset_id)
    return Template("portal/asset.html", context={"asset": asset, "graphs": graph(samples),
                                                  "power_ok": await scope.power_cycle_offered([asset_id]),
                                                  "graph_w": GRAPH_W, "graph_h": GRAPH_H, "nav": "portal"})


@get("/incidents/{incident_id:int}")
async def incident_page(viewer: CurrentViewer, incident_id: FromPath[int]) -> Template:
    scope = PortalScope(viewer)
    return Template("portal/incident.html", context={"incident": await scope.incident(incident_id),
                                                     "company": await scope.company(), "nav": "portal"})


@post("/incidents/{incident_id:int}/comments", status_code=303)
async def comment_submit(viewer: CurrentViewer, incident_id: FromPath[int], data: FormBody) -> Redirect:
    await PortalScope(viewer).comment(incident_id, str(data.get("body", ""))[:20000])
    return Redirect(f"/portal/incidents/{incident_id}#timeline", status_code=303)


def _asset_param(raw: Any) -> int | None:
    raw = str(raw or "").strip()
    return int(raw) if raw.isdigit() else None


async def _suggestions(scope: PortalScope, request: Request, values: dict) -> dict:
    return {"suggestions": await scope.request_suggestions(values.get("category") or None,
                                                           _asset_param(values.get("asset_id")),
                                                           language=language_of(request))}


async def _request_form(scope: PortalScope, request: Request, *, values: dict | None = None,
                        error: DomainError | None = None, status: int = 200) -> Template:
    assets = await scope.assets()
    shared = [p for p in await scope.ports() if p["asset_id"] is not None]
    choices = [(a["id"], a["name"]) for a in assets]
    seen = {i for i, _ in choices}
    for p in shared:
        if p["asset_id"] not in seen:
            seen.add(p["asset_id"])
            choices.append((p["asset_id"], p["equipment"]))
    return Template("portal/request.html", context={
        "kinds": REQUEST_KINDS, "choices": choices, "values": values or {}, "error": error, "nav": "request",
        **await _suggestions(scope, request, values or {}),
    }, status_code=status)


@get("/requests/new")
async def request_form(viewer: CurrentViewer, request: Request) -> Template:
    values = {"asset_id": request.query_params.get("asset_id", ""), "category": request.query_params.get("category", "")}
    return await _request_form(PortalScope(viewer), request, values=values)


@get("/requests/suggestions")
async def request_suggestions(viewer: CurrentViewer, request: Request) -> Template:
    """"Before you file: try this" for the kind and equipment picked so far (htmx refreshes it on the form)."""
    values = {k: request.query_params.get(k, "") for k in ("category", "asset_id")}
    return Template("portal/_suggestions.html", context=await _suggestions(PortalScope(viewer), request, values))


@post("/requests", status_code=303)
async def request_submit(request: Request, viewer: CurrentViewer, data: FormBody) -> Template | Redirect:
    scope = PortalScope(viewer)
    raw_asset = str(data.get("asset_id", "")).strip()
    values = {k: str(data.get(k, "")) for k in ("category", "asset_id", "title", "description")}
    try:
        if raw_asset and not raw_asset.isdigit():
            raise Invalid("pick the equipment from the list", field="asset_id")
        incident = await scope.file_request(PortalRequest(
            kind=values["category"], asset_id=int(raw_asset) if raw_asset else None,
            title=values["title"][:1000], description=values["description"][:10000]))
    except DomainError as error:
        if error.status == 422:
            return await _request_form(scope, request, values=values, error=error, status=422)
        raise
    return Redirect(f"/portal/incidents/{incident['id']}", status_code=303)


@get("/kb")
async def kb_list(viewer: CurrentViewer, q: FromQuery[str] = "", page: FromQuery[int] = 1) -> Template:
    page = max(page, 1)
    count, articles = await PortalScope(viewer).articles(q[:200] or None, limit=KB_PAGE, offset=(page - 1) * KB_PAGE)
    return Template("portal/kb_list.html", context={
        "q": q, "count": count, "articles": articles, "page": page, "pages": max(1, -(-count // KB_PAGE)),
        "page_url": lambda n: "?" + urlencode({"q": q, "page": n}), "nav": "kb"})


@get("/kb/{article_id:int}")
async def kb_article(viewer: CurrentViewer, article_id: FromPath[int]) -> Template:
    return Template("portal/kb_article.html", context={"article": await PortalScope(viewer).article(article_id),
                                                       "nav": "kb"})


@get("/sla")
async def sla_page(viewer: CurrentViewer, from_: From = None, to: FromQuery[str | None] = None) -> Template:
    """The client's own SLA report, printable (the staff report's numbers, for this client only)."""
    scope = PortalScope(viewer)
    query = kpi_store.parse_query(from_=from_, to=to, group_by=None, client_id=scope.client_id, category=None,
                                  bucket=None, now=dt.datetime.now(dt.timezone.utc))
    return Template("portal/sla.html", context={"data": await scope.sla_report(query), "params": query.days(),
                                                "labels": kpi.LABELS, "nav": "sla"})


async def _power_page(viewer, asset_id: int, reason: str = "", error=None) -> Template:
    context, status = await power.confirmation(viewer, asset_id, error)
    return Template("portal/power_cycle.html", status_code=status,
                    context={**context, "incident_id": None, "reason": reason, "nav": "portal"})


@get("/assets/{asset_id:int}/power-cycle")
async def power_cycle_confirm(viewer: CurrentViewer, asset_id: FromPath[int]) -> Template:
    """The confirmation: the device, its outlet and what else loses power (or why not)."""
    await PortalScope(viewer).samples(asset_id)  # 404 unless it is the client's own
    return await _power_page(viewer, asset_id)


@post("/assets/{asset_id:int}/power-cycle", status_code=303)
async def power_cycle_submit(viewer: CurrentViewer, asset_id: FromPath[int], data: FormBody) -> Template | Redirect:
    reason = str(data.get("reason", ""))[:1000]
    done, error = await power.from_form(viewer, asset_id, {"reason": reason})
    if error is not None:
        return await _power_page(viewer, asset_id, reason, error)
    return Redirect(f"/portal/incidents/{done['incident_id']}#timeline", status_code=303)


page_routes: list = [overview, asset_page, incident_page, comment_submit, request_form, request_suggestions,
                     request_submit, kb_list, kb_article, sla_page, power_cycle_confirm, power_cycle_submit,
                     my_notifications_submit]
