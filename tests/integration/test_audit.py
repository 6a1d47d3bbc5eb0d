"""The audit log on a real database (both engines): creates, updates (changed
fields, before and after), deletes, logins good and bad, token creation,
exports and incident actions are recorded with who, when and from where;
no entry shows a secret; the database refuses UPDATE and DELETE of entries;
administrators read it through GET /api/v1/audit with filters and pages."""

from __future__ import annotations

import httpx
import pytest

from accounts import audit_log
from accounts.services import authenticate_password, create_token, create_user
from accounts.tables import AuditLog

SECRET = "community-S3CRET-value"


@pytest.fixture
async def remote_admin(app):
    """An administrator whose requests come from 203.0.113.7."""
    await create_user("root@op.test", "admin", "correct horse battery")
    token = await create_token("root@op.test")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 40000)),
                                 base_url="http://rackcard.test", headers={"Authorization": f"Bearer {token}"}) as c:
        yield c


async def _entries(api, **params) -> list[dict]:
    r = await api.get("/api/v1/audit", params=params)
    assert r.status_code == 200, r.text
    return r.json()["results"]


async def test_create_update_delete_are_audited_with_before_after_and_no_secret(db, remote_admin):
    api = remote_admin
    site = (await api.post("/api/v1/sites", json={"code": "DC9", "name": "DC9", "kind": "datacenter"})).json()
    asset = (await api.post("/api/v1/assets", json={"name": "sw-1", "kind": "switch", "site_id": site["id"],
                                                    "snmp_version": "2c", "snmp_community": SECRET})).json()
    r = await api.patch(f"/api/v1/assets/{asset['id']}", json={"name": "sw-2", "snmp_community": SECRET + "2"})
    assert r.status_code == 200, r.text
    assert (await api.delete(f"/api/v1/assets/{asset['id']}")).status_code == 204

    rows = await _entries(api, object_type="asset", object_id=asset["id"])
    assert [e["action"] for e in rows] == ["delete", "update", "create"]  # newest first
    delete, update, create = rows
    assert update["changes"]["name"] == ["sw-1", "sw-2"]
    assert update["changes"]["snmp_community"] == "***" or update["changes"]["snmp_community"] == ["***", "***"]
    assert create["changes"]["snmp_community"] == "***" and delete["changes"]["name"] == "sw-2"
    assert {e["actor"] for e in rows} == {"root@op.test"} and {e["source"] for e in rows} == {"203.0.113.7"}
    everything = (await api.get("/api/v1/audit", params={"limit": 500})).text
    assert SECRET not in everything


