"""The authorization matrix: every route of the app, read from the router, for
every kind of caller, with two clients' data in the database.

ADD YOUR ROUTE TO `ROUTES` BELOW (method, path as the router spells it) with
who may call it. A route the app has and the table lacks fails
`test_every_route_is_listed`; so does a listed route the app no longer has.

For each route and each caller the test checks the status (a caller not
allowed gets 403 — 401 without a token — and an allowed one neither, nor a
5xx), and that no response body shows a client user the other client's
names, IPs, serials, incident titles, internal text, our management
addresses or any SNMP or webhook secret; staff other than admins never see a
secret either. Foreign ids are tried in paths, query strings and bodies.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
import two_clients

# ----------------------------------------------------------------------------- the table
#: Who may call a route:
#:   any     every valid token (users and probes)
#:   staff   admin, engineer, noc
#:   editor  admin, engineer (inventory changes; the NOC reads the inventory)
#:   admin   administrators
#:   client  client users (the portal; scoped to their own client)
#:   user    staff and client users (client users get what is public only, e.g. knowledge-base articles)
#:   probe   probe tokens
#:   ingest  alert-ingest tokens (rackcard token create --ingest NAME)
#:   public  no login at all (static files, the OpenAPI document, the login form, health)
#:   staff_page   a staff page or form: logged out -> the login form, a client user -> the portal
#:   admin_page   the same, and staff other than administrators are refused (403)
#:   editor_page  the same, and the NOC is refused (403): inventory forms (admins and engineers change the inventory)
#:   client_page  a portal page or form: logged out -> the login form, staff -> the board
ANY, STAFF, EDITOR, ADMIN, CLIENT, USER, PROBE, INGEST, PUBLIC = \
    "any staff editor admin client user probe ingest public".split()
STAFF_PAGE, ADMIN_PAGE, EDITOR_PAGE, CLIENT_PAGE = "staff_page", "admin_page", "editor_page", "client_page"

#: The list-and-form pages of pages.crud (the CMDB resources, and maintenance windows); the edit form is
#: also the detail view of a row, so every staff user opens it; new-row forms and changes follow the API.
_INVENTORY_PAGES = ("clients", "contacts", "sites", "racks", "assets", "interfaces", "prefixes", "ip-addresses",
                    "services", "dependencies", "maintenance")
_CMDB = ("clients", "contacts", "sites", "racks", "assets", "interfaces", "prefixes", "ip-addresses", "services",
         "dependencies")

ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/me"): ANY,
    # accounts administration (issue 8)
    ("GET", "/api/v1/users"): ADMIN,
    ("POST", "/api/v1/users/{user_id:int}/disable"): ADMIN,
    ("POST", "/api/v1/users/{user_id:int}/enable"): ADMIN,
    ("GET", "/api/v1/tokens"): ADMIN,
    ("POST", "/api/v1/tokens/{token_id:int}/revoke"): ADMIN,
    # probing real devices (issue 14)
    ("GET", "/api/v1/probe/profiles"): PROBE,
    ("GET", "/api/v1/probe/targets/version"): PROBE,
    ("POST", "/api/v1/assets/{asset_id:int}/discover"): STAFF,
    # staff pages I (issue 15): search, the client card, the incident page and its actions
    ("GET", "/search"): STAFF_PAGE,
    ("GET", "/search/suggest"): STAFF_PAGE,
    ("GET", "/clients/{client_id:int}"): STAFF_PAGE,
    ("GET", "/incidents/{incident_id:int}"): STAFF_PAGE,
    **{("POST", f"/incidents/{{incident_id:int}}/{action}"): STAFF_PAGE
       for action in ("acknowledge", "assign", "comment", "escalate", "maintenance", "priority", "resolve",
                      "transition")},
    # cmdb
    **{("GET", f"/api/v1/{r}"): STAFF for r in _CMDB},
    # contacts: every staff user changes them (the NOC keeps them current while taking calls and mail)
    **{("POST", f"/api/v1/{r}"): STAFF if r == "contacts" else EDITOR for r in _CMDB},
    **{("GET", f"/api/v1/{r}/{{item_id:int}}"): STAFF for r in _CMDB},
    **{("PATCH", f"/api/v1/{r}/{{item_id:int}}"): STAFF if r == "contacts" else EDITOR for r in _CMDB},
    **{("DELETE", f"/api/v1/{r}/{{item_id:int}}"): STAFF if r == "contacts" else EDITOR for r in _CMDB},
    ("GET", "/api/v1/prefixes/{item_id:int}/next-free-ip"): STAFF,
    ("GET", "/api/v1/search"): STAFF,
    ("POST", "/api/v1/import/{kind:str}"): ADMIN,
    ("GET", "/api/v1/imports/{import_id:int}"): ADMIN,
    ("GET", "/api/v1/export/{kind:str}"): STAFF,
    ("GET", "/api/v1/clients/{item_id:int}/card"): STAFF,
    # incidents
    ("GET", "/api/v1/incidents"): STAFF,
    ("POST", "/api/v1/incidents"): STAFF,
    ("GET", "/api/v1/incidents/{incident_id:int}"): STAFF,
    ("PATCH", "/api/v1/incidents/{incident_id:int}"): STAFF,
    ("POST", "/api/v1/incidents/{incident_id:int}/transition"): STAFF,
    ("POST", "/api/v1/incidents/{incident_id:int}/comments"): STAFF,
    ("POST", "/api/v1/incidents/{incident_id:int}/escalate"): STAFF,
    ("GET", "/api/v1/sla-plans"): STAFF,
    ("POST", "/api/v1/sla-plans"): ADMIN,
    ("GET", "/api/v1/sla-plans/{plan_id:int}"): STAFF,
    ("PATCH", "/api/v1/sla-plans/{plan_id:int}"): ADMIN,
    ("DELETE", "/api/v1/sla-plans/{plan_id:int}"): ADMIN,
    ("GET", "/api/v1/maintenance-windows"): STAFF,
    ("POST", "/api/v1/maintenance-windows"): STAFF,
    ("GET", "/api/v1/maintenance-windows/{window_id:int}"): STAFF,
    ("PATCH", "/api/v1/maintenance-windows/{window_id:int}"): STAFF,
    ("DELETE", "/api/v1/maintenance-windows/{window_id:int}"): STAFF,
    ("GET", "/api/v1/webhooks"): ADMIN,
    ("POST", "/api/v1/webhooks"): ADMIN,
    ("GET", "/api/v1/webhooks/deliveries"): ADMIN,
    ("GET", "/api/v1/webhooks/{webhook_id:int}"): ADMIN,
    ("PATCH", "/api/v1/webhooks/{webhook_id:int}"): ADMIN,
    ("DELETE", "/api/v1/webhooks/{webhook_id:int}"): ADMIN,
    # probes and live state
    ("GET", "/api/v1/probe/targets"): PROBE,
    ("POST", "/api/v1/probe/observations"): PROBE,
    ("GET", "/api/v1/assets/{asset_id:int}/checks"): STAFF,
    ("GET", "/api/v1/assets/{asset_id:int}/check-events"): STAFF,
    ("GET", "/api/v1/assets/{asset_id:int}/samples"): STAFF,
    ("GET", "/api/v1/assets/{asset_id:int}/overview"): STAFF,
    ("GET", "/api/v1/sites/{site_id:int}/topology"): STAFF,
    ("GET", "/api/v1/sites/{site_id:int}/racks"): STAFF,
    ("GET", "/api/v1/racks/{rack_id:int}/elevation"): STAFF,
    ("GET", "/api/v1/racks/{rack_id:int}/space"): STAFF,
    ("POST", "/api/v1/assets/{asset_id:int}/poll"): STAFF,
    # impact views (they name every affected client)
    ("GET", "/api/v1/assets/{asset_id:int}/impact"): STAFF,
    ("GET", "/api/v1/maintenance-windows/{window_id:int}/impact"): STAFF,
    # audit
    ("GET", "/api/v1/audit"): ADMIN,
    # alert ingest and mail intake
    ("POST", "/api/v1/ingest/alertmanager"): INGEST,
    ("POST", "/api/v1/ingest/librenms"): INGEST,
    ("POST", "/api/v1/ingest/zabbix"): INGEST,
    ("GET", "/api/v1/ingest/unmatched"): STAFF,
    ("GET", "/api/v1/mail/quarantine"): STAFF,
    ("POST", "/api/v1/mail/quarantine/{quarantine_id:int}/accept"): STAFF,
    ("POST", "/api/v1/mail/quarantine/{quarantine_id:int}/drop"): STAFF,
    ("GET", "/api/v1/incidents/{incident_id:int}/attachments"): STAFF,
    ("GET", "/api/v1/incidents/{incident_id:int}/attachments/{attachment_id:int}"): STAFF,
    # reports, knowledge base, canned replies
    ("GET", "/api/v1/reports/kpi"): STAFF,
    ("GET", "/api/v1/reports/kpi/csv"): STAFF,
    ("GET", "/api/v1/reports/sla"): STAFF,
    ("GET", "/api/v1/kb"): USER,
    ("GET", "/api/v1/kb/{article_id:int}"): USER,
    ("POST", "/api/v1/kb"): STAFF,
    ("PATCH", "/api/v1/kb/{article_id:int}"): STAFF,
    ("DELETE", "/api/v1/kb/{article_id:int}"): STAFF,
    ("GET", "/api/v1/incidents/{incident_id:int}/suggestions"): STAFF,
    ("POST", "/api/v1/incidents/{incident_id:int}/kb-uses"): STAFF,
    ("GET", "/api/v1/canned-replies"): STAFF,
    ("POST", "/api/v1/canned-replies"): STAFF,
    ("GET", "/api/v1/canned-replies/{reply_id:int}"): STAFF,
    ("PATCH", "/api/v1/canned-replies/{reply_id:int}"): STAFF,
    ("DELETE", "/api/v1/canned-replies/{reply_id:int}"): STAFF,
    ("POST", "/api/v1/incidents/{incident_id:int}/canned-replies/{reply_id:int}/render"): STAFF,
    ("POST", "/api/v1/incidents/{incident_id:int}/canned-replies/{reply_id:int}/send"): STAFF,
    # portal
    ("GET", "/api/v1/portal/company"): CLIENT,
    ("GET", "/api/v1/portal/assets"): CLIENT,
    ("GET", "/api/v1/portal/assets/{asset_id:int}/samples"): CLIENT,
    ("GET", "/api/v1/portal/incidents"): CLIENT,
    ("GET", "/api/v1/portal/incidents/{incident_id:int}"): CLIENT,
    ("POST", "/api/v1/portal/incidents/{incident_id:int}/comments"): CLIENT,
    ("GET", "/api/v1/portal/maintenance"): CLIENT,
    ("POST", "/api/v1/portal/requests"): CLIENT,
    ("PATCH", "/api/v1/portal/me/notifications"): CLIENT,
    # remote power-cycle (issue 13)
    ("GET", "/assets/{asset_id:int}/power-cycle"): STAFF_PAGE,
    ("POST", "/assets/{asset_id:int}/power-cycle"): STAFF_PAGE,
    ("POST", "/api/v1/assets/{asset_id:int}/power-cycle"): STAFF,
    ("GET", "/api/v1/assets/{asset_id:int}/power-jobs"): STAFF,
    ("POST", "/api/v1/probe/power-jobs/claim"): PROBE,
    ("POST", "/api/v1/probe/power-jobs/{job_id:int}/steps"): PROBE,
    ("POST", "/api/v1/portal/assets/{asset_id:int}/power-cycle"): CLIENT,
    # not behind a login
    ("GET", "/static/{file_path:path}"): PUBLIC,
    ("GET", "/schema"): PUBLIC,
    ("GET", "/schema/openapi.json"): PUBLIC,
    ("GET", "/schema/swagger"): PUBLIC,
    ("GET", "/schema/{path:str}"): PUBLIC,
    # operations (no client data: liveness, readiness, Prometheus metrics)
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    # login and preferences (pages/forms that work logged out too)
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): PUBLIC,
    ("POST", "/preferences/language"): PUBLIC,
    ("POST", "/preferences/theme"): PUBLIC,
    # staff pages
    ("GET", "/"): STAFF_PAGE,
    ("GET", "/reports"): STAFF_PAGE,
    ("GET", "/reports/csv"): STAFF_PAGE,
    ("GET", "/reports/clients/{client_id:int}"): STAFF_PAGE,
    ("GET", "/reports/clients/{client_id:int}/csv"): STAFF_PAGE,
    ("GET", "/kb"): STAFF_PAGE,
    ("GET", "/kb/new"): STAFF_PAGE,
    ("POST", "/kb/new"): STAFF_PAGE,
    ("GET", "/kb/{article_id:int}"): STAFF_PAGE,
    ("GET", "/kb/{article_id:int}/edit"): STAFF_PAGE,
    ("POST", "/kb/{article_id:int}/edit"): STAFF_PAGE,
    ("GET", "/incidents/{incident_id:int}/desk"): STAFF_PAGE,
    ("GET", "/history/{object_type:str}/{object_id:int}"): STAFF_PAGE,
    ("POST", "/incidents/{incident_id:int}/kb-use"): STAFF_PAGE,
    ("POST", "/incidents/{incident_id:int}/canned-reply"): STAFF_PAGE,
    ("GET", "/mail/quarantine"): STAFF_PAGE,
    ("POST", "/mail/quarantine/{quarantine_id:int}/accept"): STAFF_PAGE,
    ("POST", "/mail/quarantine/{quarantine_id:int}/drop"): STAFF_PAGE,
    ("GET", "/admin/netbox"): ADMIN_PAGE,
    ("POST", "/admin/netbox"): ADMIN_PAGE,
    # inventory and desk list/form pages (pages.crud): every staff user reads; the forms call the same
    # services as the API, so they are refused to whom the API refuses
    **{("GET", f"/{r}{tail}"): STAFF_PAGE for r in _INVENTORY_PAGES
       for tail in ("", "/export.csv", "/{item_id:int}/edit")},
    **{("GET", f"/{r}/new"): STAFF_PAGE if r in ("contacts", "maintenance") else EDITOR_PAGE for r in _INVENTORY_PAGES},
    **{("POST", f"/{r}{tail}"): STAFF_PAGE if r in ("contacts", "maintenance") else EDITOR_PAGE
       for r in _INVENTORY_PAGES for tail in ("/new", "/{item_id:int}/edit", "/{item_id:int}/delete")},
    ("GET", "/incidents"): STAFF_PAGE,
    ("GET", "/incidents/export.csv"): STAFF_PAGE,
    ("GET", "/sla-plans"): STAFF_PAGE,
    ("GET", "/sla-plans/export.csv"): STAFF_PAGE,
    ("GET", "/sla-plans/new"): ADMIN_PAGE,
    ("GET", "/sla-plans/{item_id:int}/edit"): STAFF_PAGE,
    **{("POST", f"/sla-plans{tail}"): ADMIN_PAGE for tail in ("/new", "/{item_id:int}/edit", "/{item_id:int}/delete")},
    **{("GET", f"/webhooks{tail}"): ADMIN_PAGE for tail in ("", "/export.csv", "/new", "/{item_id:int}/edit")},
    **{("POST", f"/webhooks{tail}"): ADMIN_PAGE for tail in ("/new", "/{item_id:int}/edit", "/{item_id:int}/delete")},
    # live views and helpers of the asset form
    ("GET", "/sites/{site_id:int}"): STAFF_PAGE,
    ("GET", "/sites/{site_id:int}/live"): STAFF_PAGE,
    ("GET", "/racks/{rack_id:int}"): STAFF_PAGE,
    ("GET", "/assets/{asset_id:int}"): STAFF_PAGE,
    ("GET", "/assets/{asset_id:int}/poll"): STAFF_PAGE,
    ("POST", "/assets/{asset_id:int}/poll"): STAFF_PAGE,
    ("GET", "/assets/rack-space"): STAFF_PAGE,
    ("GET", "/ip-addresses/next-free"): STAFF_PAGE,
    # administration: users, API tokens, CSV import
    ("GET", "/admin/users"): ADMIN_PAGE,
    ("POST", "/admin/users"): ADMIN_PAGE,
    ("POST", "/admin/users/{user_id:int}/active"): ADMIN_PAGE,
    ("GET", "/admin/tokens"): ADMIN_PAGE,
    ("POST", "/admin/tokens"): ADMIN_PAGE,
    ("POST", "/admin/tokens/{token_id:int}/revoke"): ADMIN_PAGE,
    ("GET", "/import"): ADMIN_PAGE,
    ("POST", "/import"): ADMIN_PAGE,
    # portal pages
    ("GET", "/portal"): CLIENT_PAGE,
    ("GET", "/portal/assets/{asset_id:int}"): CLIENT_PAGE,
    ("GET", "/portal/incidents/{incident_id:int}"): CLIENT_PAGE,
    ("POST", "/portal/incidents/{incident_id:int}/comments"): CLIENT_PAGE,
    ("GET", "/portal/requests/new"): CLIENT_PAGE,
    ("GET", "/portal/requests/suggestions"): CLIENT_PAGE,
    ("GET", "/portal/assets/{asset_id:int}/power-cycle"): CLIENT_PAGE,
    ("POST", "/portal/assets/{asset_id:int}/power-cycle"): CLIENT_PAGE,
    ("POST", "/portal/requests"): CLIENT_PAGE,
    ("GET", "/portal/kb"): CLIENT_PAGE,
    ("GET", "/portal/kb/{article_id:int}"): CLIENT_PAGE,
    ("GET", "/portal/sla"): CLIENT_PAGE,
    ("POST", "/portal/me/notifications"): CLIENT_PAGE,

    ("GET", "/portal/sla/csv"): CLIENT_PAGE,
}

#: Staff pages (GET) that answer other than 200 to staff with the world's ids, and why.
STAFF_GET_STATUS: dict[str, int] = {
    "/assets/{asset_id:int}/poll": 302,  # the poll is a form (POST); a reloaded poll URL goes back to the asset page
}

ROLES = ("admin", "engineer", "noc", "client_a", "client_b", "probe", "ingest")
ALLOWED = {
    ANY: set(ROLES),
    STAFF: {"admin", "engineer", "noc"},
    EDITOR: {"admin", "engineer"},
    ADMIN: {"admin"},
    CLIENT: {"client_a", "client_b"},
    USER: {"admin", "engineer", "noc", "client_a", "client_b"},
    PROBE: {"probe"},
    INGEST: {"ingest"},
    PUBLIC: set(ROLES),
}
PAGES = (STAFF_PAGE, ADMIN_PAGE, EDITOR_PAGE, CLIENT_PAGE)
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
NO_SUCH_ID = 987654


def app_routes(app) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        for method in sorted(getattr(route, "methods", set()) - {"HEAD", "OPTIONS"}):
            found.append((method, route.path))
    return found


def _is_api(path: str) -> bool:
    return path.startswith("/api/")


# ----------------------------------------------------------------------------- concrete requests

#: The object a path's id stands for, by the path segment before it (the *other* client's, for client users).
_SEGMENT_IDS = {
    "clients": "bravo", "contacts": "bravo_contact", "racks": "bravo_rack", "assets": "bravo_asset",
    "ip-addresses": "bravo_ip", "incidents": "bravo_incident", "maintenance-windows": "bravo_window",
    "webhooks": "webhook", "sla-plans": "plan", "sites": "site_dc", "maintenance": "bravo_window",
    "kb": "bravo_article", "interfaces": "bravo_interface", "prefixes": "bravo_prefix", "services": "bravo_service",
    "dependencies": "bravo_dependency",
}
#: Pages name their ids after what they are.
_NAMED_IDS = {"{client_id:int}": "bravo", "{incident_id:int}": "bravo_incident", "{asset_id:int}": "bravo_asset",
              "{article_id:int}": "bravo_article", "{object_id:int}": "bravo_asset"}


class Foreign:
    """The ids a caller must not reach: Bravo's for everyone, Alpha's for Bravo's user."""

    def __init__(self, world, role: str):
        self.world, self.swap = world, role == "client_b"

    def __getattr__(self, name: str):
        if self.swap:
            name = name.replace("bravo", "\0").replace("alpha", "bravo").replace("\0", "alpha")
        return getattr(self.world, name)


