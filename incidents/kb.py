"""The knowledge base: articles in Markdown (rendered without raw HTML, links
sanitised), full-text search in Russian and English, use on incidents, and
suggestions for an incident from its category and its assets' kind and model.

Search: PostgreSQL stems with its `russian` and `english` dictionaries (a
generated tsvector column, see the migration); SQLite's FTS5 has no Russian
stemmer, so the title and body are stemmed here with Snowball (the same
algorithms) into an FTS5 table, and so is the query.

Client users see public articles only (an internal one is "not found");
staff see all.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from typing import Any, Iterable, Mapping

from markdown_it import MarkdownIt

from database.transactions import atomic
from accounts.errors import Forbidden, Invalid, NotFound
from accounts.viewer import Viewer
from cmdb.services import ASSET_KINDS
from database import rawsql
from incidents import services, workflow
from incidents.desk_tables import KbArticle
from database.rawsql import Sql

UTC = dt.timezone.utc
VISIBILITIES = ("public", "internal")
LANGUAGES = ("en", "ru")
MAX_BODY = 100_000
SUGGESTIONS = 5
_WORD = re.compile(r"\w+", re.UNICODE)
_CYRILLIC = re.compile(r"[а-яё]")


# ---------------------------------------------------------------- text


@lru_cache(maxsize=1)
def _stemmers():
    import snowballstemmer

    return snowballstemmer.stemmer("russian"), snowballstemmer.stemmer("english")


@lru_cache(maxsize=20000)
def stem(word: str) -> str:
    """One word's Snowball stem: Russian for Cyrillic words, English otherwise."""
    russian, english = _stemmers()
    word = word.lower().replace("ё", "е")
    return (russian if _CYRILLIC.search(word) else english).stemWord(word)


def stem_text(text: str) -> str:
    """Every word stemmed, in order (what SQLite's FTS5 table holds)."""
    return " ".join(stem(w) for w in _WORD.findall(text or ""))


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # CommonMark with raw HTML off: <script> comes out as text. markdown-it's
    # validateLink already refuses javascript:, vbscript:, file: and data: URLs
    # (they stay plain text); links get rel=nofollow noopener below.
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")
    def link_open(renderer, tokens, idx, options, env):
        tokens[idx].attrSet("rel", "nofollow noopener noreferrer")
        return renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    return md


def render_markdown(body: str) -> str:
    """Safe HTML for an article body: no raw HTML, no script URLs."""
    return _markdown().render(body or "")


# ---------------------------------------------------------------- validation


def _csv_list(value: Any, field: str, allowed: Iterable[str] | None = None, *, lower: bool = True) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, (list, tuple)):
        if not all(isinstance(v, str) for v in value):
            raise Invalid(f"{field} must be a list of strings", field=field)
        items = [v.strip() for v in value]
    else:
        raise Invalid(f"{field} must be a list of strings", field=field)
    items = [v.lower() if lower else v for v in items if v]
    if allowed is not None:
        allowed = tuple(allowed)
        bad = [v for v in items if v not in allowed]
        if bad:
            raise Invalid(f"{field}: unknown {bad[0]!r}; allowed: {', '.join(allowed)}", field=field)
    if any("," in v for v in items):
        raise Invalid(f"{field}: an item may not contain a comma", field=field)
    out = ",".join(dict.fromkeys(items))
    if len(out) > 500:
        raise Invalid(f"{field} is too long (500 characters at most)", field=field)
    return out


_FIELDS = ("title", "body", "categories", "asset_kinds", "asset_models", "visibility", "language")


def check_fields(data: Any, allowed: Iterable[str]) -> None:
    """A JSON object naming only `allowed` fields (422 naming the first stranger)."""
    if not isinstance(data, Mapping):
        raise Invalid("the body must be a JSON object", field="body")
    allowed = tuple(allowed)
    extra = sorted(set(data) - set(allowed))
    if extra:
        raise Invalid(f"unknown field {extra[0]!r}; fields: {', '.join(allowed)}", field=extra[0])


