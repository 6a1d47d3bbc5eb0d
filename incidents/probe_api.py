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
from incidents import checks
from probes.wire import parse_time


@get("/probe/targets", guards=[require_probe], summary="Assets this probe worker polls (SNMP secrets included)")
async def probe_targets(viewer: CurrentViewer, site: FromQuery[str | None] = None) -> list[dict]:
    return [t.to_dict() for t in await checks.probe_targets(viewer, site)]


@post("/probe/observations", guards=[require_probe], status_code=200,
      summary="Apply an observation batch (idempotent per batch_id)")
async def probe_observations(viewer: CurrentViewer, data: JSONBody[dict]) -> dict:
    return await checks.record_observations(data, viewer)


@get("/assets/{asset_id:int}/checks", guards=[require_staff], summary="Latest state of each check of an asset")
async def asset_checks(viewer: CurrentViewer, asset_id: PathId) -> list[dict]:
    return await checks.asset_checks(asset_id, viewer)


@get("/assets/{asset_id:int}/check-events", guards=[require_staff], summary="State changes and reboots of an asset")
async def asset_check_events(viewer: CurrentViewer, asset_id: PathId) -> list[dict]:
    return await checks.asset_events(asset_id, viewer)


@get("/assets/{asset_id:int}/samples", guards=[require_staff], summary="Numeric history of an asset's checks")
async def asset_samples(
    viewer: CurrentViewer,
    asset_id: PathId,
    key: FromQuery[str | None] = None,
    since: FromQuery[str | None] = None,
) -> list[dict]:
    moment: dt.datetime | None = None
    if since:
        try:
            moment = parse_time(since)
        except ValueError:
            raise Invalid("since must be an ISO 8601 time", field="since") from None
    return await checks.asset_samples(asset_id, viewer, key, moment)


@post("/assets/{asset_id:int}/poll", guards=[require_staff], status_code=200,
      summary="Poll the asset now; returns what was seen (and records it)")
async def asset_poll(viewer: CurrentViewer, asset_id: PathId) -> dict:
    return await checks.poll_asset_now(asset_id, viewer)


api_routes = [probe_targets, probe_observations, asset_checks, asset_check_events, asset_samples, asset_poll]
