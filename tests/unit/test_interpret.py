"""probes.interpret and probes.profiles: raw SNMP values -> check states, without a network."""

from __future__ import annotations

import pytest

from probes.interpret import Missing, PollResult, interpret, interpret_trap, oids_of, plan
from probes.profiles import PROFILE_DATA, ProfileError, builtin_profiles, load_profiles, profile_for
from probes.traps import TrapHandler
from probes.wire import Observation, ObservationBatch, Target, TargetInterface

AT = "2026-01-05T12:00:00+00:00"
PROFILES = builtin_profiles()
MC = Target(asset_id=7, name="mc", kind="media_converter", host="10.0.0.7", interfaces=(
    TargetInterface(1, "copper"), TargetInterface(2, "fiber"), TargetInterface(3, "other")))
UPS = Target(asset_id=8, name="ups", kind="ups", host="10.0.0.8")

IF_OPER, IF_ADMIN, UPTIME = "1.3.6.1.2.1.2.2.1.8.", "1.3.6.1.2.1.2.2.1.7.", "1.3.6.1.2.1.1.3.0"


def run(target, values, status="ok", profiles=PROFILES):
    planned = plan(target, profile_for(target.kind, target.profile, profiles))
    result = PollResult(status, values=values, message="why", elapsed_ms=3)
    return {o.key: o for o in interpret(target, planned, result, AT)}


def mc_values(oper2=1, admin2=1, uptime=500000):
    return {UPTIME: uptime, IF_OPER + "1": 1, IF_ADMIN + "1": 1, IF_OPER + "2": oper2, IF_ADMIN + "2": admin2}


def ups_values(source=3, battery=2, minutes=45, volts=230):
    return {UPTIME: 500000, "1.3.6.1.2.1.33.1.4.1.0": source, "1.3.6.1.2.1.33.1.2.1.0": battery,
            "1.3.6.1.2.1.33.1.2.3.0": minutes, "1.3.6.1.2.1.33.1.3.3.1.3.1": volts}


def test_media_converter_plan_watches_fiber_and_copper_ports_in_one_get():
    planned = plan(MC, PROFILES["media_converter"])
    assert [c.key for c in planned] == ["uptime", "link:1", "link:2"]  # role "other" is not watched
    assert oids_of(planned) == [UPTIME, IF_OPER + "1", IF_ADMIN + "1", IF_OPER + "2", IF_ADMIN + "2"]


def test_default_profiles_by_kind():
    assert profile_for("ups", None, PROFILES).name == "ups"
    assert profile_for("router", None, PROFILES).name == "generic"
    assert profile_for("ups", "no-such-profile", PROFILES).name == "generic"


@pytest.mark.parametrize(("oper", "admin", "state"), [
    (1, 1, "ok"), (2, 1, "critical"), (7, 1, "critical"), (3, 1, "warning"), (2, 2, "ok"), (99, 1, "unknown"),
])
def test_link_state_from_oper_and_admin_status(oper, admin, state):
    seen = run(MC, mc_values(oper2=oper, admin2=admin))
    assert seen["link:2"].state == state
    assert seen["link:1"].state == "ok"
    assert seen["reachability"].state == "ok"


@pytest.mark.parametrize(("source", "state"), [(3, "ok"), (5, "critical"), (4, "warning"), (2, "critical"), (1, "unknown")])
def test_ups_output_source(source, state):
    assert run(UPS, ups_values(source=source))["power:source"].state == state


def test_ups_battery_minutes_and_voltage_samples():
    seen = run(UPS, ups_values(battery=3, minutes=4, volts=0))
    assert seen["power:battery"].state == "critical" and "low" in seen["power:battery"].message
    assert "minutes remaining 4" in seen["power:battery"].message
    assert (seen["power:minutes_remaining"].state, seen["power:minutes_remaining"].number) == ("critical", 4.0)
    assert seen["power:input_voltage"].number == 0.0
    assert seen["power:source"].number is None  # not a sample
    assert run(UPS, ups_values(minutes=12))["power:minutes_remaining"].state == "warning"


def test_short_uptime_alone_is_no_reboot():
    """A device just booted (or just added to monitoring): ok; restarts are found
    by the server against the stored uptime (incidents.checks)."""
    assert run(MC, mc_values(uptime=12000))["uptime"].state == "ok"
    seen = run(MC, mc_values(uptime=8640000 + 360000))["uptime"]
    assert (seen.state, seen.value, seen.message) == ("ok", "9000000", "up 1d 1h 0m")