def _clean(data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    check_fields(data, _FIELDS)
    out: dict[str, Any] = {}
    if "title" in data or not partial:
        title = data.get("title")
        if not isinstance(title, str) or not title.strip():
            raise Invalid("an article needs a title", field="title")
        if len(title.strip()) > 300:
            raise Invalid("title is too long (300 characters at most)", field="title")
        out["title"] = title.strip()
    if "body" in data or not partial:
        body = data.get("body", "")
        if not isinstance(body, str):
            raise Invalid("body must be Markdown text", field="body")
        if len(body) > MAX_BODY:
            raise Invalid(f"body is too long ({MAX_BODY} characters at most)", field="body")
        out["body"] = body
    if "categories" in data or not partial:
        out["categories"] = _csv_list(data.get("categories"), "categories", workflow.CATEGORIES)
    if "asset_kinds" in data or not partial:
        out["asset_kinds"] = _csv_list(data.get("asset_kinds"), "asset_kinds", ASSET_KINDS)
    if "asset_models" in data or not partial:
        out["asset_models"] = _csv_list(data.get("asset_models"), "asset_models", lower=False)
    if "visibility" in data or not partial:
        visibility = data.get("visibility", "internal")
        if visibility not in VISIBILITIES:
            raise Invalid("visibility must be 'public' or 'internal'", field="visibility")
        out["visibility"] = visibility
    if "language" in data or not partial:
        language = data.get("language", "en")
        if language not in LANGUAGES:
            raise Invalid(f"language must be one of {', '.join(LANGUAGES)}", field="language")
        out["language"] = language
    return out


# ---------------------------------------------------------------- storage


def _split(value: str) -> list[str]:
    return [v for v in (value or "").split(",") if v]


def _for(viewer: Viewer, article: dict[str, Any]) -> dict[str, Any]:
    """A client user's view of an article: without `used_in`, which counts every client's incidents."""
    if not viewer.is_staff:
        article.pop("used_in", None)
    return article


def _serialise(row: Mapping[str, Any], used_in: int, *, html: bool = True) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "title": row["title"],
        "body": row["body"],
        "categories": _split(row["categories"]),
        "asset_kinds": _split(row["asset_kinds"]),
        "asset_models": _split(row["asset_models"]),
        "visibility": row["visibility"],
        "language": row["language"],
        "used_in": used_in,
        "created_at": services.aware(row["created_at"]),
        "updated_at": services.aware(row["updated_at"]),
    }
    if html:
        out["html"] = render_markdown(row["body"])
    return out


async def _used_in(ids: Iterable[int]) -> dict[int, int]:
    ids = list(ids)
    if not ids:
        return {}
    q = Sql()
    return {r["article"]: int(r["n"]) for r in await q.fetch(
        f"SELECT article, COUNT(*) AS n FROM inc_kb_use WHERE article IN {q.ints(ids)} GROUP BY article")}


async def _index(article_id: int, title: str, body: str) -> None:
    """Keep SQLite's FTS5 row of the article (PostgreSQL's column is generated)."""
    q = Sql()
    if not q.sqlite:
        return
    await q.fetch(f"DELETE FROM inc_kb_fts WHERE rowid = {q(article_id)}")
    q = Sql()
    await q.fetch(f"INSERT INTO inc_kb_fts (rowid, title, body) VALUES ({q(article_id)}, {q(stem_text(title))}, "
                  f"{q(stem_text(body))})")


def _require_staff(viewer: Viewer) -> None:
    if not viewer.is_staff:
        raise Forbidden("only staff may change the knowledge base")


async def create(viewer: Viewer, data: Mapping[str, Any], *, now: dt.datetime | None = None) -> dict:
    _require_staff(viewer)
    values = _clean(data, partial=False)
    now = now or services.utcnow()
    async with atomic():
        rows = await KbArticle.insert(KbArticle(**values, created_by=viewer.email, created_at=now,
                                                updated_at=now)).returning(KbArticle.id)
        article_id = rows[0]["id"]
        await _index(article_id, values["title"], values["body"])
    return await get(viewer, article_id)


async def update(viewer: Viewer, article_id: int, data: Mapping[str, Any], *, now: dt.datetime | None = None) -> dict:
    _require_staff(viewer)
    values = _clean(data, partial=True)
    async with atomic():
        row = await KbArticle.select().where(KbArticle.id == article_id).first()
        if row is None:
            raise NotFound(f"no article {article_id}", field="id")
        if values:
            values["updated_at"] = now or services.utcnow()
            await KbArticle.update({getattr(KbArticle, k): v for k, v in values.items()}).where(
                KbArticle.id == article_id)
            await _index(article_id, values.get("title", row["title"]), values.get("body", row["body"]))
    return await get(viewer, article_id)


