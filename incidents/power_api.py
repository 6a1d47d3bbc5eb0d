"""HTTP endpoints of remote power-cycles.

/api/v1/assets/{id}/power-cycle          staff: queue one (or dry-run it)
/api/v1/assets/{id}/power-jobs           staff: the asset's jobs
/api/v1/probe/power-jobs/claim|{id}/steps  probe tokens: take a job, report its steps
(The portal's own route is in portal.api.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from litestar import get, post
from litestar.params import FromQuery, JSONBody

from accounts.http import CurrentViewer, require_probe, require_staff
from incidents import power
from incidents.schemas import PowerClaimOut, PowerCycleOut, PowerJobOut, PowerStepOut
from incidents.fields import Note
from validation.bodies import Body as TypedBody, Id
from validation.params import PathId


class PowerCycleBody(TypedBody):
    reason: Note
    incident_id: Optional[Id] = None
    dry_run: bool = False
    then_asset_id: Optional[Id] = None  # e.g. the client's router, power-cycled after this device came back
    then_after_s: int = 60


@dataclass
class PowerStepBody:
    step: str
    ok: bool
    message: str = ""
    final: bool = False


@post("/assets/{asset_id:int}/power-cycle", guards=[require_staff], status_code=202,
      summary="Power-cycle the asset through its PDU outlet (guarded, audited, on an incident); dry_run only "
              "checks; then_asset_id: a second device then_after_s seconds after the first came back")
async def power_cycle(viewer: CurrentViewer, asset_id: PathId, data: JSONBody[PowerCycleBody]) -> PowerCycleOut:
    return await power.request_cycle(viewer, asset_id, data.reason, data.incident_id, data.dry_run,
                                     then_asset_id=data.then_asset_id, then_after_s=data.then_after_s)


@get("/assets/{asset_id:int}/power-jobs", guards=[require_staff], summary="The asset's power-cycle jobs, newest first")
async def power_jobs(viewer: CurrentViewer, asset_id: PathId) -> list[PowerJobOut]:
    return await power.jobs_of(viewer, asset_id=asset_id)


@post("/probe/power-jobs/claim", guards=[require_probe], status_code=200,
      summary="Take the next power-cycle job of a site this worker serves (waits up to wait s, max 30)")
async def claim_power_job(viewer: CurrentViewer, site: FromQuery[str | None] = None,
                          wait: FromQuery[float] = 0.0) -> PowerClaimOut:
    return {"job": await power.claim(viewer, site, wait)}


@post("/probe/power-jobs/{job_id:int}/steps", guards=[require_probe], status_code=200,
      summary="Report a step of a power-cycle job this worker runs (written to the incident timeline)")
async def power_job_step(viewer: CurrentViewer, job_id: PathId, data: JSONBody[PowerStepBody]) -> PowerStepOut:
    return await power.report_step(viewer, job_id, data.step, data.ok, data.message, data.final)


api_routes = [power_cycle, power_jobs, claim_power_job, power_job_step]