class Own:
    """A client user's own ids (and the shared incident): allowed routes must answer
    them without showing the other client."""

    def __init__(self, world, role: str):
        mine = "alpha" if role == "client_a" else "bravo"
        self.values = {"bravo_incident": world.shared_incident, "bravo_asset": getattr(world, f"{mine}_asset"),
                       "bravo_article": world.public_article}

    def __getattr__(self, name: str):
        return self.values.get(name, NO_SUCH_ID)


def _concrete(path: str, world, *, mutating: bool) -> str:
    """Fill the path's parameters: the other client's ids (real, for GETs; a
    missing id for changes, so staff runs do not destroy the world)."""
    parts = path.split("/")
    out = []
    for i, part in enumerate(parts):
        if re.fullmatch(r"\{[^}]+:int\}", part):
            if mutating and "portal" not in parts:
                out.append(str(NO_SUCH_ID))
            else:
                name = _SEGMENT_IDS.get(parts[i - 1], "") if _is_api(path) else \
                    _NAMED_IDS.get(part) or _SEGMENT_IDS.get(parts[i - 1], "")
                out.append(str(getattr(world, name, NO_SUCH_ID)))
        elif re.fullmatch(r"\{[^}]+:path\}", part):
            out.append("css/app.css")
        elif re.fullmatch(r"\{[^}]+\}", part):
            out.append("assets" if "kind" in part else "asset" if "object_type" in part else "x")
        else:
            out.append(part)
    return "/".join(out)