async def delete(viewer: Viewer, article_id: int) -> None:
    _require_staff(viewer)
    async with atomic():
        deleted = await KbArticle.delete().where(KbArticle.id == article_id).returning(KbArticle.id)
        if not deleted:
            raise NotFound(f"no article {article_id}", field="id")
        q = Sql()
        if q.sqlite:
            await q.fetch(f"DELETE FROM inc_kb_fts WHERE rowid = {q(article_id)}")


def _scope(viewer: Viewer):
    if viewer.is_staff:
        return None
    if viewer.is_client:
        return KbArticle.visibility == "public"
    raise Forbidden("the knowledge base is for staff and client users")


async def get(viewer: Viewer, article_id: int) -> dict:
    where = [KbArticle.id == article_id]
    scope = _scope(viewer)
    if scope is not None:
        where.append(scope)
    row = await KbArticle.select().where(*where).first()
    if row is None:
        raise NotFound(f"no article {article_id}", field="id")
    return _for(viewer, _serialise(row, (await _used_in([article_id])).get(article_id, 0)))


async def search(viewer: Viewer, *, q: str | None = None, category: str | None = None, language: str | None = None,
                 visibility: str | None = None, limit: int = 50, offset: int = 0) -> tuple[int, list[dict]]:
    """Articles matching the words of `q` (all of them, stemmed; best first),
    or every article newest first without `q`."""
    if category is not None and category not in workflow.CATEGORIES:
        raise Invalid(f"category must be one of {', '.join(workflow.CATEGORIES)}", field="category")
    if language is not None and language not in LANGUAGES:
        raise Invalid(f"language must be one of {', '.join(LANGUAGES)}", field="language")
    if visibility is not None and visibility not in VISIBILITIES:
        raise Invalid("visibility must be 'public' or 'internal'", field="visibility")
    if q is not None and len(q) > 200:
        raise Invalid("q is too long (200 characters at most)", field="q")
    scope = _scope(viewer)
    sql = Sql()
    where = ["1 = 1"]
    if scope is not None:
        where.append("a.visibility = 'public'")
    if visibility:
        where.append(f"a.visibility = {sql(visibility)}")
    if language:
        where.append(f"a.language = {sql(language)}")
    if category:
        where.append(f"(',' || a.categories || ',') LIKE {sql('%,' + category + ',%')}")
    words = _WORD.findall(q or "")
    source, order = "inc_kb_article a", "a.updated_at DESC, a.id DESC"
    if words:
        if sql.sqlite:
            match = " AND ".join('"' + stem(w).replace('"', '""') + '"*' for w in words)
            source = "inc_kb_fts JOIN inc_kb_article a ON a.id = inc_kb_fts.rowid"
            where.append(f"inc_kb_fts MATCH {sql(match)}")
            order = "bm25(inc_kb_fts), a.id"
        else:
            text = " ".join(words)
            query = f"(plainto_tsquery('russian', {sql(text)}) || plainto_tsquery('english', {sql(text)}))"
            where.append(f"a.search @@ {query}")
            order = f"ts_rank(a.search, {query}) DESC, a.id"
    clause = " AND ".join(where)
    total = (await sql.fetch(f"SELECT COUNT(*) AS n FROM {source} WHERE {clause}"))[0]["n"]
    rows = await sql.fetch(f"SELECT a.* FROM {source} WHERE {clause} ORDER BY {order} "
                           f"LIMIT {int(limit)} OFFSET {int(offset)}")
    used = await _used_in(r["id"] for r in rows)
    return int(total), [_for(viewer, _serialise(r, used.get(r["id"], 0), html=False)) for r in rows]


# ---------------------------------------------------------------- incidents


async def incident_category(incident_id: int) -> str:
    return (await _incident(None, incident_id))["category"]


async def _incident(viewer: Viewer | None, incident_id: int) -> dict:
    rows = await rawsql.fetch("SELECT id, category, status FROM inc_incident WHERE id = {}", incident_id)
    if not rows:
        raise NotFound(f"no incident {incident_id}", field="id")
    return dict(rows[0])


async def incident_assets(incident_id: int) -> list[dict]:
    """The incident's affected assets with their current kind and model (root first)."""
    rows = await rawsql.fetch(
        "SELECT aa.asset_id, aa.name, aa.role, a.kind, a.model FROM inc_affected_asset aa "
        "LEFT JOIN cmdb_asset a ON a.id = aa.asset_id WHERE aa.incident = {} "
        "ORDER BY CASE WHEN aa.role = 'root' THEN 0 ELSE 1 END, aa.id", incident_id)
    return [dict(r) for r in rows]


