"""Impact before outage through the database (issue 9): a UPS on battery lists
the clients behind it as at risk, the impact views, manual incidents without a
client. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import incident_data as data

from incidents import engine, services
from incidents.tables import AffectedAsset, AffectedClient, Incident, TimelineEntry

MIN = dt.timedelta(minutes=1)


async def _khimki():
    """UPS -> switch -> three media converters of three clients (power from the UPS too)."""
    site = await data.site("remote", "Khimki node")
    gold = await data.plan("Gold")
    ups = await data.asset(site, "ups-khimki", kind="ups")
    sw = await data.asset(site, "sw-khimki", kind="switch")
    await data.depends(sw, ups, "power")
    clients, mcs = [], []
    for name in ("Acme", "Globex", "Initech"):
        c = await data.client(name, plan_id=gold if name == "Acme" else None)
        mc = await data.asset(site, f"mc-{name.lower()}", client_id=c)
        await data.depends(mc, ups, "power")
        await data.depends(mc, sw, "uplink")
        clients.append(c)
        mcs.append(mc)
    svc = await data.service(clients[0], site, mcs[0])
    return {"site": site, "ups": ups, "sw": sw, "clients": clients, "mcs": mcs, "gold": gold, "service": svc}


def _upd(asset, key, state, at, value=None, previous="ok"):
    u = data.update(asset, key, state, at, previous=previous)
    return u.__class__(**{**u.__dict__, "value": value})


async def test_ups_on_battery_lists_the_clients_at_risk_then_minutes_fall(db):
    k = await _khimki()
    t = data.T0
    batch = [_upd(k["ups"], "power:source", "critical", t, "on battery"),
             _upd(k["ups"], "power:minutes_remaining", "warning", t, "12")]
    for u in batch:
        await data.store_state(u)
    await engine.process(batch, t)
    (inc,) = await Incident.select().where(Incident.status == "new")
    assert inc["title"] == "Khimki node on battery — 12 min left, 3 clients at risk"
    assert inc["category"] == "power" and inc["priority"] in ("P1", "P2")
    roles = {r["asset_id"]: r["role"] for r in await AffectedAsset.select().where(AffectedAsset.incident == inc["id"])}
    assert roles == {k["ups"]: "root", k["sw"]: "at_risk", **{m: "at_risk" for m in k["mcs"]}}
    impacts = {r["client_id"]: r["impact"] for r in await AffectedClient.select().where(
        AffectedClient.incident == inc["id"])}
    assert impacts == {c: "at_risk" for c in k["clients"]}
    assert services.aware(inc["battery_exhausted_at"]) == t + 12 * MIN
    assert inc["sla_plan_id"] == k["gold"]  # Acme at risk: its plan's clock runs

    # four minutes left: the title follows, the timeline says so
    t2 = t + 8 * MIN
    u = _upd(k["ups"], "power:minutes_remaining", "critical", t2, "4", previous="warning")
    await data.store_state(u)
    await engine.process([u], t2)
    row = await Incident.select(Incident.title, Incident.battery_minutes_left).where(Incident.id == inc["id"]).first()
    assert row["title"] == "Khimki node on battery — 4 min left, 3 clients at risk"
    assert row["battery_minutes_left"] == 4
    bodies = [r["body"] for r in await TimelineEntry.select(TimelineEntry.body).where(
        TimelineEntry.incident == inc["id"])]
    assert any("battery runs out in 4 minutes" in b for b in bodies)

    # Acme's converter dies: impacted on the same incident, Acme down
    t3 = t2 + MIN
    u = _upd(k["mcs"][0], "reachability", "critical", t3)
    await data.store_state(u)
    await engine.process([u], t3)
    assert await Incident.count() == 1
    role = await AffectedAsset.select(AffectedAsset.role).where(
        (AffectedAsset.incident == inc["id"]) & (AffectedAsset.asset_id == k["mcs"][0])).first()
    assert role["role"] == "impacted"
    impacts = {r["client_id"]: r["impact"] for r in await AffectedClient.select().where(
        AffectedClient.incident == inc["id"])}
    assert impacts == {k["clients"][0]: "down", k["clients"][1]: "at_risk", k["clients"][2]: "at_risk"}


async def test_asset_impact_view_and_maintenance_window_impact(db, api):
    k = await _khimki()
    # a second, redundant uplink for Initech's converter: only at risk if the switch fails
    other = await data.asset(k["site"], "sw-backup", kind="switch")
    await data.depends(k["mcs"][2], other, "uplink")
    got = await api.get(f"/api/v1/assets/{k['sw']}/impact")
    assert got.status_code == 200, got.text
    view = got.json()
    assert [a["asset_id"] for a in view["assets"]] == [k["sw"]]
    assert {a["asset_id"]: a["impact"] for a in view["downstream"]} == {
        k["mcs"][0]: "down", k["mcs"][1]: "down", k["mcs"][2]: "at_risk"}
    assert {c["client_id"]: c["impact"] for c in view["clients"]} == {
        k["clients"][0]: "down", k["clients"][1]: "down", k["clients"][2]: "at_risk"}
    assert [s["service_id"] for s in view["services"]] == [k["service"]]
    assert view["sla_plans"] == [{"sla_plan_id": k["gold"], "name": "Gold", "client_ids": [k["clients"][0]]}]
    assert (await api.get("/api/v1/assets/999999/impact")).status_code == 404

    window = await api.post("/api/v1/maintenance-windows", json={
        "asset_id": k["ups"], "starts_at": "2026-12-01T01:00:00Z", "ends_at": "2026-12-01T02:00:00Z"})
    assert window.status_code == 201, window.text
    got = await api.get(f"/api/v1/maintenance-windows/{window.json()['id']}/impact")
    assert got.status_code == 200, got.text
    view = got.json()
    assert view["window"]["asset_id"] == k["ups"]
    assert {c["client_id"] for c in view["clients"]} == set(k["clients"])  # the clients to warn
    assert len(view["downstream"]) == 4
    assert (await api.get("/api/v1/maintenance-windows/999999/impact")).status_code == 404


async def test_manual_incident_on_a_core_switch_without_client_lists_the_clients_behind_it(db, api):
    k = await _khimki()
    created = await api.post("/api/v1/incidents", json={
        "title": "Core switch replacement went wrong", "category": "equipment", "source": "phone",
        "asset_ids": [k["sw"]]})
    assert created.status_code == 201, created.text
    incident = created.json()
    assert {c["client_id"]: c["impact"] for c in incident["affected_clients"]} == {c: "down" for c in k["clients"]}
    assert [(a["asset_id"], a["role"]) for a in incident["affected_assets"]] == [(k["sw"], "root")]
    # neither a client nor equipment: refused, naming the field; nothing stored
    bad = await api.post("/api/v1/incidents", json={"title": "?", "category": "other", "source": "phone"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "client_id"
    assert await Incident.count() == 1


async def test_a_second_feed_elsewhere_keeps_a_dual_powered_asset_at_risk(db):
    """The other UPS is at another site and depends on nothing: the engine still
    loads it, so losing one feed leaves the asset at risk, not impacted."""
    site = await data.site("datacenter", "DC-1")
    far = await data.site("datacenter", "DC-2")
    acme = await data.client("Acme")
    ups_a = await data.asset(site, "ups-a", kind="ups")
    ups_b = await data.asset(far, "ups-b", kind="ups")
    srv = await data.asset(far, "srv-dual", kind="server", client_id=acme)
    await data.depends(srv, ups_a, "power")
    await data.depends(srv, ups_b, "power")
    t = data.T0
    u = _upd(ups_a, "power:output", "critical", t)
    await data.store_state(u)
    await engine.process([u], t)
    (inc,) = await Incident.select()
    role = await AffectedAsset.select(AffectedAsset.role).where(
        (AffectedAsset.incident == inc["id"]) & (AffectedAsset.asset_id == srv)).first()
    assert role["role"] == "at_risk"
