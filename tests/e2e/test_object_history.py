"""Each object's staff page shows its history from the audit log — who, when,
from where, what changed before and after, secrets masked — with a link to
the whole of it; a client user never sees it (both engines)."""

from __future__ import annotations

import re

from pages.history import ON_PAGE

from tests.integration.test_audit import SECRET, remote_admin  # noqa: F401  (the fixture)


def _history(html: str) -> str:
    start = html.index('id="changes"')
    return html[start:html.index("</section>", start)]


async def _world(api) -> dict:
    client = (await api.post("/api/v1/clients", json={"code": "acme", "name": "Acme"})).json()
    site = (await api.post("/api/v1/sites", json={"code": "DC9", "name": "DC9", "kind": "datacenter"})).json()
    rack = (await api.post("/api/v1/racks", json={"site_id": site["id"], "name": "R1", "client_id": client["id"]})).json()
    asset = (await api.post("/api/v1/assets", json={"name": "sw-1", "kind": "switch", "site_id": site["id"],
                                                    "client_id": client["id"], "snmp_version": "2c",
                                                    "snmp_community": SECRET})).json()
    incident = (await api.post("/api/v1/incidents", json={"title": "no link", "category": "fiber",
                                                          "client_id": client["id"], "asset_ids": [asset["id"]],
                                                          "source": "phone"})).json()
    return {"client": client["id"], "site": site["id"], "rack": rack["id"], "asset": asset["id"],
            "incident": incident["id"]}


async def test_an_update_shows_on_the_objects_page_with_before_after_and_no_secret(db, remote_admin, session_as):
    api = remote_admin
    ids = await _world(api)
    r = await api.patch(f"/api/v1/assets/{ids['asset']}", json={"name": "sw-2", "snmp_community": SECRET + "2"})
    assert r.status_code == 200, r.text
    page, _ = await session_as("engineer")
    html = (await page.get(f"/assets/{ids['asset']}")).text
    history = _history(html)
    assert 'data-action="update"' in history and 'data-action="create"' in history
    name = re.search(r'<li data-field="name">(.*?)</li>', history, re.S).group(1)
    assert "<del>sw-1</del>" in name and "<ins>sw-2</ins>" in name
    assert "root@op.test" in history and "203.0.113.7" in history
    assert SECRET not in html and "***" in history
    # every other object's page has its own history
    for kind, path in (("client", "/clients/{}"), ("site", "/sites/{}"), ("rack", "/racks/{}"),
                       ("incident", "/incidents/{}")):
        response = await page.get(path.format(ids[kind]))
        assert response.status_code == 200, (kind, response.text[:300])
        assert f'data-history="{kind}-{ids[kind]}"' in response.text and 'data-action="create"' in _history(
            response.text), kind
    # an incident action shows on the incident's page
    await api.post(f"/api/v1/incidents/{ids['incident']}/transition", json={"to": "acknowledged"})
    incident = _history((await page.get(f"/incidents/{ids['incident']}")).text)
    assert re.search(r'data-field="status">.*<del>new</del>.*<ins>acknowledged</ins>', incident, re.S)


async def test_the_page_shows_the_latest_and_links_to_the_whole_history(db, remote_admin, session_as):
    api = remote_admin
    ids = await _world(api)
    for n in range(ON_PAGE + 2):
        await api.patch(f"/api/v1/sites/{ids['site']}", json={"address": f"street {n}"})
    page, _ = await session_as("noc")
    history = _history((await page.get(f"/sites/{ids['site']}")).text)
    assert history.count("data-audit=") == ON_PAGE and "street 9" in history and "street 0" not in history
    link = re.search(r'href="(/history/site/\d+)" data-history-all', history).group(1)
    full = await page.get(link)
    assert full.status_code == 200
    assert _history(full.text).count("data-audit=") == ON_PAGE + 3 and "street 0" in full.text
    assert (await page.get("/history/user/1")).status_code == 404  # logins stay in the admins' full log
    page.headers["Accept-Language"] = "ru"
    assert "История изменений" in (await page.get(link)).text


async def test_a_client_user_never_sees_an_objects_history(db, remote_admin, session_as, client_as):
    ids = await _world(remote_admin)
    page, _ = await session_as("client", ids["client"])
    for path in (f"/assets/{ids['asset']}", f"/clients/{ids['client']}", f"/history/asset/{ids['asset']}",
                 f"/history/client/{ids['client']}"):
        response = await page.get(path)
        assert response.status_code in (302, 303) and response.headers["location"].startswith("/portal"), path
    portal = (await page.get(f"/portal/assets/{ids['asset']}")).text
    assert 'id="changes"' not in portal and "root@op.test" not in portal and "203.0.113.7" not in portal
    token = await client_as("client", ids["client"])
    assert (await token.get("/api/v1/audit", params={"object_type": "asset", "object_id": ids["asset"]})
            ).status_code == 403


async def test_every_other_audited_record_shows_its_history_on_its_edit_form(db, remote_admin, session_as):
    """Contacts, prefixes, IP addresses, services, interfaces, dependencies, SLA
    plans, maintenance windows and webhooks have no page of their own: their edit
    form shows their history, and /history/{type}/{id} links back to it."""
    api = remote_admin
    ids = await _world(api)
    other = (await api.post("/api/v1/assets", json={"name": "ups-1", "kind": "ups", "site_id": ids["site"]})).json()
    made = {
        "contacts": (await api.post("/api/v1/contacts", json={"client_id": ids["client"], "name": "Ann"})).json(),
        "prefixes": (await api.post("/api/v1/prefixes", json={"prefix": "192.0.2.0/24",
                                                               "client_id": ids["client"]})).json(),
        "ip-addresses": (await api.post("/api/v1/ip-addresses", json={"address": "192.0.2.7",
                                                                      "client_id": ids["client"]})).json(),
        "services": (await api.post("/api/v1/services", json={"client_id": ids["client"], "site_id": ids["site"],
                                                               "kind": "internet"})).json(),
        "interfaces": (await api.post("/api/v1/interfaces", json={"asset_id": ids["asset"], "if_index": 1,
                                                                  "name": "ge-0/0/1", "role": "uplink"})).json(),
        "dependencies": (await api.post("/api/v1/dependencies", json={"asset_id": ids["asset"],
                                                                      "depends_on_id": other["id"],
                                                                      "kind": "power"})).json(),
        "sla-plans": (await api.post("/api/v1/sla-plans", json={
            "name": "Gold", "hours": "24x7", "response_minutes": {"P1": 15, "P2": 30, "P3": 60, "P4": 240},
            "resolution_minutes": {"P1": 240, "P2": 480, "P3": 1440, "P4": 4320}})).json(),
        "maintenance": (await api.post("/api/v1/maintenance-windows", json={
            "site_id": ids["site"], "starts_at": "2030-01-01T00:00:00Z", "ends_at": "2030-01-01T02:00:00Z",
            "reason": "works"})).json(),
        "webhooks": (await api.post("/api/v1/webhooks", json={"name": "hook", "url": "http://192.0.2.9:9/h"})).json(),
    }
    page, _ = await session_as("admin")
    for path, row in made.items():
        assert "id" in row, (path, row)
        html = (await page.get(f"/{path}/{row['id']}/edit")).text
        assert 'id="changes"' in html, path
        history = _history(html)
        assert 'data-action="create"' in history and "root@op.test" in history, path
        full = re.search(r'href="(/history/[^"]+)"', history)
        if full:  # the whole history links back to the form
            back = (await page.get(full.group(1).replace("&amp;", "&"))).text
            assert f'/{path}/{row["id"]}/edit' in back, path
