"""The reports page (/reports): the KPI report of incidents.kpi_store with
server-made SVG charts, a period picker, CSV links for every table, printable.
The numbers are the API's (same service function); /reports/csv serves the
same CSV as the API to a logged-in staff session. A client's SLA report
(/reports/clients/N) has its own CSV per table (/reports/clients/N/csv)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from litestar import Request, Response, get
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Template
from typing import Annotated

from accounts.http import CurrentViewer
from incidents import kpi, kpi_store, workflow
from pages import charts
from rackcard.i18n import language_of, translations
from validation.spreadsheet import csv_download

UTC = dt.timezone.utc
From = Annotated[str | None, QueryParameter(name="from", required=False)]
PRESETS = (7, 30, 90, 365)
LABELS = kpi.LABELS


def _query(from_, to, group_by, client_id, category, bucket) -> kpi_store.Query:
    return kpi_store.parse_query(from_=from_, to=to, group_by=group_by, client_id=client_id, category=category,
                                 bucket=bucket, now=dt.datetime.now(UTC))


def chart_set(data: dict, _) -> dict[str, str]:
    """The page's charts from a report; `_` translates their titles."""
    totals = data["totals"]
    series = data["series"]
    planned = totals["under_sla"]
    return {
        "flow": charts.lines([r["period"][5:] for r in series],
                             {_("incoming"): [r["incoming"] for r in series],
                              _("resolved"): [r["resolved"] for r in series]},
                             title=_("Incoming vs resolved")),
        "mix": charts.bars([(_(r["category"]), r["share_pct"] or 0) for r in data["call_mix"]],
                           title=_("Call mix by category"), unit=" %"),
        "sla": charts.bars([(_("response met"), 100 - totals["response_breach_pct"] if planned else None),
                            (_("resolution met"), 100 - totals["resolution_breach_pct"] if planned else None)],
                           title=_("SLA compliance"), unit=" %"),
        "backlog": charts.bars([(r["age"], r["incidents"]) for r in data["backlog"]["ageing"]],
                               title=_("Backlog by age")),
        "proactive": charts.share([(_("found by probes first"), totals["proactive"]),
                                   (_("reported by clients"), totals["problems"] - totals["proactive"])],
                                  title=_("Proactive share")),
    }


@get("/reports", name="reports")
async def reports_page(
    request: Request, viewer: CurrentViewer, from_: From = None, to: FromQuery[str | None] = None,
    group_by: FromQuery[str | None] = None, client_id: FromQuery[int | None] = None,
    category: FromQuery[str | None] = None, bucket: FromQuery[str | None] = None,
) -> Template:
    query = _query(from_, to, group_by or None, client_id, category or None, bucket or None)
    data = await kpi_store.report(viewer, query)
    params = query.days()
    for name, value in (("group_by", query.group_by), ("client_id", query.client_id), ("category", query.category),
                        ("bucket", query.bucket if query.bucket != "day" else None)):
        if value:
            params[name] = value
    today = dt.datetime.now(UTC).date()
    presets = [(days, urlencode({**params, "from": (today - dt.timedelta(days=days - 1)).isoformat(),
                                 "to": today.isoformat()})) for days in PRESETS]
    return Template("pages/reports.html", context={
        "nav": "reports", "data": data, "params": params, "presets": presets,
        "csv": {t: "/reports/csv?" + urlencode({**params, "table": t}) for t in kpi_store.TABLES},
        "group_bys": kpi.GROUP_BYS, "categories": workflow.CATEGORIES, "durations": kpi.DURATIONS,
        "definitions": kpi.DEFINITIONS, "labels": LABELS,
        "charts": chart_set(data, translations(language_of(request)).gettext),
    })


@get("/reports/csv", name="reports-csv")
async def reports_csv(
    viewer: CurrentViewer, table: FromQuery[str] = "groups", from_: From = None,
    to: FromQuery[str | None] = None, group_by: FromQuery[str | None] = None,
    client_id: FromQuery[int | None] = None, category: FromQuery[str | None] = None,
    bucket: FromQuery[str | None] = None,
) -> Response:
    query = _query(from_, to, group_by or None, client_id, category or None, bucket or None)
    name, content = await kpi_store.export_csv(viewer, query, table)
    return csv_download(content, name)


def sla_csv_links(base: str, params: dict) -> dict[str, str]:
    """The SLA report's CSV download per table, for the same period (`base`: the CSV route)."""
    return {t: f"{base}?" + urlencode({**params, "table": t}) for t in kpi_store.SLA_TABLES}


@get("/reports/clients/{client_id:int}", name="client-sla-report")
async def client_sla_page(viewer: CurrentViewer, client_id: FromPath[int], from_: From = None,
                          to: FromQuery[str | None] = None) -> Template:
    """One client's SLA report: service availability and incidents against the plan (printable)."""
    query = _query(from_, to, None, client_id, None, None)
    data = await kpi_store.sla_report(viewer, client_id, query)
    params = query.days()
    return Template("pages/client_sla.html", context={
        "nav": "reports", "data": data, "params": params, "labels": LABELS,
        "csv": sla_csv_links(f"/reports/clients/{client_id}/csv", params)})


@get("/reports/clients/{client_id:int}/csv", name="client-sla-csv")
async def client_sla_csv(viewer: CurrentViewer, client_id: FromPath[int], table: FromQuery[str] = "incidents",
                         from_: From = None, to: FromQuery[str | None] = None) -> Response:
    """One table of a client's SLA report as CSV (the page's numbers)."""
    kpi_store.check_sla_table(table)
    data = await kpi_store.sla_report(viewer, client_id, _query(from_, to, None, client_id, None, None))
    name, content = await kpi_store.sla_export_csv(viewer, data, table)
    return csv_download(content, name)


page_routes: list = [reports_page, reports_csv, client_sla_page, client_sla_csv]
