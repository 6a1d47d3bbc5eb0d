"""incidents.rules.decide, driven through a tiny in-memory stand-in for the
storage wrapper (`Sim`): it keeps check states the way record_observations does
(state, since, streak, change history), hands decide() what the contract says
(open + recently resolved incidents, every check state), and applies the
decisions in order — with the same "one open incident per fingerprint" rule
the database enforces. No clock is read: time is moved by hand.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from incidents.rules import (
    AssetInfo,
    AttachAsset,
    CheckStatus,
    CheckUpdate,
    Edge,
    IncidentView,
    InterfaceInfo,
    MaintenanceWindow,
    Note,
    OpenIncident,
    Params,
    Reclassify,
    Reopen,
    Resolve,
    Retitle,
    SetFlapping,
    Suppress,
    Topology,
    categorize,
    clients_of_check,
    decide,
    fingerprint,
    priority_for,
)

T0 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone.utc)
MIN = dt.timedelta(minutes=1)
SEC = dt.timedelta(seconds=1)


@dataclass
class Inc:
    id: int
    fingerprint: str
    title: str
    category: str
    priority: str
    opened_at: dt.datetime
    source: str
    root_checks: set
    roles: dict
    clients: set
    status: str = "new"
    resolved_at: dt.datetime | None = None
    flapping: bool = False
    self_healed: bool = False
    acted: bool = False
    notes: list = field(default_factory=list)
    reopened: int = 0
    at_risk_clients: set = field(default_factory=set)
    battery_exhausted_at: dt.datetime | None = None
    battery_minutes_left: int | None = None
    description: str = ""

    @property
    def open(self) -> bool:
        return self.status not in ("resolved", "closed")

    def impacted(self) -> set[int]:
        return {a for a, r in self.roles.items() if r == "impacted"}

    def at_risk(self) -> set[int]:
        return {a for a, r in self.roles.items() if r == "at_risk"}

    def down_clients(self) -> set[int]:
        return self.clients - self.at_risk_clients


class Sim:
    def __init__(self, topology: Topology, params: Params = Params(), maintenance=()):
        self.topology = topology
        self.params = params
        self.maintenance = list(maintenance)
        self.now = T0
        self.checks: dict[tuple[int, str], CheckStatus] = {}
        self.changes: dict[tuple[int, str], list[dt.datetime]] = {}
        self.incidents: dict[int, Inc] = {}
        self.suppressed: list[Suppress] = []
        self.log: list = []

    # -- time
    def advance(self, delta: dt.timedelta) -> None:
        self.now += delta

    # -- what storage would load
    def views(self) -> list[IncidentView]:
        out = []
        horizon = self.now - self.params.flap_window
        for i in self.incidents.values():
            if not i.open and not (i.status == "resolved" and self.now - i.resolved_at <= self.params.reopen_window):
                continue
            recent = tuple(t for ck in i.root_checks for t in self.changes.get(ck, ()) if t > horizon)
            out.append(IncidentView(
                id=i.id, fingerprint=i.fingerprint, status=i.status, category=i.category, priority=i.priority,
                opened_at=i.opened_at, resolved_at=i.resolved_at, root_checks=frozenset(i.root_checks),
                asset_roles=dict(i.roles), client_ids=frozenset(i.clients), flapping=i.flapping, acted=i.acted,
                recent_changes=recent, at_risk_client_ids=frozenset(i.at_risk_clients), title=i.title,
                battery_exhausted_at=i.battery_exhausted_at, battery_minutes_left=i.battery_minutes_left,
            ))
        return out

    # -- record_observations
    def observe(self, obs, source="poll", message="", with_changes=True) -> list:
        """obs: [(asset_id, key, state)] observed now."""
        updates = []
        horizon = self.now - self.params.flap_window
        for a, k, state, *value in obs:  # (asset, key, state[, value])
            value = str(value[0]) if value else None
            prev = self.checks.get((a, k))
            if prev is not None and prev.state == state:
                streak, since = prev.streak + 1, prev.since
            else:
                streak, since = 1, self.now
            recent = tuple(t for t in self.changes.get((a, k), ()) if t > horizon) if with_changes else ()
            updates.append(CheckUpdate(a, k, state, prev.state if prev else None, streak, since, self.now, source,
                                       message=message, recent_changes=recent, value=value))
            if prev is not None and prev.state != state:
                self.changes.setdefault((a, k), []).append(self.now)
            self.checks[(a, k)] = CheckStatus(a, k, state, since, streak, source, self.now, value)
        return self._decide(updates)

    def poll(self, obs, times=1, every=MIN, **kw) -> list:
        out = []
        for n in range(times):
            if n:
                self.advance(every)
            out += self.observe(obs, **kw)
        return out

    def tick(self) -> list:
        return self._decide([])

    def _decide(self, updates) -> list:
        decisions = decide(updates, self.views(), self.topology, self.maintenance, self.now, dict(self.checks),
                           self.params)
        self.apply(decisions)
        self.log += decisions
        return decisions

    def apply(self, decisions) -> None:
        by_fp = {}

        def ref(r):
            return by_fp[r] if isinstance(r, str) else self.incidents[r]

        for d in decisions:
            if isinstance(d, OpenIncident):
                assert not any(i.open and i.fingerprint == d.fingerprint for i in self.incidents.values()), \
                    f"second open incident for {d.fingerprint}"
                i = Inc(len(self.incidents) + 1, d.fingerprint, d.title, d.category, d.priority, d.at, d.source,
                        set(d.root_checks), dict(d.asset_roles), set(d.client_ids),
                        at_risk_clients=set(d.at_risk_client_ids), battery_exhausted_at=d.battery_exhausted_at,
                        battery_minutes_left=d.battery_minutes_left)
                i.description = d.description
                self.incidents[i.id] = i
                by_fp[d.fingerprint] = i
            elif isinstance(d, AttachAsset):
                i = ref(d.incident)
                assert i.open
                strength = {"at_risk": 0, "impacted": 1, "root": 2}
                i.roles[d.asset_id] = max(d.role, i.roles.get(d.asset_id, "at_risk"), key=strength.__getitem__)
                if d.check_key:
                    i.root_checks.add((d.asset_id, d.check_key))
                if d.role == "at_risk":
                    i.at_risk_clients |= d.client_ids - i.clients
                else:
                    i.at_risk_clients -= d.client_ids
                i.clients |= d.client_ids
            elif isinstance(d, Note):
                ref(d.incident).notes.append(d.text)
            elif isinstance(d, SetFlapping):
                ref(d.incident).flapping = d.flapping
            elif isinstance(d, Retitle):
                i = ref(d.incident)
                i.title, i.battery_exhausted_at, i.battery_minutes_left = d.title, d.battery_exhausted_at, \
                    d.battery_minutes_left
                if d.note:
                    i.notes.append(d.note)
            elif isinstance(d, Reclassify):
                i = ref(d.incident)
                i.category = d.category or i.category
                i.priority = d.priority or i.priority
            elif isinstance(d, Resolve):
                i = ref(d.incident)
                assert i.open
                i.status, i.resolved_at, i.self_healed = "resolved", d.at, d.self_healed
            elif isinstance(d, Reopen):
                i = self.incidents[d.incident]
                assert i.status == "resolved"
                assert not any(j.open and j.fingerprint == i.fingerprint for j in self.incidents.values())
                i.status, i.resolved_at, i.self_healed, i.reopened = "new", None, False, i.reopened + 1
            elif isinstance(d, Suppress):
                self.suppressed.append(d)
            else:  # pragma: no cover
                raise AssertionError(d)

    def open_incidents(self) -> list[Inc]:
        return [i for i in self.incidents.values() if i.open]


def of(decisions, kind):
    return [d for d in decisions if isinstance(d, kind)]


# ---------------------------------------------------------------- topologies

REMOTE, DC = 1, 2
UPS = 1000


def remote_site(n: int, *, ups: bool = True, ups_clients=frozenset(), kind: str = "remote") -> Topology:
    """A remote site: assets 1..n, asset i owned by client 100+i, all fed by one UPS."""
    assets = {
        i: AssetInfo(i, f"sw-{i}", "switch", REMOTE, kind, client_id=100 + i) for i in range(1, n + 1)
    }
    edges = ()
    if ups:
        assets[UPS] = AssetInfo(UPS, "ups-1", "ups", REMOTE, kind, service_client_ids=frozenset(ups_clients))
        edges = tuple(Edge(i, UPS, "power") for i in range(1, n + 1))
    return Topology(assets=assets, edges=edges, site_names={REMOTE: "Node Lenina 5"})


def all_ok(sim: Sim, ids, key="reachability"):
    sim.observe([(i, key, "ok") for i in ids])


# ---------------------------------------------------------------- acceptance


@pytest.mark.parametrize("kind", ["remote", "datacenter"])  # datacenter: by the power edges alone
def test_ups_on_battery_then_50_silent_is_one_power_incident_with_every_client(kind):
    sim = Sim(remote_site(50, kind=kind))
    all_ok(sim, list(range(1, 51)) + [UPS])
    sim.observe([(UPS, "power:source", "ok")])
    sim.advance(MIN)
    opened = of(sim.observe([(UPS, "power:source", "critical")], source="trap", message="on battery"), OpenIncident)
    assert [o.fingerprint for o in opened] == ["site:1:power"]
    assert opened[0].category == "power"
    # the batteries run out: every asset goes silent, confirmed after 3 polls each
    sim.advance(20 * MIN)
    sim.poll([(i, "reachability", "critical") for i in range(1, 51)], times=3)
    sim.advance(30 * SEC)
    sim.tick()
    assert len(sim.incidents) == 1
    (inc,) = sim.open_incidents()
    assert inc.fingerprint == "site:1:power" and inc.category == "power"
    assert inc.impacted() == set(range(1, 51))
    assert inc.roles[UPS] == "root"
    assert {101 + i for i in range(50)} <= inc.clients
    assert not of(sim.log, Suppress)


def test_ups_and_children_in_one_batch_fold_into_the_opening():
    topo = remote_site(50)
    updates = [CheckUpdate(UPS, "power:source", "critical", "ok", 3, T0, T0, "poll")]
    updates += [CheckUpdate(i, "reachability", "critical", "critical", 3, T0, T0, "poll") for i in range(50, 0, -1)]
    out = decide(updates, [], topo, [], T0)
    (opened,) = of(out, OpenIncident)
    assert len(out) == 1
    assert {a for a, r in opened.asset_roles.items() if r == "impacted"} == set(range(1, 51))
    assert opened.priority == "P1"
    lines = opened.description.splitlines()
    assert len(lines) == 21 and lines[-1] == "… and 31 more"  # the opening entry stays readable


def media_converter_topology() -> Topology:
    mc = AssetInfo(
        10, "mc-10", "media_converter", DC, "datacenter", client_id=None,
        interfaces=(
            InterfaceInfo(1, "fiber", client_id=7, service_id=70),
            InterfaceInfo(2, "copper", client_id=7, service_id=70),
            InterfaceInfo(3, "fiber", client_id=8, service_id=80),
            InterfaceInfo(4, "copper", client_id=8, service_id=80),
        ),
        service_ids=frozenset({70, 80}), service_client_ids=frozenset({7, 8}),
    )
    router = AssetInfo(11, "client-7-router", "router", DC, "datacenter", client_id=7)
    return Topology(assets={10: mc, 11: router}, edges=(Edge(11, 10, "uplink"),))


def test_fiber_down_on_media_converter_names_the_client_of_that_interface():
    sim = Sim(media_converter_topology())
    sim.observe([(10, f"link:{i}", "ok") for i in (1, 2, 3, 4)])
    sim.advance(MIN)
    out = sim.observe([(10, "link:1", "critical")], source="trap", message="linkDown")
    (opened,) = of(out, OpenIncident)
    assert opened.category == "fiber"
    assert opened.fingerprint == "asset:10:link:1"
    assert opened.client_ids == frozenset({7})
    assert "Fiber" in opened.title
    # the client's router behind it goes silent: impacted, not a second incident
    sim.poll([(11, "reachability", "critical")], times=3)
    assert len(sim.incidents) == 1
    assert sim.incidents[1].roles[11] == "impacted"


def test_media_converter_both_ports_down_is_equipment():
    sim = Sim(media_converter_topology())
    sim.observe([(10, f"link:{i}", "ok") for i in (1, 2, 3, 4)])
    sim.advance(MIN)
    sim.observe([(10, "link:1", "critical")], source="trap")
    sim.advance(MIN)
    out = sim.observe([(10, "link:2", "critical")], source="trap")
    assert of(out, Reclassify)[0].category == "equipment"
    assert len(sim.incidents) == 1 and sim.incidents[1].category == "equipment"
    assert sim.incidents[1].root_checks == {(10, "link:1"), (10, "link:2")}
    # both down in one go: equipment at once
    sim2 = Sim(media_converter_topology())
    sim2.observe([(10, "link:3", "critical"), (10, "link:4", "critical")], source="trap")
    assert [i.category for i in sim2.incidents.values()] == ["equipment"]
    assert sim2.incidents[1].clients == {8}


def one_switch() -> Topology:
    sw = AssetInfo(5, "sw-5", "switch", DC, "datacenter", client_id=None,
                   interfaces=(InterfaceInfo(3, "client", client_id=9),))
    return Topology(assets={5: sw})


def test_port_flapping_ten_times_is_one_flapping_incident_that_waits_to_be_stable():
    sim = Sim(one_switch())
    sim.observe([(5, "link:3", "ok")])
    for n in range(10):
        sim.advance(30 * SEC)
        sim.observe([(5, "link:3", "critical" if n % 2 == 0 else "ok")], source="trap")
    assert len(sim.incidents) == 1
    inc = sim.incidents[1]
    assert inc.open and inc.flapping
    assert len(of(sim.log, SetFlapping)) == 1
    # stable (OK) for the recovery hold is not enough while flapping ...
    sim.advance(Params().recovery_hold + SEC)
    assert not of(sim.tick(), Resolve)
    # ... stable for a whole flap window is
    sim.advance(Params().flap_window)
    out = sim.tick()
    assert of(out, Resolve) and not inc.open and not inc.flapping and inc.self_healed


def test_port_flapping_on_polls_is_caught_from_the_change_history():
    """Each state lasts one poll, so the hold-down streak never completes: the
    change history (CheckUpdate.recent_changes) is what opens it."""
    sim = Sim(one_switch())
    sim.observe([(5, "link:3", "ok")])
    for n in range(10):
        sim.advance(MIN)
        sim.observe([(5, "link:3", "critical" if n % 2 == 0 else "ok")])
    assert len(sim.incidents) == 1
    assert sim.incidents[1].flapping
    # without the history the same polls open nothing (hold-down)
    sim2 = Sim(one_switch())
    sim2.observe([(5, "link:3", "ok")])
    for n in range(10):
        sim2.advance(MIN)
        sim2.observe([(5, "link:3", "critical" if n % 2 == 0 else "ok")], with_changes=False)
    assert not sim2.incidents


def equipment_incident(sim: Sim) -> Inc:
    sim.observe([(5, "reachability", "ok")])
    sim.advance(MIN)
    sim.poll([(5, "reachability", "critical")], times=3)
    (inc,) = sim.incidents.values()
    assert inc.category == "equipment" and inc.title == "sw-5 unreachable"
    return inc


def recovered(sim: Sim) -> list:
    """sw-5 answers again and stays up for the recovery hold; the timer tick's decisions."""
    sim.advance(MIN)
    sim.observe([(5, "reachability", "ok")])
    sim.advance(Params().recovery_hold)
    return sim.tick()


