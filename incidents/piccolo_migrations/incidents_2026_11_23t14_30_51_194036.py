from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from accounts.migration_sql import run_sql

ID = "2026-11-23T14:30:51:194036"
VERSION = "1.38.0"
DESCRIPTION = "uniqueness, overlap and lookup indexes Piccolo's columns can't express"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="incidents", description=DESCRIPTION)
    manager.add_raw(
        run_sql(
            'CREATE UNIQUE INDEX inc_check_state_uq ON inc_check_state (asset, key)',
            'CREATE INDEX inc_check_event_asset_at_ix ON inc_check_event (asset, at)',
            'CREATE INDEX inc_sample_asset_key_at_ix ON inc_sample (asset, key, at)',
        )
    )
    return manager
