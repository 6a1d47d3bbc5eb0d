"""Support-desk API (/api/v1): KPI reports, the knowledge base, canned replies.
Thin handlers over incidents.kpi_store, incidents.kb and incidents.canned."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Response, get
from litestar.params import FromQuery, QueryParameter

from accounts.http import CurrentViewer, require_staff
from incidents import kpi, kpi_store

STAFF = [require_staff]
UTC = dt.timezone.utc

_DEFINITIONS_TEXT = "\n".join(f"- **{k}**: {v}" for k, v in kpi.DEFINITIONS.items())
_PARAMS_TEXT = (
    "Parameters: `from`, `to` (UTC dates YYYY-MM-DD, `to` inclusive, or ISO 8601 instants with an offset; "
    "default the last 30 days), `group_by` (" + " | ".join(kpi.GROUP_BYS) + "), `client_id`, `category`, "
    "`bucket` (day | week) for the incoming/resolved series.\n\nDefinitions:\n" + _DEFINITIONS_TEXT)


async def _report(viewer, from_, to, group_by, client_id, category, bucket) -> dict[str, Any]:
    now = dt.datetime.now(UTC)
    query = kpi_store.parse_query(from_=from_, to=to, group_by=group_by, client_id=client_id, category=category,
                                  bucket=bucket, now=now)
    return await kpi_store.report(viewer, query, now=now)


From = Annotated[str | None, QueryParameter(name="from", required=False)]


@get("/reports/kpi", guards=STAFF, summary="Support-desk KPIs over a period (staff)", description=_PARAMS_TEXT)
async def kpi_report(
    viewer: CurrentViewer, from_: From = None, to: FromQuery[str | None] = None,
    group_by: FromQuery[str | None] = None, client_id: FromQuery[int | None] = None,
    category: FromQuery[str | None] = None, bucket: FromQuery[str | None] = None,
) -> dict:
    return await _report(viewer, from_, to, group_by, client_id, category, bucket)


@get("/reports/kpi/csv", guards=STAFF, summary="One table of the KPI report as CSV (staff)",
     description="`table`: " + " | ".join(kpi_store.TABLES) + " (groups ends with a TOTAL row). "
                 "The other parameters and the numbers are those of GET /reports/kpi.\n\n" + _PARAMS_TEXT)
async def kpi_report_csv(
    viewer: CurrentViewer, table: FromQuery[str] = "groups", from_: From = None, to: FromQuery[str | None] = None,
    group_by: FromQuery[str | None] = None, client_id: FromQuery[int | None] = None,
    category: FromQuery[str | None] = None, bucket: FromQuery[str | None] = None,
) -> Response:
    if table not in kpi_store.TABLES:
        kpi_store.csv_table({}, table)  # raises the 422 naming the table
    data = await _report(viewer, from_, to, group_by, client_id, category, bucket)
    stamp = f"{data['from']:%Y%m%d}-{data['to']:%Y%m%d}"
    return Response(
        content=kpi_store.csv_table(data, table), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="kpi-{table}-{stamp}.csv"'},
    )


api_routes = [kpi_report, kpi_report_csv]
