from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from accounts.migration_sql import run_sql

ID = "2026-11-29T23:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "an address is unique per VRF and address family (0.0.0.1 and ::1 share a key)"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cmdb", description=DESCRIPTION)
    manager.add_raw(
        run_sql(
            "DROP INDEX cmdb_ip_vrf_key_uq",
            "CREATE UNIQUE INDEX cmdb_ip_vrf_family_key_uq ON cmdb_ip_address (vrf, family, ip_key)",
        )
    )
    return manager
