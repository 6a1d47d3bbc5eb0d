"""Acceptance (issue 4) through the API on both engines: a maintenance window
on a client (not only an asset or a site) suppresses opening through storage,
and rejected incident requests (illegal transition, bad comment, bad target,
unknown incident) change nothing."""

from __future__ import annotations

import datetime as dt

import incident_data as data
from incident_data import T0

from database.transactions import atomic
from incidents import engine
from incidents.rules import Params
from incidents.tables import Incident, Notification, Suppression, TimelineEntry

PARAMS = Params(hold_down_polls=2, recovery_hold=dt.timedelta(seconds=60), reopen_window=dt.timedelta(minutes=30))
MIN = dt.timedelta(minutes=1)


async def _observe(*updates, now):
    async with atomic():
        for u in updates:
            await data.store_state(u)
        return await engine.process(list(updates), now, params=PARAMS)


async def test_a_client_maintenance_window_suppresses_its_assets_then_opens_when_it_ends(api):
    acme = await data.client("Acme")
    dc = await data.site("datacenter")
    mc = await data.asset(dc, "mc-acme", kind="media_converter", client_id=acme)
    window = await api.post("/api/v1/maintenance-windows", json={
        "client_id": acme, "starts_at": (T0 - MIN).isoformat(), "ends_at": (T0 + 10 * MIN).isoformat(),
        "reason": "client's office rewiring"})
    assert window.status_code == 201, window.text
    assert window.json()["client_id"] == acme
    await _observe(data.update(mc, "reachability", "ok", T0 - MIN, previous=None), now=T0 - MIN)
    await _observe(data.update(mc, "reachability", "critical", T0), now=T0)
    assert await Incident.count() == 0 and await Notification.count() == 0
    assert await Suppression.count() >= 1
    await engine.tick(T0 + 5 * MIN, params=PARAMS)  # the timer, inside the window, opens nothing either
    assert await Incident.count() == 0 and await Notification.count() == 0
    await engine.tick(T0 + 11 * MIN, params=PARAMS)
    assert await Incident.count() == 1


async def test_rejected_incident_requests_change_nothing(api):
    client_id = await data.client()
    created = await api.post("/api/v1/incidents", json={"title": "No internet", "category": "equipment",
                                                        "client_id": client_id, "source": "phone", "priority": "P3"})
    assert created.status_code == 201, created.text
    incident = created.json()
    base = f"/api/v1/incidents/{incident['id']}"
    entries = await TimelineEntry.count()
    notifications = await Notification.count()

    illegal = await api.post(f"{base}/transition", json={"to": "closed"})
    assert illegal.status_code == 409
    unknown = await api.post(f"{base}/transition", json={"to": "sleeping"})
    assert unknown.status_code in (409, 422) and unknown.json()["errors"][0]["field"] == "to"
    assert unknown.headers["content-type"].startswith("application/problem+json")
    bad_comment = await api.post(f"{base}/comments", json={"body": "x", "visibility": "everyone"})
    assert bad_comment.status_code == 422
    missing = await api.post("/api/v1/incidents/999999/transition", json={"to": "acknowledged"})
    assert missing.status_code == 404
    assert (await api.get("/api/v1/incidents/999999")).status_code == 404
    bad_priority = await api.patch(base, json={"priority": "P0"})
    assert bad_priority.status_code == 422 and bad_priority.json()["errors"][0]["field"] == "priority"

    after = (await api.get(base)).json()
    assert (after["status"], after["priority"], after["line"]) == ("new", "P3", "L1")
    assert await TimelineEntry.count() == entries and await Notification.count() == notifications
    assert await Incident.count() == 1


async def test_affected_assets_and_clients_are_kept_as_they_were_when_the_cmdb_changes(api):
    acme = await data.client("Acme")
    globex = await data.client("Globex")
    site_id = await data.site("client_premises")
    mc = await data.asset(site_id, "mc-acme-1", client_id=acme)
    created = await api.post("/api/v1/incidents", json={"title": "No internet", "category": "equipment",
                                                        "client_id": acme, "asset_ids": [mc], "source": "phone"})
    assert created.status_code == 201, created.text
    incident_id = created.json()["id"]

    # the CMDB moves on: the client is renamed, the asset renamed, handed to another client, then removed
    assert (await api.patch(f"/api/v1/clients/{acme}", json={"name": "Acme Renamed"})).status_code == 200
    moved = await api.patch(f"/api/v1/assets/{mc}", json={"name": "mc-globex-9", "client_id": globex})
    assert moved.status_code == 200, moved.text
    assert (await api.delete(f"/api/v1/assets/{mc}")).status_code == 204

    incident = (await api.get(f"/api/v1/incidents/{incident_id}")).json()
    assert [(a["asset_id"], a["name"], a["role"]) for a in incident["affected_assets"]] == [(mc, "mc-acme-1", "root")]
    assert incident["affected_clients"] == [{"client_id": acme, "name": "Acme", "impact": "down"}]
    listed = (await api.get("/api/v1/incidents", params={"client_id": acme})).json()
    assert [i["id"] for i in listed["results"]] == [incident_id]
    assert (await api.get("/api/v1/incidents", params={"client_id": globex})).json()["count"] == 0