def test_recovery_resolves_and_marks_self_healed():
    sim = Sim(one_switch())
    inc = equipment_incident(sim)
    sim.advance(MIN)
    sim.observe([(5, "reachability", "ok")])
    sim.advance(Params().recovery_hold - SEC)
    assert not of(sim.tick(), Resolve)  # not yet held long enough
    sim.advance(SEC)
    (res,) = of(sim.tick(), Resolve)
    assert res.incident == inc.id and res.self_healed
    assert inc.status == "resolved" and inc.self_healed


def test_recovery_when_someone_acted_is_not_self_healed():
    sim = Sim(one_switch())
    inc = equipment_incident(sim)
    inc.acted = True  # acknowledged by the NOC
    (res,) = of(recovered(sim), Resolve)
    assert not res.self_healed and inc.status == "resolved" and not inc.self_healed


def test_fault_back_within_reopen_window_reopens_the_same_incident():
    sim = Sim(one_switch())
    inc = equipment_incident(sim)
    recovered(sim)
    assert inc.status == "resolved"
    sim.advance(10 * MIN)
    out = sim.poll([(5, "reachability", "critical")], times=3)
    assert [r.incident for r in of(out, Reopen)] == [inc.id]
    assert not of(out, OpenIncident)
    assert len(sim.incidents) == 1 and inc.open and inc.reopened == 1


