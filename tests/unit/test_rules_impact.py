"""Impact before outage (issue 9): what a power source or an uplink in trouble
still feeds is listed `at_risk` with its clients before anything fails, the
priority and the title follow, and what does die moves to `impacted` on the
same incident. Driven through the same in-memory storage stand-in as test_rules."""

from __future__ import annotations

import datetime as dt

from incidents.rules import AssetInfo, AttachAsset, Edge, InterfaceInfo, OpenIncident, Retitle, Topology, priority_for
from tests.unit.test_rules import MIN, Sim, of

SITE = 7
UPS, SWITCH = 900, 901


def khimki(n_mc: int = 29, n_clients: int = 12) -> Topology:
    """A remote node: one UPS feeding a switch and `n_mc` media converters, the
    converters uplinked through the switch; converter i belongs to client 200 + i % n_clients."""
    assets = {
        UPS: AssetInfo(UPS, "ups-khimki", "ups", SITE, "remote"),
        SWITCH: AssetInfo(SWITCH, "sw-khimki", "switch", SITE, "remote",
                          interfaces=(InterfaceInfo(24, "uplink"),)),
    }
    edges = [Edge(SWITCH, UPS, "power")]
    for i in range(1, n_mc + 1):
        assets[i] = AssetInfo(i, f"mc-{i}", "media_converter", SITE, "remote", client_id=200 + i % n_clients)
        edges += [Edge(i, UPS, "power"), Edge(i, SWITCH, "uplink")]
    return Topology(assets=assets, edges=tuple(edges), site_names={SITE: "Khimki node"})


def on_battery(sim: Sim, minutes: int):
    return sim.observe([(UPS, "power:source", "critical", "on battery"),
                        (UPS, "power:minutes_remaining", "warning" if minutes >= 5 else "critical", minutes)],
                       source="trap")


def test_ups_on_battery_lists_30_assets_and_12_clients_at_risk_before_anything_fails():
    sim = Sim(khimki())
    sim.observe([(a, "reachability", "ok") for a in [UPS, SWITCH, *range(1, 30)]])
    sim.advance(MIN)
    (opened,) = of(on_battery(sim, 12), OpenIncident)
    assert opened.fingerprint == f"site:{SITE}:power" and opened.category == "power"
    at_risk = {a for a, r in opened.asset_roles.items() if r == "at_risk"}
    assert at_risk == {SWITCH, *range(1, 30)} and len(at_risk) == 30
    assert opened.client_ids == opened.at_risk_client_ids and len(opened.client_ids) == 12
    # 12 clients at risk: wide impact one level down, power is urgent -> P1 (not P3)
    assert opened.priority == "P1"
    assert opened.title == "Khimki node on battery — 12 min left, 12 clients at risk"
    assert opened.battery_minutes_left == 12 and opened.battery_exhausted_at == sim.now + 12 * MIN
    assert len(sim.incidents) == 1

    # the minutes fall: the title follows, no timeline entry yet
    sim.advance(3 * MIN)
    (re,) = of(on_battery(sim, 9), Retitle)
    assert re.title == "Khimki node on battery — 9 min left, 12 clients at risk" and not re.note
    assert sim.incidents[1].battery_exhausted_at == sim.now + 9 * MIN
    # the same estimate again: nothing to say
    assert not of(on_battery(sim, 9), Retitle)
    # under 5 minutes: one timeline entry, once
    sim.advance(5 * MIN)
    (re,) = of(on_battery(sim, 4), Retitle)
    assert "battery runs out in 4 minutes" in re.note
    sim.advance(MIN)
    (re,) = of(on_battery(sim, 3), Retitle)
    assert re.note == "" and re.title.startswith("Khimki node on battery — 3 min left")

    # the switch dies: at_risk -> impacted on the same incident; so does everything behind it
    sim.advance(MIN)
    out = sim.poll([(SWITCH, "reachability", "critical")], times=3)
    assert not of(out, OpenIncident) and len(sim.incidents) == 1
    inc = sim.incidents[1]
    assert inc.roles[SWITCH] == "impacted"
    assert inc.impacted() == {SWITCH, *range(1, 30)} and not inc.at_risk()
    assert inc.at_risk_clients == set() and len(inc.down_clients()) == 12
    assert "12 clients affected" in inc.title


def test_single_converter_dying_moves_only_it_and_its_client_to_down():
    sim = Sim(khimki(n_mc=3, n_clients=3))
    on_battery(sim, 20)
    inc = sim.incidents[1]
    assert len(inc.at_risk_clients) == 3
    out = sim.poll([(1, "reachability", "critical")], times=3)
    (attach,) = [d for d in of(out, AttachAsset) if d.asset_id == 1]
    assert attach.role == "impacted" and attach.client_ids == {201}
    assert inc.roles[1] == "impacted" and inc.at_risk_clients == {202, 200}
    assert inc.title == "Khimki node on battery — 20 min left, 1 client down, 2 clients at risk"


