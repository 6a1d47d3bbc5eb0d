"""Issue 8, item 1: every error of a typed JSON body at once. The bodies the
handlers declare as types (manual incident, transition, comment, escalation,
the portal's comment) list one problem per bad field, unknown fields
included, in the same shape as the CMDB resources ({"field", "message"}); a
rejected body changes nothing; good bodies still pass. Both engines."""

from __future__ import annotations

import incident_data
import two_clients

from accounts.tables import AuditLog
from incidents.tables import Incident, TimelineEntry


def _fields(response) -> set[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    errors = problem["errors"]
    assert all(set(e) >= {"field", "message"} and e["message"] for e in errors), errors
    for e in errors:  # the detail names every field too
        assert e["field"] in problem["detail"], problem
    return {e["field"] for e in errors}


async def _snapshot() -> tuple:
    rows = await Incident.select(Incident.id, Incident.status, Incident.line, Incident.priority).order_by(Incident.id)
    return rows, await TimelineEntry.count(), await AuditLog.count()


async def _incident(api) -> dict:
    client_id = await incident_data.client()
    r = await api.post("/api/v1/incidents", json={"title": "No internet", "category": "other", "source": "phone",
                                                  "client_id": client_id})
    assert r.status_code == 201, r.text
    return r.json()


async def test_manual_incident_lists_every_bad_field(api, db):
    await _incident(api)
    before = await _snapshot()
    r = await api.post("/api/v1/incidents", json={"title": 5, "category": "weather", "source": 7,
                                                  "asset_ids": [1, "x"], "priority": "P9", "urgent": True})
    assert _fields(r) == {"title", "category", "source", "asset_ids[1]", "priority", "urgent"}
    words = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert words["title"] == "must be text" and words["asset_ids[1]"] == "must be a whole number"
    assert words["category"].startswith("must be one of: ") and "'weather'" in words["category"]
    assert words["urgent"].startswith("unknown field")
    r = await api.post("/api/v1/incidents", json={"title": "x" * 301, "client_id": 3_000_000_000})
    assert _fields(r) == {"title", "category", "source", "client_id"}
    # Types right, references wrong: the service names both.
    r = await api.post("/api/v1/incidents", json={"title": "t", "category": "other", "source": "phone",
                                                  "client_id": 2_000_000_000, "asset_ids": [2_000_000_001]})
    assert _fields(r) == {"client_id", "asset_ids"}
    assert await _snapshot() == before


async def test_transition_comment_and_escalation_list_every_bad_field(api, db):
    incident = await _incident(api)
    at = f"/api/v1/incidents/{incident['id']}"
    before = await _snapshot()
    assert _fields(await api.post(f"{at}/transition", json={"to": "flying", "reason": ["x"], "note": 1})) == {
        "to", "reason", "note"}
    assert _fields(await api.post(f"{at}/transition", json={})) == {"to"}
    assert _fields(await api.post(f"{at}/comments", json={"body": "", "visibility": "secret", "to": "x"})) == {
        "body", "visibility", "to"}
    assert _fields(await api.post(f"{at}/comments", json={"body": "x" * 10_001, "visibility": 1})) == {
        "body", "visibility"}
    assert _fields(await api.post(f"{at}/escalate", json={"reason": 5, "line": "L3"})) == {"reason", "line"}
    assert _fields(await api.post(f"{at}/escalate", json=["reason"])) == {"body"}
    assert await _snapshot() == before
    # Good bodies pass as before, also an escalation without a body.
    r = await api.post(f"{at}/transition", json={"to": "acknowledged", "reason": "on it"})
    assert r.status_code == 200 and r.json()["status"] == "acknowledged", r.text
    r = await api.post(f"{at}/comments", json={"body": "called the client", "visibility": "public"})
    assert r.status_code == 201, r.text
    assert (await api.post(f"{at}/escalate")).status_code == 200
    r = await api.post(f"{at}/escalate", json={"reason": "needs L3"})
    assert r.status_code == 200 and r.json()["line"] == "L3", r.text


async def test_portal_comment_lists_every_bad_field(db, client_as, api):
    w = await two_clients.build()
    alpha = await client_as("client", w.alpha)
    at = f"/api/v1/portal/incidents/{w.alpha_incident}/comments"
    before = await _snapshot()
    r = await alpha.post(at, json={"body": 5, "visibility": "internal"})
    assert _fields(r) == {"body", "visibility"}
    assert await _snapshot() == before
    r = await alpha.post(at, json={"body": "please call me"})
    assert r.status_code == 201, r.text