def test_fault_after_the_reopen_window_opens_a_new_incident():
    sim = Sim(one_switch())
    inc = equipment_incident(sim)
    recovered(sim)
    sim.advance(Params().reopen_window + MIN)
    out = sim.poll([(5, "reachability", "critical")], times=3)
    assert not of(out, Reopen) and len(of(out, OpenIncident)) == 1
    assert inc.status == "resolved" and len(sim.incidents) == 2


@pytest.mark.parametrize("scope", ["asset", "site", "owner", "served_client"])
def test_maintenance_window_suppresses_and_a_problem_still_there_opens_at_its_end(scope):
    sw = AssetInfo(5, "sw-5", "switch", DC, "datacenter", client_id=40,
                   interfaces=(InterfaceInfo(3, "client", client_id=41),))
    topo = Topology(assets={5: sw})
    kw = {"asset": {"asset_id": 5}, "site": {"site_id": DC}, "owner": {"client_id": 40},
          "served_client": {"client_id": 41}}[scope]
    window = MaintenanceWindow(1, T0, T0 + 30 * MIN, **kw)
    sim = Sim(topo, maintenance=[window])
    sim.observe([(5, "reachability", "ok")])
    sim.advance(MIN)
    sim.poll([(5, "reachability", "critical")], times=5)
    sim.tick()
    assert not sim.incidents
    assert [(s.asset_id, s.check_key, s.window_id) for s in sim.suppressed] == [(5, "reachability", 1)]
    sim.now = window.ends_at
    (opened,) = of(sim.tick(), OpenIncident)
    assert opened.fingerprint == "asset:5:reachability"


