"""The demo's scenario on a short clock: the simulated agents' recordings
change (fiber cut, UPS on battery, a flapping port), a real poller reads them,
and the incident engine opens an incident naming the client, then resolves it
when the fiber comes back. `rackcard demo --quiet` plays nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import pytest

from accounts.viewer import Viewer
from cmdb.demo import seed_demo
from incidents import engine
from incidents.checks import probe_targets, record_observations
from incidents.tables import Incident, SlaPlan
from probes.interpret import interpret, oids_of, plan
from probes.profiles import builtin_profiles, profile_for
from probes.simulator import free_udp_port
from probes.snmp import SnmpPoller
from probes.wire import ObservationBatch, utcnow
from rackcard import scenario
from rackcard.demo import _demo_snmp_agents
from rackcard.settings import EngineSettings

pytestmark = pytest.mark.slow
PROBE = Viewer(user_id=None, email="probe:demo-test", role="probe", probe_name="demo-test")
PROFILES = builtin_profiles()


def test_a_cycle_cuts_a_fiber_puts_the_ups_on_battery_and_flaps_a_port():
    from probes.simulator import SimDevice

    devices = [SimDevice("mc-dc", "media_converter", ((1, "copper", "tp"), (2, "fiber", "fx"))),
               SimDevice("mc-remote", "media_converter", ((1, "copper", "tp"), (2, "fiber", "fx"))),
               SimDevice("mc-remote-2", "media_converter", ((1, "copper", "tp"), (2, "fiber", "fx"))),
               SimDevice("ups-remote", "ups")]
    steps = scenario.cycle(devices, remote=frozenset({"mc-remote", "mc-remote-2", "ups-remote"}))
    notes = [s.note for s in steps]
    assert notes[0] == "fiber cut on mc-remote port 2"
    assert any("ups-remote on battery, 42 min left" in n for n in notes)
    assert any("ups-remote on battery, 20 min left" in n for n in notes)
    assert any("back on mains" in n for n in notes)
    assert sum("flapping" in n for n in notes) == 5 and "mc-dc" in notes[-1]  # away from the remote UPS
    assert [s.at_s for s in steps] == sorted(s.at_s for s in steps) and steps[-1].at_s < scenario.CYCLE_S
    battery = [s for s in steps if "on battery" in s.note][0].recording
    assert "1.3.6.1.2.1.33.1.4.1.0|2|5" in battery  # upsOutputSource = battery


@pytest.fixture
async def demo_agents(db, settings, monkeypatch):
    monkeypatch.setenv("RACKCARD_DEMO_SNMP_PORT", str(free_udp_port()))
    await seed_demo()
    async with _demo_snmp_agents(settings) as (agent, devices, remote):
        assert agent is not None, "snmpsim did not start"
        yield agent, devices, remote


async def _poll_once(poller: SnmpPoller, communities: set[str]) -> None:
    targets = [t for t in await probe_targets(PROBE) if t.community in communities]
    observations = []
    for target in targets:
        planned = plan(target, profile_for(target.kind, target.profile, PROFILES))
        result = await poller.get(target, oids_of(planned))
        observations += interpret(target, planned, result, utcnow().isoformat())
    await record_observations(ObservationBatch.new(observations, probe="demo-test"), PROBE)


async def test_the_scenario_opens_an_incident_naming_its_clients_then_resolves(demo_agents):
    agent, devices, remote = demo_agents
    await scenario.prepare(devices, remote)
    assert await SlaPlan.count() == 2  # the demo ships SLA plans on its clients
    cast = scenario.pick_devices(devices, remote)
    fiber_mc = cast["fiber"].community
    assert fiber_mc in remote
    engine.configure(dataclasses.replace(EngineSettings(), hold_down_polls=2, recovery_hold_s=2))
    poller = SnmpPoller(timeout=0.5, retries=1)
    # a short clock: the fiber is cut at once and comes back 75 s * 0.04 = 3 s later
    play = asyncio.create_task(scenario.play(agent, devices, remote=remote, time_scale=0.04, cycles=1))
    opened = resolved = None
    try:
        for _ in range(120):
            await _poll_once(poller, {fiber_mc})
            await engine.tick(utcnow())
            rows = await Incident.select().where(Incident.title.like(f"%{fiber_mc}%"))
            if rows and opened is None:
                opened = rows[0]
            if opened and any(r["id"] == opened["id"] and r["status"] == "resolved" for r in rows):
                resolved = True
                break
            await asyncio.sleep(0.25)
    finally:
        play.cancel()
        engine.configure(EngineSettings())
    assert opened is not None, "the fiber cut opened no incident"
    assert opened["category"] == "fiber" and opened["response_due_at"] is not None
    from incidents.tables import AffectedClient

    named = {r["name"] for r in await AffectedClient.select(AffectedClient.name)
             .where(AffectedClient.incident == opened["id"])}
    assert named, "the incident names no client"
    assert resolved, "the incident did not resolve after the fiber came back"


async def test_quiet_demo_plays_nothing(db, settings, monkeypatch):
    from rackcard.demo import demo_context

    monkeypatch.setenv("RACKCARD_DEMO_SNMP_PORT", str(free_udp_port()))
    async with demo_context(settings, scenario=False):
        await asyncio.sleep(0.2)
        assert not [t for t in asyncio.all_tasks() if t.get_name() == "demo-scenario"]
    assert await SlaPlan.count() == 0