async def test_logins_tokens_exports_and_incident_actions_are_audited(db, remote_admin):
    api = remote_admin
    user = await create_user("eve@op.test", "engineer", "correct horse battery")
    audit_log.set_source("198.51.100.9")
    assert await authenticate_password("eve@op.test", "wrong password!") is None
    assert await authenticate_password("nobody@op.test", "whatever12345") is None
    assert await authenticate_password("EVE@op.test", "correct horse battery") is not None
    audit_log.set_source("")
    token = await create_token("eve@op.test", name="laptop")
    assert (await api.get("/api/v1/export/assets")).status_code == 200
    client = (await api.post("/api/v1/clients", json={"code": "c1", "name": "C1"})).json()
    inc = (await api.post("/api/v1/incidents", json={"title": "no link", "category": "fiber", "client_id": client["id"],
                                                     "source": "phone"})).json()
    await api.post(f"/api/v1/incidents/{inc['id']}/transition", json={"to": "acknowledged"})
    await api.post(f"/api/v1/incidents/{inc['id']}/comments", json={"body": "called the client", "visibility": "internal"})
    await api.post(f"/api/v1/incidents/{inc['id']}/escalate", json={"reason": "needs L2"})
    await api.patch(f"/api/v1/incidents/{inc['id']}", json={"priority": "P1", "reason": "VIP"})
    from accounts.viewer import Viewer
    from incidents import services as incident_services

    await incident_services.assign(Viewer(user_id=user.id, email="eve@op.test", role="engineer"), inc["id"])  # "assign to me"

    logins = [e for e in await _entries(api, object_type="user") if e["action"].startswith("login")]
    assert [(e["action"], e["actor"], e["source"], e["changes"].get("reason")) for e in logins] == [
        ("login", "eve@op.test", "198.51.100.9", None),
        ("login_failed", "nobody@op.test", "198.51.100.9", "unknown user"),
        ("login_failed", "eve@op.test", "198.51.100.9", "wrong password"),
    ]
    assert logins[0]["object_id"] == user.id and logins[0]["user_id"] == user.id
    (created,) = [e for e in await _entries(api, object_type="user", object_id=user.id) if e["action"] == "create"]
    assert created["changes"]["role"] == "engineer" and created["changes"]["password"] == "***"
    tokens = await _entries(api, object_type="api_token")
    assert any(t["changes"]["name"] == "laptop" and t["changes"]["user"] == "eve@op.test" for t in tokens)
    assert token not in (await api.get("/api/v1/audit", params={"limit": 500})).text
    (export,) = await _entries(api, object_type="assets")
    assert export["action"] == "export" and export["source"] == "203.0.113.7" and "name" in export["changes"]["columns"]
    actions = [(e["action"], sorted(e["changes"])) for e in await _entries(api, object_type="incident", object_id=inc["id"])]
    assert actions == [
        ("update", ["assignee"]), ("update", ["priority", "reason"]), ("update", ["line", "reason"]), ("comment", ["body", "visibility"]),
        ("update", ["reason", "status"]), ("create", ["asset_ids", "category", "client_id", "description", "priority",
                                                       "source", "title"]),
    ]


async def test_the_audit_log_refuses_update_and_delete(db, remote_admin):
    await remote_admin.post("/api/v1/clients", json={"code": "c2", "name": "C2"})
    (row,) = await AuditLog.select().where(AuditLog.entity == "client")
    with pytest.raises(Exception, match="append-only"):
        await AuditLog.update({AuditLog.actor: "someone else"}).where(AuditLog.id == row["id"])
    with pytest.raises(Exception, match="append-only"):
        await AuditLog.delete().where(AuditLog.id == row["id"])
    with pytest.raises(Exception, match="append-only"):
        await db.run_ddl("DELETE FROM rc_audit_log")
    assert (await AuditLog.select().where(AuditLog.id == row["id"]).first())["actor"] == "root@op.test"


async def test_the_audit_api_filters_pages_and_is_for_admins_only(db, remote_admin, client_as):
    api = remote_admin
    for i in range(5):
        await api.post("/api/v1/clients", json={"code": f"k{i}", "name": f"K{i}"})
    page = (await api.get("/api/v1/audit", params={"object_type": "client", "limit": 2})).json()
    assert page["count"] == 5 and len(page["results"]) == 2 and page["next"] and page["previous"] is None
    assert len(await _entries(api, user="root@op.test", object_type="client")) == 5
    first = page["results"][-1]["at"]
    assert len(await _entries(api, object_type="client", to=first)) < 5
    assert await _entries(api, object_type="client", **{"from": "2999-01-01"}) == []
    r = await api.get("/api/v1/audit", params={"from": "last week"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "from"
    for role in ("engineer", "noc"):
        assert (await (await client_as(role)).get("/api/v1/audit")).status_code == 403
    # no route changes or removes an entry
    for method in ("PATCH", "DELETE", "PUT"):
        assert (await api.request(method, "/api/v1/audit")).status_code == 405


async def test_logins_through_the_login_form_are_audited_with_the_source_address(app, remote_admin):
    from conftest import csrf_of

    await create_user("web@op.test", "noc", "correct horse battery")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("192.0.2.77", 50000)),
                                 base_url="http://rackcard.test") as browser:
        for password in ("not the password", "correct horse battery"):
            token = csrf_of((await browser.get("/login")).text)
            await browser.post("/login", data={"email": "web@op.test", "password": password, "csrf_token": token})
    rows = [e for e in await _entries(remote_admin, object_type="user", user="web@op.test") if e["action"] != "create"]
    assert [(e["action"], e["source"]) for e in rows] == [("login", "192.0.2.77"), ("login_failed", "192.0.2.77")]
    assert "not the password" not in (await remote_admin.get("/api/v1/audit")).text


