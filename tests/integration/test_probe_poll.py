"""The poller against a real SNMP agent (snmpsim on loopback), recordings changed at run time."""

from __future__ import annotations

import dataclasses

import pytest

from _probe_support import V3, fast_poller, mc_target, poll, poll_until, start_agent, ups_target
from probes.simulator import media_converter_rec, ups_rec

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    agent = start_agent(tmp_path_factory)
    yield agent
    agent.close()


async def test_healthy_media_converter_and_ups(agent):
    poller = fast_poller()
    mc = await poll(poller, mc_target(agent))
    assert {k: o.state for k, o in mc.items()} == {
        "reachability": "ok", "uptime": "ok", "link:1": "ok", "link:2": "ok",
    }
    ups = await poll(poller, ups_target(agent))
    assert ups["power:source"].state == "ok"
    assert ups["power:battery"].state == "ok"
    assert ups["power:input_voltage"].number == 230.0
    assert ups["power:minutes_remaining"].number == 45.0


async def test_fiber_down_is_critical_and_admin_down_is_not(agent):
    poller = fast_poller()
    agent.write("mc2", media_converter_rec("mc2"))
    target = mc_target(agent, "mc2")
    await poll_until(poller, target, "link:2", "ok")
    agent.write("mc2", media_converter_rec("mc2", {1: ("slot_1_tp", 1, 1), 2: ("slot_1_fx", 1, 2)}))
    seen = await poll_until(poller, target, "link:2", "critical")
    assert seen["link:1"].state == "ok"
    assert "down" in seen["link:2"].message
    agent.write("mc2", media_converter_rec("mc2", {1: ("slot_1_tp", 2, 2), 2: ("slot_1_fx", 1, 1)}))
    seen = await poll_until(poller, target, "link:2", "ok")
    assert seen["link:1"].state == "ok" and "administratively down" in seen["link:1"].message


async def test_ups_on_battery_is_critical(agent):
    poller = fast_poller()
    agent.write("ups2", ups_rec("ups2"))
    target = ups_target(agent, "ups2")
    await poll_until(poller, target, "power:source", "ok")
    agent.write("ups2", ups_rec("ups2", source=5, battery=3, minutes=4))
    seen = await poll_until(poller, target, "power:source", "critical")
    assert seen["power:battery"].state == "critical"
    assert seen["power:minutes_remaining"].state == "critical"


async def test_missing_oid_and_wrong_type_make_that_check_unknown(agent):
    poller = fast_poller()
    text = ups_rec("ups3").replace("1.3.6.1.2.1.33.1.4.1.0|2|3", "1.3.6.1.2.1.33.1.4.1.0|4|mains")
    text = text.replace("1.3.6.1.2.1.33.1.2.1.0|2|2\n", "")
    agent.write("ups3", text)
    seen = await poll_until(poller, ups_target(agent, "ups3"), "power:source", "unknown")
    assert seen["reachability"].state == "ok"
    assert "expected an integer" in seen["power:source"].message
    assert seen["power:battery"].state == "unknown"
    assert "noSuch" in seen["power:battery"].message
    assert seen["power:input_voltage"].state == "ok"


async def test_snmpv3_authpriv(agent):
    poller = fast_poller()
    v3 = dataclasses.replace(
        mc_target(agent), version="3", community=None, v3_user=V3.user, v3_auth_protocol="SHA",
        v3_auth_key=V3.auth_key, v3_priv_protocol="AES", v3_priv_key=V3.priv_key, v3_context="mc1",
    )
    seen = await poll(poller, v3)
    assert seen["reachability"].state == "ok"
    assert seen["link:2"].state == "ok"
    wrong = await poll(poller, dataclasses.replace(v3, v3_auth_key="wrong-password"))
    assert list(wrong) == ["reachability"]
    assert wrong["reachability"].state == "unknown"
    assert "authentication failed" in wrong["reachability"].message
    wrong_priv = await poll(poller, dataclasses.replace(v3, v3_priv_key="wrong-privkey"))
    assert wrong_priv["reachability"].state == "unknown"


async def test_snmpv3_agents_stay_known_past_pysnmps_five_minutes(agent):
    """pysnmp forgets an agent's engine id and time window 300 s after a reply, which
    cost a discovery round trip on nearly every poll of a device polled each minute.
    After six simulated minutes of the engine's timer, a poll is still one message."""
    import time

    from probes.snmp import engine_for_loop

    poller = fast_poller()
    v3 = dataclasses.replace(
        mc_target(agent), version="3", community=None, v3_user=V3.user, v3_auth_protocol="SHA",
        v3_auth_key=V3.auth_key, v3_priv_protocol="AES", v3_priv_key=V3.priv_key, v3_context="mc1",
    )
    assert (await poll(poller, v3))["reachability"].state == "ok"  # discovery happens here
    engine = engine_for_loop()
    sent = []
    dispatcher = engine.transport_dispatcher
    original = dispatcher.send_message
    dispatcher.send_message = lambda *args, **kwargs: (sent.append(args), original(*args, **kwargs))[1]
    try:
        ticks = int(360 / dispatcher.get_timer_resolution())
        for model in (engine.message_processing_subsystems[3], engine.security_models[3]):
            for _ in range(ticks):
                model.receive_timer_tick(engine, time.time())
        assert (await poll(poller, v3))["reachability"].state == "ok"
        assert len(sent) == 1, f"{len(sent)} messages for one poll: the agent was rediscovered"
    finally:
        dispatcher.send_message = original


async def test_stopped_agent_is_critical_after_retries_then_ok_again(agent):
    poller = fast_poller()
    target = mc_target(agent)
    assert (await poll(poller, target))["reachability"].state == "ok"
    agent.stop()
    try:
        seen = await poll(poller, target)
        assert list(seen) == ["reachability"]
        assert seen["reachability"].state == "critical"
        assert "after 2 tries" in seen["reachability"].message
    finally:
        agent.start()
    assert (await poll_until(poller, target, "reachability", "ok"))["link:2"].state == "ok"


async def test_snmpv3_asset_from_the_cmdb_polls_with_its_context(agent, db):
    """The v3 settings of an asset row reach the poller through the probe
    targets, the context name included (snmpsim picks the device by it)."""
    from _probe_support import make_asset, make_site

    from accounts.viewer import Viewer
    from incidents.checks import probe_targets

    site = await make_site()
    await make_asset(site.id, "mc-v3", "media_converter", agent.host, agent.port, community=None,
                     snmp_version="3", snmp_v3_user=V3.user, snmp_v3_auth_protocol="SHA", snmp_v3_auth_key=V3.auth_key,
                     snmp_v3_priv_protocol="AES", snmp_v3_priv_key=V3.priv_key, snmp_v3_context="mc1")
    [target] = await probe_targets(Viewer(user_id=None, email="probe:t", role="probe", probe_name="t"))
    assert target.version == "3" and target.v3_context == "mc1" and target.community is None
    assert (await poll(fast_poller(), target))["reachability"].state == "ok"
