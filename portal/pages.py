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
from litestar.response import Redirect, Response, Template

from accounts.errors import DomainError, Invalid
import validation
from accounts.http import CurrentViewer, page_viewer
from incidents import kpi, kpi_store, power
from pages.reports import sla_csv_links
from validation.spreadsheet import csv_download
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
    return validation.id_or_name(raw)


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
        try:
            asset_id = validation.optional_ident(raw_asset, "asset_id")
        except Invalid:
            raise Invalid("pick the equipment from the list", field="asset_id") from None
        incident = await scope.file_request(PortalRequest(
            kind=values["category"], asset_id=asset_id,
            title=values["title"][:1000], description=values["description"][:10000]))
    except DomainError as error:
        if error.status == 422:
            return await _request_form(scope, request, values=values, error=error, status=422)
        raise
    if values["category"] == "reboot" and asset_id in await scope.power_cycle_offered([asset_id] if asset_id else []):
        # the device can be power-cycled from here: offer it on the request just filed
        return Redirect(f"/portal/assets/{asset_id}/power-cycle?incident_id={incident['id']}", status_code=303)
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


def _sla_query(scope: PortalScope, from_: str | None, to: str | None) -> kpi_store.Query:
    """The SLA report's period, for the client's own id whatever the query string says."""
    return kpi_store.parse_query(from_=from_, to=to, group_by=None, client_id=scope.client_id, category=None,
                                 bucket=None, now=dt.datetime.now(dt.timezone.utc))


@get("/sla")
async def sla_page(viewer: CurrentViewer, from_: From = None, to: FromQuery[str | None] = None) -> Template:
    """The client's own SLA report, printable (the staff report's numbers, for this client only)."""
    scope = PortalScope(viewer)
    query = _sla_query(scope, from_, to)
    params = query.days()
    return Template("portal/sla.html", context={"data": await scope.sla_report(query), "params": params,
                                                "labels": kpi.LABELS, "nav": "sla",
                                                "csv": sla_csv_links("/portal/sla/csv", params)})


@get("/sla/csv")
async def sla_csv(viewer: CurrentViewer, table: FromQuery[str] = "incidents", from_: From = None,
                  to: FromQuery[str | None] = None) -> Response:
    """One table of the client's own SLA report as CSV (the portal page's numbers)."""
    kpi_store.check_sla_table(table)
    scope = PortalScope(viewer)
    name, content = await kpi_store.sla_export_csv(viewer, await scope.sla_report(_sla_query(scope, from_, to)), table)
    return csv_download(content, name)


async def _power_page(viewer, asset_id: int, reason: str = "", error=None, incident: dict | None = None) -> Template:
    context, status = await power.confirmation(viewer, asset_id, error)
    return Template("portal/power_cycle.html", status_code=status,
                    context={**context, "incident_id": incident["id"] if incident else None, "incident": incident,
                             "reason": reason, "nav": "portal"})


async def _own_incident(scope: PortalScope, raw: Any) -> dict | None:
    """The client's incident a power-cycle goes on (a reboot request just filed), or None."""
    incident_id = validation.optional_ident(raw, "incident_id")
    return await scope.incident(incident_id) if incident_id is not None else None  # 404 unless it is theirs


@get("/assets/{asset_id:int}/power-cycle")
async def power_cycle_confirm(viewer: CurrentViewer, asset_id: FromPath[int],
                              incident_id: FromQuery[str | None] = None) -> Template:
    """The confirmation: the device, its outlet and what else loses power (or why not);
    with `incident_id`, the power-cycle goes on that incident (the reboot request filed)."""
    scope = PortalScope(viewer)
    await scope.samples(asset_id)  # 404 unless it is the client's own
    return await _power_page(viewer, asset_id, incident=await _own_incident(scope, incident_id))


@post("/assets/{asset_id:int}/power-cycle", status_code=303)
async def power_cycle_submit(viewer: CurrentViewer, asset_id: FromPath[int], data: FormBody) -> Template | Redirect:
    reason = str(data.get("reason", ""))[:1000]
    incident = await _own_incident(PortalScope(viewer), data.get("incident_id"))
    done, error = await power.from_form(viewer, asset_id, {"reason": reason,
                                                           "incident_id": incident["id"] if incident else None})
    if error is not None:
        return await _power_page(viewer, asset_id, reason, error, incident)
    return Redirect(f"/portal/incidents/{done['incident_id']}#timeline", status_code=303)


page_routes: list = [overview, asset_page, incident_page, comment_submit, request_form, request_suggestions,
                     request_submit, kb_list, kb_article, sla_page, sla_csv, power_cycle_confirm, power_cycle_submit,
                     my_notifications_submit]
