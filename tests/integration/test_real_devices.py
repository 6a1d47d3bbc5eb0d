"""Issue 14 acceptance: recordings in the shapes real agents send (tests/data/snmprec),
served by a real snmpsim agent, read as an engineer would expect."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from probes.simulator import SimAgent
from probes.snmp import SnmpPoller
from probes.wire import ObservationBatch, Target, TargetInterface, utcnow
from probes.worker import AssetMemory, poll_once

from _probe_support import make_site

RECORDINGS = Path(__file__).resolve().parents[1] / "data" / "snmprec"
ROMASHKA = "Romashka LLC"


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    agent = SimAgent(root=tmp_path_factory.mktemp("snmpsim"))
    for rec in RECORDINGS.glob("*.snmprec"):
        shutil.copy(rec, agent.data_dir / rec.name)
    # A renumbered chassis ("replaced" with other firmware): fx and tp of every slot swapped.
    text = (RECORDINGS / "planet-mc1610mr.snmprec").read_text()
    agent.write("planet-renumbered", text.replace("slot_1_tp", "@").replace("slot_1_fx", "slot_1_tp").replace("@", "slot_1_fx"))
    agent.write("switch-port-down", text.replace("1.3.6.1.2.1.2.2.1.8.1003|2|1", "1.3.6.1.2.1.2.2.1.8.1003|2|2"))
    agent.write("ups-on-battery", (RECORDINGS / "rfc1628-tenths.snmprec").read_text()
                .replace("1.3.6.1.2.1.33.1.4.1.0|2|3", "1.3.6.1.2.1.33.1.4.1.0|2|5")
                .replace("1.3.6.1.2.1.33.1.3.3.1.3.1|2|2301", "1.3.6.1.2.1.33.1.3.3.1.3.1|2|0"))
    agent.start()
    yield agent
    agent.close()


def target(agent, community, kind, profile=None, interfaces=(), asset_id=1) -> Target:
    return Target(asset_id=asset_id, name=community, kind=kind, host=agent.host, port=agent.port, community=community,
                  profile=profile, interfaces=tuple(interfaces))


async def read(agent, community, kind, profile=None, interfaces=()) -> dict:
    seen = await poll_once(target(agent, community, kind, profile, interfaces), SnmpPoller(0.5, 1))
    return {o.key: o for o in seen}


CHASSIS_PORTS = (
    TargetInterface(1001, "copper", "slot_1_tp", if_name="slot_1_tp"),
    TargetInterface(1002, "fiber", "slot_1_fx", if_name="slot_1_fx", client=ROMASHKA),
    TargetInterface(1006, "fiber", "slot_3_fx", if_name="slot_3_fx"),
    TargetInterface(1008, "fiber", "slot_4_fx", if_name="slot_4_fx"),  # an empty slot
)


async def test_planet_chassis_auto_profile_ports_by_name_and_low_light(agent):
    seen = await read(agent, "planet-mc1610mr", "media_converter", "auto", CHASSIS_PORTS)
    assert seen["profile"].value == "planet_mc_chassis" and "auto: sysObjectID 1.3.6.1.4.1.10456.2.625" in seen["profile"].message
    assert seen["link:1002"].state == "ok" and seen["link:1002"].message == f"slot_1_fx ({ROMASHKA}): port up"
    assert seen["link:1008"].state == "ok" and "administratively down" in seen["link:1008"].message  # empty slot
    assert (seen["rx_power:1002"].state, seen["rx_power:1002"].number) == ("ok", -14.5)
    assert (seen["rx_power:1006"].state, seen["rx_power:1006"].message) == ("warning", "slot_3_fx: -25.3 dBm (below -24)")
    assert "rx_power:1008" not in seen  # no module, no DOM: no check, not "unreadable"
    assert seen["profile"].state == "ok"


@pytest.mark.parametrize(("community", "kind", "profile", "expect"), [
    ("apc-smartups", "ups", None, {"profile": "apc_ups", "power:source": ("ok", "online (mains)"),
                                   "power:battery": ("ok", "normal"), "power:minutes_remaining": ("ok", "41 min"),
                                   "power:input_voltage": ("ok", "229 V"), "power:load": ("ok", "23 %")}),
    ("xppc-netagent", "ups", None, {"profile": "xppc_ups", "power:source": ("ok", "online (mains)"),
                                    "power:minutes_remaining": ("ok", "33 min"),
                                    "power:input_voltage": ("ok", "231.2 V")}),
    ("eaton-9px", "ups", None, {"profile": "eaton_ups", "power:source": ("ok", "normal (mains)"),
                                "power:battery": ("ok", "floating"), "power:minutes_remaining": ("ok", "49 min"),
                                "power:input_voltage": ("ok", "231 V")}),
    ("rfc1628-tenths", "ups", None, {"profile": "ups", "power:minutes_remaining": ("ok", "not reported"),
                                     "power:input_voltage": ("ok", "230.1 V")}),
    ("rfc1628-zero", "ups", None, {"profile": "ups", "power:minutes_remaining": ("ok", "not reported on mains"),
                                   "power:input_voltage": ("ok", "228 V")}),
    ("ups-on-battery", "ups", None, {"profile": "ups", "power:source": ("critical", "on battery"),
                                     "power:minutes_remaining": ("ok", "not reported"),
                                     "power:input_voltage": ("critical", "0 V input: mains lost (output on battery)")}),
    ("apc-rpdu2", "pdu", None, {"profile": "apc_rpdu2", "power:inlet_voltage": ("ok", "227 V"),
                                "power:inlet_current": ("ok", "8.1 A"), "power:inlet_power": ("ok", "1840 W"),
                                "power:outlets": ("ok", "23 of 24 outlets on; off: 7 Outlet 7")}),
    ("raritan-px2", "pdu", None, {"profile": "raritan_pdu2", "power:inlet_voltage": ("ok", "229 V"),
                                  "power:inlet_current": ("ok", "6.42 A"), "power:inlet_power": ("ok", "1412 W"),
                                  "power:outlets": ("ok", "7 of 8 outlets on; off: 5 outlet 5")}),
    ("entity-sensor-pdu", "pdu", "entity_sensor", {
        "profile": "entity_sensor", "power:inlet_voltage": ("ok", "Inlet L1 voltage: 227.4 V"),
        "power:inlet_current": ("ok", "Inlet L1 current: 5.12 A"), "power:inlet_power": ("ok", "Inlet L1 power: 1150 W")}),
])
async def test_power_devices_read_as_an_engineer_expects(agent, community, kind, profile, expect):
    seen = await read(agent, community, kind, profile)
    assert seen["reachability"].state == "ok"
    assert seen["profile"].value == expect.pop("profile") and seen["profile"].state == "ok", seen["profile"].message
    for key, (state, text) in expect.items():
        assert seen[key].state == state and text in seen[key].message, (key, seen[key])
        assert "e+" not in seen[key].message  # no scientific notation
    if "power:minutes_remaining" in seen and "not reported" in seen["power:minutes_remaining"].message:
        assert seen["power:minutes_remaining"].number is None  # shown, never compared or graphed


async def test_per_asset_override_of_a_state_map_and_scale(agent):
    """A DC-fed inverter whose output 'on battery' is normal; an agent whose volts need x0.1."""
    t = target(agent, "ups-on-battery", "ups")
    t = Target(**{**t.__dict__, "overrides": {"power:source": {"states": {"5": ["ok", "inverter (DC-fed)"]}},
                                              "power:input_voltage": {"scale": 0.1, "low_warning": -1}}})
    seen = {o.key: o for o in await poll_once(t, SnmpPoller(0.5, 1))}
    assert (seen["power:source"].state, seen["power:source"].value) == ("ok", "inverter (DC-fed)")


async def test_unreadable_profile_warns_after_n_polls(agent):
    """An APC UPS left on the RFC 1628 profile answers noSuchObject: visible, not 'unknown forever'."""
    memory = AssetMemory()
    t = target(agent, "apc-smartups", "ups", profile="ups")
    states = []
    for _ in range(3):
        seen = {o.key: o for o in await poll_once(t, SnmpPoller(0.5, 1), memory=memory)}
        states.append(seen["profile"].state)
        assert seen["power:source"].state == "unknown" and seen["power:source"].value == "unreadable"
    assert states == ["unknown", "unknown", "warning"]
    assert seen["profile"].message.startswith("not readable: wrong profile?")


# ------------------------------------------------------------------ with the server


async def _client(name=ROMASHKA):
    from cmdb.tables import Client

    client = Client(code=name[:8].lower().replace(" ", ""), name=name, name_norm=name.lower())
    await client.save()
    return client


async def _asset(api, site_id, name, community, agent, kind="media_converter", profile=None):
    body = {"name": name, "kind": kind, "site_id": site_id, "mgmt_ip": agent.host, "snmp_port": agent.port,
            "snmp_version": "2c", "snmp_community": community}
    if profile:
        body["profile"] = profile
    r = await api.post("/api/v1/assets", json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def _poll_and_record(api, asset_id):
    r = await api.post(f"/api/v1/assets/{asset_id}/poll")
    assert r.status_code == 200, r.text
    return {o["key"]: o for o in r.json()["observations"]}


async def test_unknown_profile_name_is_refused_with_the_choices(db, api):
    site = await make_site()
    r = await api.post("/api/v1/assets", json={"name": "x", "kind": "ups", "site_id": site.id, "profile": "apc"})
    assert r.status_code == 422
    body = r.json()
    assert "profile" in str(body) and "apc_ups" in body["detail"] and "auto" in body["detail"]


async def test_discovery_by_name_renumbering_warning_and_fiber_cut_named_with_client(db, api, agent):
    from incidents import engine
    from incidents.tables import Incident

    site = await make_site()
    client = await _client()
    asset = await _asset(api, site.id, "mc-khimki-2", "planet-mc1610mr", agent)

    r = await api.post(f"/api/v1/assets/{asset['id']}/discover")
    assert r.status_code == 200, r.text
    ports = {p["name"]: p for p in r.json()["ports"]}
    expected = {"lo", "eth0"} | {f"slot_{n}_{side}" for n in range(1, 9) for side in ("tp", "fx")}
    assert set(ports) == expected
    assert ports["lo"]["if_index"] == 1 and ports["slot_1_fx"]["if_index"] == 1002
    assert (ports["slot_1_fx"]["role"], ports["slot_1_tp"]["role"], ports["lo"]["role"]) == ("fiber", "copper", "other")
    assert ports["slot_5_fx"]["admin"] == "down"

    picks = [{"name": "slot_1_fx", "role": "fiber", "client_id": client.id}, {"name": "slot_1_tp", "role": "copper"}]
    r = await api.post(f"/api/v1/assets/{asset['id']}/discover", json={"picks": picks})
    assert r.status_code == 200, r.text
    stored = {p["name"]: p["interface"] for p in r.json()["ports"] if p["interface"]}
    assert stored["slot_1_fx"]["if_name"] == "slot_1_fx" and stored["slot_1_fx"]["matches"]
    r = await api.post(f"/api/v1/assets/{asset['id']}/discover", json={"picks": [{"name": "slot_9_fx"}]})
    assert r.status_code == 422 and "slot_9_fx" in r.json()["detail"]

    seen = await _poll_and_record(api, asset["id"])
    assert seen["link:1002"]["state"] == "ok" and seen["link:1002"]["message"] == f"slot_1_fx ({ROMASHKA}): port up"

    # The chassis is "replaced": same address, ports renumbered.
    r = await api.patch(f"/api/v1/assets/{asset['id']}", json={"snmp_community": "planet-renumbered"})
    assert r.status_code == 200, r.text
    seen = await _poll_and_record(api, asset["id"])
    assert seen["link:1002"]["state"] == "warning"
    assert seen["link:1002"]["message"] == "ifIndex 1002 is now slot_1_tp, expected slot_1_fx"

    # Re-discovery picks the port by name again: the interface moves to its new ifIndex ...
    r = await api.post(f"/api/v1/assets/{asset['id']}/discover",
                       json={"picks": [{"name": "slot_1_fx", "role": "fiber", "client_id": client.id}]})
    assert r.status_code == 200, r.text
    r = await api.get("/api/v1/interfaces", params={"asset_id": asset["id"]})
    by_name = {i["if_name"]: i for i in r.json()["results"]}
    assert by_name["slot_1_fx"]["if_index"] == 1001
    # (the copper interface stored at 1001 before was re-pointed: one row per ifIndex)

    # ... and a fiber cut there is reported on the right port, by name, with its client.
    renumbered = (RECORDINGS / "planet-mc1610mr.snmprec").read_text()
    renumbered = renumbered.replace("slot_1_tp", "@").replace("slot_1_fx", "slot_1_tp").replace("@", "slot_1_fx")
    agent.write("planet-renumbered", renumbered.replace("1.3.6.1.2.1.2.2.1.8.1001|2|1", "1.3.6.1.2.1.2.2.1.8.1001|2|2"))
    for _ in range(12):
        seen = await _poll_and_record(api, asset["id"])
        if await Incident.count().where(Incident.status != "resolved"):
            break
    assert seen["link:1001"]["state"] == "critical"
    incidents = await Incident.select().where(Incident.status != "resolved")
    assert [i["title"] for i in incidents] == [f"Fiber down on mc-khimki-2 slot_1_fx ({ROMASHKA})"], incidents
    assert incidents[0]["category"] == "fiber"
    del engine


async def test_unreadable_device_opens_one_equipment_incident_and_the_right_profile_resolves_it(db, api, agent):
    from incidents import engine
    from incidents.tables import Incident

    site = await make_site()
    asset = await _asset(api, site.id, "ups-apc-wrong", "apc-smartups", agent, kind="ups", profile="ups")
    for _ in range(10):
        seen = await _poll_and_record(api, asset["id"])
        if await Incident.count().where(Incident.status != "resolved"):
            break
    assert seen["profile"]["state"] == "warning"
    incidents = await Incident.select().where(Incident.status != "resolved")
    assert len(incidents) == 1, incidents
    assert incidents[0]["category"] == "equipment" and "not readable: wrong profile?" in incidents[0]["title"]
    for _ in range(3):  # no second incident for the same device
        await _poll_and_record(api, asset["id"])
    assert await Incident.count() == 1

    r = await api.patch(f"/api/v1/assets/{asset['id']}", json={"profile": "apc_ups"})
    assert r.status_code == 200, r.text
    seen = await _poll_and_record(api, asset["id"])
    assert seen["profile"]["state"] == "ok" and seen["power:source"]["state"] == "ok"
    # power:* checks the old profile reported as unreadable are now read; the incident resolves after the hold
    await engine.tick(utcnow() + engine.params().recovery_hold + dt.timedelta(seconds=5))
    assert await Incident.count().where(Incident.status != "resolved") == 0


async def test_checks_a_profile_no_longer_produces_are_retired(db, api, agent):
    from incidents.tables import CheckState

    site = await make_site()
    asset = await _asset(api, site.id, "ups-retire", "apc-smartups", agent, kind="ups", profile="apc_ups")
    await _poll_and_record(api, asset["id"])
    assert await CheckState.exists().where((CheckState.asset == asset["id"]) & (CheckState.key == "power:load"))
    r = await api.patch(f"/api/v1/assets/{asset['id']}", json={"profile": "generic"})
    assert r.status_code == 200
    await _poll_and_record(api, asset["id"])
    keys = {r["key"] for r in await CheckState.select(CheckState.key).where(CheckState.asset == asset["id"])}
    assert keys == {"reachability", "uptime", "profile"}


async def test_a_client_port_on_a_switch_is_watched_and_its_incident_names_the_client(db, api, agent):
    from incidents.tables import Incident

    site = await make_site()
    client = await _client()
    asset = await _asset(api, site.id, "sw-khimki", "switch-port-down", agent, kind="switch", profile="generic")
    r = await api.post("/api/v1/interfaces", json={"asset_id": asset["id"], "if_index": 1003, "name": "slot_2_tp",
                                                   "role": "other", "client_id": client.id})
    assert r.status_code == 201, r.text
    for _ in range(8):
        seen = await _poll_and_record(api, asset["id"])
        if await Incident.count().where(Incident.status != "resolved"):
            break
    assert seen.get("link:1003", {}).get("state") == "critical", seen
    [incident] = await Incident.select().where(Incident.status != "resolved")
    assert incident["title"] == f"sw-khimki slot_2_tp ({ROMASHKA}) down"


async def test_discovery_over_snmpv3(tmp_path):
    from probes.discovery import discover
    from probes.simulator import V3User

    v3 = V3User(user="rcuser", auth_key="authpass123", priv_key="privpass123")
    agent = SimAgent(root=tmp_path / "v3", v3=v3)
    shutil.copy(RECORDINGS / "planet-mc1610mr.snmprec", agent.data_dir / "chassis.snmprec")
    agent.start()
    try:
        t = Target(asset_id=1, name="mc", kind="media_converter", host=agent.host, port=agent.port, version="3",
                   v3_user=v3.user, v3_auth_protocol="SHA", v3_auth_key=v3.auth_key, v3_priv_protocol="AES",
                   v3_priv_key=v3.priv_key, v3_context="chassis")
        result, ports = await discover(t, SnmpPoller(1.0, 1))
        assert result.status == "ok", result.message
        assert [p.name for p in ports][:4] == ["lo", "eth0", "slot_1_tp", "slot_1_fx"] and len(ports) == 18
    finally:
        agent.close()


async def test_probe_overrides_are_validated_and_reach_the_poll(db, api, agent):
    site = await make_site()
    asset = await _asset(api, site.id, "inverter-1", "ups-on-battery", agent, kind="ups")
    r = await api.patch(f"/api/v1/assets/{asset['id']}", json={"probe_overrides": "{not json"})
    assert r.status_code == 422 and "probe_overrides" in r.text
    r = await api.patch(f"/api/v1/assets/{asset['id']}", json={"probe_overrides": '["power:source"]'})
    assert r.status_code == 422
    overrides = '{"power:source": {"states": {"5": ["ok", "inverter (DC-fed)"]}}}'
    r = await api.patch(f"/api/v1/assets/{asset['id']}", json={"probe_overrides": overrides})
    assert r.status_code == 200, r.text
    seen = await _poll_and_record(api, asset["id"])
    assert (seen["power:source"]["state"], seen["power:source"]["value"]) == ("ok", "inverter (DC-fed)")


async def test_a_restart_makes_auto_read_sysobjectid_again(agent):
    """A device replaced at the same address restarts: `auto` chooses its profile again."""
    memory = AssetMemory()
    t = target(agent, "apc-smartups", "ups")
    await poll_once(t, SnmpPoller(0.5, 1), memory=memory)
    assert memory.sys_object_id == "1.3.6.1.4.1.318.1.3.27"
    memory.sys_object_id, memory.uptime = "1.3.6.1.4.1.935.10.1", 10**9  # as if another device answered before
    seen = {o.key: o for o in await poll_once(t, SnmpPoller(0.5, 1), memory=memory)}
    assert memory.sys_object_id is None  # uptime went back: re-read on the next poll
    seen = {o.key: o for o in await poll_once(t, SnmpPoller(0.5, 1), memory=memory)}
    assert seen["profile"].value == "apc_ups"