def _query(world) -> dict:
    """Foreign ids in the query string of every GET."""
    return {"client_id": world.bravo, "asset_id": world.bravo_asset, "incident_id": world.bravo_incident,
            "site_id": world.site_dc, "q": "bravo"}


def _body(world) -> dict:
    """Foreign ids in every body: a request on another client's asset, a comment, an incident for them."""
    return {"client_id": world.bravo, "asset_id": world.bravo_asset, "asset_ids": [world.bravo_asset],
            "depends_on_id": world.bravo_asset, "incident_id": world.bravo_incident, "site_id": world.site_dc,
            "title": "matrix probe", "category": "reboot", "source": "portal", "body": "matrix probe",
            "description": "matrix probe"}


#: Routes whose typed body refuses the catch-all one (unknown fields are a 422 before any
#: ownership check): a valid body carrying foreign ids, so the request reaches the check.
#: A client user calling one of them with the other client's id must get 404.
_VALID_BODIES = {
    ("POST", "/api/v1/portal/assets/{asset_id:int}/power-cycle"):
        lambda w: {"reason": "matrix probe", "incident_id": w.bravo_incident},
    ("POST", "/api/v1/assets/{asset_id:int}/power-cycle"):
        lambda w: {"reason": "matrix probe", "incident_id": w.bravo_incident, "then_asset_id": w.bravo_asset},
}


