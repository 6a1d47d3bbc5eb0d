from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from accounts.migration_sql import run_sql

ID = "2026-11-29T22:48:11:580098"
VERSION = "1.38.0"
DESCRIPTION = "integrations indexes: one link per NetBox object, one unmatched row per host"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="integrations", description=DESCRIPTION)
    manager.add_raw(
        run_sql(
            # What keeps a re-run import from duplicating: each NetBox object maps to one row.
            "CREATE UNIQUE INDEX int_netbox_link_uq ON int_netbox_link (kind, netbox_id)",
            "CREATE INDEX int_netbox_link_local_ix ON int_netbox_link (kind, local_id)",
            "CREATE UNIQUE INDEX int_unmatched_alert_uq ON int_unmatched_alert (source, host)",
        )
    )
    return manager
