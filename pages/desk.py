"""Knowledge-base pages (/kb) and the incident page's desk panel (suggested
articles, canned replies): thin handlers over incidents.kb and incidents.canned."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from accounts.errors import Invalid
import validation
from accounts.http import CurrentViewer
from cmdb.services import ASSET_KINDS
from incidents import canned, kb, workflow
from rackcard.i18n import language_of

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
PAGE = 50


def _text(data: dict, name: str, limit: int = 100_000) -> str:
    value = data.get(name, "")
    if isinstance(value, list):
        value = ",".join(value)
    return (value if isinstance(value, str) else str(value)).strip()[:limit]


def _article_form(data: dict) -> dict:
    return {
        "title": _text(data, "title", 300), "body": _text(data, "body"),
        "categories": [c for c in _text(data, "categories").split(",") if c],
        "asset_kinds": [k for k in _text(data, "asset_kinds").split(",") if k],
        "asset_models": [m.strip() for m in _text(data, "asset_models", 500).split(",") if m.strip()],
        "visibility": _text(data, "visibility", 16) or "internal", "language": _text(data, "language", 8) or "en",
    }


def _choices() -> dict:
    return {"categories": workflow.CATEGORIES, "kinds": ASSET_KINDS, "languages": kb.LANGUAGES,
            "visibilities": kb.VISIBILITIES, "nav": "kb"}


@get("/kb", name="kb")
async def kb_list(viewer: CurrentViewer, q: FromQuery[str] = "", category: FromQuery[str] = "",
                  language: FromQuery[str] = "", offset: FromQuery[int] = 0) -> Template:
    count, articles = await kb.search(viewer, q=q[:200] or None, category=category or None,
                                      language=language or None, limit=PAGE, offset=max(offset, 0))
    return Template("pages/kb_list.html", context={**_choices(), "q": q, "category": category, "language": language,
                                                   "count": count, "articles": articles, "offset": offset})


@get("/kb/{article_id:int}", name="kb-article")
async def kb_article(viewer: CurrentViewer, article_id: FromPath[int]) -> Template:
    return Template("pages/kb_article.html", context={**_choices(), "article": await kb.get(viewer, article_id)})


@get("/kb/new", name="kb-new")
async def kb_new(viewer: CurrentViewer) -> Template:
    return Template("pages/kb_form.html", context={**_choices(), "article": None, "error": None, "form": {}})


async def _save(viewer, data: dict, article_id: int | None) -> Response:
    values = _article_form(data)
    try:
        saved = await (kb.update(viewer, article_id, values) if article_id else kb.create(viewer, values))
    except Invalid as exc:  # shown on the form, with what was typed
        return Template("pages/kb_form.html", status_code=422,
                        context={**_choices(), "article": {"id": article_id} if article_id else None,
                                 "error": exc, "form": values})
    return Redirect(f"/kb/{saved['id']}", status_code=303)


@post("/kb/new", status_code=303)
async def kb_create(viewer: CurrentViewer, data: Form) -> Response:
    return await _save(viewer, data, None)


@get("/kb/{article_id:int}/edit", name="kb-edit")
async def kb_edit(viewer: CurrentViewer, article_id: FromPath[int]) -> Template:
    article = await kb.get(viewer, article_id)
    return Template("pages/kb_form.html", context={**_choices(), "article": article, "error": None, "form": article})


@post("/kb/{article_id:int}/edit", status_code=303)
async def kb_update(viewer: CurrentViewer, article_id: FromPath[int], data: Form) -> Response:
    return await _save(viewer, data, article_id)


# ---------------------------------------------------------------- on the incident page


async def panel_context(request: Request, viewer, incident_id: int, **extra) -> dict:
    """What _desk_panel.html shows: the incident page includes it, and the
    panel's own routes answer htmx with it (one builder for both). Replies and
    articles in the language the incident's client reads come first (the
    viewer's own language when the incident names no client that says)."""
    language = await canned.client_language(incident_id) or language_of(request)
    replies = await canned.list_replies(viewer, category=await kb.incident_category(incident_id))
    return {"incident_id": incident_id, "articles": await kb.suggestions(viewer, incident_id, language=language),
            "reply_language": language, "replies": [r for r in replies if r["language"] == language],
            "other_replies": [r for r in replies if r["language"] != language],
            "used": await kb.used_on(viewer, incident_id), "preview": None, "error": None, "reply_id": None,
            "placeholders": canned.PLACEHOLDERS, **extra}


@get("/incidents/{incident_id:int}/desk", name="incident-desk")
async def incident_desk(request: Request, viewer: CurrentViewer, incident_id: FromPath[int]) -> Template:
    """The desk panel alone (suggested articles and canned replies), as the incident page includes it."""
    return Template("pages/_desk_panel.html", context=await panel_context(request, viewer, incident_id))


@post("/incidents/{incident_id:int}/kb-use", status_code=303)
async def incident_kb_use(request: Request, viewer: CurrentViewer, incident_id: FromPath[int], data: Form) -> Response:
    try:
        article_id = validation.ident(_text(data, "article_id", 12), "article_id")
    except Invalid:
        raise Invalid("article_id must be an article's id", field="article_id") from None
    await kb.use(viewer, incident_id, article_id)
    if "hx-request" in request.headers:
        return Template("pages/_desk_panel.html", context=await panel_context(request, viewer, incident_id))
    return Redirect(f"/incidents/{incident_id}", status_code=303)


@post("/incidents/{incident_id:int}/canned-reply", status_code=303)
async def incident_reply(request: Request, viewer: CurrentViewer, incident_id: FromPath[int], data: Form) -> Response:
    """Preview a canned reply filled for the incident, or send it. A placeholder
    the incident cannot fill comes back on the panel, named, with a field to
    type its value — nothing is sent."""
    try:
        reply_id = validation.ident(_text(data, "reply_id", 12), "reply_id")
    except Invalid:
        raise Invalid("pick a reply", field="reply_id") from None
    values = {name: _text(data, f"value_{name}", 500) for name in canned.PLACEHOLDERS
              if _text(data, f"value_{name}", 500)}
    try:
        if _text(data, "action", 16) == "send":
            await canned.send(viewer, incident_id, reply_id, values)
            if "hx-request" in request.headers:
                return Response(content="", status_code=204, headers={"HX-Refresh": "true"})
            return Redirect(f"/incidents/{incident_id}", status_code=303)
        preview = await canned.render(viewer, incident_id, reply_id, values)
        context = await panel_context(request, viewer, incident_id, preview=preview, reply_id=reply_id,
                                      values=values)
        return Template("pages/_desk_panel.html", context=context)
    except Invalid as exc:
        context = await panel_context(request, viewer, incident_id, error=exc, reply_id=reply_id, values=values)
        return Template("pages/_desk_panel.html", context=context, status_code=422)


page_routes: list = [kb_list, kb_new, kb_create, kb_article, kb_edit, kb_update, incident_desk, incident_kb_use,
                     incident_reply]
