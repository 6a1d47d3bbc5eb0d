"""Issue 8, item 2 — clock discipline, on both engines: an observation stamped
far ahead of the server's clock is refused (counted, reported back), so a
trap from a device whose clock says 2036 opens nothing and cannot make later
real observations "stale"; a check state already stamped in the future (by an
older server, or a clock set back) is moved back to now, and a real recovery
then resolves the incident."""

from __future__ import annotations

import datetime as dt

import incident_data as data
from incident_data import T0

from accounts.viewer import Viewer
from incidents import engine
from incidents.checks import CLOCK_TOLERANCE, record_observations
from incidents.tables import CheckState, Incident
from probes.wire import Observation, ObservationBatch

PROBE = Viewer(user_id=None, email="probe:test", role="probe", probe_name="test")
DECADE = dt.timedelta(days=3653)
MIN = dt.timedelta(minutes=1)


async def _mc() -> int:
    acme = await data.client("Acme")
    mc = await data.asset(await data.site("datacenter"), "mc-clock", kind="media_converter")
    await data.interface(mc, 1, "fiber", acme)
    await data.interface(mc, 2, "copper", acme)
    return mc


async def _post(asset: int, state: str, at: dt.datetime, now: dt.datetime, source: str = "trap") -> dict:
    batch = ObservationBatch.new([Observation(asset, "link:1", state, at.isoformat(), source=source)], probe="test")
    return await record_observations(batch, PROBE, now=now)


async def _status(mc: int) -> str | None:
    row = await Incident.select(Incident.status).where(Incident.fingerprint == f"asset:{mc}:link:1").first()
    return row["status"] if row else None


async def test_a_trap_stamped_ten_years_ahead_is_refused_and_reported(db):
    mc = await _mc()
    result = await _post(mc, "critical", T0 + DECADE, now=T0)
    assert result["future"] == 1 and result["rejected"] == 1 and result["applied"] == 0
    assert await CheckState.count() == 0 and await Incident.count() == 0
    # Within the tolerance a slightly fast clock is fine.
    ok = await _post(mc, "critical", T0 + CLOCK_TOLERANCE - dt.timedelta(seconds=1), now=T0)
    assert ok["applied"] == 1 and ok["future"] == 0


async def test_a_real_recovery_resolves_after_a_future_dated_trap(db):
    mc = await _mc()
    await _post(mc, "ok", T0 - MIN, now=T0 - MIN, source="poll")
    await _post(mc, "critical", T0, now=T0)
    assert await _status(mc) == "new"
    refused = await _post(mc, "critical", T0 + DECADE, now=T0 + MIN)
    assert refused["future"] == 1
    recovered = await _post(mc, "ok", T0 + 2 * MIN, now=T0 + 2 * MIN, source="poll")
    assert recovered["applied"] == 1 and recovered["stale"] == 0
    await engine.tick(T0 + 2 * MIN + engine.params().recovery_hold + MIN)
    assert await _status(mc) == "resolved"


async def test_a_state_stuck_in_the_future_is_brought_back_and_recovers(db):
    mc = await _mc()
    await _post(mc, "ok", T0 - MIN, now=T0 - MIN, source="poll")
    await _post(mc, "critical", T0, now=T0)
    # As an older server stored it: the check's last observation ten years ahead.
    await CheckState.update({CheckState.last_observed_at: T0 + DECADE}).where(CheckState.asset == mc)
    recovered = await _post(mc, "ok", T0 + 2 * MIN, now=T0 + 2 * MIN, source="poll")
    assert recovered["applied"] == 1 and recovered["stale"] == 0
    state = await CheckState.select().where(CheckState.asset == mc).first()
    assert state["state"] == "ok" and state["last_observed_at"] <= T0 + 2 * MIN + CLOCK_TOLERANCE
    await engine.tick(T0 + 2 * MIN + engine.params().recovery_hold + MIN)
    assert await _status(mc) == "resolved"
