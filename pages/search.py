"""Search everywhere: one box in the header, suggestions as you type, Enter
opens the best match. Anything that belongs to a client (a contact's phone, an
address inside its prefix, the serial of its equipment) opens that client's card."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from litestar import get
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from accounts.http import CurrentViewer
from accounts.viewer import Viewer
from cmdb.search import search as cmdb_search
from incidents.services import get_incident
from accounts.errors import NotFound

SUGGESTIONS = 8
RESULTS = 50
MAX_QUERY = 200
#: "#123", "inc 123", "INC-123": an incident number for sure; plain digits may be one too.
INCIDENT_NUMBER = re.compile(r"^\s*(?:#|inc(?:ident)?[\s\-#]*)(\d{1,9})\s*$", re.IGNORECASE)
DIGITS = re.compile(r"^\s*(\d{1,9})\s*$")


#: The page of a hit that belongs to no client, by its type (shared equipment, a site, a rack).
OWN_PAGES = {"asset": "/assets/{id}", "site": "/sites/{id}", "rack": "/racks/{id}"}
#: Hits without a page of their own open their list, filtered to them.
LIST_PAGES = {"prefix": "/prefixes", "ip_address": "/ip-addresses"}


def page_of(hit: dict) -> str | None:
    """The page a search hit opens: its client's card when it has a client
    (a contact's card is its client's), else its own page, else its list filtered to it."""
    if hit["type"] == "incident":
        return f"/incidents/{hit['id']}"
    if hit["type"] == "client":
        return f"/clients/{hit['id']}"
    if hit.get("client_id"):
        return f"/clients/{hit['client_id']}"
    if hit["type"] in OWN_PAGES:
        return OWN_PAGES[hit["type"]].format(id=hit["id"])
    if hit["type"] in LIST_PAGES:
        return f"{LIST_PAGES[hit['type']]}?{urlencode({'q': hit['label']})}"
    return None


async def _incident_hit(viewer: Viewer, number: int) -> dict | None:
    try:
        i = await get_incident(viewer, number)
    except NotFound:
        return None
    return {"type": "incident", "id": i["id"], "label": f"#{i['id']} {i['title']}", "client_id": None,
            "client_name": ", ".join(c["name"] for c in i["affected_clients"][:3]) or None,
            "matched": "number", "detail": f"{i['priority']} · {i['status']}"}


async def find(viewer: Viewer, q: str, limit: int) -> list[dict]:
    """cmdb's search plus incident numbers; each hit gets the page it opens."""
    q = (q or "").strip()[:MAX_QUERY]
    if not q:
        return []
    explicit = INCIDENT_NUMBER.match(q)
    hits: list[dict] = []
    if explicit:
        found = await _incident_hit(viewer, int(explicit.group(1)))
        hits = [found] if found else []
    else:
        hits = await cmdb_search(viewer, q, limit)
        digits = DIGITS.match(q)
        if digits:
            found = await _incident_hit(viewer, int(digits.group(1)))
            if found:
                hits.append(found)
    for h in hits:
        h["page"] = page_of(h)
    return hits[:limit]


@get("/search/suggest")
async def suggest(viewer: CurrentViewer, q: FromQuery[str] = "") -> Template:
    return Template("pages/_search_suggest.html", context={"q": q, "hits": await find(viewer, q, SUGGESTIONS)})


@get("/search", name="search")
async def search_page(viewer: CurrentViewer, q: FromQuery[str] = "", all: FromQuery[bool] = False) -> Template | Redirect:
    hits = await find(viewer, q, RESULTS)
    if not all and hits and hits[0]["page"]:
        return Redirect(hits[0]["page"], status_code=303)
    return Template("pages/search.html", context={"q": q, "hits": hits, "nav": "search"})


page_routes: list = [suggest, search_page]
