"""The staff's power-cycle: a confirmation page naming the device, the outlet and
what else loses power, then the request (same service as the API) and back to
the incident it was written on."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from accounts.http import CurrentViewer
from incidents import power

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


async def _page(viewer, asset_id: int, incident_id: int | None, reason: str = "", error=None) -> Template:
    context, status = await power.confirmation(viewer, asset_id, error)
    return Template("pages/power_cycle.html", status_code=status,
                    context={**context, "incident_id": incident_id, "reason": reason, "nav": "inventory"})


@get("/assets/{asset_id:int}/power-cycle", name="power_cycle_confirm")
async def confirm(viewer: CurrentViewer, asset_id: FromPath[int], incident_id: FromQuery[str | None] = None
                  ) -> Template:
    return await _page(viewer, asset_id, power.form_id(incident_id, "incident_id"))


@post("/assets/{asset_id:int}/power-cycle", status_code=303)
async def request_cycle(viewer: CurrentViewer, asset_id: FromPath[int], data: Form) -> Template | Redirect:
    done, error = await power.from_form(viewer, asset_id, data)
    if error is not None:
        return await _page(viewer, asset_id, power.form_id(data.get("incident_id"), "incident_id"),
                           str(data.get("reason", ""))[:1000], error)
    return Redirect(f"/incidents/{done['incident_id']}#timeline", status_code=303)


page_routes: list = [confirm, request_cycle]
