"""Incidents REST API (/api/v1): thin handlers over incidents.services and
incidents.admin. Staff only for now (the portal issue opens scoped reads to
client users); webhooks are for administrators."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get, patch, post
from litestar.params import FromQuery, JSONBody

from accounts.errors import Invalid
from accounts.http import CurrentViewer, require_admin, require_staff
from validation.bodies import Body as TypedBody, Id
from validation.params import Limit, Offset, PathId, QueryId
from cmdb import paging
from incidents import admin, impact, services
from incidents.fields import Category, CommentText, Description, ManualSource, Note, Priority, Status, Title, Visibility
from incidents.schemas import (DeliveryOut, ImpactView, IncidentDetail, IncidentOut, SlaPlanOut, WebhookOut, WindowImpact,
                               WindowOut)

Body = JSONBody[dict[str, Any]]
STAFF = [require_staff]
ADMIN = [require_admin]


# ---------------------------------------------------------------- incidents


class ManualIncidentBody(TypedBody):
    title: Title
    category: Category
    source: ManualSource
    client_id: Id | None = None  # optional: the clients behind asset_ids are derived from the topology
    description: Description = ""
    asset_ids: list[Id] = []
    priority: Priority | None = None


class TransitionBody(TypedBody):
    to: Status
    reason: Note = ""


class CommentBody(TypedBody):
    body: CommentText
    visibility: Visibility = "internal"


class EscalateBody(TypedBody):
    reason: Note = ""


@get("/incidents", guards=STAFF, summary="List incidents (status=open: every status before resolved)",
     description=f"`sort`: one of {', '.join(services.SORTS)}, `-` first for descending (default: newest first).")
async def list_incidents(
    request: Request,
    viewer: CurrentViewer,
    status: FromQuery[str | None] = None,
    client_id: QueryId = None,
    asset_id: QueryId = None,
    site_id: QueryId = None,
    category: FromQuery[str | None] = None,
    sort: FromQuery[str | None] = None,
    limit: Limit = paging.DEFAULT_LIMIT,
    offset: Offset = 0,
) -> paging.Page[IncidentOut]:
    limit, offset = paging.check(limit, offset)
    f = services.IncidentFilter(status=status, client_id=client_id, asset_id=asset_id, site_id=site_id,
                                category=category)
    count, results = await services.list_incidents(viewer, f, limit=limit, offset=offset, sort=sort)
    return paging.page(str(request.url), count, results, limit, offset)


@get("/incidents/{incident_id:int}", guards=STAFF, summary="One incident with affected assets/clients, timeline, SLA")
async def get_incident(viewer: CurrentViewer, incident_id: PathId) -> IncidentDetail:
    return await services.get_incident(viewer, incident_id)


@post("/incidents", guards=STAFF, summary="Open an incident from a call, e-mail or chat",
      description="client_id or asset_ids (or both): the clients behind the assets (downstream over power and "
      "uplink edges) are affected, `down` or `at_risk`.")
async def create_incident(viewer: CurrentViewer, data: JSONBody[ManualIncidentBody]) -> IncidentDetail:
    return await services.create_manual(
        viewer,
        services.ManualIncident(
            title=data.title, category=data.category, client_id=data.client_id, source=data.source,
            description=data.description, asset_ids=tuple(data.asset_ids), priority=data.priority,
        ),
    )


@patch("/incidents/{incident_id:int}", guards=STAFF, summary="Change the priority (due times follow)")
async def update_incident(viewer: CurrentViewer, incident_id: PathId, data: Body) -> IncidentDetail:
    extra = sorted(set(data) - {"priority", "reason"})
    if extra or "priority" not in data:
        raise Invalid("only 'priority' (and 'reason') can be changed here", field=(extra or ["priority"])[0])
    return await services.set_priority(viewer, incident_id, str(data["priority"]), reason=str(data.get("reason", "")))


@post("/incidents/{incident_id:int}/transition", guards=STAFF, status_code=200,
      summary="Move along the workflow; an illegal move is a 409 listing the allowed ones")
async def transition(viewer: CurrentViewer, incident_id: PathId, data: JSONBody[TransitionBody]) -> IncidentDetail:
    return await services.transition(viewer, incident_id, data.to, reason=data.reason)


@post("/incidents/{incident_id:int}/comments", guards=STAFF, summary="Add an internal or public comment")
async def add_comment(viewer: CurrentViewer, incident_id: PathId, data: JSONBody[CommentBody]) -> IncidentDetail:
    return await services.comment(viewer, incident_id, data.body, data.visibility)


@post("/incidents/{incident_id:int}/escalate", guards=STAFF, status_code=200,
      summary="Escalate to the next support line (L1 → L2 → L3 → vendor)")
async def escalate(viewer: CurrentViewer, incident_id: PathId, data: JSONBody[EscalateBody | None] = None) -> IncidentDetail:
    return await services.escalate(viewer, incident_id, reason=data.reason if data else "")


# ---------------------------------------------------------------- SLA plans


@get("/sla-plans", guards=STAFF, summary="SLA plans")
async def list_plans(viewer: CurrentViewer) -> list[SlaPlanOut]:
    return await admin.list_plans(viewer)


@get("/sla-plans/{plan_id:int}", guards=STAFF, summary="One SLA plan")
async def get_plan(viewer: CurrentViewer, plan_id: PathId) -> SlaPlanOut:
    return await admin.get_plan(viewer, plan_id)


@post("/sla-plans", guards=ADMIN, summary="Create an SLA plan")
async def create_plan(viewer: CurrentViewer, data: Body) -> SlaPlanOut:
    return await admin.create_plan(viewer, data)


@patch("/sla-plans/{plan_id:int}", guards=ADMIN, summary="Change an SLA plan (open incidents under it follow)")
async def update_plan(viewer: CurrentViewer, plan_id: PathId, data: Body) -> SlaPlanOut:
    return await admin.update_plan(viewer, plan_id, data)


@delete("/sla-plans/{plan_id:int}", guards=ADMIN, summary="Delete an SLA plan no client uses")
async def delete_plan(viewer: CurrentViewer, plan_id: PathId) -> None:
    await admin.delete_plan(viewer, plan_id)


# ---------------------------------------------------------------- maintenance windows


@get("/maintenance-windows", guards=STAFF, summary="Maintenance windows, newest first (active_at: those open then)",
     description="when: active | upcoming | past (now); site_id: on the site or one of its assets; "
     "sort: starts_at, ends_at or reason, '-' first for descending")
async def list_windows(
    request: Request, viewer: CurrentViewer, active_at: FromQuery[str | None] = None,
    when: FromQuery[str | None] = None, site_id: QueryId = None,
    asset_id: QueryId = None, sort: FromQuery[str | None] = None,
    limit: Limit = paging.DEFAULT_LIMIT, offset: Offset = 0,
) -> paging.Page[WindowOut]:
    limit, offset = paging.check(limit, offset)
    count, results = await admin.list_windows(viewer, active_at=active_at or None, when=when, site_id=site_id,
                                              asset_id=asset_id, sort=sort or None, limit=limit, offset=offset)
    return paging.page(str(request.url), count, results, limit, offset)


@get("/maintenance-windows/{window_id:int}", guards=STAFF, summary="One maintenance window")
async def get_window(viewer: CurrentViewer, window_id: PathId) -> WindowOut:
    return await admin.get_window(viewer, window_id)


@post("/maintenance-windows", guards=STAFF, summary="Schedule a maintenance window on an asset, site or client")
async def create_window(viewer: CurrentViewer, data: Body) -> WindowOut:
    return await admin.create_window(viewer, data)


@patch("/maintenance-windows/{window_id:int}", guards=STAFF, summary="Change a maintenance window")
async def update_window(viewer: CurrentViewer, window_id: PathId, data: Body) -> WindowOut:
    return await admin.update_window(viewer, window_id, data)


@delete("/maintenance-windows/{window_id:int}", guards=STAFF, summary="Delete a maintenance window")
async def delete_window(viewer: CurrentViewer, window_id: PathId) -> None:
    await admin.delete_window(viewer, window_id)


@get("/maintenance-windows/{window_id:int}/impact", guards=STAFF,
     summary="The clients to warn: what the window's asset, site or client's assets would hit while down")
async def window_impact(viewer: CurrentViewer, window_id: PathId) -> WindowImpact:
    return await impact.window_impact(viewer, window_id)


@get("/assets/{asset_id:int}/impact", guards=STAFF,
     summary="What would be hit if this asset failed: downstream assets (down / at_risk), clients, services, SLA plans",
     description="Downstream over power and uplink edges; an asset with another feed of the same kind still up "
     "is `at_risk`, otherwise `down`. A client or service is `down` when any asset it relies on is down.")
async def asset_impact(viewer: CurrentViewer, asset_id: PathId) -> ImpactView:
    return await impact.asset_impact(viewer, asset_id)


# ---------------------------------------------------------------- webhooks (administrators)


@get("/webhooks", guards=ADMIN, summary="Webhook endpoints")
async def list_webhooks(viewer: CurrentViewer) -> list[WebhookOut]:
    return await admin.list_webhooks(viewer)


@get("/webhooks/deliveries", guards=ADMIN, summary="Notification delivery log (webhooks and e-mail)")
async def list_deliveries(
    request: Request, viewer: CurrentViewer, incident_id: QueryId = None,
    limit: Limit = paging.DEFAULT_LIMIT, offset: Offset = 0,
) -> paging.Page[DeliveryOut]:
    limit, offset = paging.check(limit, offset)
    count, results = await admin.deliveries(viewer, incident_id=incident_id, limit=limit, offset=offset)
    return paging.page(str(request.url), count, results, limit, offset)


@get("/webhooks/{webhook_id:int}", guards=ADMIN, summary="One webhook endpoint")
async def get_webhook(viewer: CurrentViewer, webhook_id: PathId) -> WebhookOut:
    return await admin.get_webhook(viewer, webhook_id)


@post("/webhooks", guards=ADMIN, summary="Register a webhook endpoint; the response shows its signing secret")
async def create_webhook(viewer: CurrentViewer, data: Body) -> WebhookOut:
    return await admin.create_webhook(viewer, data)


@patch("/webhooks/{webhook_id:int}", guards=ADMIN, summary="Change a webhook endpoint")
async def update_webhook(viewer: CurrentViewer, webhook_id: PathId, data: Body) -> WebhookOut:
    return await admin.update_webhook(viewer, webhook_id, data)


@delete("/webhooks/{webhook_id:int}", guards=ADMIN, summary="Delete a webhook endpoint")
async def delete_webhook(viewer: CurrentViewer, webhook_id: PathId) -> None:
    await admin.delete_webhook(viewer, webhook_id)


api_routes = [
    list_incidents, get_incident, create_incident, update_incident, transition, add_comment, escalate,
    list_plans, get_plan, create_plan, update_plan, delete_plan,
    list_windows, get_window, create_window, update_window, delete_window, window_impact, asset_impact,
    list_webhooks, list_deliveries, get_webhook, create_webhook, update_webhook, delete_webhook,
]
