"""Server side of the probes on both databases: check state, events, samples,
idempotent batches, targets, and the manual poll against a real agent."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from _probe_support import fast_poller, make_asset, make_site, poll_until, start_agent
from probes.simulator import media_converter_rec
from probes.wire import Observation, ObservationBatch

T0 = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=1)


def obs(asset_id, key, state, seconds, value=None, number=None, source="poll", message=""):
    return Observation(asset_id=asset_id, key=key, state=state, observed_at=(T0 + dt.timedelta(seconds=seconds)).isoformat(),
                       source=source, value=value, number=number, message=message)


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    agent = start_agent(tmp_path_factory)
    yield agent
    agent.close()


@pytest.fixture
async def probe(app):
    from accounts.services import create_token

    token = await create_token(probe="edge-test")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rackcard.test",
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


async def _asset(name="mc-a", kind="media_converter", site_code="rs1", host="127.0.0.1", port=161, **kw):
    from cmdb.tables import Site

    site = await Site.objects().where(Site.code == site_code).first() or await make_site(site_code)
    return await make_asset(site.id, name, kind, host, port,
                            interfaces=kw.pop("interfaces", [(1, "copper", "slot_1_tp"), (2, "fiber", "slot_1_fx")]), **kw)


async def test_state_since_streak_and_events(db, api, probe):
    from incidents.tables import CheckEvent

    asset = await _asset()
    batches = [
        [obs(asset.id, "link:2", "ok", 0)],
        [obs(asset.id, "link:2", "ok", 10)],
        [obs(asset.id, "link:2", "critical", 20, value="down", message="port down")],
        [obs(asset.id, "link:2", "critical", 30, value="down", message="port down")],
    ]
    for b in batches:
        r = await probe.post("/api/v1/probe/observations", json=ObservationBatch.new(b, probe="edge-test").to_dict())
        assert r.status_code == 200, r.text
        assert r.json()["applied"] == 1
    checks = (await api.get(f"/api/v1/assets/{asset.id}/checks")).json()
    assert len(checks) == 1
    c = checks[0]
    assert set(c) == {"key", "state", "value", "message", "since", "last_observed_at", "source"}
    assert (c["key"], c["state"], c["value"], c["source"]) == ("link:2", "critical", "down", "poll")
    assert dt.datetime.fromisoformat(c["since"]) == T0 + dt.timedelta(seconds=20)
    assert dt.datetime.fromisoformat(c["last_observed_at"]) == T0 + dt.timedelta(seconds=30)
    events = await CheckEvent.select().where(CheckEvent.asset == asset.id)
    assert [(e["from_state"], e["to_state"]) for e in events] == [("ok", "critical")]


async def test_replayed_batch_is_applied_once(db, probe):
    from incidents.tables import CheckState, ProbeBatch, Sample

    asset = await _asset(kind="ups", name="ups-a", interfaces=[])
    batch = ObservationBatch.new([obs(asset.id, "power:input_voltage", "ok", 0, "230", 230.0)], probe="edge-test").to_dict()
    first = (await probe.post("/api/v1/probe/observations", json=batch)).json()
    second = (await probe.post("/api/v1/probe/observations", json=batch)).json()
    assert (first["duplicate"], first["applied"]) == (False, 1)
    assert (second["duplicate"], second["applied"]) == (True, 0)
    assert await Sample.count().where(Sample.asset == asset.id) == 1
    assert await ProbeBatch.count() == 1
    assert (await CheckState.objects().first()).streak == 1


async def test_late_observation_does_not_overwrite_newer_state(db):
    from accounts.viewer import Viewer
    from incidents.checks import record_observations
    from incidents.tables import CheckState

    probe_viewer = Viewer(user_id=None, email="probe:x", role="probe", probe_name="x")
    asset = await _asset()
    await record_observations(ObservationBatch.new([obs(asset.id, "link:1", "ok", 100)]), probe_viewer)
    late = await record_observations(ObservationBatch.new([obs(asset.id, "link:1", "critical", 50)]), probe_viewer)
    assert (late["applied"], late["stale"]) == (0, 1)
    row = await CheckState.objects().where(CheckState.key == "link:1").first()
    assert row.state == "ok" and row.last_observed_at == T0 + dt.timedelta(seconds=100)


async def test_invalid_observation_names_the_field(db, probe):
    r = await probe.post("/api/v1/probe/observations", json={"batch_id": "b1", "observations": [
        {"asset_id": 1, "key": "x", "state": "bad", "observed_at": T0.isoformat()}]})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "observations[0].state"


async def test_targets_carry_secrets_and_follow_the_token_site(db, app):
    from accounts.services import create_token

    await _asset(name="mc-remote", site_code="rs1", community="secret-rs1")
    await _asset(name="ups-dc", kind="ups", site_code="dc1", community="secret-dc1", interfaces=[])
    await _asset(name="not-polled", site_code="rs1", snmp_version=None)
    headers = {"Authorization": f"Bearer {await create_token(probe='rs1-probe', site_code='rs1')}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers) as c:
        targets = (await c.get("/api/v1/probe/targets")).json()
        assert [t["name"] for t in targets] == ["mc-remote"]
        assert targets[0]["community"] == "secret-rs1"
        assert [i["role"] for i in targets[0]["interfaces"]] == ["copper", "fiber"]
        assert (await c.get("/api/v1/probe/targets", params={"site": "dc1"})).status_code == 403
    headers = {"Authorization": f"Bearer {await create_token(probe='all')}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers) as c:
        # mc-remote is leased to the rs1 worker: one worker polls an asset (incidents.leases)
        assert [t["name"] for t in (await c.get("/api/v1/probe/targets")).json()] == ["ups-dc"]
        assert [t["name"] for t in (await c.get("/api/v1/probe/targets", params={"site": "dc1"})).json()] == ["ups-dc"]


async def test_site_limited_probe_cannot_report_other_sites(db, app):
    from accounts.services import create_token
    from incidents.tables import CheckState

    other = await _asset(name="mc-dc", site_code="dc1")
    headers = {"Authorization": f"Bearer {await create_token(probe='rs1-probe', site_code='rs1')}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t", headers=headers) as c:
        r = await c.post("/api/v1/probe/observations",
                         json=ObservationBatch.new([obs(other.id, "link:1", "critical", 0)]).to_dict())
    assert r.json()["rejected"] == 1
    assert await CheckState.count() == 0


async def test_manual_poll_reboot_event_and_samples(db, api, agent):
    """A real agent: fiber down -> link:2 CRITICAL; sysUpTime backwards -> a reboot event."""
    from incidents.tables import CheckEvent

    agent.write("mc3", media_converter_rec("mc3", uptime_ticks=900000))
    asset = await _asset(name="mc3", host=agent.host, port=agent.port, community="mc3")
    await poll_until(fast_poller(), _target(agent, "mc3"), "uptime", "ok")
    r = await api.post(f"/api/v1/assets/{asset.id}/poll")
    assert r.status_code == 200, r.text
    seen = {o["key"]: o["state"] for o in r.json()["observations"]}
    assert seen == {"reachability": "ok", "uptime": "ok", "link:1": "ok", "link:2": "ok", "profile": "ok"}

    agent.write("mc3", media_converter_rec("mc3", {1: ("slot_1_tp", 1, 1), 2: ("slot_1_fx", 1, 2)}, uptime_ticks=1000))
    await poll_until(fast_poller(), _target(agent, "mc3"), "link:2", "critical")
    r = await api.post(f"/api/v1/assets/{asset.id}/poll")
    checks = {c["key"]: c for c in (await api.get(f"/api/v1/assets/{asset.id}/checks")).json()}
    assert checks["link:2"]["state"] == "critical"
    assert checks["link:1"]["state"] == "ok"
    assert checks["uptime"]["state"] == "warning"
    reboots = await CheckEvent.select().where((CheckEvent.asset == asset.id) & (CheckEvent.key == "reboot"))
    assert len(reboots) == 1 and "went back from 900000 to 1000" in reboots[0]["message"]
    history = (await api.get(f"/api/v1/assets/{asset.id}/check-events")).json()
    assert {"reboot", "link:2"} <= {e["key"] for e in history}


async def test_samples_endpoint(db, api, probe):
    asset = await _asset(kind="ups", name="ups-s", interfaces=[])
    now = dt.datetime.now(dt.timezone.utc)
    batch = [Observation(asset_id=asset.id, key="power:input_voltage", state="ok", observed_at=(now - dt.timedelta(minutes=m)).isoformat(),
                         value=str(v), number=float(v)) for m, v in ((30, 229), (20, 231), (10, 0))]
    batch.append(Observation(asset_id=asset.id, key="power:minutes_remaining", state="ok", observed_at=now.isoformat(), number=40.0))
    await probe.post("/api/v1/probe/observations", json=ObservationBatch.new(batch).to_dict())
    rows = (await api.get(f"/api/v1/assets/{asset.id}/samples", params={"key": "power:input_voltage"})).json()
    assert [r["value"] for r in rows] == [229.0, 231.0, 0.0]
    since = (now - dt.timedelta(minutes=15)).isoformat()
    rows = (await api.get(f"/api/v1/assets/{asset.id}/samples", params={"since": since})).json()
    assert sorted(r["key"] for r in rows) == ["power:input_voltage", "power:minutes_remaining"]
    assert (await api.get(f"/api/v1/assets/{asset.id}/samples", params={"since": "yesterday"})).status_code == 422
    assert (await api.get("/api/v1/assets/999999/checks")).status_code == 404


def _target(agent, community):
    from _probe_support import mc_target

    return mc_target(agent, community)


async def test_ups_on_battery_agent_stopped_and_restarted_through_the_api(db, api, agent):
    from incidents.tables import CheckEvent

    from _probe_support import ups_target
    from probes.simulator import ups_rec

    agent.write("ups2", ups_rec("ups2", source=5, minutes=20))
    asset = await _asset(name="ups2", kind="ups", host=agent.host, port=agent.port, community="ups2", interfaces=[])
    await poll_until(fast_poller(), ups_target(agent, "ups2"), "power:source", "critical")

    async def checks():
        await api.post(f"/api/v1/assets/{asset.id}/poll")
        return {c["key"]: c["state"] for c in (await api.get(f"/api/v1/assets/{asset.id}/checks")).json()}

    assert (await checks())["power:source"] == "critical"
    agent.stop()
    try:
        seen = await checks()
        assert seen["reachability"] == "critical"
        assert seen["power:source"] == "critical"  # the last known state stands while the device is silent
    finally:
        agent.start()
    agent.write("ups2", ups_rec("ups2"))
    await poll_until(fast_poller(), ups_target(agent, "ups2"), "power:source", "ok")
    seen = await checks()
    assert (seen["reachability"], seen["power:source"]) == ("ok", "ok")
    changes = [(e["key"], e["to_state"]) for e in
               await CheckEvent.select().where(CheckEvent.asset == asset.id).order_by(CheckEvent.id)]
    assert changes == [("power:source", "critical"), ("reachability", "critical"), ("reachability", "ok"),
                       ("power:source", "ok")]
