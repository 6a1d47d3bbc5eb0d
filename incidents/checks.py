"""Check state from probe observations — the server side of the probe protocol.

`record_observations(batch, viewer)` applies one observation batch in one
transaction: idempotent per batch id (ProbeBatch), latest state per check with
`since` and `streak`, a CheckEvent for every state change (the asset's own
history), numeric samples with retention, a `reboot` event when sysUpTime goes
backwards, and the resulting CheckUpdates handed to the incident engine inside
the same transaction. Observations older than the stored state (a late replay)
never overwrite newer state.

`probe_targets(viewer)` is what a probe worker polls: SNMP secrets included,
so only probe tokens (and admins) get it.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from accounts.dbutil import INTEGRITY_ERRORS, atomic, is_unique_violation
from accounts.errors import Forbidden, Invalid, NotFound
from accounts.viewer import Viewer
from cmdb.tables import Asset, Interface, Site
from incidents import engine
from incidents.rules import CheckUpdate
from incidents.tables import CheckEvent, CheckState, ProbeBatch, Sample
from probes.wire import SOURCES, STATES, WARNING, Observation, ObservationBatch, Target, TargetInterface, parse_time, utcnow

log = logging.getLogger("rackcard.incidents.checks")

SAMPLE_RETENTION = dt.timedelta(days=30)
MAX_BATCH = 5000
MAX_SAMPLES_RETURNED = 5000
TIMETICKS_WRAP = 2**32
REBOOT = "reboot"


# ------------------------------------------------------------------ validation


def _parse_batch(batch: ObservationBatch | dict) -> tuple[ObservationBatch, list[dt.datetime]]:
    if isinstance(batch, dict):
        if not str(batch.get("batch_id") or "").strip():
            raise Invalid("a batch needs a batch_id", field="batch_id")
        try:
            batch = ObservationBatch.from_dict(batch)
        except (TypeError, ValueError, KeyError) as exc:
            raise Invalid(f"malformed batch: {exc}", field="observations") from None
    if not batch.batch_id or len(batch.batch_id) > 64:
        raise Invalid("batch_id must have 1 to 64 characters", field="batch_id")
    if len(batch.observations) > MAX_BATCH:
        raise Invalid(f"at most {MAX_BATCH} observations per batch", field="observations")
    times = []
    for i, o in enumerate(batch.observations):
        where = f"observations[{i}]"
        if not isinstance(o.asset_id, int) or isinstance(o.asset_id, bool):
            raise Invalid("asset_id must be an integer", field=f"{where}.asset_id")
        if not o.key or len(o.key) > 64:
            raise Invalid("key must have 1 to 64 characters", field=f"{where}.key")
        if o.state not in STATES:
            raise Invalid(f"state must be one of {', '.join(STATES)}", field=f"{where}.state")
        if o.source not in SOURCES:
            raise Invalid(f"source must be one of {', '.join(SOURCES)}", field=f"{where}.source")
        if o.number is not None and not isinstance(o.number, (int, float)):
            raise Invalid("number must be numeric", field=f"{where}.number")
        try:
            times.append(parse_time(o.observed_at))
        except (TypeError, ValueError):
            raise Invalid("observed_at must be an ISO 8601 time", field=f"{where}.observed_at") from None
    return batch, times


def _as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _rebooted(old_value: str | None, new_value: str | None) -> tuple[int, int] | None:
    """(old, new) ticks when sysUpTime went backwards (and did not just wrap at 2^32)."""
    old, new = _as_int(old_value), _as_int(new_value)
    if old is None or new is None or new >= old:
        return None
    if old > TIMETICKS_WRAP * 0.99 and new < TIMETICKS_WRAP * 0.01:
        return None  # a 497-day counter wrap, not a restart
    return old, new


# ------------------------------------------------------------------ recording


async def record_observations(batch: ObservationBatch | dict, viewer: Viewer, now: dt.datetime | None = None) -> dict:
    """Apply a batch once. Returns {"batch_id", "duplicate", "applied", "stale", "rejected"}."""
    if not (viewer.is_probe or viewer.is_staff):
        raise Forbidden("observations come from probe workers")
    batch, times = _parse_batch(batch)
    now = now or utcnow()
    result = {"batch_id": batch.batch_id, "duplicate": False, "applied": 0, "stale": 0, "rejected": 0}
    try:
        async with atomic():
            if await ProbeBatch.exists().where(ProbeBatch.batch_id == batch.batch_id):
                return {**result, "duplicate": True}
            await ProbeBatch(
                batch_id=batch.batch_id, probe=viewer.probe_name or viewer.email,
                observations=len(batch.observations), received_at=now,
            ).save()
            counts = await _apply(batch, times, viewer, now)
            result.update(counts)
    except INTEGRITY_ERRORS as exc:
        if not is_unique_violation(exc):
            raise
        # Another writer applied the same batch (or check) concurrently: the
        # batch id decides; if it is not there, let the worker retry later.
        if await ProbeBatch.exists().where(ProbeBatch.batch_id == batch.batch_id):
            return {**result, "duplicate": True}
        raise
    _log_stats(viewer.probe_name or viewer.email, batch.stats)
    return result


_last_unknowns: dict[str, dict] = {}


def _log_stats(probe: str, stats: dict) -> None:
    """Log a worker's counters when its count of unknown traps/senders moves."""
    unknowns = {k: v for k, v in (stats or {}).items() if "unknown" in k}
    if unknowns and unknowns != _last_unknowns.get(probe):
        log.info("probe %s: %s", probe, ", ".join(f"{k}={v}" for k, v in sorted(unknowns.items())))
    _last_unknowns[probe] = unknowns
    log.debug("probe %s counters: %s", probe, stats)


