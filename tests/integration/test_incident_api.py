"""SLA plan and webhook administration through the API, and who may use it."""

from __future__ import annotations

import incident_data as data

from accounts.tables import AuditLog
from incidents.tables import SlaPlan

GOLD = {
    "name": "Gold 24x7",
    "hours": "24x7",
    "response_minutes": {"P1": 15, "P2": 30, "P3": 120, "P4": 480},
    "resolution_minutes": {"P1": 240, "P2": 480, "P3": 1440, "P4": 4320},
}


async def test_sla_plan_crud(api):
    created = await api.post("/api/v1/sla-plans", json=GOLD)
    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["response_minutes"]["P1"] == 15 and plan["business_days"] == [1, 2, 3, 4, 5]
    dup = await api.post("/api/v1/sla-plans", json=GOLD)
    assert dup.status_code == 409 and dup.json()["errors"][0]["field"] == "name"

    changed = await api.patch(f"/api/v1/sla-plans/{plan['id']}", json={
        "hours": "business", "timezone": "Europe/Berlin", "business_days": [1, 2, 3, 4, 5, 6],
        "business_start": "08:00", "business_end": "20:00"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["hours"] == "business" and changed.json()["business_days"] == [1, 2, 3, 4, 5, 6]
    assert [p["name"] for p in (await api.get("/api/v1/sla-plans")).json()] == ["Gold 24x7"]

    for body, field in (
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"hours": "sometimes"}, "hours"),
        ({"business_start": "25:00"}, "business_start"),
        ({"business_start": "18:00", "business_end": "09:00"}, "business_end"),
        ({"response_minutes": {"P1": 0}}, "response_p1"),
        ({"colour": "gold"}, "colour"),
    ):
        response = await api.patch(f"/api/v1/sla-plans/{plan['id']}", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["field"] == field

    # a plan in use cannot be deleted
    client_id = await data.client("Acme", plan_id=plan["id"])
    in_use = await api.delete(f"/api/v1/sla-plans/{plan['id']}")
    assert in_use.status_code == 409
    from cmdb.tables import Client

    await Client.update({Client.sla_plan_id: None}).where(Client.id == client_id)
    assert (await api.delete(f"/api/v1/sla-plans/{plan['id']}")).status_code == 204
    assert await SlaPlan.count() == 0
    assert await AuditLog.count().where(AuditLog.entity == "sla_plan") == 3


async def test_staff_read_plans_but_only_admins_change_them_and_see_webhooks(client_as):
    noc = await client_as("noc")
    assert (await noc.get("/api/v1/sla-plans")).status_code == 200
    assert (await noc.post("/api/v1/sla-plans", json=GOLD)).status_code == 403
    assert (await noc.get("/api/v1/webhooks")).status_code == 403
    assert (await noc.post("/api/v1/webhooks", json={"name": "x", "url": "http://127.0.0.1:1/"})).status_code == 403


async def test_webhook_validation_and_update(api):
    for body, field in (
        ({"name": "a", "url": "ftp://example.test/"}, "url"),
        ({"name": "", "url": "http://example.test/"}, "name"),
        ({"name": "a", "url": "http://example.test/", "events": ["exploded"]}, "events"),
        ({"name": "a", "url": "http://example.test/", "secret": "short"}, "secret"),
    ):
        response = await api.post("/api/v1/webhooks", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["field"] == field
    hook = (await api.post("/api/v1/webhooks", json={"name": "chat", "url": "http://example.test/in",
                                                      "events": ["opened", "resolved"]})).json()
    assert len(hook["secret"]) >= 32 and hook["events"] == ["opened", "resolved"]
    off = await api.patch(f"/api/v1/webhooks/{hook['id']}", json={"active": False})
    assert off.json()["active"] is False and "secret" not in off.json()
    assert (await api.delete(f"/api/v1/webhooks/{hook['id']}")).status_code == 204
    assert (await api.get("/api/v1/webhooks")).json() == []
