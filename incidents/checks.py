"""Check state from probe observations — the server side of the probe protocol.

`record_observations(batch, viewer)` applies one observation batch in one
transaction: idempotent per batch id (ProbeBatch), latest state per check with
`since` and `streak`, a CheckEvent for every state change (the asset's own
history), numeric samples (rolled up and pruned by incidents.timeseries), a `reboot` event when sysUpTime goes
backwards, and the resulting CheckUpdates handed to the incident engine inside
the same transaction. Observations older than the stored state (a late replay)
never overwrite newer state. Each update carries the check's earlier state
changes within the flap window (so a port flapping on polls is seen flapping).
A batch that meets a concurrent writer on a unique index (two batches carrying
the same new check) is applied again once, on what the other one wrote.

The writes are one statement per table and batch (database.rawsql): the check
states as an upsert, the events and samples as bulk inserts.

`probe_targets(viewer)` is what a probe worker polls: SNMP secrets included,
so only probe tokens (and admins) get it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
from dataclasses import dataclass
from typing import Any

from accounts import secretbox
from database.transactions import INTEGRITY_ERRORS, atomic, current_engine, is_unique_violation
from accounts.errors import Forbidden, Invalid, NotFound
from accounts.viewer import Viewer
import validation
from cmdb.tables import Asset, Interface, Site
from database import rawsql
from incidents import engine, probe_health, timeseries
from database.rawsql import Sql, as_time
from incidents.rules import CheckUpdate
from incidents.services import aware
from incidents.tables import CheckEvent, CheckState, ProbeBatch
from probes.profiles import check_overrides, installed_profiles
from probes.wire import (OK, SOURCES, STATES, WARNING, Observation, ObservationBatch, Target, TargetInterface,
                         utcnow)

log = logging.getLogger("rackcard.incidents.checks")

MAX_BATCH = 5000
MAX_KEY = 64
MAX_VALUE = 200
MAX_MESSAGE = 1000
MAX_NUMBER = 1e15
#: Observations stamped further ahead of the server's clock are refused (see _apply).
CLOCK_TOLERANCE = dt.timedelta(seconds=300)
MAX_SAMPLES_RETURNED = 5000
TIMETICKS_WRAP = 2**32
REBOOT = "reboot"


# ------------------------------------------------------------------ validation


def _observation(raw: Any, where: str, problems: validation.Problems) -> tuple[Observation, dt.datetime] | None:
    """One observation checked field by field; every problem recorded under
    `observations[i].field`. Device text (value, message) is cleaned, not refused."""
    if not isinstance(raw, dict):
        problems.add(where, "must be an object with asset_id, key, state, observed_at")
        return None
    before = len(problems.errors)
    asset_id = problems.take(validation.ident, raw.get("asset_id"), f"{where}.asset_id")
    key = raw.get("key")
    if not isinstance(key, str):
        problems.add(f"{where}.key", "must be text such as reachability or link:2")
    else:
        key = problems.take(validation.text, key, f"{where}.key", max_length=MAX_KEY, multiline=False)
    if key == "":
        problems.add(f"{where}.key", "must not be empty")
    state = problems.take(validation.choice, raw.get("state"), f"{where}.state", STATES)
    source = problems.take(validation.choice, raw.get("source", "poll"), f"{where}.source", SOURCES)
    at = problems.take(validation.moment, raw.get("observed_at"), f"{where}.observed_at", need_offset=False)
    value = raw.get("value")
    if value is not None and (isinstance(value, (dict, list)) or not isinstance(value, (str, int, float, bool))):
        problems.add(f"{where}.value", "must be text or a number")
    message = raw.get("message") or ""
    if not isinstance(message, str):
        problems.add(f"{where}.message", "must be text")
    number = raw.get("number")
    if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float))
                               or not math.isfinite(number) or abs(number) > MAX_NUMBER):
        problems.add(f"{where}.number", f"must be a finite number within ±{MAX_NUMBER:g}")
    if len(problems.errors) > before:
        return None
    return Observation(
        asset_id=asset_id, key=key, state=state, observed_at=at.isoformat(), source=source,
        value=None if value is None else validation.sanitised(value, MAX_VALUE),
        message=validation.sanitised(message, MAX_MESSAGE), number=None if number is None else float(number),
    ), at


def _parse_batch(batch: ObservationBatch | dict) -> tuple[ObservationBatch, list[dt.datetime]]:
    """The batch checked as a whole before anything is applied: every problem
    of every observation is listed (as `observations[i].field`) and a batch
    with any problem is refused entirely."""
    if isinstance(batch, ObservationBatch):
        batch = batch.to_dict()
    problems = validation.Problems()
    if not isinstance(batch, dict):
        raise Invalid("the body must be an observation batch object", field="body")
    batch_id = problems.take(validation.text, batch.get("batch_id"), "batch_id", max_length=64, multiline=False)
    if batch_id == "":
        problems.add("batch_id", "a batch needs a batch_id (1 to 64 characters)")
    probe = problems.take(validation.text, batch.get("probe") or "", "probe", max_length=100, multiline=False)
    stats = batch.get("stats") or {}
    if not isinstance(stats, dict):
        problems.add("stats", "must be an object of counters")
        stats = {}
    # Counters only (they are logged): anything else a worker sends there is dropped.
    stats = {str(k)[:64]: v for k, v in list(stats.items())[:100]
             if isinstance(v, (int, float)) and not isinstance(v, bool)}
    raw = batch.get("observations") or []
    if not isinstance(raw, list):
        problems.add("observations", "must be a list of observations")
        raw = []
    if len(raw) > MAX_BATCH:
        problems.add("observations", f"at most {MAX_BATCH} observations per batch")
        raw = []
    parsed = [_observation(o, f"observations[{i}]", problems) for i, o in enumerate(raw)]
    problems.raise_if_any()
    good = [p for p in parsed if p is not None]
    sent_at = batch.get("sent_at")
    result = ObservationBatch(
        batch_id=batch_id, probe=probe, observations=tuple(o for o, _ in good), stats=stats,
        sent_at=sent_at if isinstance(sent_at, str) and len(sent_at) <= 64 else utcnow().isoformat(),
    )
    return result, [at for _, at in good]


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


#: How far sysUpTime may lag the wall clock between two polls before it counts as
#: a restart: a fixed margin plus a share of the time elapsed (device clocks drift).
REBOOT_SLACK_S = 120
REBOOT_SLACK_SHARE = 0.01


def _rebooted(old_value: str | None, new_value: str | None, old_at: dt.datetime | None = None,
              new_at: dt.datetime | None = None) -> tuple[int, int] | None:
    """(old, new) ticks when the device restarted between two observations: its
    sysUpTime is behind the last stored uptime plus the wall-clock time since (a
    restart between polls, even one longer ago than the last poll), beyond a
    slack for clock drift — and not a 497-day counter wrap. Evidence only: no
    stored uptime, no reboot (a device first polled just after its boot is not
    one, nor is the poller's own restart)."""
    old, new = _as_int(old_value), _as_int(new_value)
    if old is None or new is None:
        return None
    elapsed = max(0.0, (new_at - old_at).total_seconds()) if old_at and new_at else 0.0
    slack = (REBOOT_SLACK_S + REBOOT_SLACK_SHARE * elapsed) * 100
    expected = old + elapsed * 100
    if new >= old and new >= expected - slack:
        return None
    if expected >= TIMETICKS_WRAP * 0.99 and abs(new - (expected - TIMETICKS_WRAP)) <= slack + TIMETICKS_WRAP * 0.01:
        return None  # the counter wrapped at 2^32, not a restart
    return old, new


# ------------------------------------------------------------------ recording


#: A batch that hits a unique index another writer filled meanwhile (two batches
#: carrying the same new check, two writers attaching the same asset) is applied
#: again from the start, once: the second time it reads what the winner wrote.
ATTEMPTS = 2


async def record_observations(batch: ObservationBatch | dict, viewer: Viewer, now: dt.datetime | None = None) -> dict:
    """Apply a batch once. Returns {"batch_id", "duplicate", "applied", "stale", "rejected"}."""
    if not (viewer.is_probe or viewer.is_staff or viewer.is_ingest):
        raise Forbidden("observations come from probe workers and alert ingest")
    batch, times = _parse_batch(batch)
    now = now or utcnow()
    result = {"batch_id": batch.batch_id, "duplicate": False, "applied": 0, "stale": 0, "rejected": 0, "future": 0}
    # Only a transaction of our own can be rolled back and tried again.
    own = current_engine().current_transaction.get() is None
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with atomic():
                if not await _claim(batch, viewer, now):
                    return {**result, "duplicate": True}
                counts = await _apply(batch, times, viewer, now)
                result.update(counts)
            break
        except INTEGRITY_ERRORS as exc:
            if not is_unique_violation(exc):
                raise
            # Another writer applied the same batch (the batch id decides), or
            # wrote a row this batch also creates: try again on what it wrote.
            if await ProbeBatch.exists().where(ProbeBatch.batch_id == batch.batch_id):
                return {**result, "duplicate": True}
            if not own or attempt == ATTEMPTS:
                raise
            log.info("batch %s met a concurrent writer (%s); applying it again", batch.batch_id, exc)
    _log_stats(viewer.probe_name or viewer.email, batch.stats)
    return result


async def _claim(batch: ObservationBatch, viewer: Viewer, now: dt.datetime) -> bool:
    """Record the batch id; False when it was applied before (a replay)."""
    q = Sql()
    rows = await q.fetch(
        "INSERT INTO inc_probe_batch (batch_id, probe, observations, received_at) "
        f"VALUES ({q(batch.batch_id)}, {q(viewer.probe_name or viewer.email)}, {q(len(batch.observations))}, {q(now)}) "
        "ON CONFLICT (batch_id) DO NOTHING RETURNING id")
    return bool(rows)


_last_unknowns: dict[str, dict] = {}


def _log_stats(probe: str, stats: dict) -> None:
    """Log a worker's counters when its count of unknown traps/senders moves."""
    unknowns = {k: v for k, v in (stats or {}).items() if "unknown" in k or "ambiguous" in k}
    if unknowns and unknowns != _last_unknowns.get(probe):
        log.info("probe %s: %s", probe, ", ".join(f"{k}={v}" for k, v in sorted(unknowns.items())))
    _last_unknowns[probe] = unknowns
    log.debug("probe %s counters: %s", probe, stats)


@dataclass(slots=True)
class _State:
    """A check's stored state while a batch is applied."""

    state: str
    since: dt.datetime
    streak: int
    value: str | None = None
    message: str = ""
    last_observed_at: dt.datetime | None = None
    source: str = "poll"


async def _load_states(asset_ids: set[int], keys: set[str], viewer: Viewer
                       ) -> tuple[dict[int, int], dict[tuple[int, str], _State]]:
    """In one statement: the batch's assets that exist (and, for a site-limited
    probe token, are at its site) with their sites, and the stored state of the batch's checks."""
    if not asset_ids:
        return {}, {}
    q = Sql()
    sql = ('SELECT \'s\' AS t, asset, "key", state, value, message, since, last_observed_at, source, streak '
           f'FROM inc_check_state WHERE asset IN {q.ints(asset_ids)} AND "key" IN {q.texts(keys)} UNION ALL ')
    if viewer.site_code:
        sql += ("SELECT 'a', a.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, a.site FROM cmdb_asset a "
                f"JOIN cmdb_site s ON s.id = a.site WHERE a.id IN {q.ints(asset_ids)} AND s.code = {q(viewer.site_code)}")
    else:
        sql += ("SELECT 'a', id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, site FROM cmdb_asset "
                f"WHERE id IN {q.ints(asset_ids)}")
    rows = await q.fetch(sql)
    allowed = {r[1]: r[9] for r in rows if r[0] == "a"}  # asset -> its site
    states = {
        (asset, key): _State(state=state, since=as_time(since), streak=streak or 0, value=value, message=message or "",
                             last_observed_at=as_time(last), source=source)
        for t, asset, key, state, value, message, since, last, source, streak in rows
        if t == "s" and asset in allowed
    }
    return allowed, states


async def _load_changes(assets: set[int], keys: set[str], since: dt.datetime) -> dict[tuple[int, str], list[dt.datetime]]:
    """State-change times (CheckEvent) of the batch's checks since `since`, in one query."""
    q = Sql()
    out: dict[tuple[int, str], list[dt.datetime]] = {}
    for r in await q.fetch(f'SELECT asset, "key", at FROM inc_check_event WHERE asset IN {q.ints(assets)} '
                           f'AND at >= {q(since)} AND "key" IN {q.texts(keys)}'):
        out.setdefault((r["asset"], r["key"]), []).append(aware(r["at"]))
    return out


_STATE_COLUMNS = ("asset", "key", "state", "value", "message", "since", "last_observed_at", "source", "streak")
_STATE_KINDS = ("int", "text", "text", "text", "text", "time", "time", "text", "int")
# An existing check: update in place, never with an older observation than the stored one
# (two writers racing on one check: the newer observation stands).
_STATE_UPSERT = (
    'ON CONFLICT (asset, "key") DO UPDATE SET state = excluded.state, value = excluded.value, '
    "message = excluded.message, since = excluded.since, last_observed_at = excluded.last_observed_at, "
    "source = excluded.source, streak = excluded.streak "
    "WHERE inc_check_state.last_observed_at <= excluded.last_observed_at"
)
_EVENT_COLUMNS = ("asset", "key", "from_state", "to_state", "value", "message", "at", "source")
_EVENT_KINDS = ("int", "text", "text", "text", "text", "text", "time", "text")


def _state_row(ck: tuple[int, str], s: _State) -> tuple:
    return (ck[0], ck[1], s.state, s.value, s.message, s.since, s.last_observed_at, s.source, s.streak)


async def _apply(batch: ObservationBatch, times: list[dt.datetime], viewer: Viewer, now: dt.datetime) -> dict:
    keys = {o.key for o in batch.observations}
    allowed, states = await _load_states({o.asset_id for o in batch.observations}, keys, viewer)
    # Clock discipline: an observation stamped ahead of the server's clock by
    # more than the tolerance is refused (counted, logged, reported back), and
    # a state some earlier clock stamped in the future is brought back to now,
    # so no real observation can ever be "stale" behind it.
    limit = now + CLOCK_TOLERANCE
    future = [(at, o) for at, o in zip(times, batch.observations) if at > limit]
    if future:
        log.warning("probe %s: %d observation(s) stamped ahead of the server clock refused (first: asset %s %s at %s)",
                    viewer.probe_name or viewer.email, len(future), future[0][1].asset_id, future[0][1].key,
                    future[0][0].isoformat())
    await _unstick(states, now, limit)
    mine = [(at, o) for at, o in zip(times, batch.observations) if o.asset_id in allowed and at <= limit]
    # Earlier state changes of the batch's checks within the flap window (a port
    # flapping on polls never completes a hold-down streak: the rules count these).
    # Healthy polls of healthy checks (the steady state) need none.
    stored: dict[tuple[int, str], list[dt.datetime]] = {}
    if any(o.state != OK or getattr(states.get((o.asset_id, o.key)), "state", OK) != OK for _, o in mine):
        horizon = min([now, *(at for at, _ in mine)]) - engine.params().flap_window
        stored = await _load_changes(allowed, keys, horizon)

    applied = stale = 0
    rejected = len(batch.observations) - len(mine)
    events: list[tuple] = []
    samples: list[tuple] = []
    updates: list[CheckUpdate] = []
    new_rows: set[tuple[int, str]] = set()
    changed: set[tuple[int, str]] = set()
    batch_changes: dict[tuple[int, str], list[dt.datetime]] = {}
    # In time order: a batch may hold several observations of one check.
    for at, o in sorted(mine, key=lambda pair: pair[0]):
        ck = (o.asset_id, o.key)
        if o.number is not None:
            samples.append((o.asset_id, o.key, float(o.number), at))
        row = states.get(ck)
        if row is not None and at < row.last_observed_at:
            stale += 1  # a late observation: history only, the newer state stands
            continue
        state, message = o.state, o.message
        if o.key == "uptime" and row is not None and o.source == "poll":
            went_back = _rebooted(row.value, o.value, row.last_observed_at, at)
            if went_back:
                message = f"sysUpTime went back from {went_back[0]} to {went_back[1]} ticks: the device restarted"
                state = WARNING
                events.append((o.asset_id, REBOOT, None, WARNING, o.value, message, at, o.source))
        previous = row.state if row is not None else None
        if row is None:
            row = states[ck] = _State(state=state, since=at, streak=1)
            new_rows.add(ck)
        elif row.state == state:
            row.streak = (row.streak or 0) + 1
        else:
            row.state, row.since, row.streak = state, at, 1
        earlier = tuple(sorted(t for t in (*stored.get(ck, ()), *batch_changes.get(ck, ())) if t <= at))
        if previous != state and not (previous is None and state == OK):
            events.append((o.asset_id, o.key, previous, state, o.value, message, at, o.source))
            batch_changes.setdefault(ck, []).append(at)
        row.value = None if o.value is None else str(o.value)[:200]
        row.message = message
        row.last_observed_at = at
        row.source = o.source
        if ck not in new_rows:
            changed.add(ck)
        updates.append(CheckUpdate(
            asset_id=o.asset_id, key=o.key, state=state, previous_state=previous, streak=row.streak,
            since=row.since, observed_at=at, source=o.source, value=row.value, message=message,
            recent_changes=earlier,
        ))
        applied += 1

    # A new check is a plain insert: a concurrent batch that created it first
    # makes this one fail on the unique index and be applied again (record_observations).
    await rawsql.insert("inc_check_state", _STATE_COLUMNS, _STATE_KINDS,
                        [_state_row(ck, states[ck]) for ck in sorted(new_rows)])
    await rawsql.insert("inc_check_state", _STATE_COLUMNS, _STATE_KINDS,
                        [_state_row(ck, states[ck]) for ck in sorted(changed)], _STATE_UPSERT)
    await rawsql.insert("inc_check_event", _EVENT_COLUMNS, _EVENT_KINDS, events)
    if samples:
        # Retention and roll-ups run on the server's timer (incidents.timeseries), off this hot path.
        await rawsql.insert("inc_sample", ("asset", "key", "value", "at"), ("int", "text", "float", "time"), samples)
    await _retire(mine)
    if viewer.probe_name and mine:
        await probe_health.note_batch(viewer.probe_name, {allowed[o.asset_id] for _, o in mine}, now)
    if updates:
        await engine.process(updates, now)
    return {"applied": applied, "stale": stale, "rejected": rejected, "future": len(future)}


async def _unstick(states: dict[tuple[int, str], _State], now: dt.datetime, limit: dt.datetime) -> None:
    """Check states stamped beyond `limit` (by a clock that ran ahead before
    this rule existed, or a server clock set back) are moved back to `now`."""
    stuck = [ck for ck, st in states.items() if st.last_observed_at and st.last_observed_at > limit]
    if not stuck:
        return
    q = Sql()
    await q.fetch(f"UPDATE inc_check_state SET last_observed_at = {q(now)}, "
                  f"since = CASE WHEN since > {q(limit)} THEN {q(now)} ELSE since END "
                  f"WHERE asset IN {q.ints(ck[0] for ck in stuck)} AND last_observed_at > {q(limit)}")
    for ck in stuck:
        log.warning("check %s of asset %s was stamped in the future (%s); moved back to now", ck[1], ck[0],
                    states[ck].last_observed_at.isoformat())
        states[ck].last_observed_at = now
        states[ck].since = min(states[ck].since, now)


def set_clock_tolerance(seconds: int) -> None:
    """How far ahead of the server's clock an observation may be stamped (RACKCARD_CLOCK_TOLERANCE_S)."""
    global CLOCK_TOLERANCE
    CLOCK_TOLERANCE = dt.timedelta(seconds=seconds)


#: No asset is polled more often than this (RACKCARD_MIN_POLL_INTERVAL_S).
MIN_INTERVAL_S = 5


def set_min_interval(seconds: int) -> None:
    global MIN_INTERVAL_S
    MIN_INTERVAL_S = max(1, seconds)


#: Sent by the worker as the last observation of every answered poll (probes.interpret.readability).
PROFILE_CHECK = "profile"
#: Checks reported once, not on every poll: never retired.
KEPT_CHECKS = {"discovery"}


async def _retire(mine: list[tuple[dt.datetime, Any]]) -> None:
    """Retire the checks a profile no longer produces: a complete poll (it ends
    with the `profile` check) leaves out a polled check the asset had before —
    the profile changed, a port was removed — so its stored state goes, rather
    than standing stale forever. Trap-made states and the same poll's rows stay."""
    polls: dict[int, tuple[dt.datetime, set[str]]] = {}
    for at, o in mine:
        if o.source == "poll":
            polls.setdefault(o.asset_id, (at, set()))[1].add(o.key)
    for asset_id, (at, keys) in polls.items():
        complete = [t for t, o in mine if o.asset_id == asset_id and o.key == PROFILE_CHECK and o.source == "poll"]
        if not complete:
            continue
        q = Sql()
        await q.fetch(f"DELETE FROM inc_check_state WHERE asset = {q(asset_id)} AND source = 'poll' "
                      f'AND "key" NOT IN {q.texts(keys | KEPT_CHECKS)} AND last_observed_at < {q(max(complete))}')


# ------------------------------------------------------------------ reading


def _check_dict(row: dict) -> dict:
    return {
        "key": row["key"], "state": row["state"], "value": row["value"], "message": row["message"],
        "since": row["since"], "last_observed_at": row["last_observed_at"], "source": row["source"],
    }


async def _asset_exists(asset_id: int) -> None:
    if not await Asset.exists().where(Asset.id == asset_id):
        raise NotFound(f"no asset {asset_id}", field="id")


async def asset_checks(asset_id: int, viewer: Viewer) -> list[dict]:
    if not viewer.is_staff:
        raise Forbidden("check states are for staff")
    await _asset_exists(asset_id)
    rows = await CheckState.select().where(CheckState.asset == asset_id).order_by(CheckState.key)
    return [_check_dict(r) for r in rows]


async def asset_events(asset_id: int, viewer: Viewer, limit: int = 200) -> list[dict]:
    """The asset's check history, newest first (state changes and reboots)."""
    if not viewer.is_staff:
        raise Forbidden("check history is for staff")
    rows = await CheckEvent.select().where(CheckEvent.asset == asset_id).order_by(CheckEvent.at, ascending=False).limit(limit)
    return [{k: r[k] for k in ("key", "from_state", "to_state", "value", "message", "at", "source")} for r in rows]


async def asset_samples(asset_id: int, viewer: Viewer, key: str | None = None, since: dt.datetime | None = None) -> list[dict]:
    if not viewer.is_staff:
        raise Forbidden("samples are for staff")
    await _asset_exists(asset_id)
    return await read_samples(asset_id, key, since)


async def read_samples(asset_id: int, key: str | None = None, since: dt.datetime | None = None) -> list[dict]:
    """Numeric history of one asset (default the last day); the caller has checked the viewer may see it."""
    since = since or (utcnow() - dt.timedelta(days=1))
    return await timeseries.series(asset_id, since, key, MAX_SAMPLES_RETURNED)


# ------------------------------------------------------------------ targets


async def probe_targets(viewer: Viewer, site_code: str | None = None, asset_id: int | None = None) -> list[Target]:
    """Assets to poll: active, with a management IP and SNMP settings.

    A probe token limited to a site gets that site's assets only; `site_code`
    narrows an unlimited token.
    """
    if not viewer.sees_secrets:
        raise Forbidden("targets carry SNMP secrets: probe tokens and admins only")
    if viewer.site_code and site_code and site_code != viewer.site_code:
        raise Forbidden(f"this probe token is limited to site {viewer.site_code}", field="site")
    site_code = viewer.site_code or site_code
    query = Asset.select(
        Asset.all_columns(), Asset.site.code.as_alias("site_code")
    ).where(Asset.snmp_version.is_not_null() & Asset.mgmt_ip.is_not_null() & (Asset.status == "active"))
    if site_code:
        if not await Site.exists().where(Site.code == site_code):
            raise NotFound(f"no site with code {site_code}", field="site")
        query = query.where(Asset.site.code == site_code)
    if asset_id is not None:
        query = query.where(Asset.id == asset_id)
    rows = await query.order_by(Asset.id)
    interfaces: dict[int, list[TargetInterface]] = {}
    if rows:
        for i in await Interface.select(
            Interface.all_columns(), Interface.client.name.as_alias("client_name")
        ).where(Interface.asset.is_in([r["id"] for r in rows])).order_by(Interface.if_index):
            interfaces.setdefault(i["asset"], []).append(TargetInterface(
                i["if_index"], i["role"], i["name"], if_name=i["if_name"] or "", if_descr=i["if_descr"] or "",
                client=i["client_name"] or ""))
    return [
        Target(
            asset_id=r["id"], name=r["name"], kind=r["kind"], host=r["mgmt_ip"], port=r["snmp_port"] or 161,
            version=r["snmp_version"], community=secretbox.open(r["snmp_community"]) if r["snmp_version"] != "3" else None,
            v3_user=secretbox.open(r["snmp_v3_user"]), v3_auth_protocol=r["snmp_v3_auth_protocol"],
            v3_auth_key=secretbox.open(r["snmp_v3_auth_key"]),
            v3_priv_protocol=r["snmp_v3_priv_protocol"], v3_priv_key=secretbox.open(r["snmp_v3_priv_key"]),
            v3_context=(r["snmp_v3_context"] or "") if r["snmp_version"] == "3" else "",
            interval_s=max(MIN_INTERVAL_S, r["poll_interval_s"] or 60), profile=r["profile"], site_code=r["site_code"],
            interfaces=tuple(interfaces.get(r["id"], ())), overrides=_overrides(r),
        )
        for r in rows
    ]


def _overrides(row: dict) -> dict:
    try:
        return check_overrides(row.get("probe_overrides") or "")
    except ValueError:  # stored before validation: ignore rather than stop polling
        return {}


def served_profiles() -> dict:
    """What RACKCARD_PROFILES adds (validated: this server loads the same set)."""
    from probes.profiles import extra_profile_data

    installed_profiles()
    return extra_profile_data()


MAX_TARGETS_WAIT_S = 30.0
TARGETS_VERSION_STEP_S = 0.25
#: Set when the server stops: the workers' long polls answer at once instead of
#: holding the shutdown up to MAX_TARGETS_WAIT_S (they ask again, elsewhere or later).
_draining = False


def drain_long_polls(draining: bool = True) -> None:
    global _draining
    _draining = draining


async def _targets_version() -> str:
    """Moves with every audited inventory change (assets, interfaces, clients, imports ...)."""
    rows = await Sql().fetch("SELECT MAX(id) AS v FROM rc_audit_log")
    return str(rows[0][0] or 0) if rows else "0"


async def targets_version(viewer: Viewer, since: str | None = None, wait: float = 0.0) -> str:
    """The targets version; with `since`, the first version other than it within `wait` s
    (a worker's long poll: the change reaches it at once, not at its next refresh)."""
    if not viewer.sees_secrets:
        raise Forbidden("targets are for probe tokens and admins")
    if not 0 <= wait <= MAX_TARGETS_WAIT_S:
        raise Invalid(f"wait must be 0 to {MAX_TARGETS_WAIT_S:g} seconds", field="wait")
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        version = await _targets_version()
        if since is None or version != since or asyncio.get_running_loop().time() >= deadline or _draining:
            return version
        await asyncio.sleep(TARGETS_VERSION_STEP_S)


async def _memory(asset_id: int):
    """A poll from this process continues the asset's count of unreadable polls
    (from its stored `profile` check), as the worker that polls it would."""
    from probes.interpret import PROFILE_CHECK, UNREADABLE_POLLS
    from probes.worker import AssetMemory

    row = await CheckState.select(CheckState.state, CheckState.streak).where(
        (CheckState.asset == asset_id) & (CheckState.key == PROFILE_CHECK)).first()
    if row is None or row["state"] == OK:
        return AssetMemory()
    return AssetMemory(unreadable=UNREADABLE_POLLS if row["state"] == WARNING else int(row["streak"] or 0))


async def poll_asset_now(asset_id: int, viewer: Viewer) -> dict:
    """An engineer's "check it now": poll from this process, record, return what was seen."""
    if not viewer.is_staff:
        raise Forbidden("polling is for staff")
    await _asset_exists(asset_id)
    from accounts.viewer import SYSTEM
    from probes.worker import poll_once

    targets = await probe_targets(SYSTEM, asset_id=asset_id)
    if not targets:
        raise Invalid("this asset is not polled: it needs a management IP, SNMP settings and status active",
                      field="snmp_version")
    observations = await poll_once(targets[0], profiles=installed_profiles(), memory=await _memory(asset_id))
    batch = ObservationBatch.new(observations, probe=f"manual:{viewer.email}")
    await record_observations(batch, viewer)
    return {"asset_id": asset_id, "observations": [o.to_dict() for o in observations]}

