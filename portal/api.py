"""Portal API (/api/v1/portal) for client users: thin handlers over
portal.scope.PortalScope, which scopes every query to the viewer's client.
Staff and probe tokens get 403 here (staff have the staff routes)."""

from __future__ import annotations

from typing import Any, Optional

from litestar import Request, Router, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from accounts.audit_log import parse_time
from accounts.errors import Invalid
from accounts.http import CurrentViewer, require_client
from cmdb import paging
from validation.bodies import Body as TypedBody, Id
from incidents.fields import CommentText, Note
from portal.schemas import PortalCompany, PortalContact, PortalEquipment, PortalIncident, PortalWindow, SampleOut
from portal.scope import PortalPowerCycleOut, PortalScope
from portal.scope import Request as PortalRequest


class CommentBody(TypedBody):
    body: CommentText


class PortalPowerCycleBody(TypedBody):
    reason: Note
    incident_id: Optional[Id] = None
    dry_run: bool = False


@get("/company", summary="The client's company, its SLA terms and contacts")
async def company(viewer: CurrentViewer) -> PortalCompany:
    scope = PortalScope(viewer)
    return {**await scope.company(), "contacts": await scope.contacts()}


class MyNotificationsBody(TypedBody):
    notify: bool
    language: str = "en"


@patch("/me/notifications", summary="Your own incident e-mail: on or off, and its language (en | ru)",
       description="Changes the contact linked to your user (support links it); 404 when none is.")
async def my_notifications(viewer: CurrentViewer, data: JSONBody[MyNotificationsBody]) -> PortalContact:
    return await PortalScope(viewer).set_my_notifications(data.notify, data.language)


@get("/assets", summary="The client's equipment with live state, its ports on shared equipment, IPs and services")
async def assets(viewer: CurrentViewer) -> PortalEquipment:
    scope = PortalScope(viewer)
    return {
        "assets": await scope.assets(),
        "ports": await scope.ports(),
        **await scope.addresses(),
        "services": await scope.services(),
    }


@get("/assets/{asset_id:int}/samples", summary="Graph data (voltage, minutes on battery, rx power) of an own asset")
async def samples(viewer: CurrentViewer, asset_id: FromPath[int], key: FromQuery[str | None] = None,
                  since: FromQuery[str | None] = None) -> list[SampleOut]:
    return await PortalScope(viewer).samples(asset_id, key or None, parse_time(since, "since"))


@get("/incidents", summary="The client's incidents, newest first (status=open | past | a status)")
async def incidents(request: Request, viewer: CurrentViewer, status: FromQuery[str | None] = None,
                    limit: FromQuery[int] = paging.DEFAULT_LIMIT, offset: FromQuery[int] = 0) -> paging.Page[PortalIncident]:
    limit, offset = paging.check(limit, offset)
    count, results = await PortalScope(viewer).incidents(status or None, limit=limit, offset=offset)
    return paging.page(str(request.url), count, results, limit, offset)


@get("/incidents/{incident_id:int}", summary="One of the client's incidents with its public timeline and SLA")
async def incident(viewer: CurrentViewer, incident_id: FromPath[int]) -> PortalIncident:
    return await PortalScope(viewer).incident(incident_id)


@post("/incidents/{incident_id:int}/comments", summary="Comment on one of the client's incidents")
async def comment(viewer: CurrentViewer, incident_id: FromPath[int], data: JSONBody[CommentBody]) -> PortalIncident:
    return await PortalScope(viewer).comment(incident_id, data.body)


@get("/maintenance", summary="Maintenance windows affecting the client, current and upcoming")
async def maintenance(viewer: CurrentViewer) -> list[PortalWindow]:
    return await PortalScope(viewer).maintenance()


def _optional_int(data: dict, name: str) -> int | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        raise Invalid(f"{name} must be an id", field=name)
    return int(value)


def _text(data: dict, name: str) -> str:
    value = data.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Invalid(f"{name} must be text", field=name)
    return value


@post("/requests", summary="File a request (reboot | no_internet | other) on an asset: an incident for L1")
async def file_request(viewer: CurrentViewer, data: JSONBody[dict[str, Any]]) -> PortalIncident:
    extra = sorted(set(data) - {"title", "category", "asset_id", "description"})
    if extra:
        raise Invalid(f"unknown field {extra[0]}", field=extra[0])
    return await PortalScope(viewer).file_request(PortalRequest(
        kind=_text(data, "category"), asset_id=_optional_int(data, "asset_id"),
        title=_text(data, "title"), description=_text(data, "description")))


@post("/assets/{asset_id:int}/power-cycle", status_code=202,
      summary="Power-cycle an own device through its PDU outlet (when the contract allows self-service)")
async def power_cycle(viewer: CurrentViewer, asset_id: FromPath[int], data: JSONBody[PortalPowerCycleBody]
                      ) -> PortalPowerCycleOut:
    return await PortalScope(viewer).power_cycle(asset_id, data.reason, data.incident_id, data.dry_run)


router = Router(
    path="/portal",
    guards=[require_client],
    tags=["portal"],
    route_handlers=[company, my_notifications, assets, samples, incidents, incident, comment, maintenance,
                    file_request, power_cycle],
)

api_routes = [router]
