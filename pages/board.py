"""The NOC board (/): open incidents, the most urgent first, and a strip of
sites coloured by their checks. htmx polls the same URL every few seconds and
gets only the board's body (same filters, from the URL)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import Template

from accounts.errors import Invalid
from accounts.http import CurrentViewer
from accounts.viewer import Viewer
from incidents import workflow
from incidents.overview import site_health
from incidents.services import IncidentFilter, list_incidents, utcnow

#: The board shows at most this many open incidents (a storm correlates into few).
BOARD_LIMIT = 500
#: Seconds between two refreshes of the board's body.
REFRESH_S = 5
#: Incidents resolved this recently stay on the board, greyed, so the shift sees what just healed.
RECENT = dt.timedelta(minutes=30)
RECENT_LIMIT = 10


def next_due(incident: dict) -> dt.datetime | None:
    """The next SLA deadline: the response due time until someone responded, then resolution."""
    dues = [incident["resolution_due_at"]]
    if incident["first_response_at"] is None:
        dues.append(incident["response_due_at"])
    dues = [d for d in dues if d is not None]
    return min(dues) if dues else None


def urgency_order(incidents: list[dict], now: dt.datetime) -> list[dict]:
    """Breached first, then by time left to the next SLA deadline, then priority, then age."""
    far = now + dt.timedelta(days=3650)

    def key(i: dict):
        breached = i["response_breached"] or i["resolution_breached"]
        return (not breached, next_due(i) or far, i["priority"], i["opened_at"])

    return sorted(incidents, key=key)


@dataclass(frozen=True)
class BoardFilter:
    """The board's filters, as they appear in its URL."""

    line: str | None = None
    category: str | None = None
    site: int | None = None
    client: int | None = None
    mine: bool = False

    def query(self) -> str:
        parts = [f"{k}={v}" for k, v in (("line", self.line), ("category", self.category), ("site", self.site),
                                          ("client", self.client)) if v]
        if self.mine:
            parts.append("mine=1")
        return "&".join(parts)


async def board_data(viewer: Viewer, f: BoardFilter, now: dt.datetime) -> dict:
    if f.line and f.line not in workflow.LINES:
        raise Invalid(f"line must be one of {', '.join(workflow.LINES)}", field="line")
    _, rows = await list_incidents(
        viewer, IncidentFilter(status="open", category=f.category, site_id=f.site, client_id=f.client),
        limit=BOARD_LIMIT, offset=0)
    if f.line:
        rows = [r for r in rows if r["line"] == f.line]
    if f.mine:
        rows = [r for r in rows if r["assignee"] == viewer.email]
    incidents = urgency_order(rows, now)
    for i in incidents:
        i["next_due_at"] = next_due(i)
        i["breached"] = i["response_breached"] or i["resolution_breached"]
    counts = {p: sum(1 for i in incidents if i["priority"] == p) for p in workflow.PRIORITIES}
    _, resolved = await list_incidents(
        viewer, IncidentFilter(status=workflow.RESOLVED, category=f.category, site_id=f.site, client_id=f.client),
        limit=RECENT_LIMIT * 3, offset=0)
    recent = sorted((r for r in resolved if r["resolved_at"] and now - r["resolved_at"] <= RECENT
                     and (not f.line or r["line"] == f.line)), key=lambda r: r["resolved_at"], reverse=True)
    return {"incidents": incidents, "recent": recent[:RECENT_LIMIT], "sites": await site_health(viewer),
            "counts": counts, "now": now}


@get("/", name="board")
async def board(
    request: Request,
    viewer: CurrentViewer,
    line: FromQuery[str | None] = None,
    category: FromQuery[str | None] = None,
    site: FromQuery[int | None] = None,
    client: FromQuery[int | None] = None,
    mine: FromQuery[bool] = False,
    wall: FromQuery[bool] = False,
) -> Template:
    f = BoardFilter(line=line or None, category=category or None, site=site, client=client, mine=mine)
    context = {
        **await board_data(viewer, f, utcnow()),
        "filters": f,
        "wall": wall,
        "refresh_url": "/?" + "&".join(part for part in (f.query(), "wall=1" if wall else "") if part),
        "refresh_s": REFRESH_S,
        "lines": workflow.LINES,
        "categories": workflow.CATEGORIES,
        "nav": "board",
    }
    if "hx-request" in request.headers and request.headers.get("hx-target") == "board-body":
        return Template("pages/_board_body.html", context={**context, "fragment": True})
    return Template("pages/board.html", context=context)


page_routes: list = [board]