async def _call(client: httpx.AsyncClient, method: str, path: str, world, role: str = "") -> httpx.Response:
    world = Foreign(world, role)
    mutating = method in MUTATING
    url = _concrete(path, world, mutating=mutating)
    if mutating:
        return await client.request(method, url, json=_VALID_BODIES.get((method, path), _body)(world))
    return await client.request(method, url, params=_query(world))


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
async def world(db):
    return await two_clients.build()


@pytest.fixture
async def callers(app, world, client_as):
    from accounts.services import create_token

    made = {
        "admin": await client_as("admin"),
        "engineer": await client_as("engineer"),
        "noc": await client_as("noc"),
        "client_a": await client_as("client", world.alpha),
        "client_b": await client_as("client", world.bravo),
    }
    probe = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rackcard.test",
                              headers={"Authorization": f"Bearer {await create_token(probe=f'p-{uuid.uuid4().hex[:6]}')}"})
    made["probe"] = probe
    ingest = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rackcard.test",
                               headers={"Authorization": f"Bearer {await create_token(ingest=f'i-{uuid.uuid4().hex[:6]}')}"})
    made["ingest"] = ingest
    yield made
    await probe.aclose()
    await ingest.aclose()


def _leaks(text: str, markers: list[str]) -> list[str]:
    low = text.lower()
    return [m for m in markers if m.lower() in low]


