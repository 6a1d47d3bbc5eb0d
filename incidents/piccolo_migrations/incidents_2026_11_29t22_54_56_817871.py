from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.engine.sqlite import SQLiteEngine

ID = "2026-11-29T22:54:56:817871"
VERSION = "1.38.0"
DESCRIPTION = "support desk: kb full-text search (FTS5 on SQLite, tsvector on PostgreSQL), unique uses, fact lookups"


async def _search() -> None:
    engine = engine_finder()
    if isinstance(engine, SQLiteEngine):
        # Holds the Snowball-stemmed title and body (incidents.kb.stem_text): FTS5
        # has no Russian stemmer. rowid = inc_kb_article.id, kept by the service.
        await engine.run_ddl(
            "CREATE VIRTUAL TABLE inc_kb_fts USING fts5(title, body, tokenize = 'unicode61 remove_diacritics 2')")
        return
    # PostgreSQL stems with both dictionaries: a word matches in either language.
    await engine.run_ddl(
        "ALTER TABLE inc_kb_article ADD COLUMN search tsvector GENERATED ALWAYS AS ("
        "setweight(to_tsvector('russian', coalesce(title, '')), 'A') || "
        "setweight(to_tsvector('english', coalesce(title, '')), 'A') || "
        "setweight(to_tsvector('russian', coalesce(body, '')), 'B') || "
        "setweight(to_tsvector('english', coalesce(body, '')), 'B')) STORED")
    await engine.run_ddl("CREATE INDEX inc_kb_article_search_ix ON inc_kb_article USING gin (search)")


async def _indexes() -> None:
    engine = engine_finder()
    for statement in (
        "CREATE UNIQUE INDEX inc_kb_use_uq ON inc_kb_use (article, incident)",
        "CREATE INDEX inc_incident_resolved_at_ix ON inc_incident (resolved_at)",
        "CREATE INDEX inc_canned_reply_category_ix ON inc_canned_reply (category, language)",
    ):
        await engine.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="incidents", description=DESCRIPTION)
    manager.add_raw(_indexes)
    manager.add_raw(_search)
    return manager