def score(article: Mapping[str, Any], categories: Iterable[str], kinds: set[str], models: set[str]) -> int:
    """How well an article fits an incident or a request: one of its
    categories 4, an asset model 3, an asset kind 2."""
    points = 0
    if set(categories) & set(_split(article["categories"])):
        points += 4
    if models & {m.lower() for m in _split(article["asset_models"])}:
        points += 3
    if kinds & set(_split(article["asset_kinds"])):
        points += 2
    return points


async def _ranked(rows: Iterable[Mapping[str, Any]], categories: Iterable[str], assets: Iterable[Mapping[str, Any]],
                  language: str | None, limit: int) -> list[dict]:
    """The best of `rows` by score, then the most used, `language` first on ties."""
    rows, categories = list(rows), tuple(categories)
    kinds = {a["kind"] for a in assets if a.get("kind")}
    models = {a["model"].lower() for a in assets if a.get("model")}
    used = await _used_in(r["id"] for r in rows)
    ranked = []
    for r in rows:
        points = score(r, categories, kinds, models)
        if points:
            ranked.append((-points, r["language"] != language if language else False, -used.get(r["id"], 0),
                           r["id"], r))
    ranked.sort(key=lambda t: t[:4])
    return [{**_serialise(r, used.get(r["id"], 0), html=False), "score": -p}
            for p, _, _, _, r in ranked[:limit]]


async def suggestions(viewer: Viewer, incident_id: int, *, language: str | None = None,
                      limit: int = SUGGESTIONS) -> list[dict]:
    """The best articles for an incident: by category and its assets' kind and
    model, then the most used, the viewer's language first on ties."""
    if not viewer.is_staff:
        raise Forbidden("suggestions are for staff")
    incident = await _incident(viewer, incident_id)
    return await _ranked(await KbArticle.select(), (incident["category"],), await incident_assets(incident_id),
                         language, limit)


async def public_suggestions(viewer: Viewer, categories: Iterable[str], assets: Iterable[Mapping[str, Any]], *,
                             language: str | None = None, limit: int = SUGGESTIONS) -> list[dict]:
    """Public articles only, ranked like an incident's suggestions: what a
    client is offered before filing a request. `assets` ({kind, model}) are
    the caller's to check (the portal passes only the client's own)."""
    _scope(viewer)
    return await _ranked(await KbArticle.select().where(KbArticle.visibility == "public"), categories, assets,
                         language, limit)


async def use(viewer: Viewer, incident_id: int, article_id: int, *, now: dt.datetime | None = None) -> dict:
    """Record that an article was used on an incident (once per pair) with an internal timeline entry."""
    if not viewer.is_staff:
        raise Forbidden("only staff may link articles")
    now = now or services.utcnow()
    await _incident(viewer, incident_id)
    article = await KbArticle.select(KbArticle.id, KbArticle.title).where(KbArticle.id == article_id).first()
    if article is None:
        raise Invalid(f"no article {article_id}", field="article_id")
    async with atomic():
        q = Sql()
        have = await q.fetch(f"SELECT id FROM inc_kb_use WHERE article = {q(article_id)} AND incident = {q(incident_id)}")
        if not have:
            await rawsql.insert("inc_kb_use", ("article", "incident", "used_by", "at"), ("int", "int", "text", "time"),
                                [(article_id, incident_id, viewer.email, now)], "ON CONFLICT (article, incident) DO NOTHING")
            await services.add_entry(incident_id, "event", f"knowledge base article used: {article['title']}", at=now,
                                     author=viewer.email, author_user_id=viewer.user_id,
                                     data={"kb_article": article_id})
    return await get(viewer, article_id)


async def used_on(viewer: Viewer, incident_id: int) -> list[dict]:
    """The articles used on an incident."""
    if not viewer.is_staff:
        raise Forbidden("only staff")
    q = Sql()
    rows = await q.fetch(f"SELECT a.* FROM inc_kb_article a JOIN inc_kb_use u ON u.article = a.id "
                         f"WHERE u.incident = {q(incident_id)} ORDER BY u.at, a.id")
    used = await _used_in(r["id"] for r in rows)
    return [_serialise(r, used.get(r["id"], 0), html=False) for r in rows]
