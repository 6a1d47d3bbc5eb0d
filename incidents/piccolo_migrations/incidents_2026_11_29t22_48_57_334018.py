from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from accounts.migration_sql import run_sql

ID = "2026-11-29T22:48:57:334018"
VERSION = "1.38.0"
DESCRIPTION = "one roll-up row per asset, key, resolution and bucket; samples pruned by time"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="incidents", description=DESCRIPTION)
    manager.add_raw(
        run_sql(
            "CREATE UNIQUE INDEX inc_sample_rollup_uq ON inc_sample_rollup (asset, key, resolution_s, bucket)",
            "CREATE INDEX inc_sample_rollup_bucket_ix ON inc_sample_rollup (resolution_s, bucket)",
            "CREATE INDEX inc_sample_at_ix ON inc_sample (at)",
        )
    )
    return manager
