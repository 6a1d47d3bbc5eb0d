from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod
from piccolo.engine import engine_finder
from piccolo.engine.sqlite import SQLiteEngine

ID = "2026-11-29T23:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "audit log: source address; append-only (the database refuses UPDATE and DELETE)"

REFUSAL = "rc_audit_log is append-only"

SQLITE = [
    f"CREATE TRIGGER rc_audit_log_no_update BEFORE UPDATE ON rc_audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
    f"CREATE TRIGGER rc_audit_log_no_delete BEFORE DELETE ON rc_audit_log "
    f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END",
]
POSTGRES = [
    "CREATE OR REPLACE FUNCTION rc_audit_log_refuse() RETURNS trigger LANGUAGE plpgsql AS "
    f"$$ BEGIN RAISE EXCEPTION '{REFUSAL}' USING ERRCODE = 'insufficient_privilege'; END $$",
    "CREATE TRIGGER rc_audit_log_append_only BEFORE UPDATE OR DELETE ON rc_audit_log "
    "FOR EACH ROW EXECUTE FUNCTION rc_audit_log_refuse()",
]


async def _triggers() -> None:
    engine = engine_finder()
    for statement in SQLITE if isinstance(engine, SQLiteEngine) else POSTGRES:
        await engine.run_ddl(statement)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="accounts", description=DESCRIPTION)
    manager.add_column(
        table_class_name="AuditLog",
        tablename="rc_audit_log",
        column_name="source",
        db_column_name="source",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    manager.add_raw(_triggers)
    return manager
