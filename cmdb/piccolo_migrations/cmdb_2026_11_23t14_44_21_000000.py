from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.engine.postgres import PostgresEngine

ID = "2026-11-23T14:44:21:000000"
VERSION = "1.38.0"
DESCRIPTION = "prefix-search indexes for PostgreSQL (text_pattern_ops: LIKE 'x%' uses them under any collation)"

#: Search matches names, codes, e-mails, phones and serials by prefix. SQLite answers
#: that from its plain (binary) indexes with a range; PostgreSQL needs these.
PATTERN_INDEXES = {
    "cmdb_client_name_norm_pat": ("cmdb_client", "name_norm"),
    "cmdb_client_code_pat": ("cmdb_client", "code"),
    "cmdb_site_code_pat": ("cmdb_site", "code"),
    "cmdb_contact_name_norm_pat": ("cmdb_contact", "name_norm"),
    "cmdb_contact_email_norm_pat": ("cmdb_contact", "email_norm"),
    "cmdb_contact_phone_norm_pat": ("cmdb_contact", "phone_norm"),
    "cmdb_asset_name_norm_pat": ("cmdb_asset", "name_norm"),
    "cmdb_asset_serial_norm_pat": ("cmdb_asset", "serial_norm"),
    "cmdb_rack_name_norm_pat": ("cmdb_rack", "name_norm"),
}


async def _create() -> None:
    engine = engine_finder()
    if not isinstance(engine, PostgresEngine):
        return
    for name, (table, column) in PATTERN_INDEXES.items():
        await engine.run_ddl(f'CREATE INDEX {name} ON {table} ("{column}" text_pattern_ops)')


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cmdb", description=DESCRIPTION)
    manager.add_raw(_create)
    return manager
