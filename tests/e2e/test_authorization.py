"""Every route under /api/v1 is covered here automatically: the test walks the
app's route table, so a route added without the right guard fails it.

- no token / a bad token -> 401 everywhere;
- a client user -> 403 on every staff route (the portal issue will open
  scoped routes to them; list those in CLIENT_ROUTES when it does);
- a probe token -> 403 everywhere except the probe protocol;
- staff -> 403 on the probe protocol (it carries SNMP secrets).
"""

from __future__ import annotations

import re

import pytest

#: Routes a client user may call (scoped to their own client by the service layer):
#: a path (every method), or (method, path) when the other methods stay staff-only.
CLIENT_ROUTES = {
    "/api/v1/me",
    ("GET", "/api/v1/kb"),  # public knowledge-base articles only (test below)
    ("GET", "/api/v1/kb/{article_id:int}"),
}
#: Routes for probe workers only.
PROBE_PREFIX = "/api/v1/probe/"
#: Routes for alert-ingest tokens only (rackcard token create --ingest NAME).
INGEST_ROUTES = {"/api/v1/ingest/alertmanager", "/api/v1/ingest/librenms", "/api/v1/ingest/zabbix"}
#: Routes every authenticated viewer may call.
ANY_VIEWER_ROUTES = {"/api/v1/me"}


def _api_routes(app) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if not route.path.startswith("/api/v1"):
            continue
        for method in sorted(getattr(route, "methods", set()) - {"HEAD", "OPTIONS"}):
            found.append((method, route.path))
    return found


def _concrete(path: str) -> str:
    # {id:int} -> 1, {kind:str} -> x : the guard answers before the id is looked up
    return re.sub(r"\{[^}:]+:int\}", "1", re.sub(r"\{[^}:]+(:str)?\}", "x", path))


async def _status(client, method: str, path: str, headers=None) -> int:
    response = await client.request(method, _concrete(path), headers=headers or {}, json={} if method in {"POST", "PUT", "PATCH"} else None)
    return response.status_code


async def test_route_table_is_not_empty(app):
    assert ("GET", "/api/v1/me") in _api_routes(app)


async def test_every_api_route_needs_a_token(app, http):
    for method, path in _api_routes(app):
        assert await _status(http, method, path) == 401, (method, path)
        assert await _status(http, method, path, {"Authorization": "Bearer rc_forged"}) == 401, (method, path)


async def test_client_users_reach_only_their_routes(app, client_as):
    from cmdb.tables import Client

    client_row = Client(code="acme", name="Acme", name_norm="acme")
    await client_row.save()
    client_user = await client_as("client", client_row.id)
    for method, path in _api_routes(app):
        if path in CLIENT_ROUTES or (method, path) in CLIENT_ROUTES:
            continue
        assert await _status(client_user, method, path) == 403, (method, path)


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


async def test_probe_tokens_reach_only_the_probe_protocol(app):
    import httpx

    from accounts.services import create_token

    token = await create_token(probe="edge-1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                 headers={"Authorization": f"Bearer {token}"}) as probe:
        for method, path in _api_routes(app):
            if path.startswith(PROBE_PREFIX) or path in ANY_VIEWER_ROUTES:
                continue
            assert await _status(probe, method, path) == 403, (method, path)


async def test_ingest_tokens_reach_only_the_ingest_routes(app):
    import httpx

    from accounts.services import create_token

    token = await create_token(ingest="prometheus")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                 headers={"Authorization": f"Bearer {token}"}) as ingest:
        for method, path in _api_routes(app):
            if path in INGEST_ROUTES or path in ANY_VIEWER_ROUTES:
                continue
            assert await _status(ingest, method, path) == 403, (method, path)


@pytest.mark.parametrize("role", ["engineer", "noc", "admin"])
async def test_staff_cannot_use_the_probe_protocol_nor_post_alerts(app, client_as, role):
    staff = await client_as(role)
    for method, path in _api_routes(app):
        if path.startswith(PROBE_PREFIX) and role != "admin" or path in INGEST_ROUTES:
            assert await _status(staff, method, path) == 403, (method, path)


# ---------------------------------------------------------------- pages (session cookie, CSRF)

#: Pages anyone may open (the login form).
PUBLIC_PAGES = {"/login"}
#: Operations endpoints for load balancers and Prometheus: no session, no client data (test_ops_endpoints).
OPERATIONS = {"/healthz", "/readyz", "/metrics"}
#: Page forms anyone may post (with a CSRF token): login, and the preferences (they work logged out too).
PUBLIC_FORMS = {"/login", "/logout", "/preferences/language", "/preferences/theme"}
#: Pages for client users (the portal; scoped to their client by the service layer).
CLIENT_PAGE_PREFIX = "/portal"
_NOT_PAGES = ("/api/", "/schema", "/static/")


def _page_routes(app) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if route.path.startswith(_NOT_PAGES) or route.path in OPERATIONS:
            continue
        for method in sorted(getattr(route, "methods", set()) - {"HEAD", "OPTIONS"}):
            found.append((method, route.path))
    return found


async def test_every_page_needs_a_session(app, http):
    pages = [(m, p) for m, p in _page_routes(app) if m == "GET" and p not in PUBLIC_PAGES]
    assert ("GET", "/") in pages
    for method, path in pages:
        response = await http.get(_concrete(path))
        assert response.status_code == 303, (method, path)
        assert response.headers["location"].startswith("/login?next="), (method, path)


async def test_client_users_are_kept_off_staff_pages(app, session_as):
    from cmdb.tables import Client

    client_row = Client(code="acme", name="Acme", name_norm="acme")
    await client_row.save()
    client_user, _ = await session_as("client", client_row.id)
    for method, path in _page_routes(app):
        if method != "GET" or path in PUBLIC_PAGES or path.startswith(CLIENT_PAGE_PREFIX):
            continue
        response = await client_user.get(_concrete(path))
        assert response.status_code == 403 or response.headers.get("location") == CLIENT_PAGE_PREFIX, (method, path)


@pytest.mark.parametrize("role", ["noc", "client"])
async def test_every_page_form_refuses_a_missing_csrf_token(app, session_as, role):
    from cmdb.tables import Client

    client_id = None
    if role == "client":
        client_row = Client(code="acme", name="Acme", name_norm="acme")
        await client_row.save()
        client_id = client_row.id
    user, _ = await session_as(role, client_id)
    forms = [(m, p) for m, p in _page_routes(app) if m not in {"GET"}]
    assert ("POST", "/logout") in forms
    for method, path in forms:
        response = await user.request(method, _concrete(path), data={"body": "x"})
        assert response.status_code == 403, (method, path)


# ---------------------------------------------------------------- staff-only API routes named explicitly

#: Staff-only reads that name clients (issue 9's impact views): listed so that a
#: rename or a missing guard shows here, not only in the walk above.
STAFF_ONLY_ROUTES = {
    ("GET", "/api/v1/assets/{asset_id:int}/impact"),
    ("GET", "/api/v1/maintenance-windows/{window_id:int}/impact"),
}


async def test_impact_views_are_routes_for_staff_only(app, client_as):
    assert STAFF_ONLY_ROUTES <= set(_api_routes(app))
    from cmdb.tables import Client

    client_row = Client(code="acme", name="Acme", name_norm="acme")
    await client_row.save()
    client_user = await client_as("client", client_row.id)
    for method, path in sorted(STAFF_ONLY_ROUTES):
        assert await _status(client_user, method, path) == 403, (method, path)
