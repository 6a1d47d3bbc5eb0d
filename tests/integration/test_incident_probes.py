"""The whole path with a real SNMP agent: snmpsim's recording changes (fiber
port down) -> the poller -> record_observations -> engine -> an incident visible
through the API, linked to the asset and the client of that port; restored ->
auto-resolved (self-healed) by the timer."""

from __future__ import annotations

import datetime as dt

import pytest

from _probe_support import fast_poller, make_asset, make_site, mc_target, poll_until, start_agent
from accounts.viewer import Viewer
from cmdb.tables import Client, Interface
from incidents import engine
from incidents.checks import record_observations
from probes.simulator import media_converter_rec
from probes.wire import ObservationBatch, utcnow

pytestmark = pytest.mark.slow

PROBE = Viewer(user_id=None, email="probe:test", role="probe", probe_name="test")
DOWN = {1: ("slot_1_tp", 1, 1), 2: ("slot_1_fx", 1, 2)}  # copper up, fiber oper down


@pytest.fixture
def agent(tmp_path_factory):
    agent = start_agent(tmp_path_factory, mcs=("mcinc",), upses=())
    yield agent
    agent.close()


async def _poll_and_record(poller, target, key: str, state: str, now: dt.datetime) -> None:
    seen = await poll_until(poller, target, key, state)
    await record_observations(ObservationBatch.new(seen.values(), probe="test"), PROBE, now=now)


async def test_fiber_down_on_a_real_agent_opens_then_auto_resolves(agent, api):
    acme = Client(code="acme", name="Acme", name_norm="acme")
    await acme.save()
    site = await make_site("dc1", "datacenter")
    asset = await make_asset(site.id, "mcinc", "media_converter", agent.host, agent.port,
                             interfaces=((1, "copper", "slot_1_tp"), (2, "fiber", "slot_1_fx")))
    await Interface.update({Interface.client: acme.id}).where(Interface.asset == asset.id)
    poller = fast_poller()
    target = mc_target(agent, "mcinc", asset_id=asset.id)

    now = utcnow()
    await _poll_and_record(poller, target, "link:2", "ok", now)
    agent.write("mcinc", media_converter_rec("mcinc", DOWN))
    for i in range(1, 4):  # polls confirm after the hold-down (3 by default)
        await _poll_and_record(poller, target, "link:2", "critical", now + dt.timedelta(seconds=10 * i))

    listed = (await api.get("/api/v1/incidents", params={"status": "open", "asset_id": asset.id})).json()
    assert listed["count"] == 1, listed
    incident = (await api.get(f"/api/v1/incidents/{listed['results'][0]['id']}")).json()
    assert incident["category"] == "fiber" and incident["source"] == "probe"
    assert [a["asset_id"] for a in incident["affected_assets"]] == [asset.id]
    assert incident["affected_clients"] == [{"client_id": acme.id, "name": "Acme", "impact": "down"}]

    agent.write("mcinc", media_converter_rec("mcinc"))
    restored = now + dt.timedelta(seconds=60)
    await _poll_and_record(poller, target, "link:2", "ok", restored)
    await engine.tick(restored + dt.timedelta(seconds=121))  # default recovery hold: 120 s
    resolved = (await api.get(f"/api/v1/incidents/{incident['id']}")).json()
    assert resolved["status"] == "resolved" and resolved["self_healed"] is True
    card = (await api.get(f"/api/v1/clients/{acme.id}/card")).json()
    assert card["open_incidents"] == [] and [i["id"] for i in card["incident_history"]] == [incident["id"]]