def test_maintenance_window_other_asset_does_not_suppress():
    window = MaintenanceWindow(1, T0, T0 + 30 * MIN, asset_id=99)
    sim = Sim(one_switch(), maintenance=[window])
    sim.poll([(5, "reachability", "critical")], times=3)
    assert len(sim.incidents) == 1 and not sim.suppressed


def test_problem_that_cleared_inside_the_window_opens_nothing_after_it():
    window = MaintenanceWindow(1, T0, T0 + 30 * MIN, asset_id=5)
    sim = Sim(one_switch(), maintenance=[window])
    sim.poll([(5, "reachability", "critical")], times=3)
    sim.advance(5 * MIN)
    sim.observe([(5, "reachability", "ok")])
    sim.now = window.ends_at + MIN
    sim.tick()
    assert not sim.incidents


def test_hold_down_two_bad_polls_nothing_third_opens():
    sim = Sim(one_switch())
    sim.observe([(5, "reachability", "ok")])
    sim.advance(MIN)
    sim.poll([(5, "reachability", "critical")], times=2)
    sim.tick()
    assert not sim.incidents
    sim.advance(MIN)
    assert len(of(sim.observe([(5, "reachability", "critical")]), OpenIncident)) == 1


def test_hold_down_is_a_parameter():
    sim = Sim(one_switch(), params=Params(hold_down_polls=1))
    assert of(sim.observe([(5, "reachability", "critical")]), OpenIncident)


def test_a_trap_opens_at_once():
    sim = Sim(one_switch())
    (opened,) = of(sim.observe([(5, "link:3", "critical")], source="trap"), OpenIncident)
    assert opened.source == "trap" and opened.client_ids == frozenset({9})