# ----------------------------------------------------------------------------- tests


async def test_every_route_is_listed(app):
    routes = set(app_routes(app))
    unlisted = sorted(routes - set(ROUTES))
    assert not unlisted, f"add these routes to ROUTES in {__file__}: {unlisted}"
    stale = sorted(set(ROUTES) - routes)
    assert not stale, f"these ROUTES entries match no route any more: {stale}"


async def test_logged_out_and_forged_tokens(app, http, world):
    for (method, path), access in ROUTES.items():
        if access == PUBLIC:
            continue
        if _is_api(path):
            r = await _call(http, method, path, world)
            assert r.status_code == 401, (method, path, r.status_code)
            forged = await http.request(method, _concrete(path, world, mutating=True),
                                        headers={"Authorization": "Bearer rc_forged"})
            assert forged.status_code == 401, (method, path)
        elif method == "GET":
            r = await http.get(_concrete(path, world, mutating=False))
            assert r.status_code == 303, (method, path, r.status_code)
            assert r.headers["location"].startswith("/login?next="), (method, path)
        else:  # a form posted without a session (and so without a CSRF token): refused
            r = await http.post(_concrete(path, world, mutating=True), data={"body": "x"})
            assert r.status_code in (303, 403), (method, path, r.status_code)


async def test_every_route_for_every_caller(app, world, callers):
    from cmdb.tables import Asset, Contact
    from incidents.tables import Incident, TimelineEntry

    async def counts():
        return (await Incident.count(), await TimelineEntry.count(), await Asset.count(), await Contact.count())

    before = await counts()
    secrets = two_clients.SECRETS
    failures = []
    # Client users and probes first: nothing they send may change anything.
    for role in ("client_a", "client_b", "probe", "ingest", "noc", "engineer", "admin"):
        caller = callers[role]
        for (method, path), access in sorted(ROUTES.items(), key=lambda kv: (kv[0][0] == "DELETE", kv[0])):
            if access in PAGES or (access == PUBLIC and method != "GET"):
                continue  # pages and forms: test_every_page_for_every_session
            r = await _call(caller, method, path, world, role)
            allowed = role in ALLOWED[access]
            if allowed and r.status_code in (401, 403):
                failures.append((role, method, path, r.status_code, "refused but should be allowed"))
            if not allowed and r.status_code != 403:
                failures.append((role, method, path, r.status_code, "should be 403"))
            if r.status_code >= 500:
                failures.append((role, method, path, r.status_code, r.text[:200]))
            if role.startswith("client") and allowed and (method, path) in _VALID_BODIES and r.status_code != 404:
                failures.append((role, method, path, r.status_code, "a foreign id should be refused: 404"))
            if role == "client_a":
                markers = world.bravo_markers
            elif role == "client_b":
                markers = world.alpha_markers
            elif role in ("engineer", "noc") or (role in ("probe", "ingest") and access not in (PROBE, INGEST)):
                markers = secrets
            else:
                markers = []
            responses = [r]
            if role.startswith("client") and allowed and method == "GET" and "{" in path and "/portal/" in path:
                own = await caller.get(_concrete(path, Own(world, role), mutating=False), params=_query(world))
                if own.status_code != 200:
                    failures.append((role, method, path, own.status_code, "own ids should answer 200"))
                responses.append(own)
            for response in responses if markers and not path.startswith("/static/") else ():
                leaked = _leaks(response.text, markers)
                if leaked:
                    failures.append((role, method, str(response.url), response.status_code, f"leaks {leaked}"))
        if role == "probe":
            assert await counts() == before, "a client user or a probe token changed something"
    assert not failures, "\n".join(map(str, failures))


