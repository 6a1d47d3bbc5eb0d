"""The engine wrapper on a real database (both engines): rules.decide fed from
the CMDB tables and applied to storage; one incident per fingerprint even with
two concurrent writers; recovery, reopen and maintenance through storage."""

from __future__ import annotations

import asyncio
import datetime as dt

import incident_data as data
from incident_data import T0

from database.transactions import atomic, is_sqlite
from accounts.viewer import Viewer
from incidents import engine, rules, services
from incidents.rules import OpenIncident, Params
from incidents.tables import AffectedAsset, Incident, Notification, Suppression, TimelineEntry

NOC = Viewer(user_id=None, email="noc@example.test", role="noc")
PARAMS = Params(hold_down_polls=2, recovery_hold=dt.timedelta(seconds=60), reopen_window=dt.timedelta(minutes=30))
MIN = dt.timedelta(minutes=1)


async def _media_converter():
    """A DC media converter carrying client Acme on ports 1 (fiber) / 2 (copper)."""
    acme = await data.client("Acme", plan_id=await data.plan("Gold"))
    dc = await data.site("datacenter")
    mc = await data.asset(dc, "mc-chassis-1", kind="media_converter")
    await data.interface(mc, 1, "fiber", acme)
    await data.interface(mc, 2, "copper", acme)
    return acme, dc, mc


async def _observe(*updates, now, params=PARAMS):
    async with atomic():
        for u in updates:
            await data.store_state(u)
        return await engine.process(list(updates), now, params=params)


async def test_fiber_down_opens_one_incident_linked_to_asset_and_client_then_self_heals(api):
    acme, _, mc = await _media_converter()
    await _observe(data.update(mc, "link:1", "ok", T0 - MIN, previous=None),
                   data.update(mc, "link:2", "ok", T0 - MIN, previous=None), now=T0 - MIN)
    await _observe(data.update(mc, "link:1", "critical", T0, message="linkDown"), now=T0)
    # the same trap again: still one incident
    await _observe(data.update(mc, "link:1", "critical", T0 + MIN, previous="critical", streak=2, since=T0),
                   now=T0 + MIN)

    listed = (await api.get("/api/v1/incidents", params={"status": "open", "asset_id": mc})).json()
    assert listed["count"] == 1
    incident = (await api.get(f"/api/v1/incidents/{listed['results'][0]['id']}")).json()
    assert incident["category"] == "fiber" and incident["source"] == "trap"
    assert incident["fingerprint"] == f"asset:{mc}:link:1"
    assert [(a["asset_id"], a["role"]) for a in incident["affected_assets"]] == [(mc, "root")]
    assert incident["affected_clients"] == [{"client_id": acme, "name": "Acme", "impact": "down"}]
    assert incident["response_due_at"] is not None  # Acme's plan applies
    assert incident["timeline"][0]["kind"] == "event"

    # restored; resolved once it held for the recovery time (driven by the timer)
    await _observe(data.update(mc, "link:1", "ok", T0 + 2 * MIN, previous="critical"), now=T0 + 2 * MIN)
    await engine.tick(T0 + 2 * MIN + PARAMS.recovery_hold, params=PARAMS)
    resolved = (await api.get(f"/api/v1/incidents/{incident['id']}")).json()
    assert resolved["status"] == "resolved" and resolved["self_healed"] is True
    assert resolved["resolved_at"] is not None
    assert [n.event for n in await Notification.objects().order_by(Notification.id)] == ["opened", "resolved"]

    # the fault comes back within the reopen window: the same incident reopens
    back = T0 + 10 * MIN
    await _observe(data.update(mc, "link:1", "critical", back, message="linkDown"), now=back)
    again = (await api.get(f"/api/v1/incidents/{incident['id']}")).json()
    assert again["status"] == "new" and again["self_healed"] is False and again["resolved_at"] is None
    assert await Incident.count() == 1


