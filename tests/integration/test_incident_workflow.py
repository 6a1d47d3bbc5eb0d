"""Manual incidents, the workflow (legal and illegal transitions), comments,
escalation by hand and by OLA, and the SLA clock — through the API and the
service layer, on both engines."""

from __future__ import annotations

import datetime as dt

import incident_data as data
from incident_data import T0

from accounts.errors import Conflict
from accounts.viewer import Viewer
from incidents import engine, services
from incidents.tables import Incident, Notification, TimelineEntry

NOC = Viewer(user_id=None, email="noc@example.test", role="noc")


async def _manual(api, client_id: int, asset_ids=(), **extra) -> dict:
    body = {"title": "No internet at the office", "category": "equipment", "client_id": client_id,
            "asset_ids": list(asset_ids), "source": "phone", "description": "called at 10:02", **extra}
    response = await api.post("/api/v1/incidents", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_manual_incident_carries_assets_clients_and_timeline(api):
    client_id = await data.client("Acme")
    site_id = await data.site("client_premises")
    mc = await data.asset(site_id, "mc-acme-1", client_id=client_id)
    incident = await _manual(api, client_id, [mc])
    for key in ("id", "fingerprint", "title", "category", "priority", "status", "line", "source", "opened_at",
                "resolved_at", "self_healed", "flapping", "affected_assets", "affected_clients", "timeline"):
        assert key in incident, key
    assert incident["status"] == "new" and incident["line"] == "L1" and incident["source"] == "phone"
    assert incident["priority"] in ("P1", "P2", "P3", "P4")  # computed: none was given
    assert incident["affected_assets"] == [{"asset_id": mc, "name": "mc-acme-1", "role": "root", "site_id": site_id}]
    assert incident["affected_clients"] == [{"client_id": client_id, "name": "Acme", "impact": "down"}]
    assert incident["timeline"][0]["kind"] == "event" and incident["timeline"][0]["visibility"] == "public"

    listed = (await api.get("/api/v1/incidents", params={"status": "open", "client_id": client_id})).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == incident["id"]
    for params in ({"asset_id": mc}, {"site_id": site_id}, {"category": "equipment"}):
        assert (await api.get("/api/v1/incidents", params=params)).json()["count"] == 1, params
    for params in ({"status": "resolved"}, {"client_id": client_id + 1000}, {"category": "power"}):
        assert (await api.get("/api/v1/incidents", params=params)).json()["count"] == 0, params
    bad = await api.get("/api/v1/incidents", params={"status": "sleeping"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"


async def test_manual_incident_validation_changes_nothing(api):
    client_id = await data.client()
    for body, field in (
        ({"category": "weather"}, "category"),
        ({"source": "pigeon"}, "source"),
        ({"client_id": 999999}, "client_id"),
        ({"asset_ids": [999999]}, "asset_ids"),
        ({"priority": "P9"}, "priority"),
    ):
        full = {"title": "x", "category": "other", "client_id": client_id, "source": "email", **body}
        response = await api.post("/api/v1/incidents", json=full)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["field"] == field
    assert await Incident.count() == 0


async def test_workflow_legal_and_illegal_transitions(api):
    client_id = await data.client()
    incident = await _manual(api, client_id, priority="P2")
    url = f"/api/v1/incidents/{incident['id']}/transition"

    illegal = await api.post(url, json={"to": "resolved"})
    assert illegal.status_code == 409
    problem = illegal.json()
    assert problem["errors"][0]["allowed"] == ["acknowledged"] and "acknowledged" in problem["detail"]

    for to in ("acknowledged", "in_progress", "pending_client", "in_progress", "resolved"):
        response = await api.post(url, json={"to": to})
        assert response.status_code == 200, response.text
        assert response.json()["status"] == to
    resolved = response.json()
    assert resolved["resolved_at"] is not None and resolved["self_healed"] is False
    assert resolved["acknowledged_at"] is not None and resolved["assignee"].startswith("admin-")

    # reopen from resolved, then resolve and close; closed is final
    for to in ("in_progress", "resolved", "closed"):
        assert (await api.post(url, json={"to": to})).json()["status"] == to
    final = await api.post(url, json={"to": "in_progress"})
    assert final.status_code == 409 and final.json()["errors"][0]["allowed"] == []

    detail = (await api.get(f"/api/v1/incidents/{incident['id']}")).json()
    statuses = [(e["data"]["from"], e["data"]["to"]) for e in detail["timeline"] if e["kind"] == "status"]
    assert statuses == [("new", "acknowledged"), ("acknowledged", "in_progress"), ("in_progress", "pending_client"),
                        ("pending_client", "in_progress"), ("in_progress", "resolved"), ("resolved", "in_progress"),
                        ("in_progress", "resolved"), ("resolved", "closed")]
    assert all(e["author"].startswith("admin-") for e in detail["timeline"] if e["kind"] == "status")
    events = [n.event for n in await Notification.objects().order_by(Notification.id)]
    assert events == ["opened", "resolved", "reopened", "resolved"]


async def test_comments_are_internal_or_public_and_timeline_is_append_only(api):
    client_id = await data.client()
    incident = await _manual(api, client_id, priority="P3")
    url = f"/api/v1/incidents/{incident['id']}/comments"
    assert (await api.post(url, json={"body": "checked the MC, fiber LED off", "visibility": "internal"})).status_code == 201
    public = await api.post(url, json={"body": "An engineer is on the way", "visibility": "public"})
    assert public.status_code == 201
    assert public.json()["first_response_at"] is not None
    bad = await api.post(url, json={"body": " ", "visibility": "public"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body"
    bad = await api.post(url, json={"body": "x", "visibility": "everyone"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "visibility"
    timeline = public.json()["timeline"]
    comments = [(e["visibility"], e["body"]) for e in timeline if e["kind"] == "comment"]
    assert comments == [("internal", "checked the MC, fiber LED off"), ("public", "An engineer is on the way")]
    assert await TimelineEntry.count() == len(timeline)
    # A client user sees only public entries (through the service layer; the portal opens the route later).
    client_viewer = Viewer(user_id=None, email="c@example.test", role="client", client_id=client_id)
    seen = await services.get_incident(client_viewer, incident["id"])
    assert all(e["visibility"] == "public" for e in seen["timeline"])
    assert "checked the MC, fiber LED off" not in [e["body"] for e in seen["timeline"]]


async def test_client_users_get_403_for_now(client_as):
    client_id = await data.client()
    user = await client_as("client", client_id)
    assert (await user.get("/api/v1/incidents")).status_code == 403


async def test_escalation_by_hand_up_to_vendor(api):
    incident = await _manual(api, await data.client(), priority="P3")
    url = f"/api/v1/incidents/{incident['id']}/escalate"
    lines = [(await api.post(url, json={"reason": "needs field team"})).json()["line"] for _ in range(3)]
    assert lines == ["L2", "L3", "vendor"]
    again = await api.post(url)
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "line"
    detail = (await api.get(f"/api/v1/incidents/{incident['id']}")).json()
    assert [e["data"]["to"] for e in detail["timeline"] if e["kind"] == "escalation"] == ["L2", "L3", "vendor"]


async def test_escalation_after_ola_is_automatic_but_never_to_vendor(db):
    client_id = await data.client()
    created = await services.create_manual(
        NOC, services.ManualIncident(title="down", category="equipment", client_id=client_id, source="chat",
                                     priority="P3"), now=T0)
    ola = (30, 60, 90)

    async def tick(minutes: int) -> dict:
        await engine.tick(T0 + dt.timedelta(minutes=minutes), ola_minutes=ola, decide=lambda *a: [])
        return await services.get_incident(NOC, created["id"])

    assert (await tick(29))["line"] == "L1"
    assert (await tick(30))["line"] == "L2"
    assert (await tick(89))["line"] == "L2"
    assert (await tick(90))["line"] == "L3"
    after = await tick(90 + 90 + 600)
    assert after["line"] == "L3"  # vendor only by hand
    await tick(90 + 90 + 700)  # the L3 overrun is noted once
    escalations = [e for e in after["timeline"] if e["kind"] == "escalation"]
    assert [e["data"].get("to") for e in escalations] == ["L2", "L3", None]
    assert all(e["author"] == "system" for e in escalations)
    final = await services.get_incident(NOC, created["id"])
    assert len([e for e in final["timeline"] if e["kind"] == "escalation"]) == 3


async def test_resolved_incidents_do_not_escalate(db):
    created = await services.create_manual(
        NOC, services.ManualIncident(title="x", category="other", client_id=await data.client(), source="email",
                                     priority="P4"), now=T0)
    for to in ("acknowledged", "in_progress", "resolved"):
        await services.transition(NOC, created["id"], to, now=T0 + dt.timedelta(minutes=1))
    await engine.tick(T0 + dt.timedelta(days=2), ola_minutes=(1, 1, 1), decide=lambda *a: [])
    assert (await services.get_incident(NOC, created["id"]))["line"] == "L1"


async def test_pending_client_holds_the_ola_and_the_answer_restarts_it(db):
    created = await services.create_manual(
        NOC, services.ManualIncident(title="reboot my router", category="request", client_id=await data.client(),
                                     source="phone", priority="P3"), now=T0)
    ola = (30, 60, 90)
    await services.transition(NOC, created["id"], "acknowledged", now=T0 + dt.timedelta(minutes=5))
    await services.transition(NOC, created["id"], "in_progress", now=T0 + dt.timedelta(minutes=6))
    await services.transition(NOC, created["id"], "pending_client", now=T0 + dt.timedelta(minutes=10))
    # two hours waiting for the client to answer: L1 keeps it
    await engine.tick(T0 + dt.timedelta(minutes=130), ola_minutes=ola, decide=lambda *a: [])
    assert (await services.get_incident(NOC, created["id"]))["line"] == "L1"
    # the client answers at 130: L1 has its 30 minutes from then
    await services.transition(NOC, created["id"], "in_progress", now=T0 + dt.timedelta(minutes=130))
    await engine.tick(T0 + dt.timedelta(minutes=159), ola_minutes=ola, decide=lambda *a: [])
    assert (await services.get_incident(NOC, created["id"]))["line"] == "L1"
    await engine.tick(T0 + dt.timedelta(minutes=160), ola_minutes=ola, decide=lambda *a: [])
    assert (await services.get_incident(NOC, created["id"]))["line"] == "L2"


async def test_reopen_by_hand_is_refused_while_another_incident_holds_the_fault(db):
    first = await services.store_incident(fingerprint="asset:7:link:1", title="Fiber down", category="fiber",
                                          priority="P2", source="trap", at=T0)
    for to in ("acknowledged", "in_progress", "resolved"):
        await services.transition(NOC, first, to, now=T0)
    second = await services.store_incident(fingerprint="asset:7:link:1", title="Fiber down", category="fiber",
                                           priority="P2", source="trap", at=T0 + dt.timedelta(hours=2))
    try:
        await services.transition(NOC, first, "in_progress", now=T0 + dt.timedelta(hours=3))
    except Conflict as exc:
        assert f"incident {second} is open for the same fault" in exc.detail
    else:
        raise AssertionError("two open incidents for one fingerprint")
    assert (await services.get_incident(NOC, first))["status"] == "resolved"