async def test_foreign_ids_on_portal_routes_are_not_found(world, callers):
    a = callers["client_a"]
    assert (await a.get(f"/api/v1/portal/incidents/{world.bravo_incident}")).status_code == 404
    assert (await a.get(f"/api/v1/portal/assets/{world.bravo_asset}/samples")).status_code == 404
    r = await a.post(f"/api/v1/portal/incidents/{world.bravo_incident}/comments", json={"body": "x"})
    assert r.status_code == 404
    r = await a.post("/api/v1/portal/requests", json={"category": "reboot", "asset_id": world.bravo_asset})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "asset_id"
    # the query string cannot widen the scope
    listing = (await a.get("/api/v1/portal/incidents", params={"client_id": world.bravo})).json()
    assert world.bravo_incident not in {i["id"] for i in listing["results"]}


async def test_an_outlet_shared_with_another_client_is_refused_naming_what_shares_it(world, callers, session_as):
    """Staff are told by name what else the outlet feeds; a client user is refused
    without another client's names, on the API and the confirmation page; nothing is queued."""
    from incidents.tables import PowerJob

    await two_clients.add_pdu(world)
    staff, a, b = callers["engineer"], callers["client_a"], callers["client_b"]
    r = await staff.post(f"/api/v1/assets/{world.alpha_shared_asset}/power-cycle", json={"reason": "x"})
    assert r.status_code == 409 and "mc-bravo-shared (Bravo Corp)" in r.json()["detail"], r.text
    r = await staff.post(f"/api/v1/assets/{world.bravo_shared_asset}/power-cycle", json={"reason": "x"})
    assert r.status_code == 409 and "mc-alpha-shared (Alpha LLC)" in r.json()["detail"], r.text
    r = await staff.post(f"/api/v1/assets/{world.alpha_outlet_asset}/power-cycle",
                         json={"reason": "x", "then_asset_id": world.alpha_shared_asset})
    assert r.status_code == 409 and "mc-bravo-shared" in r.json()["detail"], r.text

    r = await a.post(f"/api/v1/portal/assets/{world.alpha_shared_asset}/power-cycle", json={"reason": "x"})
    assert r.status_code == 409 and "not yours" in r.json()["detail"], r.text
    assert not _leaks(r.text, world.bravo_markers)
    r = await a.post(f"/api/v1/portal/assets/{world.alpha_outlet_asset}/power-cycle",
                     json={"reason": "x", "dry_run": True})
    assert r.status_code == 202, r.text  # its own outlet: allowed, so the 409 above is the sharing
    r = await a.post(f"/api/v1/portal/assets/{world.bravo_shared_asset}/power-cycle", json={"reason": "x"})
    assert r.status_code == 404, r.text
    r = await b.post(f"/api/v1/portal/assets/{world.alpha_shared_asset}/power-cycle", json={"reason": "x"})
    assert r.status_code == 404, r.text

    page_user, _ = await session_as("client", world.alpha)
    page = await page_user.get(f"/portal/assets/{world.alpha_shared_asset}/power-cycle")
    assert page.status_code == 200 and "not yours" in page.text and "power-confirm" not in page.text
    assert not _leaks(page.text, world.bravo_markers)
    assert await PowerJob.count() == 0


