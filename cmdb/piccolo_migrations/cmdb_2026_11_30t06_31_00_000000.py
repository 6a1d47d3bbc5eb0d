from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from accounts.migration_sql import run_sql

ID = "2026-11-30T06:31:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "one contact per portal user (a migration of its own: raw SQL runs before added columns)"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cmdb", description=DESCRIPTION)
    manager.add_raw(run_sql(
        "CREATE UNIQUE INDEX cmdb_contact_user_uq ON cmdb_contact (user_id) WHERE user_id IS NOT NULL"))
    return manager
