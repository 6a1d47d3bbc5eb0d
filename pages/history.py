"""An object's history on its staff page (client card, asset, site, rack,
incident, and the edit form of every other audited record): the latest audit entries — who, when, from where, what changed,
before and after, secrets already masked by accounts.audit_log — and
/history/{type}/{id}, the whole of it page by page."""

from __future__ import annotations

from typing import Any

from litestar import get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from accounts import audit_log
from accounts.errors import NotFound
from accounts.http import CurrentViewer
from accounts.viewer import Viewer

#: Entries shown on the object's own page; the rest is one link away.
ON_PAGE = 8
PAGE = 50
#: Where each object's page is, to link back from its full history; the records
#: edited on list forms (contacts, prefixes, SLA plans ...) add theirs (`register`).
OBJECT_URLS = {"client": "/clients/{}", "asset": "/assets/{}", "site": "/sites/{}", "rack": "/racks/{}",
               "incident": "/incidents/{}"}


def register(object_type: str, url: str) -> None:
    """`url` ("/contacts/{}/edit") is where an object of `object_type` is shown with its history."""
    OBJECT_URLS.setdefault(object_type, url)


def changes_of(entry: dict) -> list[dict[str, Any]]:
    """[{"field", "before", "after", "changed"}]: an update's [before, after]
    pairs side by side; other actions' values as "after"."""
    out = []
    for name, value in (entry.get("changes") or {}).items():
        if entry["action"] == "update" and isinstance(value, list) and len(value) == 2:
            out.append({"field": name, "before": value[0], "after": value[1], "changed": True})
        else:
            out.append({"field": name, "before": None, "after": value, "changed": False})
    return out


async def history(viewer: Viewer, object_type: str, object_id: int, *, limit: int = ON_PAGE,
                  offset: int = 0) -> dict[str, Any]:
    """The template's `history`: the entries with their changes laid out, and the count."""
    count, entries = await audit_log.object_history(viewer, object_type, object_id, limit=limit, offset=offset)
    return {"type": object_type, "id": object_id, "count": count, "shown": len(entries),
            "full_url": f"/history/{object_type}/{object_id}",
            "entries": [{**e, "fields": changes_of(e)} for e in entries]}


@get("/history/{object_type:str}/{object_id:int}", name="object_history")
async def history_page(viewer: CurrentViewer, object_type: FromPath[str], object_id: FromPath[int],
                       page: FromQuery[int] = 1) -> Template:
    if object_type not in OBJECT_URLS:
        raise NotFound(f"no history of {object_type!r} objects", field="object_type")
    page = max(page, 1)
    found = await history(viewer, object_type, object_id, limit=PAGE, offset=(page - 1) * PAGE)
    return Template("pages/history.html", context={
        "history": found, "page": page, "pages": max(1, -(-found["count"] // PAGE)),
        "object_url": OBJECT_URLS[object_type].format(object_id), "page_url": lambda n: f"?page={n}", "nav": "",
    })


page_routes: list = [history_page]