def test_missing_and_wrong_type_make_only_that_check_unknown():
    values = ups_values()
    values["1.3.6.1.2.1.33.1.4.1.0"] = Missing("noSuchInstance")
    values["1.3.6.1.2.1.33.1.2.1.0"] = "normal"
    del values["1.3.6.1.2.1.33.1.3.3.1.3.1"]
    seen = run(UPS, values)
    assert seen["power:source"].state == "unknown" and "noSuchInstance" in seen["power:source"].message
    assert seen["power:battery"].state == "unknown" and "expected an integer" in seen["power:battery"].message
    assert seen["power:input_voltage"].state == "unknown" and "no value" in seen["power:input_voltage"].message
    assert seen["power:minutes_remaining"].state == "ok"
    assert seen["reachability"].state == "ok"


def test_unanswered_device_reports_only_reachability():
    assert {k: o.state for k, o in run(MC, {}, status="timeout").items()} == {"reachability": "critical"}
    assert {k: o.state for k, o in run(MC, {}, status="auth").items()} == {"reachability": "unknown"}
    assert run(MC, {}, status="error")["reachability"].message == "why"


def test_a_new_vendor_profile_is_a_data_entry():
    data = dict(PROFILE_DATA)
    data["acme_sfp_mc"] = {
        "checks": PROFILE_DATA["media_converter"]["checks"] + [{
            "key": "rx_power:{if_index}", "rule": "number", "interfaces": ["fiber"],
            "oids": {"value": "1.3.6.1.4.1.99999.1.2.{if_index}"}, "sample": True,
            "params": {"scale": 0.01, "unit": "dBm", "low_warning": -24, "low_critical": -28},
        }],
    }
    profiles = load_profiles(data)
    target = Target(asset_id=1, name="x", kind="media_converter", host="h", profile="acme_sfp_mc",
                    interfaces=(TargetInterface(2, "fiber"),))
    values = {**mc_values(), "1.3.6.1.4.1.99999.1.2.2": -2650}
    seen = run(target, values, profiles=profiles)
    assert (seen["rx_power:2"].state, seen["rx_power:2"].number) == ("warning", -26.5)
    assert seen["rx_power:2"].message == "-26.5 dBm (below -24)"


def test_bad_profile_data_is_refused_with_its_name():
    with pytest.raises(ProfileError, match="'bad'"):
        load_profiles({"bad": {"checks": [{"key": "x", "rule": "nope", "oids": {"value": "1.3"}}]}})
    with pytest.raises(ProfileError, match="numeric OID"):
        load_profiles({"bad": {"checks": [{"key": "x", "rule": "enum", "oids": {"value": "IF-MIB::ifOperStatus"}}]}})


TRAP = "1.3.6.1.6.3.1.1.4.1.0"


def test_link_traps_for_watched_ports():
    down = interpret_trap(MC, PROFILES["media_converter"], {TRAP: "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.2": 2}, AT)
    assert [(o.key, o.state, o.source) for o in down] == [("link:2", "critical", "trap")]
    up = interpret_trap(MC, PROFILES["media_converter"], {TRAP: "1.3.6.1.6.3.1.1.5.4", "1.3.6.1.2.1.2.2.1.8.2": 1}, AT)
    assert [(o.key, o.state) for o in up] == [("link:2", "ok")]
    unwatched = interpret_trap(MC, PROFILES["media_converter"], {TRAP: "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.3": 3}, AT)
    assert unwatched == []
    admin_down = interpret_trap(MC, PROFILES["media_converter"], {
        TRAP: "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.2": 2, "1.3.6.1.2.1.2.2.1.7.2": 2}, AT)
    assert admin_down[0].state == "ok"
    assert interpret_trap(MC, PROFILES["media_converter"], {TRAP: "1.3.6.1.4.1.9.9.1"}, AT) is None


def test_ups_traps():
    ups = PROFILES["ups"]
    on_battery = interpret_trap(UPS, ups, {TRAP: "1.3.6.1.2.1.33.2.1"}, AT)
    assert [(o.key, o.state) for o in on_battery] == [("power:source", "critical")]
    added = interpret_trap(UPS, ups, {TRAP: "1.3.6.1.2.1.33.2.3", "1.3.6.1.2.1.33.1.6.2.1.2.5": "1.3.6.1.2.1.33.1.6.3.3"}, AT)
    assert [(o.key, o.state) for o in added] == [("power:battery", "critical")]
    removed = interpret_trap(UPS, ups, {TRAP: "1.3.6.1.2.1.33.2.4", "1.3.6.1.2.1.33.1.6.2.1.2.5": "1.3.6.1.2.1.33.1.6.3.2"}, AT)
    assert [(o.key, o.state) for o in removed] == [("power:source", "ok")]


