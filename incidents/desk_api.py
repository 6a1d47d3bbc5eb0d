"""Support-desk API (/api/v1): KPI reports, the knowledge base, canned replies.
Thin handlers over incidents.kpi_store, incidents.kb and incidents.canned."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from litestar import Request, Response, delete, get, patch, post
from litestar.params import FromQuery, JSONBody, QueryParameter

from accounts.errors import Invalid
from accounts.http import CurrentViewer, require_staff, require_token
from validation.params import Limit, Offset, PathId, QueryId
from cmdb import paging
from incidents import canned, kb, kpi, kpi_store
from incidents.schemas import (ArticleOut, CannedReplyOut, IncidentDetail, KpiReport, RenderedReply, SlaReport,
                               Suggestions)
from validation.spreadsheet import csv_download

Body = JSONBody[dict[str, Any]]
#: Staff and client users; the service scopes clients to public articles.
VIEWERS = [require_token]

STAFF = [require_staff]
UTC = dt.timezone.utc

_DEFINITIONS_TEXT = "\n".join(f"- **{k}**: {v}" for k, v in kpi.DEFINITIONS.items())
_PARAMS_TEXT = (
    "Parameters: `from`, `to` (UTC dates YYYY-MM-DD, `to` inclusive, or ISO 8601 instants with an offset; "
    "default the last 30 days), `group_by` (" + " | ".join(kpi.GROUP_BYS) + "), `client_id`, `category`, "
    "`bucket` (day | week) for the incoming/resolved series.\n\nDefinitions:\n" + _DEFINITIONS_TEXT)


async def _report(viewer, from_, to, group_by, client_id, category, bucket,
                  delay_list: int | None = kpi.DELAY_LIST) -> dict[str, Any]:
    now = dt.datetime.now(UTC)
    query = kpi_store.parse_query(from_=from_, to=to, group_by=group_by, client_id=client_id, category=category,
                                  bucket=bucket, now=now)
    return await kpi_store.report(viewer, query, now=now, delay_list=delay_list)


From = Annotated[str | None, QueryParameter(name="from", required=False)]


@get("/reports/kpi", guards=STAFF, summary="Support-desk KPIs over a period (staff)", description=_PARAMS_TEXT)
async def kpi_report(
    viewer: CurrentViewer, from_: From = None, to: FromQuery[str | None] = None,
    group_by: FromQuery[str | None] = None, client_id: QueryId = None,
    category: FromQuery[str | None] = None, bucket: FromQuery[str | None] = None,
) -> KpiReport:
    return await _report(viewer, from_, to, group_by, client_id, category, bucket)


@get("/reports/kpi/csv", guards=STAFF, media_type="text/csv", summary="One table of the KPI report as CSV (staff)",
     description="`table`: " + " | ".join(kpi_store.TABLES) + " (groups ends with a TOTAL row). "
                 "The other parameters and the numbers are those of GET /reports/kpi.\n\n" + _PARAMS_TEXT)
async def kpi_report_csv(
    viewer: CurrentViewer, table: FromQuery[str] = "groups", from_: From = None, to: FromQuery[str | None] = None,
    group_by: FromQuery[str | None] = None, client_id: QueryId = None,
    category: FromQuery[str | None] = None, bucket: FromQuery[str | None] = None,
) -> Response:
    now = dt.datetime.now(UTC)
    query = kpi_store.parse_query(from_=from_, to=to, group_by=group_by, client_id=client_id, category=category,
                                  bucket=bucket, now=now)
    name, content = await kpi_store.export_csv(viewer, query, table, now=now)
    return csv_download(content, name)


@get("/reports/sla", guards=STAFF, summary="One client's SLA report: service availability and incidents vs plan",
     description="Parameters: `client_id` (required), `from`, `to` as for /reports/kpi. Services: availability and "
                 "downtime from the check history; incidents: response and resolution against the client's plan.\n\n"
                 + "\n".join(f"- **{k}**: {v}" for k, v in kpi.DEFINITIONS_SLA.items()))
async def sla_report(viewer: CurrentViewer, client_id: FromQuery[int], from_: From = None,
                     to: FromQuery[str | None] = None) -> SlaReport:
    now = dt.datetime.now(UTC)
    query = kpi_store.parse_query(from_=from_, to=to, group_by=None, client_id=client_id, category=None, bucket=None,
                                  now=now)
    return await kpi_store.sla_report(viewer, client_id, query, now=now)


# ---------------------------------------------------------------- knowledge base

_KB_FIELDS = ("Fields: `title`, `body` (Markdown; raw HTML is shown as text, script links are dropped), "
              "`categories` (incident categories), `asset_kinds`, `asset_models`, `visibility` (public | internal), "
              "`language` (en | ru). Responses add `html` (the safe rendering) and, for staff, `used_in` (incidents "
              "it was used on, across every client).")


@get("/kb", guards=VIEWERS, summary="Knowledge-base articles; ?q= searches (Russian and English stemming)",
     description="Staff see every article, client users the public ones only. `q` matches all its words in the "
                 "title or body by stem (best first); filters `category`, `language`, `visibility`. " + _KB_FIELDS)
async def list_articles(
    request: Request, viewer: CurrentViewer, q: FromQuery[str | None] = None, category: FromQuery[str | None] = None,
    language: FromQuery[str | None] = None, visibility: FromQuery[str | None] = None,
    limit: Limit = paging.DEFAULT_LIMIT, offset: Offset = 0,
) -> paging.Page[ArticleOut]:
    limit, offset = paging.check(limit, offset)
    count, results = await kb.search(viewer, q=q, category=category or None, language=language or None,
                                     visibility=visibility or None, limit=limit, offset=offset)
    return paging.page(str(request.url), count, results, limit, offset)


@get("/kb/{article_id:int}", guards=VIEWERS, summary="One article with its safe HTML (client users: public only)")
async def get_article(viewer: CurrentViewer, article_id: PathId) -> ArticleOut:
    return await kb.get(viewer, article_id)


@post("/kb", guards=STAFF, summary="Write an article (staff)", description=_KB_FIELDS)
async def create_article(viewer: CurrentViewer, data: Body) -> ArticleOut:
    return await kb.create(viewer, data)


@patch("/kb/{article_id:int}", guards=STAFF, summary="Change an article (staff)", description=_KB_FIELDS)
async def update_article(viewer: CurrentViewer, article_id: PathId, data: Body) -> ArticleOut:
    return await kb.update(viewer, article_id, data)


@delete("/kb/{article_id:int}", guards=STAFF, summary="Delete an article (staff)")
async def delete_article(viewer: CurrentViewer, article_id: PathId) -> None:
    await kb.delete(viewer, article_id)


@get("/incidents/{incident_id:int}/suggestions", guards=STAFF,
     summary="Articles and canned replies for an incident (staff)",
     description="`articles`: the best articles for the incident's category and its assets' kind and model "
                 "(score: category 4, model 3, kind 2; then the most used; `language` first on ties). "
                 "`replies`: canned replies for its category or any, in `language` when given. `used`: the "
                 "articles already used on it.")
async def incident_suggestions(viewer: CurrentViewer, incident_id: PathId,
                               language: FromQuery[str | None] = None) -> Suggestions:
    if language and language not in kb.LANGUAGES:
        raise Invalid(f"language must be one of {', '.join(kb.LANGUAGES)}", field="language")
    articles = await kb.suggestions(viewer, incident_id, language=language or None)
    category = (await kb.incident_category(incident_id))
    return {"incident_id": incident_id, "articles": articles,
            "replies": await canned.list_replies(viewer, category=category, language=language or None),
            "used": await kb.used_on(viewer, incident_id)}


@post("/incidents/{incident_id:int}/kb-uses", guards=STAFF, status_code=200,
      summary="Record that an article was used on an incident (staff): {\"article_id\"}")
async def use_article(viewer: CurrentViewer, incident_id: PathId, data: Body) -> ArticleOut:
    article_id = data.get("article_id")
    if not isinstance(article_id, int) or isinstance(article_id, bool):
        raise Invalid("article_id must be an article's id", field="article_id")
    return await kb.use(viewer, incident_id, article_id)


# ---------------------------------------------------------------- canned replies

_REPLY_FIELDS = ("Fields: `name`, `category` (empty = any), `language` (en | ru), `visibility` of the comment it "
                 "becomes (public | internal), `body` with placeholders " +
                 ", ".join(f"`{{{k}}}` ({v})" for k, v in canned.PLACEHOLDERS.items()) + ".")


@get("/canned-replies", guards=STAFF, summary="Canned replies, most used first (staff)", description=_REPLY_FIELDS)
async def list_replies(viewer: CurrentViewer, category: FromQuery[str | None] = None,
                       language: FromQuery[str | None] = None) -> list[CannedReplyOut]:
    return await canned.list_replies(viewer, category=category or None, language=language or None)


@get("/canned-replies/{reply_id:int}", guards=STAFF, summary="One canned reply (staff)")
async def get_reply(viewer: CurrentViewer, reply_id: PathId) -> CannedReplyOut:
    return await canned.get(viewer, reply_id)


@post("/canned-replies", guards=STAFF, summary="Write a canned reply (staff)", description=_REPLY_FIELDS)
async def create_reply(viewer: CurrentViewer, data: Body) -> CannedReplyOut:
    return await canned.create(viewer, data)


@patch("/canned-replies/{reply_id:int}", guards=STAFF, summary="Change a canned reply (staff)")
async def update_reply(viewer: CurrentViewer, reply_id: PathId, data: Body) -> CannedReplyOut:
    return await canned.update(viewer, reply_id, data)


@delete("/canned-replies/{reply_id:int}", guards=STAFF, summary="Delete a canned reply (staff)")
async def delete_reply(viewer: CurrentViewer, reply_id: PathId) -> None:
    await canned.delete(viewer, reply_id)


def _values(data: dict | None) -> Any:
    data = data or {}
    extra = sorted(set(data) - {"values"})
    if extra:
        raise Invalid(f"unknown field {extra[0]!r}; only 'values'", field=extra[0])
    return data.get("values")


@post("/incidents/{incident_id:int}/canned-replies/{reply_id:int}/render", guards=STAFF, status_code=200,
      summary="Fill a canned reply for an incident without sending it (staff)",
      description="Body `{\"values\": {placeholder: text}}` (optional) gives or overrides values. A placeholder "
                  "the incident cannot fill is a 422 whose `errors` name each missing one.")
async def render_reply(viewer: CurrentViewer, incident_id: PathId, reply_id: PathId,
                       data: JSONBody[dict[str, Any] | None] = None) -> RenderedReply:
    return await canned.render(viewer, incident_id, reply_id, _values(data))


@post("/incidents/{incident_id:int}/canned-replies/{reply_id:int}/send", guards=STAFF, status_code=200,
      summary="Fill a canned reply and post it as a comment; counts the use (staff)",
      description="As /render, then the comment is added with the reply's visibility (a public one is mailed "
                  "to the clients). Nothing is sent when a placeholder has no value.")
async def send_reply(viewer: CurrentViewer, incident_id: PathId, reply_id: PathId,
                     data: JSONBody[dict[str, Any] | None] = None) -> IncidentDetail:
    return await canned.send(viewer, incident_id, reply_id, _values(data))


api_routes = [
    kpi_report, kpi_report_csv, sla_report,
    list_articles, get_article, create_article, update_article, delete_article, incident_suggestions, use_article,
    list_replies, get_reply, create_reply, update_reply, delete_reply, render_reply, send_reply,
]
