from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from accounts.migration_sql import run_sql

ID = "2026-11-30T02:41:37:013002"
VERSION = "1.38.0"
DESCRIPTION = "remote power-cycle jobs: at most one active job per asset and per PDU outlet"

_ACTIVE = "WHERE status IN ('waiting', 'queued', 'running')"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="incidents", description=DESCRIPTION)
    # (inc_power_job is created by the migration before this one; raw SQL runs first)
    manager.add_raw(run_sql(
        f"CREATE UNIQUE INDEX inc_power_job_asset_uq ON inc_power_job (asset_id) {_ACTIVE}",
        f"CREATE UNIQUE INDEX inc_power_job_outlet_uq ON inc_power_job (pdu_id, outlet_number) {_ACTIVE}",
    ))
    return manager
