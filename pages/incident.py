"""The incident page: everything about one incident and every action on it.

Each action is a small form posting to /incidents/{id}/<action>, handled by the
same service function as the API (incidents.services), then redirected back
(post/redirect/get). From the board, htmx posts the acknowledge and gets a
`board-refresh` event instead of a page.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from database.transactions import atomic
from accounts.errors import Invalid
from accounts.http import CurrentViewer
from cmdb import services as cmdb
from incidents import admin, power, services, workflow
from incidents.overview import check_states, worst_state
from pages.board import next_due
from pages.desk import panel_context
from pages.history import history

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
#: The maintenance-window lengths the incident page offers (minutes).
WINDOW_MINUTES = (30, 60, 120, 240)


def _text(data: dict, name: str, limit: int = 4000) -> str:
    value = data.get(name, "")
    return (value if isinstance(value, str) else str(value)).strip()[:limit]


async def call_list(viewer, client_ids: list[int]) -> list[dict]:
    """Each affected client's contacts, in the order of the incident's clients."""
    if not client_ids:
        return []
    found = await cmdb.contacts.list(viewer, {"client_id": ",".join(map(str, client_ids))}, limit=500)
    by_client: dict[int, list[dict]] = {}
    for c in found["results"]:
        by_client.setdefault(c["client_id"], []).append(c)
    return [{"client_id": i, "contacts": by_client.get(i, [])} for i in client_ids]


@get("/incidents/{incident_id:int}", name="incident")
async def incident_page(request: Request, viewer: CurrentViewer, incident_id: FromPath[int]) -> Template:
    incident = await services.get_incident(viewer, incident_id)
    asset_ids = [a["asset_id"] for a in incident["affected_assets"]]
    checks = await check_states(viewer, asset_ids)
    # the clients who are down first, then those only at risk
    clients = sorted(incident["affected_clients"], key=lambda c: c["impact"] == services.AT_RISK)
    calls = await call_list(viewer, [c["client_id"] for c in clients])
    for entry, client in zip(calls, clients):
        entry["name"], entry["impact"] = client["name"], client["impact"]
    return Template("pages/incident.html", context={
        "incident": incident,
        "checks": checks,
        "asset_state": {i: worst_state(c) for i, c in checks.items()},
        "calls": calls,
        "power_ok": await power.switchable(asset_ids) if workflow.is_open(incident["status"]) else set(),
        "now": services.utcnow(),
        "next_due_at": next_due(incident),
        "is_open": workflow.is_open(incident["status"]),
        "next_line": workflow.next_line(incident["line"]),
        "priorities": workflow.PRIORITIES,
        "window_minutes": WINDOW_MINUTES,
        "nav": "board",
        "history": await history(viewer, "incident", incident_id),
        **await panel_context(request, viewer, incident_id),
    })


def _back(request: Request, incident_id: int) -> Response:
    if "hx-request" in request.headers:
        return Response(content="", status_code=204, headers={"HX-Trigger": "board-refresh"})
    return Redirect(f"/incidents/{incident_id}", status_code=303)


@post("/incidents/{incident_id:int}/acknowledge", status_code=303)
async def acknowledge(request: Request, viewer: CurrentViewer, incident_id: FromPath[int]) -> Response:
    await services.transition(viewer, incident_id, workflow.ACKNOWLEDGED)
    return _back(request, incident_id)


@post("/incidents/{incident_id:int}/assign", status_code=303)
async def assign_to_me(request: Request, viewer: CurrentViewer, incident_id: FromPath[int]) -> Response:
    await services.assign(viewer, incident_id)
    return _back(request, incident_id)


@post("/incidents/{incident_id:int}/transition", status_code=303)
async def transition(request: Request, viewer: CurrentViewer, incident_id: FromPath[int], data: Form) -> Response:
    await services.transition(viewer, incident_id, _text(data, "to", 32), reason=_text(data, "reason"))
    return _back(request, incident_id)


@post("/incidents/{incident_id:int}/resolve", status_code=303)
async def resolve(request: Request, viewer: CurrentViewer, incident_id: FromPath[int], data: Form) -> Response:
    note = _text(data, "note")
    if not note:
        raise Invalid("say what fixed it: a resolution needs a note", field="note")
    await services.transition(viewer, incident_id, workflow.RESOLVED, reason=note)
    return _back(request, incident_id)


@post("/incidents/{incident_id:int}/comment", status_code=303)
async def comment(request: Request, viewer: CurrentViewer, incident_id: FromPath[int], data: Form) -> Response:
    await services.comment(viewer, incident_id, _text(data, "body"), _text(data, "visibility", 16) or "internal")
    return _back(request, incident_id)


@post("/incidents/{incident_id:int}/escalate", status_code=303)
async def escalate(request: Request, viewer: CurrentViewer, incident_id: FromPath[int], data: Form) -> Response:
    await services.escalate(viewer, incident_id, reason=_text(data, "reason"))
    return _back(request, incident_id)


@post("/incidents/{incident_id:int}/priority", status_code=303)
async def priority(request: Request, viewer: CurrentViewer, incident_id: FromPath[int], data: Form) -> Response:
    reason = _text(data, "reason")
    if not reason:
        raise Invalid("a priority change needs a reason", field="reason")
    await services.set_priority(viewer, incident_id, _text(data, "priority", 4), reason=reason)
    return _back(request, incident_id)


@post("/incidents/{incident_id:int}/maintenance", status_code=303)
async def maintenance(request: Request, viewer: CurrentViewer, incident_id: FromPath[int], data: Form) -> Response:
    """A maintenance window on the incident's root assets (all of them when none is root), from now."""
    try:
        minutes = int(_text(data, "minutes", 8))
    except ValueError:
        raise Invalid("minutes must be a whole number", field="minutes") from None
    if not 5 <= minutes <= 7 * 24 * 60:
        raise Invalid("a window lasts from 5 minutes to 7 days", field="minutes")
    incident = await services.get_incident(viewer, incident_id)
    assets = [a for a in incident["affected_assets"] if a["role"] == "root"] or incident["affected_assets"]
    if not assets:
        raise Invalid("the incident has no assets to put in maintenance", field="minutes")
    start = services.utcnow()
    reason = _text(data, "reason", 500) or f"incident #{incident_id}"
    async with atomic():  # every window or none
        for a in assets:
            await admin.create_window(viewer, {"asset_id": a["asset_id"], "starts_at": start.isoformat(),
                                               "ends_at": (start + dt.timedelta(minutes=minutes)).isoformat(),
                                               "reason": reason})
        await services.comment(viewer, incident_id, f"maintenance window {minutes} min on "
                               + ", ".join(a["name"] for a in assets) + f": {reason}", "internal")
    return _back(request, incident_id)


page_routes: list = [incident_page, acknowledge, assign_to_me, transition, resolve, comment, escalate, priority,
                     maintenance]