def test_a_blip_that_clears_before_hold_down_opens_nothing():
    sim = Sim(one_switch())
    sim.poll([(5, "reachability", "critical")], times=2)
    sim.advance(MIN)
    sim.observe([(5, "reachability", "ok")])
    sim.advance(10 * MIN)
    sim.tick()
    assert not sim.incidents


def test_site_silence_without_power_check_is_one_site_unreachable_incident():
    sim = Sim(remote_site(8, ups=False))
    all_ok(sim, range(1, 9))
    sim.advance(MIN)
    sim.poll([(i, "reachability", "critical") for i in range(1, 9)], times=3)
    assert len(sim.incidents) == 1
    (inc,) = sim.incidents.values()
    assert inc.fingerprint == "site:1:unreachable"
    assert inc.category == "power"
    assert inc.title == "Site Node Lenina 5 unreachable — power or fiber suspected"
    assert set(inc.roles) == set(range(1, 9))
    assert inc.clients == {100 + i for i in range(1, 9)}


def test_site_silence_staggered_polls_still_one_incident():
    """The assets' polls are out of phase: the first is confirmed while the
    others are still OK. It waits (site_silence_window) instead of opening its own."""
    sim = Sim(remote_site(4, ups=False))
    all_ok(sim, range(1, 5))
    sim.advance(MIN)
    for step in range(6):  # asset i fails at step i-1, one poll per step
        batch = [(i, "reachability", "critical") for i in range(1, 5) if i - 1 <= step]
        sim.observe(batch)
        sim.advance(20 * SEC)
        sim.tick()
    assert len(sim.incidents) == 1
    (inc,) = sim.incidents.values()
    assert inc.fingerprint == "site:1:unreachable" and set(inc.roles) == {1, 2, 3, 4}


def test_one_silent_device_at_a_remote_site_opens_its_own_after_the_wait():
    sim = Sim(remote_site(4, ups=False))
    all_ok(sim, range(1, 5))
    sim.advance(MIN)
    sim.observe([(i, "reachability", "ok") for i in (2, 3, 4)])
    sim.poll([(1, "reachability", "critical")], times=2, every=30 * SEC)
    sim.advance(30 * SEC)
    sim.observe([(1, "reachability", "critical")])
    assert not sim.incidents  # the rest of the site may follow: wait
    sim.advance(Params().site_silence_window)
    (opened,) = of(sim.tick(), OpenIncident)
    assert opened.fingerprint == "asset:1:reachability" and opened.category == "equipment"


def test_site_silence_with_power_incident_joins_it_instead():
    """No power edges in the CMDB, but the site's UPS is on battery: the silence is explained."""
    topo = remote_site(5)
    topo = Topology(assets=topo.assets, edges=(), site_names=topo.site_names)
    sim = Sim(topo)
    all_ok(sim, list(range(1, 6)) + [UPS])
    sim.observe([(UPS, "power:source", "critical")], source="trap")
    sim.advance(10 * MIN)
    sim.poll([(i, "reachability", "critical") for i in range(1, 6)] + [(UPS, "reachability", "critical")], times=3)
    assert len(sim.incidents) == 1
    inc = sim.incidents[1]
    assert inc.fingerprint == "site:1:power"
    assert inc.impacted() == set(range(1, 6))
    assert (UPS, "reachability") in inc.root_checks


def test_root_recovers_while_a_child_stays_down_child_gets_its_own_incident():
    sim = Sim(remote_site(3))
    all_ok(sim, [1, 2, 3, UPS])
    sim.observe([(UPS, "power:source", "ok")])
    sim.advance(MIN)
    sim.observe([(UPS, "power:source", "critical")], source="trap")
    sim.advance(5 * MIN)
    sim.poll([(i, "reachability", "critical") for i in (1, 2, 3)], times=3)
    power = sim.incidents[1]
    assert power.impacted() == {1, 2, 3}
    # mains back, two devices come back, one stays dead
    sim.advance(MIN)
    sim.observe([(UPS, "power:source", "ok"), (1, "reachability", "ok"), (2, "reachability", "ok"),
                 (3, "reachability", "critical")])
    sim.advance(Params().recovery_hold)
    out = sim.tick()
    assert [r.incident for r in of(out, Resolve)] == [power.id]
    (opened,) = of(out, OpenIncident)
    assert opened.fingerprint == "asset:3:reachability"
    assert opened.category == "equipment" and opened.client_ids == frozenset({103})
    assert out.index(of(out, Resolve)[0]) < out.index(opened)


def test_root_recovered_child_opens_on_its_next_update_without_a_tick():
    sim = Sim(remote_site(2))
    sim.observe([(UPS, "power:source", "critical")], source="trap")
    sim.poll([(1, "reachability", "critical")], times=3)
    sim.observe([(UPS, "power:source", "ok")])
    sim.advance(Params().recovery_hold)
    # the storage engineer's update call without the tick: the UPS's next poll and the child's
    updates = [
        CheckUpdate(UPS, "power:source", "ok", "ok", 5, sim.checks[(UPS, "power:source")].since, sim.now, "poll"),
        CheckUpdate(1, "reachability", "critical", "critical", 9, T0, sim.now, "poll"),
    ]
    out = decide(updates, sim.views(), sim.topology, [], sim.now, None)
    assert of(out, Resolve) and [o.fingerprint for o in of(out, OpenIncident)] == ["asset:1:reachability"]


