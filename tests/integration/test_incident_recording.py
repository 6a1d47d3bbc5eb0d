"""record_observations -> engine on a real database (both engines): a port
flapping on polls is one flapping incident (the check's earlier state changes
reach the rules); two batches carrying the same new check at once both apply,
with one check state and one incident; a problem poll repeated before the
hold-down confirms it, on an asset no incident involves, skips the rules."""

from __future__ import annotations

import asyncio
import datetime as dt

import incident_data as data
from incident_data import T0

from database.transactions import is_sqlite
from accounts.viewer import Viewer
from incidents import checks
from incidents.checks import record_observations
from incidents.tables import CheckEvent, CheckState, Incident, ProbeBatch
from probes.wire import Observation, ObservationBatch

PROBE = Viewer(user_id=None, email="probe:test", role="probe", probe_name="test")


async def _media_converter() -> tuple[int, int]:
    acme = await data.client("Acme")
    dc = await data.site("datacenter")
    mc = await data.asset(dc, "mc-flap", kind="media_converter")
    await data.interface(mc, 1, "fiber", acme)
    await data.interface(mc, 2, "copper", acme)
    return acme, mc


async def _post(asset: int, key: str, state: str, at: dt.datetime, source: str = "poll") -> dict:
    batch = ObservationBatch.new([Observation(asset, key, state, at.isoformat(), source=source)], probe="test")
    return await record_observations(batch, PROBE, now=at)


async def test_a_port_flapping_on_polls_is_one_flapping_incident(db):
    acme, mc = await _media_converter()
    at = T0
    await _post(mc, "link:1", "ok", at)
    # 10 changes, one every 20 s poll: no bad poll is ever followed by another
    # (the hold-down never completes); the changes themselves confirm it.
    for i in range(10):
        at += dt.timedelta(seconds=20)
        await _post(mc, "link:1", "critical" if i % 2 == 0 else "ok", at)

    assert await CheckEvent.count().where((CheckEvent.asset == mc) & (CheckEvent.key == "link:1")) == 10
    incidents = await Incident.select(Incident.fingerprint, Incident.flapping, Incident.status, Incident.category)
    assert len(incidents) == 1, incidents
    (incident,) = incidents
    assert incident["fingerprint"] == f"asset:{mc}:link:1"
    assert incident["flapping"] is True
    assert incident["status"] == "new"  # flapping: held open, not resolved by the ok polls


async def test_two_batches_with_the_same_new_check_at_once_both_apply(db, monkeypatch):
    _, mc = await _media_converter()
    if not is_sqlite():
        # PostgreSQL: both transactions read "no state for this check" before either
        # writes it (SQLite serialises the two writers, so the race cannot happen there).
        both_read = asyncio.Barrier(2)
        calls = []
        load_states = checks._load_states

        async def load_then_wait(*args):
            states = await load_states(*args)
            calls.append(1)
            if len(calls) <= 2:
                await both_read.wait()
            return states

        monkeypatch.setattr(checks, "_load_states", load_then_wait)

    # the same linkDown trap, relayed by two workers
    results = await asyncio.gather(_post(mc, "link:1", "critical", T0, source="trap"),
                                   _post(mc, "link:1", "critical", T0, source="trap"))

    assert [r["applied"] for r in results] == [1, 1] and not any(r["duplicate"] for r in results)
    assert await ProbeBatch.count() == 2
    rows = await CheckState.select(CheckState.state, CheckState.streak).where(
        (CheckState.asset == mc) & (CheckState.key == "link:1"))
    assert len(rows) == 1 and rows[0]["state"] == "critical"
    assert rows[0]["streak"] == 2  # the second writer read the first one's state
    (incident,) = await Incident.select(Incident.fingerprint)
    assert incident["fingerprint"] == f"asset:{mc}:link:1"


async def test_a_problem_poll_repeated_before_the_hold_down_skips_the_rules(db):
    from incidents import engine
    from incidents.rules import Params

    _, mc = await _media_converter()
    params = Params(hold_down_polls=3)
    calls = []

    def spy(*args):
        calls.append(args)
        return []

    # the second bad poll of an uninvolved asset: nothing the rules read has changed
    repeated = data.update(mc, "link:1", "critical", T0, previous="critical", streak=2, source="poll",
                           since=T0 - dt.timedelta(seconds=20))
    assert await engine.process([repeated], T0, params=params, decide=spy) == [] and calls == []
    # the first bad poll (a change), the confirming one and a trap go to the rules
    for u in (data.update(mc, "link:1", "critical", T0, previous="ok", source="poll"),
              data.update(mc, "link:1", "critical", T0, previous="critical", streak=3, source="poll"),
              data.update(mc, "link:1", "critical", T0, previous="critical", streak=2, source="trap")):
        await engine.process([u], T0, params=params, decide=spy)
    assert len(calls) == 3
    # ... and so does the same repeated poll once an incident involves the asset
    from incidents import services

    incident = await services.store_incident(fingerprint=f"asset:{mc}:link:2", title="port 2 down", category="equipment",
                                             priority="P3", source="probe", at=T0)
    await services.store_assets(incident, {mc: "root"}, T0)
    await engine.process([repeated], T0, params=params, decide=spy)
    assert len(calls) == 4