async def _apply(batch: ObservationBatch, times: list[dt.datetime], viewer: Viewer, now: dt.datetime) -> dict:
    asset_ids = sorted({o.asset_id for o in batch.observations})
    allowed: set[int] = set()
    if asset_ids:
        rows = await Asset.select(Asset.id, Asset.site.code.as_alias("site_code")).where(Asset.id.is_in(asset_ids))
        allowed = {r["id"] for r in rows if not viewer.site_code or r["site_code"] == viewer.site_code}
    states: dict[tuple[int, str], CheckState] = {}
    if allowed:
        for row in await CheckState.objects().where(CheckState.asset.is_in(sorted(allowed))):
            states[(row.asset, row.key)] = row

    applied = stale = rejected = 0
    events: list[CheckEvent] = []
    samples: list[Sample] = []
    updates: list[CheckUpdate] = []
    new_rows: dict[tuple[int, str], CheckState] = {}
    changed: dict[tuple[int, str], CheckState] = {}
    # In time order: a batch may hold several observations of one check.
    for at, o in sorted(zip(times, batch.observations), key=lambda pair: pair[0]):
        if o.asset_id not in allowed:
            rejected += 1
            continue
        if o.number is not None:
            samples.append(Sample(asset=o.asset_id, key=o.key, value=float(o.number), at=at))
        row = states.get((o.asset_id, o.key))
        if row is not None and at < row.last_observed_at:
            stale += 1  # a late observation: history only, the newer state stands
            continue
        state, message = o.state, o.message
        if o.key == "uptime" and row is not None and o.source == "poll":
            went_back = _rebooted(row.value, o.value)
            if went_back:
                message = f"sysUpTime went back from {went_back[0]} to {went_back[1]} ticks: the device restarted"
                state = WARNING
                events.append(CheckEvent(asset=o.asset_id, key=REBOOT, from_state=None, to_state=WARNING,
                                         value=o.value, message=message, at=at, source=o.source))
        previous = row.state if row is not None else None
        if row is None:
            row = CheckState(asset=o.asset_id, key=o.key, state=state, since=at, streak=1)
            states[(o.asset_id, o.key)] = new_rows[(o.asset_id, o.key)] = row
        elif row.state == state:
            row.streak = (row.streak or 0) + 1
        else:
            row.state, row.since, row.streak = state, at, 1
        if previous != state and not (previous is None and state == "ok"):
            events.append(CheckEvent(asset=o.asset_id, key=o.key, from_state=previous, to_state=state,
                                     value=o.value, message=message, at=at, source=o.source))
        row.value = None if o.value is None else str(o.value)[:200]
        row.message = message
        row.last_observed_at = at
        row.source = o.source
        if (o.asset_id, o.key) not in new_rows:
            changed[(o.asset_id, o.key)] = row
        updates.append(CheckUpdate(
            asset_id=o.asset_id, key=o.key, state=state, previous_state=previous, streak=row.streak,
            since=row.since, observed_at=at, source=o.source, value=row.value, message=message,
        ))
        applied += 1

    if new_rows:
        await CheckState.insert(*new_rows.values())
    for row in changed.values():
        await row.save()
    if events:
        await CheckEvent.insert(*events)
    if samples:
        await Sample.insert(*samples)
        cutoff = now - SAMPLE_RETENTION
        await Sample.delete().where(Sample.asset.is_in(sorted({s.asset for s in samples})) & (Sample.at < cutoff))
    if updates:
        await engine.process(updates, now)
    return {"applied": applied, "stale": stale, "rejected": rejected}


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
    since = since or (utcnow() - dt.timedelta(days=1))
    query = Sample.select(Sample.key, Sample.value, Sample.at).where((Sample.asset == asset_id) & (Sample.at >= since))
    if key:
        query = query.where(Sample.key == key)
    rows = await query.order_by(Sample.at).limit(MAX_SAMPLES_RETURNED)
    return [{"key": r["key"], "value": r["value"], "at": r["at"]} for r in rows]


# ------------------------------------------------------------------ targets


async def probe_targets(viewer: Viewer, site_code: str | None = None, asset_id: int | None = None) -> list[Target]:
    """Assets to poll: active, with a management IP and SNMP settings.

    A probe token limited to a site gets that site's assets only; `site_code`
    narrows an unlimited token. For SNMPv3 the asset's community field, when
    set, is used as the v3 context name (there is no separate column).
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
        for i in await Interface.select().where(Interface.asset.is_in([r["id"] for r in rows])).order_by(Interface.if_index):
            interfaces.setdefault(i["asset"], []).append(TargetInterface(i["if_index"], i["role"], i["name"]))
    return [
        Target(
            asset_id=r["id"], name=r["name"], kind=r["kind"], host=r["mgmt_ip"], port=r["snmp_port"] or 161,
            version=r["snmp_version"], community=r["snmp_community"] if r["snmp_version"] != "3" else None,
            v3_user=r["snmp_v3_user"], v3_auth_protocol=r["snmp_v3_auth_protocol"], v3_auth_key=r["snmp_v3_auth_key"],
            v3_priv_protocol=r["snmp_v3_priv_protocol"], v3_priv_key=r["snmp_v3_priv_key"],
            v3_context=(r["snmp_community"] or "") if r["snmp_version"] == "3" else "",
            interval_s=max(5, r["poll_interval_s"] or 60), profile=r["profile"], site_code=r["site_code"],
            interfaces=tuple(interfaces.get(r["id"], ())),
        )
        for r in rows
    ]


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
    observations = await poll_once(targets[0])
    batch = ObservationBatch.new(observations, probe=f"manual:{viewer.email}")
    await record_observations(batch, viewer)
    return {"asset_id": asset_id, "observations": [o.to_dict() for o in observations]}

