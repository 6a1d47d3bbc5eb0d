from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.engine.sqlite import SQLiteEngine

ID = "2026-11-29T23:16:57:875279"
VERSION = "1.38.0"
DESCRIPTION = ("support desk: kb full-text search (FTS5 on SQLite, tsvector on PostgreSQL), unique uses, "
               "triggers marking kpi facts dirty")


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
        "CREATE INDEX inc_kpi_dirty_incident_ix ON inc_kpi_dirty (incident)",
        "CREATE INDEX inc_canned_reply_category_ix ON inc_canned_reply (category, language)",
    ):
        await engine.run_ddl(statement)


_STATUSES = "('resolved', 'closed')"


async def _dirty_triggers() -> None:
    """A resolved/closed incident that changes (or is reopened, or resolved)
    gets its kept KPI facts measured again; a deleted one loses them. In the
    database, so every writer (engine, API, import, another helper's code) is covered."""
    engine = engine_finder()
    if isinstance(engine, SQLiteEngine):
        statements = [
            "CREATE TRIGGER inc_kpi_dirty_ins AFTER INSERT ON inc_incident "
            f"WHEN NEW.status IN {_STATUSES} BEGIN INSERT INTO inc_kpi_dirty (incident) VALUES (NEW.id); END",
            "CREATE TRIGGER inc_kpi_dirty_upd AFTER UPDATE ON inc_incident "
            f"WHEN NEW.status IN {_STATUSES} OR OLD.status IN {_STATUSES} "
            "BEGIN INSERT INTO inc_kpi_dirty (incident) VALUES (NEW.id); END",
            "CREATE TRIGGER inc_kpi_dirty_del AFTER DELETE ON inc_incident "
            "BEGIN DELETE FROM inc_kpi_fact WHERE incident = OLD.id; END",
        ]
    else:
        statements = [
            "CREATE FUNCTION inc_kpi_mark_dirty() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF TG_OP = 'DELETE' THEN DELETE FROM inc_kpi_fact WHERE incident = OLD.id; RETURN OLD; END IF; "
            "INSERT INTO inc_kpi_dirty (incident) VALUES (NEW.id); RETURN NEW; END $$",
            "CREATE TRIGGER inc_kpi_dirty_ins AFTER INSERT ON inc_incident FOR EACH ROW "
            f"WHEN (NEW.status IN {_STATUSES}) EXECUTE FUNCTION inc_kpi_mark_dirty()",
            "CREATE TRIGGER inc_kpi_dirty_upd AFTER UPDATE ON inc_incident FOR EACH ROW "
            f"WHEN (NEW.status IN {_STATUSES} OR OLD.status IN {_STATUSES}) EXECUTE FUNCTION inc_kpi_mark_dirty()",
            "CREATE TRIGGER inc_kpi_dirty_del AFTER DELETE ON inc_incident FOR EACH ROW "
            "EXECUTE FUNCTION inc_kpi_mark_dirty()",
        ]
    for statement in statements:
        await engine.run_ddl(statement)
    # Incidents resolved before this migration are measured on the first report.
    await engine.run_ddl(f"INSERT INTO inc_kpi_dirty (incident) SELECT id FROM inc_incident WHERE status IN {_STATUSES}")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="incidents", description=DESCRIPTION)
    manager.add_raw(_indexes)
    manager.add_raw(_search)
    manager.add_raw(_dirty_triggers)
    return manager