def test_priority_rises_with_impact():
    sim = Sim(remote_site(2, ups_clients={500}))
    (opened,) = of(sim.observe([(UPS, "power:source", "critical")], source="trap"), OpenIncident)
    # one client down (the power service's), two at risk (one level less), urgent category
    assert opened.priority == "P2"
    sim.advance(10 * MIN)
    out = sim.poll([(i, "reachability", "critical") for i in range(1, 3)], times=3)
    (reclass,) = of(out, Reclassify)
    assert reclass.priority == "P1" and reclass.category is None
    assert sim.incidents[1].priority == "P1"


def test_priority_for_matrix():
    rank: dict[int, int] = {}
    assert priority_for("power", range(20), (), rank) == "P1"
    assert priority_for("power", [1], (), rank) == "P2"
    assert priority_for("fiber", [1], (), rank) == "P3"
    assert priority_for("fiber", [1], (), {1: 1}) == "P2"  # the most demanding plan weighs more
    assert priority_for("fiber", range(3), (), rank) == "P2"
    assert priority_for("fiber", range(10), (), rank) == "P1"
    assert priority_for("equipment", (), range(5), rank) == "P2"
    assert priority_for("equipment", (), (), rank) == "P3"
    assert priority_for("reboot", (), (), rank) == "P4"
    assert priority_for("fiber", range(3), (), rank, Params(some_impact_clients=4)) == "P3"


def test_priority_does_not_go_down_on_its_own():
    sim = Sim(one_switch())
    inc = equipment_incident(sim)
    inc.priority = "P1"  # raised by a person
    sim.advance(MIN)
    sim.observe([(5, "link:3", "critical")], source="trap")  # joins the same device's incident
    assert not [r for r in of(sim.log, Reclassify) if r.priority]
    assert inc.priority == "P1"


# ---------------------------------------------------------------- more rules


def test_dedup_repeated_problem_updates_open_one_incident():
    sim = Sim(one_switch())
    sim.poll([(5, "reachability", "critical")], times=20)
    for _ in range(3):
        sim.advance(MIN)
        sim.tick()
    assert len(sim.incidents) == 1
    assert not of(sim.log, AttachAsset)


def test_second_ups_on_battery_at_the_site_joins_the_site_power_incident():
    topo = remote_site(1)
    assets = dict(topo.assets)
    assets[1001] = AssetInfo(1001, "ups-2", "ups", REMOTE, "remote")
    sim = Sim(Topology(assets=assets, edges=topo.edges, site_names=topo.site_names))
    sim.observe([(UPS, "power:source", "critical")], source="trap")
    out = sim.observe([(1001, "power:source", "critical"), (UPS, "power:battery", "critical")], source="trap")
    assert not of(out, OpenIncident)
    inc = sim.incidents[1]
    assert inc.root_checks == {(UPS, "power:source"), (UPS, "power:battery"), (1001, "power:source")}
    assert inc.roles[1001] == "root"


def chain_topology() -> Topology:
    """client router 3 -> access switch 2 -> core router 1 (uplink edges), all in the DC."""
    assets = {
        1: AssetInfo(1, "core-1", "router", DC, "datacenter"),
        2: AssetInfo(2, "acc-2", "switch", DC, "datacenter", client_id=None,
                     interfaces=(InterfaceInfo(5, "client", client_id=50), InterfaceInfo(24, "uplink"))),
        3: AssetInfo(3, "cpe-3", "router", DC, "datacenter", client_id=60),
    }
    return Topology(assets=assets, edges=(Edge(2, 1, "uplink"), Edge(3, 2, "uplink")))


def test_correlation_is_transitive_over_uplinks():
    sim = Sim(chain_topology())
    sim.poll([(1, "reachability", "critical")], times=3)
    sim.poll([(3, "reachability", "critical")], times=3)
    assert len(sim.incidents) == 1
    # acc-2 between them is lost too (its only uplink is down): impacted without waiting for its polls
    assert sim.incidents[1].roles == {1: "root", 2: "impacted", 3: "impacted"}
    assert 60 in sim.incidents[1].clients


def test_child_waits_for_an_unconfirmed_upstream_problem():
    """The child's polls are ahead of its uplink's: it waits instead of opening its own."""
    sim = Sim(chain_topology())
    sim.observe([(2, "reachability", "critical")])
    sim.poll([(3, "reachability", "critical")], times=3, every=10 * SEC)
    assert not sim.incidents
    sim.advance(MIN)
    sim.poll([(2, "reachability", "critical")], times=2)
    (inc,) = sim.incidents.values()
    assert inc.fingerprint == "asset:2:reachability"
    assert inc.roles == {2: "root", 3: "impacted"}