async def test_ups_on_battery_at_a_remote_site_is_one_power_incident_with_every_client(db):
    remote = await data.site("remote")
    ups = await data.asset(remote, "ups-1", kind="ups")
    clients, assets = [], []
    for i in range(6):
        c = await data.client(f"Client{i}")
        a = await data.asset(remote, f"mc-{i}", client_id=c)
        await data.depends(a, ups, "power")
        clients.append(c)
        assets.append(a)
    await _observe(*[data.update(a, "reachability", "ok", T0 - MIN, previous=None) for a in assets + [ups]],
                   data.update(ups, "power:source", "ok", T0 - MIN, previous=None), now=T0 - MIN)
    await _observe(data.update(ups, "power:source", "critical", T0, message="on battery"), now=T0)
    later = T0 + 20 * MIN
    for n in (1, 2):
        await _observe(*[data.update(a, "reachability", "critical", later, streak=n, previous="ok" if n == 1 else "critical",
                                     source="poll", since=later) for a in assets], now=later)
        later += MIN
    await engine.tick(later + MIN, params=PARAMS)
    (incident,) = await Incident.select()
    detail = await services.get_incident(NOC, incident["id"])
    assert detail["category"] == "power" and detail["fingerprint"] == f"site:{remote}:power"
    roles = {a["asset_id"]: a["role"] for a in detail["affected_assets"]}
    assert roles[ups] == "root" and all(roles[a] == "impacted" for a in assets)
    assert {c["client_id"] for c in detail["affected_clients"]} == set(clients)


async def test_two_concurrent_writers_posting_the_same_change_make_one_incident(db):
    _, _, mc = await _media_converter()
    await _observe(data.update(mc, "link:2", "ok", T0 - MIN, previous=None), now=T0 - MIN)
    change = data.update(mc, "link:1", "critical", T0, message="linkDown")

    # 1) Both writers decided "open" before either wrote (the race the index exists
    # for): both apply in their own transactions; the second one hits the unique
    # partial index and attaches instead.
    topology = await engine.load_topology({mc})
    checks = await engine.load_checks(topology.assets)
    decisions = rules.decide([change], [], topology, [], T0, checks, PARAMS)
    assert any(isinstance(d, OpenIncident) for d in decisions)
    both_in = asyncio.Barrier(2) if not is_sqlite() else None

    async def writer():
        async with atomic():
            if both_in is not None:  # PostgreSQL: both transactions are open at once
                await Incident.count()
                await both_in.wait()
            await engine.apply(decisions, topology, T0)

    await asyncio.gather(writer(), writer())
    assert await Incident.count() == 1
    assert await AffectedAsset.count() == 1
    # the loser hit the unique index and attached to the winner's incident
    notes = await TimelineEntry.select(TimelineEntry.body).where(TimelineEntry.kind == "probe")
    assert [n["body"] for n in notes] == ["the same fault was reported again: " + decisions[0].title]

    # 2) The engine's whole path, twice at once, on separate connections (the
    # check state is written once: that part is record_observations').
    await Incident.delete(force=True)
    await data.store_state(change)

    async def process():
        async with atomic():
            await engine.process([change], T0, params=PARAMS)

    await asyncio.gather(process(), process())
    assert await Incident.count() == 1
    assert await Notification.count() == 1  # "opened" once


async def test_the_unique_index_allows_one_open_incident_per_fingerprint(db):
    first = await services.store_incident(fingerprint="asset:1:x", title="a", category="other", priority="P4",
                                          source="probe", at=T0)
    try:
        await services.store_incident(fingerprint="asset:1:x", title="b", category="other", priority="P4",
                                      source="probe", at=T0)
    except Exception as exc:  # noqa: BLE001 - the engine-specific unique violation
        from database.transactions import is_unique_violation

        assert is_unique_violation(exc)
    else:
        raise AssertionError("a second open incident with the same fingerprint was accepted")
    await Incident.update({Incident.status: "resolved"}).where(Incident.id == first)
    await services.store_incident(fingerprint="asset:1:x", title="c", category="other", priority="P4",
                                  source="probe", at=T0)
    assert await Incident.count() == 2


async def test_maintenance_window_suppresses_then_opens_when_it_ends(api):
    _, _, mc = await _media_converter()
    window = await api.post("/api/v1/maintenance-windows", json={
        "asset_id": mc, "starts_at": (T0 - MIN).isoformat(), "ends_at": (T0 + 10 * MIN).isoformat(),
        "reason": "fiber splicing"})
    assert window.status_code == 201, window.text
    await _observe(data.update(mc, "link:2", "ok", T0 - MIN, previous=None), now=T0 - MIN)
    await _observe(data.update(mc, "link:1", "critical", T0), now=T0)
    assert await Incident.count() == 0
    assert await Suppression.count() >= 1
    assert await Notification.count() == 0
    await engine.tick(T0 + 11 * MIN, params=PARAMS)
    assert await Incident.count() == 1


