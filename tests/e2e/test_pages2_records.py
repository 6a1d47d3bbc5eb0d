"""The list and form pages of incidents, maintenance windows, SLA plans and
webhooks over HTTP (both engines): filters, sorting, CSV export, a form whose
error comes back next to its field, admin-only writes."""

from __future__ import annotations

from conftest import page_csrf
from integration.cmdb_seed import seed

from accounts.viewer import SYSTEM
from incidents import services
from incidents.tables import MaintenanceWindow, SlaPlan, WebhookEndpoint


async def _incident(title: str, client_id: int, priority: str) -> int:
    row = await services.create_manual(SYSTEM, services.ManualIncident(
        title=title, category="request", client_id=client_id, source="phone", priority=priority))
    return row["id"]


async def test_incident_list_filters_sorts_and_exports(db, session_as, api):
    ids = await seed()
    await _incident("reboot my router", ids["acme"], "P3")
    await _incident("no internet", ids["acme"], "P1")
    await _incident("globex question", ids["globex"], "P4")
    noc, _ = await session_as("noc")
    page = await noc.get("/incidents", params={"client_id": ids["acme"], "sort": "priority"})
    assert page.status_code == 200
    text = page.text
    assert "no internet" in text and "reboot my router" in text and "globex question" not in text
    assert text.index("no internet") < text.index("reboot my router")  # P1 before P3
    exported = await noc.get("/incidents/export.csv", params={"client_id": ids["acme"]})
    assert exported.headers["content-type"].startswith("text/csv") and len(exported.text.strip().splitlines()) == 3
    by_api = (await api.get("/api/v1/incidents", params={"sort": "-priority"})).json()["results"]
    assert [i["priority"] for i in by_api] == ["P4", "P3", "P1"]
    assert (await api.get("/api/v1/incidents", params={"sort": "nope"})).status_code == 422


async def test_maintenance_window_form(db, session_as):
    ids = await seed()
    engineer, _ = await session_as("engineer")
    token = await page_csrf(engineer, "/maintenance/new")
    bad = await engineer.post("/maintenance/new", data={
        "csrf_token": token, "site_id": str(ids["remote"]), "starts_at": "2026-12-01T10:00", "ends_at": "2026-12-01T09:00",
        "reason": "UPS battery swap"})
    assert bad.status_code == 422 and "f-ends_at-error" in bad.text and not await MaintenanceWindow.exists()
    ok = await engineer.post("/maintenance/new", data={
        "csrf_token": token, "site_id": str(ids["remote"]), "starts_at": "2026-12-01T10:00", "ends_at": "2026-12-01T12:00",
        "reason": "UPS battery swap"})
    assert ok.status_code == 303
    window = await MaintenanceWindow.select().first()
    assert window["site_id"] == ids["remote"]
    listing = await engineer.get("/maintenance")
    assert "UPS battery swap" in listing.text
    edit = await engineer.get(f"/maintenance/{window['id']}/edit")
    assert 'value="2026-12-01T10:00"' in edit.text


async def test_sla_plans_and_webhooks_are_written_by_admins(db, session_as):
    noc, _ = await session_as("noc")
    token = await page_csrf(noc)
    refused = await noc.post("/webhooks/new", data={"csrf_token": token, "name": "x", "url": "https://example.test/h"})
    assert refused.status_code == 403 and not await WebhookEndpoint.exists()
    admin, _ = await session_as("admin")
    token = await page_csrf(admin)
    made = await admin.post("/webhooks/new", data={"csrf_token": token, "name": "chat", "url": "https://example.test/h",
                                                   "events": "opened, resolved", "active": "true"})
    assert made.status_code == 303
    assert (await WebhookEndpoint.select(WebhookEndpoint.events).first())["events"] == "opened,resolved"
    bad_url = await admin.post("/webhooks/new", data={"csrf_token": token, "name": "x", "url": "ftp://nope"})
    assert bad_url.status_code == 422 and "f-url-error" in bad_url.text
    plan = await admin.post("/sla-plans/new", data={"csrf_token": token, "name": "Gold", "hours": "24x7",
                                                    "timezone": "Europe/Moscow", "response_p1": "10"})
    assert plan.status_code == 303
    assert (await SlaPlan.select(SlaPlan.response_p1).where(SlaPlan.name == "Gold").first())["response_p1"] == 10
    listing = await noc.get("/sla-plans", params={"sort": "-name"})
    assert listing.status_code == 200 and "Gold" in listing.text
