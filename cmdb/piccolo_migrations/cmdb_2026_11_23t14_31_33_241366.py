from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from accounts.migration_sql import run_sql

ID = "2026-11-23T14:31:33:241366"
VERSION = "1.38.0"
DESCRIPTION = "uniqueness, overlap and lookup indexes Piccolo's columns can't express"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cmdb", description=DESCRIPTION)
    manager.add_raw(
        run_sql(
            "CREATE UNIQUE INDEX cmdb_contact_client_email_uq ON cmdb_contact (client, email_norm) WHERE email_norm <> ''",
            'CREATE UNIQUE INDEX cmdb_rack_site_name_uq ON cmdb_rack (site, name_norm)',
            'CREATE UNIQUE INDEX cmdb_asset_serial_uq ON cmdb_asset (serial_norm) WHERE serial_norm IS NOT NULL',
            'CREATE UNIQUE INDEX cmdb_rack_unit_uq ON cmdb_rack_unit (rack, unit)',
            'CREATE UNIQUE INDEX cmdb_service_asset_uq ON cmdb_service_asset (service, asset)',
            'CREATE UNIQUE INDEX cmdb_interface_asset_ifindex_uq ON cmdb_interface (asset, if_index)',
            'CREATE UNIQUE INDEX cmdb_prefix_vrf_prefix_uq ON cmdb_prefix (vrf, prefix)',
            'CREATE INDEX cmdb_prefix_range_ix ON cmdb_prefix (family, first_key, last_key)',
            'CREATE UNIQUE INDEX cmdb_ip_vrf_key_uq ON cmdb_ip_address (vrf, ip_key)',
            'CREATE INDEX cmdb_ip_key_ix ON cmdb_ip_address (ip_key)',
            'CREATE UNIQUE INDEX cmdb_dependency_uq ON cmdb_dependency (asset, depends_on, kind)',
        )
    )
    return manager