def test_a_client_port_down_upstream_does_not_explain_a_silent_device():
    sim = Sim(chain_topology())
    sim.observe([(2, "link:5", "critical")], source="trap")  # client 50's port on the access switch
    sim.poll([(3, "reachability", "critical")], times=3)
    assert sorted(i.fingerprint for i in sim.incidents.values()) == ["asset:2:link:5", "asset:3:reachability"]
    sim2 = Sim(chain_topology())
    sim2.observe([(2, "link:24", "critical")], source="trap")  # the uplink port: explains it
    sim2.poll([(3, "reachability", "critical")], times=3)
    assert len(sim2.incidents) == 1 and sim2.incidents[1].roles[3] == "impacted"


def test_upstream_incident_opened_later_adopts_children_already_in_trouble():
    sim = Sim(chain_topology(), params=Params(site_silence_window=dt.timedelta(0)))
    sim.observe([(3, "reachability", "critical")])  # unconfirmed
    sim.observe([(1, "reachability", "critical")], source="trap")
    (inc,) = sim.incidents.values()
    assert inc.roles == {1: "root", 2: "impacted", 3: "impacted"}


def test_upstream_problem_inside_maintenance_suppresses_the_children():
    window = MaintenanceWindow(7, T0, T0 + 60 * MIN, asset_id=UPS)
    sim = Sim(remote_site(3), maintenance=[window])
    sim.observe([(UPS, "power:source", "critical")], source="trap")
    sim.poll([(i, "reachability", "critical") for i in (1, 2, 3)], times=3)
    assert not sim.incidents
    assert sorted((s.asset_id, s.window_id) for s in sim.suppressed) == [(1, 7), (2, 7), (3, 7), (UPS, 7)]


def test_reboot_opens_a_self_healing_reboot_incident():
    sim = Sim(one_switch())
    sim.observe([(5, "uptime", "ok")])
    sim.advance(MIN)
    (opened,) = of(sim.observe([(5, "uptime", "warning")], message="rebooted"), OpenIncident)
    assert opened.category == "reboot" and opened.title == "sw-5 rebooted"
    sim.advance(MIN)
    sim.observe([(5, "uptime", "ok")])
    sim.advance(Params().recovery_hold)
    (res,) = of(sim.tick(), Resolve)
    assert res.self_healed


def test_reboot_during_or_right_after_an_outage_is_a_note():
    sim = Sim(remote_site(2))
    sim.observe([(UPS, "power:source", "critical")], source="trap")
    sim.poll([(1, "reachability", "critical")], times=3)
    sim.observe([(1, "reachability", "ok"), (1, "uptime", "warning")], message="rebooted")
    assert len(sim.incidents) == 1 and any("rebooted" in n for n in sim.incidents[1].notes)
    sim.observe([(UPS, "power:source", "ok"), (1, "uptime", "ok")])
    sim.advance(Params().recovery_hold)
    sim.tick()
    assert sim.incidents[1].status == "resolved"
    sim.advance(MIN)
    sim.observe([(2, "uptime", "warning")], message="rebooted")  # not in the incident: own reboot incident
    sim.observe([(UPS, "uptime", "warning")], message="rebooted")  # root of the resolved incident: a note
    assert [i.category for i in sim.incidents.values()] == ["power", "reboot"]


def test_notes_for_state_changes_of_checks_in_an_incident():
    sim = Sim(remote_site(1))
    sim.observe([(UPS, "power:source", "critical")], source="trap")
    sim.observe([(UPS, "power:source", "ok")], message="on mains")
    assert sim.incidents[1].notes == ["ups-1 power:source: critical → ok — on mains"]


def test_decide_is_deterministic():
    topo = remote_site(30)
    updates = [CheckUpdate(UPS, "power:source", "critical", "ok", 1, T0, T0, "trap")]
    updates += [CheckUpdate(i, "reachability", "critical", "critical", 3, T0, T0, "poll") for i in range(1, 31)]
    a = decide(updates, [], topo, [], T0)
    b = decide(list(reversed(updates)), [], topo, [], T0)
    assert a == b


def test_timer_tick_without_checks_does_nothing_harmful():
    inc = IncidentView(1, "asset:5:reachability", "new", "equipment", "P3", T0,
                       root_checks=frozenset({(5, "reachability")}), asset_roles={5: "root"})
    assert decide([], [inc], one_switch(), [], T0 + 60 * MIN) == []


def test_manual_incident_without_root_checks_never_auto_resolves():
    inc = IncidentView(1, "manual:1", "in_progress", "request", "P3", T0, asset_roles={5: "root"})
    checks = {(5, "reachability"): CheckStatus(5, "reachability", "ok", T0, 99, "poll", T0)}
    assert decide([], [inc], one_switch(), [], T0 + 60 * MIN, checks) == []


def test_dependency_cycle_is_harmless():
    assets = {i: AssetInfo(i, f"a{i}", "switch", DC, "datacenter") for i in (1, 2)}
    topo = Topology(assets=assets, edges=(Edge(1, 2, "uplink"), Edge(2, 1, "uplink")))
    sim = Sim(topo)
    sim.poll([(1, "reachability", "critical"), (2, "reachability", "critical")], times=3)
    assert len(sim.incidents) == 1 and set(sim.incidents[1].roles) == {1, 2}


