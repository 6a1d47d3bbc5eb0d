"""SLA through storage (the calendar math itself is unit-tested in
tests/unit for incidents.sla): the most demanding client's plan applies,
pending_client stops the clock, breaches are flagged by the timer, a
business-hours plan runs across a weekend, and a priority change recomputes
the due times from the history."""

from __future__ import annotations

import datetime as dt

import incident_data as data
from incident_data import T0, UTC

from accounts.viewer import Viewer
from incidents import engine, services
from incidents.tables import Notification

NOC = Viewer(user_id=None, email="noc@example.test", role="noc")
MIN = dt.timedelta(minutes=1)


def _no_rules(*args):
    return []


async def _open(client_id: int, priority: str = "P2", at: dt.datetime = T0, asset_ids=()) -> int:
    created = await services.create_manual(
        NOC, services.ManualIncident(title="No link", category="fiber", client_id=client_id, source="phone",
                                     priority=priority, asset_ids=tuple(asset_ids)), now=at)
    return created["id"]


async def test_pending_client_time_is_excluded_and_breach_is_flagged(db):
    gold = await data.plan("Gold", response=30, resolution=240)  # P2: 60 min response, 480 min resolution
    incident_id = await _open(await data.client("Acme", plan_id=gold))
    opened = await services.get_incident(NOC, incident_id)
    assert opened["sla_plan_id"] == gold
    assert opened["response_due_at"] == T0 + 60 * MIN and opened["resolution_due_at"] == T0 + 480 * MIN

    await services.transition(NOC, incident_id, "acknowledged", now=T0 + 10 * MIN)
    await services.transition(NOC, incident_id, "in_progress", now=T0 + 20 * MIN)
    await services.transition(NOC, incident_id, "pending_client", now=T0 + 60 * MIN)
    await services.transition(NOC, incident_id, "in_progress", now=T0 + 180 * MIN)  # two hours waiting for the client
    after = await services.get_incident(NOC, incident_id)
    assert after["resolution_due_at"] == T0 + (480 + 120) * MIN
    assert after["response_due_at"] == T0 + 60 * MIN  # answered before any pause
    assert after["response_breached"] is False

    # the timer flags the breach once the (paused-adjusted) due time passes, not before
    await engine.tick(T0 + 599 * MIN, decide=_no_rules)
    assert (await services.get_incident(NOC, incident_id))["resolution_breached"] is False
    await engine.tick(T0 + 601 * MIN, decide=_no_rules)
    await engine.tick(T0 + 700 * MIN, decide=_no_rules)
    breached = await services.get_incident(NOC, incident_id)
    assert breached["resolution_breached"] is True and breached["response_breached"] is False
    assert len([e for e in breached["timeline"] if e["kind"] == "sla"]) == 1
    events = [n.event for n in await Notification.objects().order_by(Notification.id)]
    assert events.count("breached") == 1


async def test_response_breach_when_nobody_answers(db):
    gold = await data.plan("Gold", response=30, resolution=240)
    incident_id = await _open(await data.client("Acme", plan_id=gold), priority="P1")
    await engine.tick(T0 + 31 * MIN, decide=_no_rules)
    seen = await services.get_incident(NOC, incident_id)
    assert seen["response_breached"] is True and seen["resolution_breached"] is False


async def test_business_hours_plan_runs_across_a_weekend(db):
    office = await data.plan("Office", hours="business", timezone="Europe/Berlin", response=60, resolution=240)
    friday_5pm_berlin = dt.datetime(2026, 11, 27, 16, 0, tzinfo=UTC)  # 17:00 CET
    incident_id = await _open(await data.client("Acme", plan_id=office), priority="P1", at=friday_5pm_berlin)
    seen = await services.get_incident(NOC, incident_id)
    # 60 working minutes on Friday 17:00-18:00, nothing on the weekend, the rest from Monday 09:00 CET
    assert seen["response_due_at"] == dt.datetime(2026, 11, 27, 17, 0, tzinfo=UTC)
    assert seen["resolution_due_at"] == dt.datetime(2026, 11, 30, 11, 0, tzinfo=UTC)  # Monday 12:00 CET
    await engine.tick(dt.datetime(2026, 11, 29, 20, 0, tzinfo=UTC), decide=_no_rules)  # Sunday night
    assert (await services.get_incident(NOC, incident_id))["resolution_breached"] is False


async def test_most_demanding_client_plan_applies_and_priority_change_recomputes(api):
    gold = await data.plan("Gold", response=15, resolution=120)
    bronze = await data.plan("Bronze", response=60, resolution=960)
    acme = await data.client("Acme", plan_id=bronze)
    bank = await data.client("Bank", plan_id=gold)
    site = await data.site("datacenter")
    shared = await data.asset(site, "mc-bank", client_id=bank)
    incident_id = await _open(acme, priority="P3", asset_ids=[shared])
    seen = await services.get_incident(NOC, incident_id)
    assert seen["sla_plan_id"] == gold and seen["resolution_due_at"] == T0 + 360 * MIN

    await services.transition(NOC, incident_id, "acknowledged", now=T0 + 5 * MIN)
    await services.transition(NOC, incident_id, "in_progress", now=T0 + 6 * MIN)
    await services.transition(NOC, incident_id, "pending_client", now=T0 + 10 * MIN)
    await services.transition(NOC, incident_id, "in_progress", now=T0 + 40 * MIN)
    response = await api.patch(f"/api/v1/incidents/{incident_id}", json={"priority": "P1", "reason": "bank HQ"})
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["priority"] == "P1"
    # P1 on Gold: 120 minutes from the opening, plus the 30 minutes spent waiting for the client
    due = dt.datetime.fromisoformat(changed["resolution_due_at"].replace("Z", "+00:00"))
    assert due == T0 + (120 + 30) * MIN
    assert [e["body"] for e in changed["timeline"] if e["kind"] == "priority"] == ["priority P3 → P1: bank HQ"]