def test_trap_handler_counts_unknown_senders_and_traps():
    emitted: list[list[Observation]] = []
    handler = TrapHandler(emitted.append, PROFILES)
    handler.set_targets([MC, UPS])
    handler.handle("10.9.9.9", {TRAP: "1.3.6.1.6.3.1.1.5.3"})
    handler.handle("10.0.0.7", {TRAP: "1.3.6.1.4.1.9.9.1"})
    handler.handle("10.0.0.7", {TRAP: "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.1": 1})
    assert dict(handler.counters) == {"received": 3, "unknown_sender": 1, "unknown_trap": 1, "applied": 1}
    assert [o.key for batch in emitted for o in batch] == ["link:1"]


def test_batch_round_trip():
    batch = ObservationBatch.new([Observation(1, "link:1", "ok", AT, number=1.5)], probe="p", stats={"a": 1})
    again = ObservationBatch.from_dict(batch.to_dict())
    assert again == batch
    assert Target.from_dict({**MC.to_dict(), "future_field": 1}) == MC


def test_times_parse_with_an_unescaped_plus_and_without_a_zone():
    from probes.wire import parse_time

    expected = parse_time("2026-01-05T12:00:00+00:00")
    assert parse_time("2026-01-05T12:00:00 00:00") == expected  # "+" decoded to " " in a query string
    assert parse_time("2026-01-05T12:00:00Z") == expected
    assert parse_time("2026-01-05T15:00:00+03:00") == expected
    assert parse_time("2026-01-05 12:00:00") == expected  # no zone = UTC


def _shared(host="127.0.0.1"):
    """Five assets behind one address (the old demo, a chassis): each its own ports."""
    slot = lambda i, n: Target(asset_id=i, name=n, kind="media_converter", host=host, community=n,  # noqa: E731
                               interfaces=(TargetInterface(10 * i + 1, "copper"), TargetInterface(10 * i + 2, "fiber")))
    return [slot(1, "mc-a"), slot(2, "mc-b"), slot(3, "mc-c"),
            Target(asset_id=4, name="ups-k", kind="ups", host=host),
            Target(asset_id=5, name="sw-k", kind="switch", host=host)]


def test_a_trap_from_a_shared_address_goes_to_exactly_one_asset():
    emitted: list[list[Observation]] = []
    handler = TrapHandler(emitted.append, PROFILES)
    handler.set_targets(_shared())
    link_down = "1.3.6.1.6.3.1.1.5.3"
    # the ifIndex that exists on one of them
    handler.handle("127.0.0.1", {TRAP: link_down, "1.3.6.1.2.1.2.2.1.1.22": 22})
    # sysName names it
    handler.handle("127.0.0.1", {TRAP: link_down, "1.3.6.1.2.1.1.5.0": "MC-C", "1.3.6.1.2.1.2.2.1.1.32": 32})
    # a UPS-MIB trap is about the UPS
    handler.handle("127.0.0.1", {TRAP: "1.3.6.1.2.1.33.2.1"})
    assert [(o.asset_id, o.key) for batch in emitted for o in batch] == [
        (2, "link:22"), (3, "link:32"), (4, "power:source")]
    assert handler.counters["applied"] == 3


def test_an_ambiguous_trap_is_counted_and_never_fanned_out(caplog):
    emitted: list[list[Observation]] = []
    handler = TrapHandler(emitted.append, PROFILES)
    handler.set_targets(_shared())
    handler.handle("127.0.0.1", {TRAP: "1.3.6.1.6.3.1.1.5.1"})  # coldStart: which of the five?
    handler.handle("127.0.0.1", {TRAP: "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.2.1.2.2.1.1.99": 99})  # no such port anywhere
    assert emitted == [] and handler.counters["ambiguous_sender"] == 2
    assert "not attributed: 5 assets share that address" in caplog.text


def test_snmpv1_agent_address_attributes_a_relayed_trap():
    emitted: list[list[Observation]] = []
    handler = TrapHandler(emitted.append, PROFILES)
    handler.set_targets([*_shared("10.0.0.1"), Target(asset_id=9, name="mc-far", kind="media_converter",
                                                      host="10.7.7.7", interfaces=(TargetInterface(1, "fiber"),))])
    handler.handle("10.0.0.1", {TRAP: "1.3.6.1.6.3.1.1.5.3", "1.3.6.1.6.3.18.1.3.0": "10.7.7.7",
                                "1.3.6.1.2.1.2.2.1.1.1": 1})
    assert [(o.asset_id, o.key) for batch in emitted for o in batch] == [(9, "link:1")]