def test_unknown_asset_still_opens():
    out = decide([CheckUpdate(77, "reachability", "critical", "ok", 1, T0, T0, "trap")], [], Topology(assets={}), [],
                 T0)
    (opened,) = of(out, OpenIncident)
    assert opened.fingerprint == "asset:77:reachability" and opened.client_ids == frozenset()


# ---------------------------------------------------------------- helpers


def test_fingerprints():
    ups = AssetInfo(UPS, "ups", "ups", 4, "remote")
    assert fingerprint(UPS, "power:source", ups) == "site:4:power"
    assert fingerprint(UPS, "power:battery", ups) == "site:4:power"
    assert fingerprint(3, "link:7") == "asset:3:link:7"


def test_clients_of_check():
    topo = media_converter_topology()
    mc = topo.assets[10]
    assert clients_of_check(mc, "link:3") == {8}
    assert clients_of_check(mc, "reachability") == {7, 8}
    sw = one_switch().assets[5]
    assert clients_of_check(sw, "link:3") == {9}
    assert clients_of_check(sw, "link:99") == frozenset()  # unknown port on our own switch


def test_categorize():
    topo = media_converter_topology()
    assert categorize("asset:10:link:1", {(10, "link:1")}, topo) == "fiber"
    assert categorize("asset:10:link:1", {(10, "link:1")}, topo, {10: {"link:2"}}) == "equipment"
    assert categorize("asset:10:rx_power:3", {(10, "rx_power:3")}, topo) == "fiber"
    assert categorize("asset:11:reachability", {(11, "reachability")}, topo) == "equipment"
    assert categorize("asset:11:uptime", {(11, "uptime")}, topo) == "reboot"
    assert categorize("site:1:unreachable", {(1, "reachability")}, topo) == "power"
    assert categorize("asset:11:temp", {(11, "temperature")}, topo) == "other"


def test_params_from_settings():
    from rackcard.settings import EngineSettings

    p = Params.from_settings(EngineSettings(flap_window_s=300, hold_down_polls=2))
    assert p.flap_window == dt.timedelta(minutes=5) and p.hold_down_polls == 2
    assert p.recovery_hold == dt.timedelta(minutes=2)


def test_nothing_is_repeated_once_everything_is_accounted_for():
    """After a storm, further polls of the same states and timer ticks decide nothing new."""
    topo = remote_site(10)
    sim = Sim(Topology(assets=topo.assets, edges=topo.edges[:5], site_names=topo.site_names))
    all_ok(sim, list(range(1, 11)) + [UPS])
    sim.observe([(UPS, "power:source", "critical")], source="trap")
    sim.advance(MIN)
    everything = [(i, "reachability", "critical") for i in list(range(1, 11)) + [UPS]]
    sim.poll(everything + [(3, "uptime", "warning")], times=3)
    sim.tick()
    assert len(sim.incidents) == 1
    sim.advance(MIN)
    assert sim.poll(everything + [(3, "uptime", "warning")], times=2) == []
    assert sim.tick() == []


def test_a_manual_incident_does_not_absorb_probe_problems_but_hears_of_them():
    """A client called about sw-5 (manual incident, the asset attached by hand): the
    probe's fault opens its own incident, noted once on the manual one; it never
    auto-resolves the person's incident."""
    manual = IncidentView(1, "manual:abc", "in_progress", "request", "P3", T0, asset_roles={5: "root"},
                          client_ids=frozenset({9}), acted=True)
    topo = one_switch()
    u = CheckUpdate(5, "link:3", "critical", "ok", 1, T0, T0, "trap", message="linkDown")
    out = decide([u], [manual], topo, [], T0)
    (opened,) = of(out, OpenIncident)
    assert opened.fingerprint == "asset:5:link:3"
    assert [n.incident for n in of(out, Note)] == [1]
    assert not of(out, AttachAsset) and not of(out, Reclassify)
    checks = {(5, "link:3"): CheckStatus(5, "link:3", "ok", T0, 9, "poll", T0 + 5 * MIN)}
    assert not of(decide([], [manual], topo, [], T0 + 60 * MIN, checks), Resolve)


def test_site_incident_resolves_when_most_of_the_site_is_back_stragglers_get_their_own():
    sim = Sim(remote_site(4, ups=False))
    all_ok(sim, range(1, 5))
    sim.advance(MIN)
    sim.poll([(i, "reachability", "critical") for i in range(1, 5)], times=3)
    (site,) = sim.incidents.values()
    assert site.fingerprint == "site:1:unreachable"
    sim.advance(MIN)
    sim.observe([(1, "reachability", "ok"), (2, "reachability", "ok"), (3, "reachability", "critical")])
    sim.advance(Params().recovery_hold)
    assert not of(sim.tick(), Resolve)  # 2 of 4 back: not yet the majority
    sim.observe([(3, "reachability", "ok")])
    sim.advance(Params().recovery_hold)
    out = sim.tick()
    assert [r.incident for r in of(out, Resolve)] == [site.id]
    assert [o.fingerprint for o in of(out, OpenIncident)] == ["asset:4:reachability"]
    assert not of(out, Reopen)
    sim.advance(MIN)
    assert sim.tick() == []