async def test_the_admin_pages_and_the_api_audit_tokens_and_users_alike(db, remote_admin):
    """Revoking a token or disabling a user reads the same in the log whether it was
    done through the API or the admin pages (accounts.admin calls the same services)."""
    from accounts import admin
    from accounts.viewer import Viewer

    me = await create_user("boss@op.test", "admin", "correct horse battery")
    boss = Viewer(user_id=me.id, email="boss@op.test", role="admin")
    user = await create_user("dan@op.test", "engineer", "correct horse battery")
    by_page = await admin.create_token(boss, {"email": "dan@op.test", "name": "page token"})
    by_api = await create_token("dan@op.test", name="api token")
    ids = {t["name"]: t["id"] for t in await admin.list_tokens(boss)}
    await admin.revoke_token(boss, ids["page token"])
    assert (await remote_admin.post(f"/api/v1/tokens/{ids['api token']}/revoke")).status_code in (200, 204)
    await admin.set_active(boss, user.id, False)
    assert (await remote_admin.post(f"/api/v1/users/{user.id}/enable")).status_code in (200, 204)

    tokens = await _entries(remote_admin, object_type="api_token")
    revokes = sorted((e["object_id"], e["action"], e["changes"]) for e in tokens if e["action"] != "create")
    assert revokes == sorted([(ids["page token"], "update", {"revoked": [False, True]}),
                              (ids["api token"], "update", {"revoked": [False, True]})])
    created = [e for e in tokens if e["action"] == "create" and e["object_id"] == ids["page token"]]
    assert len(created) == 1 and created[0]["actor"] == "boss@op.test"  # once, by whoever asked
    users = [(e["action"], e["changes"]) for e in await _entries(remote_admin, object_type="user", object_id=user.id)
             if e["action"] == "update"]
    assert users == [("update", {"active": [False, True]}), ("update", {"active": [True, False]})]
    assert by_page != by_api
    assert not await _entries(remote_admin, object_type="token")  # one name for the one kind of object


async def test_every_export_is_audited(db, remote_admin, session_as):
    """The record lists' CSV (incidents, windows, SLA plans, webhooks), the KPI
    report's CSV from the API and from the reports page, and a client's SLA
    report as CSV leave an export entry."""
    api = remote_admin
    page, _ = await session_as("admin")
    for path in ("incidents", "maintenance", "sla-plans", "webhooks"):
        r = await page.get(f"/{path}/export.csv")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), (path, r.status_code)
    assert (await api.get("/api/v1/reports/kpi/csv", params={"table": "series"})).status_code == 200
    assert (await page.get("/reports/csv", params={"table": "call_mix"})).status_code == 200
    client = (await api.post("/api/v1/clients", json={"code": "sla-c", "name": "SLA C"})).json()
    assert (await page.get(f"/reports/clients/{client['id']}/csv", params={"table": "plan"})).status_code == 200
    exports = [e for e in await _entries(api, limit=200) if e["action"] == "export"]
    assert {e["object_type"] for e in exports} >= {"incidents", "maintenance", "sla-plans", "webhooks", "kpi_report",
                                                   "sla_report"}
    (sla,) = [e for e in exports if e["object_type"] == "sla_report"]
    assert sla["object_id"] == client["id"] and sla["changes"]["table"] == "plan"
    tables = sorted(e["changes"]["table"] for e in exports if e["object_type"] == "kpi_report")
    assert tables == ["call_mix", "series"]
    assert all(e["actor"] for e in exports)
