"""Reboot detection from evidence only (issue 9): a sysUpTime behind the stored
uptime plus the wall clock, or a coldStart trap — never a short uptime on a
first poll, never the poller's own restart. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import incident_data as data
from incident_data import T0

from accounts.viewer import Viewer
from incidents.checks import _rebooted, record_observations
from incidents.tables import CheckEvent, Incident
from probes.wire import Observation, ObservationBatch

PROBE = Viewer(user_id=None, email="probe:test", role="probe", probe_name="test")
MIN = dt.timedelta(minutes=1)
TICKS_PER_MIN = 6000


async def _uptime(asset: int, ticks: int, at: dt.datetime, source: str = "poll", state: str = "ok") -> None:
    o = Observation(asset, "uptime", state, at.isoformat(), value=str(ticks), source=source)
    await record_observations(ObservationBatch.new([o], probe="test"), PROBE, now=at)


async def _reboots(asset: int) -> int:
    return await CheckEvent.count().where((CheckEvent.asset == asset) & (CheckEvent.key == "reboot"))


async def test_first_poll_two_minutes_after_boot_is_no_reboot_and_a_later_restart_is(db):
    site = await data.site("datacenter")
    mc = await data.asset(site, "mc-new")
    await _uptime(mc, 2 * TICKS_PER_MIN, T0)  # just booted, first time we see it: no history, no reboot
    await _uptime(mc, 3 * TICKS_PER_MIN, T0 + MIN)
    assert await Incident.count() == 0 and await _reboots(mc) == 0
    # the poller stops for an hour and starts again: the uptime kept counting, no reboot
    await _uptime(mc, 63 * TICKS_PER_MIN, T0 + 61 * MIN)
    assert await Incident.count() == 0 and await _reboots(mc) == 0
    # two hours without a poll; the device restarted an hour ago: its uptime (60 min) is
    # more than the last one seen (63 min)... no: less than 63 + 120 min of wall clock -> restarted
    await _uptime(mc, 60 * TICKS_PER_MIN, T0 + 181 * MIN)
    assert await _reboots(mc) == 1
    (inc,) = await Incident.select()
    assert inc["category"] == "reboot"


async def test_uptime_that_did_not_go_backwards_but_lags_the_wall_clock_is_a_restart(db):
    site = await data.site("datacenter")
    mc = await data.asset(site, "mc-2")
    await _uptime(mc, 10 * TICKS_PER_MIN, T0)
    await _uptime(mc, 60 * TICKS_PER_MIN, T0 + 120 * MIN)  # up 1 h, but we last saw it 2 h ago at 10 min
    assert await _reboots(mc) == 1


async def test_cold_start_trap_is_a_reboot(db):
    site = await data.site("datacenter")
    mc = await data.asset(site, "mc-3")
    await _uptime(mc, 100 * TICKS_PER_MIN, T0)
    o = Observation(mc, "uptime", "warning", (T0 + MIN).isoformat(), source="trap", message="coldStart")
    await record_observations(ObservationBatch.new([o], probe="test"), PROBE, now=T0 + MIN)
    (inc,) = await Incident.select()
    assert inc["category"] == "reboot"


def test_rebooted_evidence_rules():
    t = T0
    assert _rebooted(None, "100", None, t) is None  # no history
    assert _rebooted("1000000", "1006000", t, t + MIN) is None  # counted on
    assert _rebooted("1000000", "1000000", t, t + MIN) is None  # a missed tick or two: within the slack
    assert _rebooted("1000000", "500", t, t + MIN) == (1000000, 500)  # went back
    assert _rebooted("60000", "360000", t, t + 120 * MIN) == (60000, 360000)  # lags the wall clock
    wrap = 2**32
    assert _rebooted(str(wrap - 3000), "3000", t, t + MIN) is None  # the 497-day wrap