async def test_internal_knowledge_base_articles_never_reach_a_client_token(app, api, client_as):
    from cmdb.tables import Client

    client_row = Client(code="acme", name="Acme", name_norm="acme")
    await client_row.save()
    client_user = await client_as("client", client_row.id)
    public = (await api.post("/api/v1/kb", json={"title": "How to report an outage", "body": "Call the NOC",
                                                 "visibility": "public"})).json()
    internal = (await api.post("/api/v1/kb", json={"title": "Vendor escalation contacts", "body": "Call the NOC",
                                                   "visibility": "internal"})).json()
    for query in ("", "?q=noc", "?visibility=internal", "?q=vendor"):
        listed = (await client_user.get(f"/api/v1/kb{query}")).json()
        assert internal["id"] not in [r["id"] for r in listed["results"]], query
    assert [r["id"] for r in (await client_user.get("/api/v1/kb?q=noc")).json()["results"]] == [public["id"]]
    assert (await client_user.get(f"/api/v1/kb/{internal['id']}")).status_code == 404
    assert (await client_user.get(f"/api/v1/kb/{public['id']}")).status_code == 200


@pytest.mark.parametrize("role", ["engineer", "noc"])
async def test_staff_other_than_admins_never_see_secrets(world, callers, role):
    caller = callers[role]
    for kind in ("assets",):
        r = await caller.get(f"/api/v1/export/{kind}")
        assert r.status_code == 200 and not _leaks(r.text, two_clients.SECRETS)
    r = await caller.get(f"/api/v1/assets/{world.bravo_asset}")
    assert r.json()["snmp_community_set"] is True and not _leaks(r.text, two_clients.SECRETS)


# ----------------------------------------------------------------------------- pages (session cookie, CSRF)


@pytest.fixture
async def sessions(world, session_as):
    made = {role: (await session_as(role))[0] for role in ("admin", "engineer", "noc")}
    made["client_a"] = (await session_as("client", world.alpha))[0]
    made["client_b"] = (await session_as("client", world.bravo))[0]
    return made