async def test_maintenance_window_validation(api):
    _, dc, mc = await _media_converter()
    base = {"starts_at": T0.isoformat(), "ends_at": (T0 + MIN).isoformat()}
    for body, field in (
        ({**base}, "asset_id"),
        ({**base, "asset_id": mc, "site_id": dc}, "asset_id"),
        ({**base, "asset_id": 999999}, "asset_id"),
        ({"asset_id": mc, "starts_at": T0.isoformat(), "ends_at": T0.isoformat()}, "ends_at"),
        ({"asset_id": mc, "starts_at": "2026-11-23T10:00", "ends_at": (T0 + MIN).isoformat()}, "starts_at"),
    ):
        response = await api.post("/api/v1/maintenance-windows", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["field"] == field
    created = (await api.post("/api/v1/maintenance-windows", json={**base, "site_id": dc})).json()
    moved = await api.patch(f"/api/v1/maintenance-windows/{created['id']}", json={"reason": "UPS swap"})
    assert moved.json()["reason"] == "UPS swap"
    listed = (await api.get("/api/v1/maintenance-windows")).json()
    assert listed["count"] == 1 and [w["id"] for w in listed["results"]] == [created["id"]]
    assert (await api.delete(f"/api/v1/maintenance-windows/{created['id']}")).status_code == 204
    assert (await api.get(f"/api/v1/maintenance-windows/{created['id']}")).status_code == 404


async def test_maintenance_windows_list_is_paginated_and_filters_the_active_ones(api):
    _, dc, mc = await _media_converter()
    for hours in (0, 2, 4):  # three one-hour windows
        start = T0 + dt.timedelta(hours=hours)
        response = await api.post("/api/v1/maintenance-windows", json={
            "asset_id": mc, "starts_at": start.isoformat(), "ends_at": (start + 60 * MIN).isoformat()})
        assert response.status_code == 201, response.text
    page = (await api.get("/api/v1/maintenance-windows", params={"limit": 2})).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"] and page["previous"] is None
    rest = (await api.get(page["next"])).json()
    assert len(rest["results"]) == 1 and rest["next"] is None
    # newest first across the pages
    starts = [w["starts_at"] for w in page["results"] + rest["results"]]
    assert starts == sorted(starts, reverse=True)
    active = (await api.get("/api/v1/maintenance-windows",
                            params={"active_at": (T0 + dt.timedelta(hours=2, minutes=30)).isoformat()})).json()
    assert active["count"] == 1
    bad = await api.get("/api/v1/maintenance-windows", params={"active_at": "soon"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "active_at"


async def test_the_timer_leaves_manual_incidents_alone(db):
    acme, _, mc = await _media_converter()
    created = await services.create_manual(
        NOC, services.ManualIncident(title="Reboot my router please", category="request", client_id=acme,
                                     source="phone", asset_ids=(mc,)), now=T0)
    await _observe(data.update(mc, "link:1", "ok", T0, previous=None), now=T0)
    await engine.tick(T0 + dt.timedelta(hours=3), params=PARAMS)
    seen = await services.get_incident(NOC, created["id"])
    assert seen["status"] == "new" and seen["category"] == "request"


async def test_healthy_polls_of_uninvolved_assets_skip_the_rules(db):
    _, _, mc = await _media_converter()

    def must_not_run(*args):
        raise AssertionError("the rules ran for a steady, healthy batch")

    healthy = [data.update(mc, "link:1", "ok", T0, previous="ok", streak=9, source="poll")]
    assert await engine.process(healthy, T0, params=PARAMS, decide=must_not_run) == []
    calls = []
    changed = [data.update(mc, "link:1", "critical", T0, previous="ok", source="poll")]
    await engine.process(changed, T0, params=PARAMS, decide=lambda *a: calls.append(a) or [])
    assert len(calls) == 1
