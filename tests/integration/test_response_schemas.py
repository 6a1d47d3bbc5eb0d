"""The response types tell the truth on real data (both engines): answers of
the portal, accounts, audit, knowledge base, canned replies, impact views,
ingest and mail routes validate against the schemas the OpenAPI document
declares for them. Schemathesis checks the staff side against a mostly empty
database; this fills one (two clients, incidents, articles, replies) and
covers the portal, which schemathesis' staff tokens only see as 403."""

from __future__ import annotations

import pytest
import schema_check
import two_clients

from accounts.services import create_token


@pytest.fixture
def doc(app) -> dict:
    return schema_check.document(app)


async def test_portal_answers_match_their_schemas(db, app, doc, client_as):
    w = await two_clients.build()
    alpha = await client_as("client", w.alpha)
    for url in ("/api/v1/portal/company", "/api/v1/portal/assets", f"/api/v1/portal/assets/{w.alpha_asset}/samples",
                "/api/v1/portal/incidents", "/api/v1/portal/incidents?status=past",
                f"/api/v1/portal/incidents/{w.alpha_incident}", f"/api/v1/portal/incidents/{w.shared_incident}",
                "/api/v1/portal/maintenance"):
        schema_check.conforms(doc, await alpha.get(url))
    schema_check.conforms(doc, await alpha.post(f"/api/v1/portal/incidents/{w.alpha_incident}/comments", json={"body": "hi"}))
    schema_check.conforms(doc, await alpha.post("/api/v1/portal/requests", json={"category": "reboot", "asset_id": w.alpha_asset}))


async def test_staff_answers_match_their_schemas(db, app, doc, api, client_as):
    w = await two_clients.build()
    engineer = await client_as("engineer")
    users = schema_check.conforms(doc, await api.get("/api/v1/users"))
    schema_check.conforms(doc, await api.post(f"/api/v1/users/{users[-1]['id']}/disable"))
    schema_check.conforms(doc, await api.post(f"/api/v1/users/{users[-1]['id']}/enable"))
    await create_token(probe="p1")
    tokens = schema_check.conforms(doc, await api.get("/api/v1/tokens"))
    schema_check.conforms(doc, await api.post(f"/api/v1/tokens/{tokens[-1]['id']}/revoke"))
    schema_check.conforms(doc, await api.get("/api/v1/tokens?include_revoked=true"))
    schema_check.conforms(doc, await api.get("/api/v1/audit"))

    article = schema_check.conforms(doc, await engineer.post("/api/v1/kb", json={
        "title": "Router reboot loop", "body": "Power-cycle **twice**.", "categories": "equipment",
        "asset_kinds": "router", "visibility": "public", "language": "en"}))
    schema_check.conforms(doc, await engineer.patch(f"/api/v1/kb/{article['id']}", json={"title": "Router loops"}))
    schema_check.conforms(doc, await engineer.get(f"/api/v1/kb/{article['id']}"))
    schema_check.conforms(doc, await engineer.get("/api/v1/kb?q=router"))
    reply = schema_check.conforms(doc, await engineer.post("/api/v1/canned-replies", json={
        "name": "On it", "category": "equipment", "language": "en", "visibility": "public",
        "body": "We are looking at {incident_number} for {client_name}."}))
    schema_check.conforms(doc, await engineer.patch(f"/api/v1/canned-replies/{reply['id']}", json={"name": "On it!"}))
    schema_check.conforms(doc, await engineer.get(f"/api/v1/canned-replies/{reply['id']}"))
    schema_check.conforms(doc, await engineer.get("/api/v1/canned-replies"))
    incident = f"/api/v1/incidents/{w.alpha_incident}"
    schema_check.conforms(doc, await engineer.post(f"{incident}/kb-uses", json={"article_id": article["id"]}))
    schema_check.conforms(doc, await engineer.get(f"{incident}/suggestions"))
    schema_check.conforms(doc, await engineer.post(f"{incident}/canned-replies/{reply['id']}/render"))
    schema_check.conforms(doc, await engineer.post(f"{incident}/canned-replies/{reply['id']}/send"))

    schema_check.conforms(doc, await engineer.get(f"/api/v1/assets/{w.alpha_asset}/impact"))
    schema_check.conforms(doc, await engineer.get(f"/api/v1/maintenance-windows/{w.bravo_window}/impact"))
    schema_check.conforms(doc, await engineer.get("/api/v1/ingest/unmatched"))
    schema_check.conforms(doc, await engineer.get("/api/v1/mail/quarantine"))
    schema_check.conforms(doc, await engineer.get(f"{incident}/attachments"))


async def test_reports_match_their_schemas(db, app, doc, client_as):
    w = await two_clients.build()
    engineer = await client_as("engineer")
    for query in ("", "?group_by=category", "?group_by=client", "?group_by=line&bucket=week",
                  f"?client_id={w.alpha}"):
        schema_check.conforms(doc, await engineer.get(f"/api/v1/reports/kpi{query}"))
    for client_id in (w.alpha, w.bravo):
        schema_check.conforms(doc, await engineer.get(f"/api/v1/reports/sla?client_id={client_id}"))