async def test_every_page_for_every_session(world, sessions):
    """Staff pages: staff 2xx, client users sent to the portal. Portal pages: client
    users 2xx with their own ids and 404 with the other client's, nothing of the
    other client in any page, staff sent to the board. Forms (with a valid CSRF
    token) from the wrong side change nothing."""
    from conftest import page_csrf
    from incidents.tables import Incident, TimelineEntry

    async def counts():
        return await Incident.count(), await TimelineEntry.count()

    failures = []
    for role in ("client_a", "client_b", "noc", "engineer", "admin"):
        browser = sessions[role]
        client_side = role.startswith("client")
        token = await page_csrf(browser, "/portal" if client_side else "/")
        before = await counts()
        for (method, path), access in sorted(ROUTES.items()):
            if access not in PAGES:
                continue
            mine = (access == CLIENT_PAGE) == client_side
            if access == ADMIN_PAGE and role in ("noc", "engineer") or \
                    access == EDITOR_PAGE and role == "noc":
                # real ids, also for forms: the refusal must come before anything is looked up or changed
                r = await browser.get(_concrete(path, world, mutating=False)) if method == "GET" else \
                    await browser.post(_concrete(path, world, mutating=False), data={"csrf_token": token, "name": "x"})
                if r.status_code != 403:
                    failures.append((role, method, path, r.status_code, f"not for {role}: should be 403"))
                continue
            foreign = _concrete(path, Foreign(world, role), mutating=method != "GET")
            if method == "GET":
                r = await browser.get(foreign)
            else:
                r = await browser.post(foreign, data={"csrf_token": token, **{k: str(v) for k, v in _body(
                    Foreign(world, role)).items() if not isinstance(v, list)}})
            if not mine:
                expected = "/portal" if client_side else "/"
                if not (r.status_code == 303 and r.headers.get("location") == expected):
                    failures.append((role, method, path, r.status_code, f"should go to {expected}"))
            elif not client_side and method == "GET" and r.status_code != STAFF_GET_STATUS.get(path, 200):
                failures.append((role, method, path, r.status_code,
                                 f"a staff page should answer {STAFF_GET_STATUS.get(path, 200)}"))
            elif r.status_code >= 500 or r.status_code in (401, 403):
                failures.append((role, method, path, r.status_code, "refused or failed"))
            elif client_side and "{" in path and r.status_code not in (404, 422):
                failures.append((role, method, path, r.status_code, "a foreign id should not be found"))
            responses = [r]
            if client_side and mine and method == "GET" and "{" in path:
                own = await browser.get(_concrete(path, Own(world, role), mutating=False))
                if own.status_code != 200:
                    failures.append((role, method, path, own.status_code, "own ids should answer 200"))
                responses.append(own)
            markers = (world.bravo_markers if role == "client_a" else world.alpha_markers) if client_side else \
                two_clients.SECRETS if role in ("noc", "engineer") else []
            if markers and not path.startswith("/static/"):
                for response in responses:
                    leaked = _leaks(response.text, markers)
                    if leaked:
                        failures.append((role, method, str(response.url), response.status_code, f"leaks {leaked}"))
        if role in ("client_a", "client_b", "noc"):
            assert await counts() == before, f"{role} changed something through a page"
    assert not failures, "\n".join(map(str, failures))


@pytest.mark.parametrize("role", ["noc", "client"])
async def test_every_page_form_refuses_a_missing_csrf_token(world, session_as, role):
    user, _ = await session_as(role, world.alpha if role == "client" else None)
    forms = [(m, p) for (m, p), access in ROUTES.items() if m != "GET" and not _is_api(p)]
    assert ("POST", "/logout") in forms and ("POST", "/portal/requests") in forms
    home = "/portal" if role == "client" else "/"
    for method, path in forms:
        response = await user.request(method, _concrete(path, world, mutating=True), data={"body": "x"})
        wrong_side = ROUTES[(method, path)] in ((STAFF_PAGE, ADMIN_PAGE, EDITOR_PAGE) if role == "client" else (CLIENT_PAGE,))
        if wrong_side:  # sent home by the page guard before anything runs
            assert (response.status_code, response.headers.get("location")) == (303, home), (method, path)
        else:
            assert response.status_code == 403, (method, path)


#: Staff pages for administrators only (users, tokens, CSV import; SLA plans and webhooks are written by admins).
ADMIN_PAGES = ("/admin/", "/import")
ADMIN_FORMS = ("/admin/", "/import", "/webhooks/", "/sla-plans/")


async def test_admin_pages_and_forms_are_listed_for_administrators_only(app):
    """The pages II administration (users, tokens, CSV import, SLA plan and webhook forms) is ADMIN_PAGE in
    the table, so test_every_page_for_every_session refuses it to the NOC and engineers (403)."""
    admin_only = [(m, p) for m, p in app_routes(app)
                  if (m == "GET" and p.startswith(ADMIN_PAGES)) or (m == "POST" and p.startswith(ADMIN_FORMS))]
    assert len(admin_only) >= 8
    assert [(m, p) for m, p in admin_only if ROUTES.get((m, p)) != ADMIN_PAGE] == []


async def test_inventory_forms_refuse_the_noc(world, sessions):
    """The NOC reads the inventory and keeps contacts current; other inventory forms answer 403 (not a 5xx)."""
    from cmdb.tables import Asset
    from conftest import page_csrf

    noc = sessions["noc"]
    token = await page_csrf(noc)
    assert (await noc.get(f"/assets/{world.bravo_asset}")).status_code == 200
    r = await noc.post("/assets/new", data={"csrf_token": token, "name": "noc-made", "client_id": str(world.alpha),
                                            "site_id": str(world.site_dc), "kind": "server"})
    assert r.status_code == 403
    r = await noc.post(f"/assets/{world.bravo_asset}/delete", data={"csrf_token": token})
    assert r.status_code == 403 and await Asset.exists().where(Asset.id == world.bravo_asset)