def dual_fed() -> Topology:
    """Two PDUs; server 1 fed by both, server 2 by PDU A only."""
    a, b = 801, 802
    assets = {
        a: AssetInfo(a, "pdu-a", "pdu", SITE, "datacenter"),
        b: AssetInfo(b, "pdu-b", "pdu", SITE, "datacenter"),
        1: AssetInfo(1, "srv-dual", "server", SITE, "datacenter", client_id=11),
        2: AssetInfo(2, "srv-single", "server", SITE, "datacenter", client_id=12),
    }
    return Topology(assets=assets, edges=(Edge(1, a, "power"), Edge(1, b, "power"), Edge(2, a, "power")),
                    site_names={SITE: "DC-1"})


def test_dual_powered_asset_stays_at_risk_until_both_feeds_are_lost():
    sim = Sim(dual_fed())
    sim.observe([(801, "power:input", "critical")], source="trap")
    inc = sim.incidents[1]
    assert inc.roles[1] == "at_risk"  # one feed left
    assert inc.roles[2] == "impacted"  # its only feed is gone
    assert inc.at_risk_clients == {11} and inc.down_clients() == {12}
    sim.advance(MIN)
    out = sim.observe([(802, "power:input", "critical")], source="trap")
    assert [(d.asset_id, d.role) for d in of(out, AttachAsset) if d.asset_id == 1] == [(1, "impacted")]
    assert inc.roles[1] == "impacted" and inc.down_clients() == {11, 12}


def test_redundant_uplink_pair_one_side_down_is_at_risk():
    assets = {
        1: AssetInfo(1, "core-a", "router", SITE, "datacenter"),
        2: AssetInfo(2, "core-b", "router", SITE, "datacenter"),
        3: AssetInfo(3, "acc-3", "switch", SITE, "datacenter", client_id=33),
    }
    sim = Sim(Topology(assets=assets, edges=(Edge(3, 1, "uplink"), Edge(3, 2, "uplink"))))
    sim.poll([(1, "reachability", "critical")], times=3)
    (inc,) = sim.incidents.values()
    assert inc.roles == {1: "root", 3: "at_risk"} and inc.at_risk_clients == {33}
    assert inc.title == "core-a unreachable — 1 client at risk"


def test_uplink_port_in_warning_puts_what_is_behind_it_at_risk():
    assets = {
        1: AssetInfo(1, "mc-trunk", "media_converter", SITE, "remote", interfaces=(InterfaceInfo(2, "fiber"),)),
        2: AssetInfo(2, "cpe-2", "router", SITE, "remote", client_id=44),
    }
    sim = Sim(Topology(assets=assets, edges=(Edge(2, 1, "uplink"),)))
    sim.poll([(1, "rx_power:2", "warning")], times=3)
    (inc,) = sim.incidents.values()
    assert inc.roles == {1: "root", 2: "at_risk"} and inc.at_risk_clients == {44}


def test_priority_counts_clients_at_risk_one_level_below_clients_down():
    rank: dict[int, int] = {}
    assert priority_for("power", range(12), (), rank, at_risk_client_ids=range(12)) == "P1"
    assert priority_for("power", range(3), (), rank, at_risk_client_ids=range(3)) == "P2"
    assert priority_for("power", range(3), (), rank) == "P1"
    assert priority_for("fiber", range(1), (), rank, at_risk_client_ids=range(1)) == "P3"


def test_a_fault_after_a_reboot_opens_its_own_incident():
    """A device restarted (reboot incident open); then its fiber goes down: a fiber
    incident of its own, not a note under "… rebooted"."""
    mc = AssetInfo(5, "mc-5", "media_converter", SITE, "datacenter", client_id=9,
                   interfaces=(InterfaceInfo(1, "fiber"), InterfaceInfo(2, "copper")))
    sim = Sim(Topology(assets={5: mc}))
    sim.observe([(5, "link:1", "ok"), (5, "link:2", "ok")])
    sim.observe([(5, "uptime", "warning")], message="rebooted")
    assert [i.category for i in sim.incidents.values()] == ["reboot"]
    sim.advance(MIN)
    sim.observe([(5, "link:1", "critical")], source="trap")
    assert [i.category for i in sim.incidents.values()] == ["reboot", "fiber"]
    assert sim.incidents[2].title == "Fiber down on mc-5 (port 1)"
