"""HTTP endpoints of the probe protocol and of check state.

/api/v1/probe/*  probe tokens only (targets carry SNMP secrets)
/api/v1/assets/{id}/checks | samples | check-events | poll   staff only
"""

from __future__ import annotations

import datetime as dt

from litestar import get, post
from litestar.params import FromPath, FromQuery, JSONBody

from accounts.errors import Invalid
from accounts.http import CurrentViewer, require_probe, require_staff
from validation.params import PathId
from incidents import checks, discover
from incidents.schemas import (BatchResult, CheckEventOut, CheckOut, Discovery, PollOut, SampleOut, ServedProfiles,
                               TargetsVersion)
from probes.wire import Target, parse_time


@get("/probe/targets", guards=[require_probe], summary="Assets this probe worker polls (SNMP secrets included)")
async def probe_targets(viewer: CurrentViewer, site: FromQuery[str | None] = None) -> list[Target]:
    return [t.to_dict() for t in await checks.probe_targets(viewer, site)]


@get("/probe/targets/version", guards=[require_probe],
     summary="Targets version; with since=V waits up to wait seconds (max 30) for it to move")
async def probe_targets_version(viewer: CurrentViewer, since: FromQuery[str | None] = None,
                                wait: FromQuery[float] = 0.0) -> TargetsVersion:
    return {"version": await checks.targets_version(viewer, since, wait)}


@get("/probe/profiles", guards=[require_probe],
     summary="The profile entries this server adds to the built-ins (RACKCARD_PROFILES): one set for every poller")
async def probe_profiles(viewer: CurrentViewer) -> ServedProfiles:
    return {"profiles": checks.served_profiles()}


@post("/probe/observations", guards=[require_probe], status_code=200,
      summary="Apply an observation batch (idempotent per batch_id)")
async def probe_observations(viewer: CurrentViewer, data: JSONBody[dict]) -> BatchResult:
    return await checks.record_observations(data, viewer)


@get("/assets/{asset_id:int}/checks", guards=[require_staff], summary="Latest state of each check of an asset")
async def asset_checks(viewer: CurrentViewer, asset_id: PathId) -> list[CheckOut]:
    return await checks.asset_checks(asset_id, viewer)


@get("/assets/{asset_id:int}/check-events", guards=[require_staff], summary="State changes and reboots of an asset")
async def asset_check_events(viewer: CurrentViewer, asset_id: PathId) -> list[CheckEventOut]:
    return await checks.asset_events(asset_id, viewer)


@get("/assets/{asset_id:int}/samples", guards=[require_staff], summary="Numeric history of an asset's checks")
async def asset_samples(
    viewer: CurrentViewer,
    asset_id: PathId,
    key: FromQuery[str | None] = None,
    since: FromQuery[str | None] = None,
) -> list[SampleOut]:
    moment: dt.datetime | None = None
    if since:
        try:
            moment = parse_time(since)
        except ValueError:
            raise Invalid("since must be an ISO 8601 time", field="since") from None
    return await checks.asset_samples(asset_id, viewer, key, moment)


@post("/assets/{asset_id:int}/poll", guards=[require_staff], status_code=200,
      summary="Poll the asset now; returns what was seen (and records it)")
async def asset_poll(viewer: CurrentViewer, asset_id: PathId) -> PollOut:
    return await checks.poll_asset_now(asset_id, viewer)


@post("/assets/{asset_id:int}/discover", guards=[require_staff], status_code=200,
      summary="Walk the asset's IF-MIB/ENTITY-MIB and propose its ports; body {picks: [{name, role, client_id}]} "
              "stores the picked ports (by name) as interfaces")
async def asset_discover(viewer: CurrentViewer, asset_id: FromPath[int], data: JSONBody[dict | None] = None) -> Discovery:
    picks = (data or {}).get("picks") if isinstance(data, dict) else None
    return await discover.discover_asset(asset_id, viewer, picks)


api_routes = [probe_targets, probe_targets_version, probe_profiles, probe_observations, asset_discover, asset_checks, asset_check_events, asset_samples, asset_poll]
