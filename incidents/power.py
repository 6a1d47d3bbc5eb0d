"""Remote power-cycle: request (guarded, audited, on an incident), hand-over to
the probe worker serving the PDU's site, and the steps it reports, written to the
incident timeline. The job's state lives in `inc_power_job`: a restarted server
or worker continues from it; a job is never run twice, and one that nobody takes
or that stops reporting ends as failed on the timeline (no retry storm).

The PDU's write credentials (`snmp_write_community`, or the v3 write user and its
keys) leave the server only in the claim answer, to a probe token serving that
site; the polling targets every worker reads carry the read credentials only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os

from accounts import audit_log
from database.transactions import atomic, is_unique_violation, INTEGRITY_ERRORS
from accounts.errors import Conflict, Forbidden, Invalid, NotFound
from accounts.services import audit
from accounts.tables import ApiToken
from accounts.viewer import SYSTEM, Viewer
from cmdb.impact import impact_of
from cmdb.tables import Asset, Client, Dependency, Site
from incidents import power_rules, services, workflow
from incidents.power_rules import Feed, Refusal, Sharer
from incidents.tables import AffectedAsset, Incident, MaintenanceWindow, PowerJob
import validation
from validation.errors import DomainError, TooMany

WAITING, QUEUED, RUNNING, DONE, FAILED = "waiting", "queued", "running", "done", "failed"
MAX_THEN_AFTER_S = 3600
#: Steps clients see on the portal (with these words, not the PDU's internals).
PUBLIC_STEPS = {
    "outlet_off": "Power to {asset} switched off",
    "outlet_on": "Power to {asset} switched on again",
    "asset_back": "{asset} answers again",
    "asset_not_back": "{asset} did not answer after the power-cycle: an engineer is looking into it",
    "links_not_up": "{asset} answers again but its link is not up yet: an engineer is looking into it",
}
PUBLIC_FAILURE = "The power-cycle of {asset} did not complete: an engineer is looking into it"
MAX_REASON = 500
CLAIM_STEP_S = 0.5
MAX_CLAIM_WAIT_S = 30.0


def _setting(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def settings() -> dict:
    """Limits and timings, read from the environment at each use (README: Remote power-cycle)."""
    return {
        "cooldown_s": int(_setting("RACKCARD_POWER_COOLDOWN_S", 900)),
        "per_client_hour": int(_setting("RACKCARD_POWER_PER_CLIENT_HOUR", 6)),
        "off_s": _setting("RACKCARD_POWER_OFF_S", 10),
        "confirm_s": _setting("RACKCARD_POWER_CONFIRM_S", 20),
        "watch_s": _setting("RACKCARD_POWER_WATCH_S", 300),
        "step_s": _setting("RACKCARD_POWER_STEP_S", 2),
        "claim_timeout_s": _setting("RACKCARD_POWER_CLAIM_TIMEOUT_S", 120),
    }


def _raise(refusal: Refusal) -> None:
    if refusal.kind == "not_found":
        raise NotFound(refusal.message, field=refusal.field)
    if refusal.kind == "forbidden":
        raise Forbidden(refusal.message, field=refusal.field)
    if refusal.kind == "too_many":
        raise TooMany(refusal.message, retry_after=refusal.retry_after, field=refusal.field)
    raise Conflict(refusal.message, field=refusal.field)


# ---------------------------------------------------------------- the plan (what would be switched)


async def _feeds(asset_id: int) -> list[Feed]:
    from probes.outlets import controllable
    from probes.profiles import AUTO, installed_profiles

    profiles = installed_profiles()
    rows = await Dependency.select(
        Dependency.depends_on, Dependency.outlet_number, Dependency.outlet_name,
        Dependency.depends_on.name.as_alias("pdu_name"), Dependency.depends_on.mgmt_ip.as_alias("ip"),
        Dependency.depends_on.snmp_version.as_alias("snmp"), Dependency.depends_on.profile.as_alias("profile"),
        Dependency.depends_on.snmp_write_community.as_alias("write_community"),
        Dependency.depends_on.snmp_v3_write_user.as_alias("write_user"),
    ).where((Dependency.asset == asset_id) & (Dependency.kind == "power")).order_by(Dependency.id)
    return [Feed(pdu_id=r["depends_on"], pdu_name=r["pdu_name"], outlet_number=r["outlet_number"],
                 outlet_name=r["outlet_name"] or "", pdu_polled=bool(r["ip"] and r["snmp"]),
                 pdu_writable=bool(r["write_user"] if r["snmp"] == "3" else r["write_community"]),
                 pdu_controllable=(r["profile"] in (None, "", AUTO) or controllable(profiles.get(r["profile"]))))
            for r in rows]


async def _sharers(feed: Feed, asset_id: int) -> list[Sharer]:
    rows = await Dependency.select(
        Dependency.asset, Dependency.asset.name.as_alias("name"), Dependency.asset.client.as_alias("client"),
        Dependency.asset.client.name.as_alias("client_name"),
    ).where((Dependency.depends_on == feed.pdu_id) & (Dependency.kind == "power")
            & (Dependency.outlet_number == feed.outlet_number) & (Dependency.asset != asset_id))
    return [Sharer(r["asset"], r["name"], r["client"], r["client_name"] or "") for r in rows]


async def plan(viewer: Viewer, asset_id: int) -> dict:
    """What a power-cycle of the asset would switch and who else loses power; raises
    the refusal (404/403/409) when it may not be done by this viewer."""
    if not (viewer.is_staff or viewer.is_client):
        raise Forbidden("power-cycles are for staff and clients' own users")
    asset = await Asset.select(Asset.id, Asset.name, Asset.client, Asset.client.name.as_alias("client_name"),
                               Asset.client.self_service_power.as_alias("self_service")).where(
        Asset.id == asset_id).first()
    if asset is None:
        raise NotFound(f"no asset {asset_id}", field="id")
    refusal = power_rules.refuse_viewer(viewer.is_staff, viewer.client_id, asset["client"], bool(asset["self_service"]))
    if refusal:
        _raise(refusal)
    feed = power_rules.the_outlet(await _feeds(asset_id))
    if isinstance(feed, Refusal):
        _raise(feed)
    sharers = await _sharers(feed, asset_id)
    refusal = power_rules.foreign_sharers(asset["client"], sharers, for_client=viewer.is_client)
    if refusal:
        _raise(refusal)
    hit = await impact_of([asset_id, *(s.asset_id for s in sharers)])
    below = [d for d in hit["downstream"] if d["impact"] == "down"]
    if viewer.is_client and any(d["client_id"] != asset["client"] for d in below):
        raise Conflict("switching this outlet would also cut equipment that is not yours: ask us to do it", field="id")
    return {"asset_id": asset_id, "asset_name": asset["name"], "client_id": asset["client"],
            "client_name": asset["client_name"] or "", "pdu_id": feed.pdu_id, "pdu_name": feed.pdu_name,
            "outlet_number": feed.outlet_number, "outlet_name": feed.outlet_name,
            "also_loses_power": [s.name for s in sharers] + [d["name"] for d in below]}


# ---------------------------------------------------------------- requesting


async def request_cycle(viewer: Viewer, asset_id: int, reason: str, incident_id: int | None = None,
                        dry_run: bool = False, *, then_asset_id: int | None = None, then_after_s: int = 60,
                        now: dt.datetime | None = None) -> dict:
    """Queue a power-cycle (or, with dry_run, only check it would be allowed). With
    `then_asset_id`, a second device (the client's router) is power-cycled `then_after_s`
    seconds after the first came back: the order that fixes most "no internet" calls.
    Every attempt is audited with who, from where and the result."""
    now = now or services.utcnow()
    try:
        result = await _request(viewer, asset_id, reason, incident_id, dry_run, then_asset_id, then_after_s, now)
    except DomainError as exc:
        async with atomic():
            await audit(viewer, "power_cycle", "asset", asset_id, {
                "result": "refused", "status": exc.status, "why": str(exc), "dry_run": dry_run,
                "reason": (reason or "")[:MAX_REASON], "then_asset_id": then_asset_id})
        raise
    return result


async def _guard(viewer: Viewer, asset_id: int, now: dt.datetime, also_queued: int = 0) -> dict:
    """The plan, once the cool-down of the asset and its client's hourly allowance allow it."""
    planned = await plan(viewer, asset_id)
    cfg = settings()
    last = await PowerJob.select(PowerJob.created_at).where(PowerJob.asset_id == asset_id).order_by(
        PowerJob.created_at, ascending=False).first()
    left = power_rules.cooldown_left(services.aware(last["created_at"]) if last else None, now, cfg["cooldown_s"])
    if left:
        raise TooMany(f"{planned['asset_name']} was power-cycled moments ago; try again in {left} s",
                      retry_after=left, field="id")
    if planned["client_id"] is not None:
        recent = [services.aware(r["created_at"]) for r in await PowerJob.select(PowerJob.created_at).where(
            (PowerJob.client_id == planned["client_id"]) & (PowerJob.created_at > now - dt.timedelta(hours=1)))]
        wait = power_rules.rate_left(recent + [now] * also_queued, now, cfg["per_client_hour"])
        if wait:
            raise TooMany(f"{planned['client_name']} has had {cfg['per_client_hour']} power-cycles this hour; "
                          f"try again in {wait} s", retry_after=wait, field="id")
    site = await Asset.select(Asset.site.code.as_alias("code")).where(Asset.id == planned["pdu_id"]).first()
    return {**planned, "site_code": site["code"] if site else ""}


async def _request(viewer: Viewer, asset_id: int, reason: str, incident_id: int | None, dry_run: bool,
                   then_asset_id: int | None, then_after_s: int, now: dt.datetime) -> dict:
    reason = (reason or "").strip()
    if not reason:
        raise Invalid("say why the equipment is power-cycled", field="reason")
    if len(reason) > MAX_REASON:
        raise Invalid(f"reason is at most {MAX_REASON} characters", field="reason")
    if not 0 <= then_after_s <= MAX_THEN_AFTER_S:
        raise Invalid(f"then_after_s must be 0 to {MAX_THEN_AFTER_S} seconds", field="then_after_s")
    await expire(now)
    planned = await _guard(viewer, asset_id, now)
    then = None
    if then_asset_id is not None:
        if then_asset_id == asset_id:
            raise Invalid("the second device must be another one", field="then_asset_id")
        try:
            then = await _guard(viewer, then_asset_id, now, also_queued=1)
        except DomainError as exc:  # about the second device: say so
            exc.detail = f"then_asset_id: {exc.detail}"
            exc.field, exc.errors = "then_asset_id", [{"field": "then_asset_id", "message": exc.detail}]
            raise
        if (then["pdu_id"], then["outlet_number"]) == (planned["pdu_id"], planned["outlet_number"]):
            raise Invalid(f"{then['asset_name']} is on the same outlet: it is power-cycled with "
                          f"{planned['asset_name']}", field="then_asset_id")
    if incident_id is not None:
        await _check_incident(viewer, incident_id)
    answer = {k: v for k, v in planned.items() if k != "site_code"}
    if dry_run:
        await audit(viewer, "power_cycle", "asset", asset_id, {"result": "dry_run", "reason": reason,
                                                              "outlet": planned["outlet_number"],
                                                              "then_asset_id": then_asset_id})
        return {**answer, "dry_run": True, "job_id": None, "then_job_id": None, "incident_id": incident_id,
                "status": "dry_run"}
    if incident_id is None:
        incident_id = await _open_incident_of(asset_id)
    if incident_id is None:
        incident_id = await services.open_manual(viewer, services.ManualIncident(
            title=f"Power-cycle: {planned['asset_name']}", category="request", client_id=planned["client_id"],
            source="portal" if viewer.is_client else "phone", description=reason,
            asset_ids=(asset_id,) + ((then_asset_id,) if then else ())), now=now)
    try:
        async with atomic():
            job_id = await _store_job(viewer, planned, incident_id, reason, now)
            then_job_id = await _store_job(viewer, then, incident_id, reason, now, after=(job_id, then_after_s)
                                           ) if then else None
    except INTEGRITY_ERRORS as exc:
        if is_unique_violation(exc):
            raise Conflict("a power-cycle of this equipment or outlet is already under way", field="id") from None
        raise
    return {**answer, "dry_run": False, "job_id": job_id, "then_job_id": then_job_id, "incident_id": incident_id,
            "status": QUEUED}


async def _check_incident(viewer: Viewer, incident_id: int) -> None:
    row = await Incident.select(Incident.status).where(Incident.id == incident_id).first()
    if row is not None and viewer.is_client:
        await services.get_incident(viewer, incident_id)  # 404 unless it is the client's
    if row is None:
        raise NotFound(f"no incident {incident_id}", field="incident_id")
    if not workflow.is_open(row["status"]):
        raise Conflict(f"incident {incident_id} is {row['status']}: power-cycle on an open one", field="incident_id")


async def _open_incident_of(asset_id: int) -> int | None:
    """The newest open incident the asset is on, if any."""
    row = await Incident.select(Incident.id).where(
        Incident.id.is_in(AffectedAsset.select(AffectedAsset.incident).where(AffectedAsset.asset_id == asset_id)),
        Incident.status.is_in(list(workflow.OPEN_STATUSES)),
    ).order_by(Incident.opened_at, ascending=False).first()
    return row["id"] if row else None


async def _store_job(viewer: Viewer, p: dict, incident_id: int, reason: str, now: dt.datetime,
                     after: tuple[int, int] | None = None) -> int:
    """A queued job, or (`after` = (job id, seconds)) one waiting for that job to succeed."""
    job = PowerJob(asset_id=p["asset_id"], asset_name=p["asset_name"], client_id=p["client_id"], pdu_id=p["pdu_id"],
                   pdu_name=p["pdu_name"], outlet_number=p["outlet_number"], outlet_name=p["outlet_name"],
                   site_code=p["site_code"], incident_id=incident_id, status=WAITING if after else QUEUED,
                   step="waiting" if after else "queued", reason=reason, requested_by=viewer.email,
                   requested_from=audit_log.source()[:64], created_at=now,
                   after_job_id=after[0] if after else None, after_s=after[1] if after else 0)
    await job.save()
    also = ", ".join(p["also_loses_power"]) or "nothing else"
    outlet = f"{p['pdu_name']} outlet {p['outlet_number']}" + (f" ({p['outlet_name']})" if p["outlet_name"] else "")
    when = f" {after[1]} s after job {after[0]} brought its device back" if after else ""
    await services.add_entry(incident_id, "event", f"Power-cycle of {p['asset_name']} requested: {reason}",
                             at=now, visibility="public", author=viewer.email, author_user_id=viewer.user_id,
                             data={"power_job": job.id, "step": "requested"})
    await services.add_entry(incident_id, "event", f"Power-cycle job {job.id}{when}: {outlet}; also loses power: {also}",
                             at=now, author=viewer.email, data={"power_job": job.id, "step": "planned"})
    cfg = settings()
    span = cfg["claim_timeout_s"] + cfg["off_s"] + 2 * cfg["confirm_s"] + cfg["watch_s"] + 60
    if after:
        span = 2 * span + after[1]
    await MaintenanceWindow(asset_id=p["asset_id"], starts_at=now, ends_at=now + dt.timedelta(seconds=span),
                            reason=f"power-cycle job {job.id}", created_by=viewer.email, created_at=now).save()
    await audit(viewer, "power_cycle", "asset", p["asset_id"], {
        "result": "waiting" if after else "queued", "job_id": job.id, "incident_id": incident_id, "reason": reason,
        "pdu_id": p["pdu_id"], "outlet": p["outlet_number"], "after_job_id": after[0] if after else None})
    return job.id


# ---------------------------------------------------------------- the worker's side


async def _served_sites(viewer: Viewer, site: str | None) -> list[str] | None:
    """Sites whose jobs this probe token takes: its own site; an unlimited token the
    sites no site-limited probe token serves (None = every site)."""
    if viewer.site_code:
        if site and site != viewer.site_code:
            raise Forbidden(f"this probe token is limited to site {viewer.site_code}", field="site")
        return [viewer.site_code]
    if site:
        return [site]
    limited = await ApiToken.select(ApiToken.site_code).where(
        (ApiToken.kind == "probe") & (ApiToken.revoked == False) & ApiToken.site_code.is_not_null())  # noqa: E712
    taken = {r["site_code"] for r in limited}
    if not taken:
        return None
    return [r["code"] for r in await Site.select(Site.code).where(Site.code.not_in(list(taken)))]


async def claim(viewer: Viewer, site: str | None = None, wait: float = 0.0) -> dict | None:
    """The oldest queued job of a site this worker serves, now marked running and
    its; with the PDU's SNMP settings (secrets included). Waits up to `wait` s."""
    if not viewer.is_probe:
        raise Forbidden("power jobs are for probe workers")
    if not 0 <= wait <= MAX_CLAIM_WAIT_S:
        raise Invalid(f"wait must be 0 to {MAX_CLAIM_WAIT_S:g} seconds", field="wait")
    sites = await _served_sites(viewer, site)
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        job = await _claim_one(viewer, sites)
        if job is not None or asyncio.get_running_loop().time() >= deadline:
            return job
        await asyncio.sleep(CLAIM_STEP_S)


async def _claim_one(viewer: Viewer, sites: list[str] | None) -> dict | None:
    from incidents.checks import probe_targets

    now = services.utcnow()
    await expire(now)
    query = PowerJob.select(PowerJob.id).where(
        (PowerJob.status == QUEUED) & (PowerJob.not_before.is_null() | (PowerJob.not_before <= now)))
    if sites is not None:
        if not sites:
            return None
        query = query.where(PowerJob.site_code.is_in(sites))
    row = await query.order_by(PowerJob.id).first()
    if row is None:
        return None
    cfg = settings()
    lease = cfg["off_s"] + 2 * cfg["confirm_s"] + cfg["watch_s"] + 120
    async with atomic():
        taken = await PowerJob.update({
            PowerJob.status: RUNNING, PowerJob.step: "claimed", PowerJob.claimed_by: viewer.probe_name or "",
            PowerJob.claimed_at: now, PowerJob.lease_until: now + dt.timedelta(seconds=lease),
        }).where((PowerJob.id == row["id"]) & (PowerJob.status == QUEUED)).returning(PowerJob.incident_id)
        if not taken:
            return None  # another worker was faster
        job = await PowerJob.select().where(PowerJob.id == row["id"]).first()
        await services.add_entry(job["incident_id"], "event",
                                 f"Power-cycle job {job['id']} taken by probe worker {viewer.probe_name}",
                                 at=now, author=viewer.probe_name or "probe", data={"power_job": job["id"]})
    pdu = await probe_targets(SYSTEM, asset_id=job["pdu_id"])
    asset = await probe_targets(SYSTEM, asset_id=job["asset_id"])
    writer = await _writing(pdu[0]) if pdu else None
    if writer is None:
        why = ("the PDU has no SNMP write credentials" if pdu else
               "the PDU is no longer polled (no management IP, SNMP or inactive)")
        await _finish(job, FAILED, "failed", f"{why}: nothing was switched", viewer.probe_name or "probe", now)
        return None
    return {"job_id": job["id"], "outlet": job["outlet_number"], "pdu": writer.to_dict(),
            "asset": asset[0].to_dict() if asset else None,
            **{k: cfg[k] for k in ("off_s", "confirm_s", "watch_s", "step_s")}}


async def _writing(pdu):
    """The PDU's polling target with its write credentials in place of the read ones
    (None without them): what only the claiming worker receives."""
    from accounts import secretbox

    row = await Asset.select(Asset.snmp_write_community, Asset.snmp_v3_write_user, Asset.snmp_v3_write_auth_key,
                             Asset.snmp_v3_write_priv_key).where(Asset.id == pdu.asset_id).first()
    if row is None:
        return None
    if pdu.version == "3":
        if not row["snmp_v3_write_user"]:
            return None
        return dataclasses.replace(pdu, v3_user=secretbox.open(row["snmp_v3_write_user"]),
                                   v3_auth_key=secretbox.open(row["snmp_v3_write_auth_key"]),
                                   v3_priv_key=secretbox.open(row["snmp_v3_write_priv_key"]))
    if not row["snmp_write_community"]:
        return None
    return dataclasses.replace(pdu, community=secretbox.open(row["snmp_write_community"]))


async def report_step(viewer: Viewer, job_id: int, step: str, ok: bool, message: str, final: bool) -> dict:
    """A step the worker did: onto the timeline (public steps in plain words for the client)."""
    if not viewer.is_probe:
        raise Forbidden("power job steps come from probe workers")
    step = (step or "").strip()[:32]
    if not step:
        raise Invalid("name the step", field="step")
    job = await PowerJob.select().where(PowerJob.id == job_id).first()
    if job is None:
        raise NotFound(f"no power job {job_id}", field="id")
    if job["status"] != RUNNING or job["claimed_by"] != (viewer.probe_name or ""):
        raise Conflict(f"power job {job_id} is {job['status']}, not running for this worker", field="id")
    now = services.utcnow()
    author = viewer.probe_name or "probe"
    text = (message or "")[:2000]
    if final:
        await _finish(job, DONE if ok else FAILED, step, text, author, now)
    else:
        async with atomic():
            await PowerJob.update({PowerJob.step: step}).where(PowerJob.id == job_id)
            await _step_entries(job, step, ok, text, author, now, final=False)
    return {"job_id": job_id, "status": (DONE if ok else FAILED) if final else RUNNING}


async def _step_entries(job: dict, step: str, ok: bool, text: str, author: str, now: dt.datetime,
                        final: bool = True) -> None:
    """The step on the timeline: internal details; the client's words for public steps,
    and for a failure that ends the job (a failed step the job goes on from stays internal)."""
    data = {"power_job": job["id"], "step": step, "ok": ok}
    await services.add_entry(job["incident_id"], "event", f"Power-cycle job {job['id']}: {text}", at=now,
                             author=author, data=data)
    public = PUBLIC_STEPS.get(step) if ok or step in ("asset_not_back", "links_not_up") else None
    if public is None and not ok and final:
        public = PUBLIC_FAILURE
    if public:
        await services.add_entry(job["incident_id"], "event", public.format(asset=job["asset_name"]), at=now,
                                 visibility="public", author=author, data=data)


async def _finish(job: dict, status: str, step: str, text: str, author: str, now: dt.datetime) -> None:
    """End a job (the incident stays open: a person decides it is fixed)."""
    async with atomic():
        await PowerJob.update({PowerJob.status: status, PowerJob.step: step, PowerJob.finished_at: now,
                               PowerJob.result: text}).where(PowerJob.id == job["id"])
        await _step_entries(job, step, status == DONE, text, author, now)
        await MaintenanceWindow.update({MaintenanceWindow.ends_at: now}).where(
            (MaintenanceWindow.asset_id == job["asset_id"]) & (MaintenanceWindow.reason == f"power-cycle job {job['id']}")
            & (MaintenanceWindow.ends_at > now))
        for waiting in await PowerJob.select().where(
                (PowerJob.after_job_id == job["id"]) & (PowerJob.status == WAITING)):
            await _release(waiting, status == DONE, job, now)


async def _release(waiting: dict, go: bool, first: dict, now: dt.datetime) -> None:
    """The job waiting for `first`: queued after its delay when the first succeeded, else not run."""
    if not go:
        await _finish(waiting, FAILED, "skipped", f"not run: the power-cycle of {first['asset_name']} did not "
                                                  "complete", "system", now)
        return
    await PowerJob.update({PowerJob.status: QUEUED, PowerJob.step: "queued",
                           PowerJob.not_before: now + dt.timedelta(seconds=waiting["after_s"])}).where(
        PowerJob.id == waiting["id"])
    await services.add_entry(waiting["incident_id"], "event",
                             f"Power-cycle job {waiting['id']}: {waiting['asset_name']} in {waiting['after_s']} s",
                             at=now, data={"power_job": waiting["id"], "step": "queued"})


async def expire(now: dt.datetime) -> int:
    """Jobs nobody took in time, or whose worker stopped reporting: failed, on the timeline."""
    cfg = settings()
    stale = await PowerJob.select().where(
        ((PowerJob.status == QUEUED) & PowerJob.not_before.is_null()
         & (PowerJob.created_at < now - dt.timedelta(seconds=cfg["claim_timeout_s"])))
        | ((PowerJob.status == QUEUED) & (PowerJob.not_before < now - dt.timedelta(seconds=cfg["claim_timeout_s"])))
        | ((PowerJob.status == RUNNING) & (PowerJob.lease_until < now)))
    for job in stale:
        if job["status"] == QUEUED:
            why = f"no probe worker serving site {job['site_code'] or '?'} took the job: nothing was switched"
        else:
            why = (f"probe worker {job['claimed_by']} stopped reporting during step {job['step']}: "
                   f"check outlet {job['outlet_number']} of {job['pdu_name']}")
        await _finish(job, FAILED, "expired", why, "system", now)
    return len(stale)


async def jobs_of(viewer: Viewer, asset_id: int | None = None, incident_id: int | None = None) -> list[dict]:
    """Power-cycle jobs of an asset or incident, newest first (staff)."""
    if not viewer.is_staff:
        raise Forbidden("power jobs are for staff")
    query = PowerJob.select(PowerJob.id, PowerJob.asset_id, PowerJob.asset_name, PowerJob.pdu_name,
                            PowerJob.outlet_number, PowerJob.incident_id, PowerJob.status, PowerJob.step,
                            PowerJob.requested_by, PowerJob.created_at, PowerJob.finished_at, PowerJob.result)
    if asset_id is not None:
        query = query.where(PowerJob.asset_id == asset_id)
    if incident_id is not None:
        query = query.where(PowerJob.incident_id == incident_id)
    return await query.order_by(PowerJob.id, ascending=False).limit(50)


async def switchable(asset_ids: list[int], client_id: int | None = None) -> set[int]:
    """Of these assets, those fed by exactly one power dependency with a recorded outlet
    (where the pages offer the button; the full guard runs on the confirmation and the request).
    With `client_id` (the portal), also not those whose outlet feeds anything not that client's."""
    if not asset_ids:
        return set()
    rows = await Dependency.select(Dependency.asset, Dependency.depends_on, Dependency.outlet_number).where(
        (Dependency.kind == "power") & Dependency.asset.is_in(list(asset_ids)))
    count: dict[int, int] = {}
    outlet_of: dict[int, tuple[int, int]] = {}
    for r in rows:
        count[r["asset"]] = count.get(r["asset"], 0) + 1
        if r["outlet_number"] is not None:
            outlet_of[r["asset"]] = (r["depends_on"], r["outlet_number"])
    single = {a for a in outlet_of if count[a] == 1}
    if client_id is None or not single:
        return single
    owners: dict[tuple[int, int], set] = {}
    for r in await Dependency.select(Dependency.depends_on, Dependency.outlet_number, Dependency.asset.client).where(
            (Dependency.kind == "power") & Dependency.depends_on.is_in(sorted({p for p, _ in outlet_of.values()}))
            & Dependency.outlet_number.is_not_null()):
        owners.setdefault((r["depends_on"], r["outlet_number"]), set()).add(r["asset.client"])
    return {a for a in single if owners.get(outlet_of[a], set()) <= {client_id}}


async def self_service(client_id: int | None) -> bool:
    """Whether the client's contract lets its users power-cycle their equipment."""
    if client_id is None:
        return False
    row = await Client.select(Client.self_service_power).where(Client.id == client_id).first()
    return bool(row and row["self_service_power"])


# ---------------------------------------------------------------- the confirmation forms (staff pages and portal)


def form_id(raw, field: str) -> int | None:
    """An optional id from a form field."""
    return validation.optional_ident(str(raw or ""), field)


async def confirmation(viewer: Viewer, asset_id: int, error: DomainError | None = None) -> tuple[dict, int]:
    """The confirmation page's context (the plan, or why not; the client's other devices
    that may follow, e.g. its router) and its status."""
    plan_, refusal, then_choices = None, error, []
    try:
        plan_ = await plan(viewer, asset_id)
    except DomainError as exc:
        if exc.status == 404:
            raise
        refusal = exc
    if plan_ is not None and plan_["client_id"] is not None:
        own = {r["id"]: r["name"] for r in await Asset.select(Asset.id, Asset.name).where(
            (Asset.client == plan_["client_id"]) & (Asset.id != asset_id)).order_by(Asset.name)}
        fit = await switchable(list(own))
        then_choices = [(i, name) for i, name in own.items() if i in fit]
    return ({"plan": plan_, "refusal": refusal, "asset_id": asset_id, "then_choices": then_choices},
            error.status if error is not None else 200)


async def from_form(viewer: Viewer, asset_id: int, data: dict) -> tuple[dict | None, DomainError | None]:
    """Request the power-cycle a confirmation form sent: (the answer, None) or (None, the refusal)."""
    try:
        incident_id = form_id(data.get("incident_id"), "incident_id")
        then_asset_id = form_id(data.get("then_asset_id"), "then_asset_id")
        raw_after = str(data.get("then_after_s") or "").strip()
        then_after_s = validation.integer(raw_after, "then_after_s", min=0, max=MAX_THEN_AFTER_S) if raw_after else None
        return await request_cycle(viewer, asset_id, str(data.get("reason", ""))[:1000], incident_id,
                                   then_asset_id=then_asset_id,
                                   then_after_s=60 if then_after_s is None else then_after_s), None
    except DomainError as exc:
        if exc.status == 404:
            raise
        return None, exc
