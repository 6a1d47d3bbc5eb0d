"""The pure parts of remote power-cycles: who may switch what, the cool-down and
the per-client rate, and the outlet control each PDU profile names."""

import datetime as dt

import pytest

from incidents.power_rules import Feed, Refusal, Sharer, cooldown_left, foreign_sharers, rate_left, refuse_viewer, the_outlet
from probes.outlets import OFF_WAIT_ON, REBOOT, outlet_control
from probes.profiles import builtin_profiles

NOW = dt.datetime(2026, 11, 30, 3, 0, tzinfo=dt.timezone.utc)


def test_staff_always_clients_only_their_own_and_only_with_self_service():
    assert refuse_viewer(True, None, 7, False) is None
    assert refuse_viewer(False, 7, 7, True) is None
    assert refuse_viewer(False, 8, 7, True).kind == "not_found"  # a foreign asset reads as a missing one
    assert refuse_viewer(False, 7, None, True).kind == "not_found"  # ours, not theirs
    assert refuse_viewer(False, 7, 7, False).kind == "forbidden"


def test_exactly_one_known_outlet():
    one = Feed(1, "pdu-1", 3)
    assert the_outlet([one]) == one
    assert "no power dependency" in the_outlet([]).message
    assert "2 power sources" in the_outlet([one, Feed(2, "pdu-2", 5)]).message
    assert "not recorded" in the_outlet([Feed(1, "pdu-1", None)]).message
    assert "SNMP" in the_outlet([Feed(1, "pdu-1", 3, pdu_polled=False)]).message
    assert "profile" in the_outlet([Feed(1, "pdu-1", 3, pdu_controllable=False)]).message
    assert isinstance(the_outlet([]), Refusal) and the_outlet([]).kind == "conflict"


def test_an_outlet_shared_with_another_client_is_refused_naming_what_shares_it():
    assert foreign_sharers(7, [Sharer(2, "rt-2", 7)]) is None
    refusal = foreign_sharers(7, [Sharer(2, "rt-2", 7), Sharer(3, "sw-9", 9, "Vasilek"), Sharer(4, "core", None)])
    assert refusal.kind == "conflict" and "sw-9 (Vasilek)" in refusal.message and "core" in refusal.message
    assert "rt-2" not in refusal.message


def test_cooldown_and_rate_say_the_seconds_left():
    assert cooldown_left(None, NOW, 900) == 0
    assert cooldown_left(NOW - dt.timedelta(seconds=300), NOW, 900) == 600
    assert cooldown_left(NOW - dt.timedelta(seconds=901), NOW, 900) == 0
    recent = [NOW - dt.timedelta(minutes=m) for m in (50, 40, 10)]
    assert rate_left(recent, NOW, 4) == 0
    assert rate_left(recent, NOW, 3) == 600  # the oldest of the hour leaves the window in 10 min
    assert rate_left(recent + [NOW - dt.timedelta(minutes=70)], NOW, 3) == 600


@pytest.mark.parametrize("name, outlet, control_oid, off, on, state_oid", [
    ("apc_rpdu2", 3, "1.3.6.1.4.1.318.1.1.26.9.2.4.1.5.3", 2, 1, "1.3.6.1.4.1.318.1.1.26.9.2.3.1.5.3"),
    ("apc_rpdu", 8, "1.3.6.1.4.1.318.1.1.12.3.3.1.1.4.8", 2, 1, "1.3.6.1.4.1.318.1.1.12.3.5.1.1.4.8"),
    ("apc_masterswitch", 6, "1.3.6.1.4.1.318.1.1.4.4.2.1.3.6", 2, 1, "1.3.6.1.4.1.318.1.1.4.4.2.1.3.6"),
    ("raritan_pdu2", 5, "1.3.6.1.4.1.13742.6.4.1.2.1.2.1.5", 0, 1, "1.3.6.1.4.1.13742.6.5.4.3.1.3.1.5.14"),
])
def test_profiles_name_the_control_oid_and_values(name, outlet, control_oid, off, on, state_oid):
    control = outlet_control(builtin_profiles()[name], outlet)
    assert control.commands["off"] == (control_oid, off) and control.commands["on"] == (control_oid, on)
    assert control.state_oid == state_oid
    assert control.sequence == OFF_WAIT_ON


def test_eaton_writes_each_command_to_its_own_column():
    control = outlet_control(builtin_profiles()["eaton_epdu"], 4)
    assert control.commands["off"] == ("1.3.6.1.4.1.534.6.6.7.6.6.1.3.0.4", 0)
    assert control.commands["on"] == ("1.3.6.1.4.1.534.6.6.7.6.6.1.4.0.4", 0)
    assert control.meaning(0) == "off" and control.meaning("1") == "on"


def test_eaton_pending_states_confirm_neither_off_nor_on():
    """pendingOff(2) / pendingOn(3): a command under way, not the state it leads to."""
    from probes.interpret import rule_outlets

    control = outlet_control(builtin_profiles()["eaton_epdu"], 4)
    assert control.meaning(2) == "pending off" and control.meaning("3") == "pending on"
    assert control.meaning(9) is None
    check = next(c for c in builtin_profiles()["eaton_epdu"].checks if c.key == "power:outlets")
    [(key, state, value, message, _)] = rule_outlets(
        {"state": {"1": 1, "2": 2, "3": 0}, "name": {"1": "mc", "2": "rtr", "3": "spare"}}, check.walk, check.params)
    assert (state, value) == ("ok", "1/3") and "off: 3 spare" in message and "switching: 2 rtr" in message


def test_a_pdu_with_only_a_reboot_command_reboots_and_one_without_control_has_none():
    data = {"reboot_only": {"checks": [{"key": "power:outlets", "rule": "outlets",
                                        "walk": {"state": "1.3.6.1.4.1.9.1", "name": "1.3.6.1.4.1.9.2"},
                                        "params": {"control": "1.3.6.1.4.1.9.3", "commands": {"reboot": 5},
                                                   "states": {"1": ["on", "on"], "0": ["off", "off"]}}}]}}
    control = outlet_control(builtin_profiles(data)["reboot_only"], 2)
    assert control.sequence == REBOOT and control.commands["reboot"] == ("1.3.6.1.4.1.9.3.2", 5)
    assert ("glimpse", "off") in REBOOT and REBOOT.index(("glimpse", "off")) < REBOOT.index(("confirm", "on"))
    assert outlet_control(builtin_profiles()["generic"], 1) is None
    assert outlet_control(builtin_profiles()["apc_rpdu2"], 0) is None


def test_the_masterswitch_reads_its_state_on_the_command_column_and_is_picked_by_sysobjectid():
    from probes.profiles import auto_profile

    control = outlet_control(builtin_profiles()["apc_masterswitch"], 2)
    assert control.commands["reboot"] == ("1.3.6.1.4.1.318.1.1.4.4.2.1.3.2", 3)
    assert control.name_oid == "1.3.6.1.4.1.318.1.1.4.4.2.1.4.2"
    assert (control.meaning(1), control.meaning(2), control.meaning(4)) == ("on", "off", "unknown")
    assert auto_profile("1.3.6.1.4.1.318.1.3.4.2", builtin_profiles()).name == "apc_masterswitch"
    assert auto_profile("1.3.6.1.4.1.318.1.3.4.5", builtin_profiles()).name == "apc_rpdu"
