"""The NOC board (/): open incidents, the most urgent first, kept live by htmx
polling of its fragment (/board/rows)."""

from __future__ import annotations

import datetime as dt

from litestar import get
from litestar.response import Template

from accounts.http import CurrentViewer
from incidents.services import IncidentFilter, list_incidents, utcnow

#: The board shows at most this many open incidents (a storm correlates into few).
BOARD_LIMIT = 500


def next_due(incident: dict, now: dt.datetime) -> dt.datetime | None:
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
        due = next_due(i, now) or far
        return (not breached, due, i["priority"], i["opened_at"])

    return sorted(incidents, key=key)


async def board_rows(viewer, now: dt.datetime) -> list[dict]:
    _, rows = await list_incidents(viewer, IncidentFilter(status="open"), limit=BOARD_LIMIT, offset=0)
    return urgency_order(rows, now)


@get("/", name="board")
async def board(viewer: CurrentViewer) -> Template:
    now = utcnow()
    return Template("pages/board.html", context={"incidents": await board_rows(viewer, now), "now": now,
                                                 "nav": "board"})


page_routes: list = [board]
