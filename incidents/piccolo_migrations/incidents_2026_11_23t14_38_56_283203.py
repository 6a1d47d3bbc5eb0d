from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from accounts.migration_sql import run_sql

ID = "2026-11-23T14:38:56:283203"
VERSION = "1.38.0"
DESCRIPTION = "incident indexes: at most one open incident per fingerprint, unique links, lookups"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="incidents", description=DESCRIPTION)
    manager.add_raw(
        run_sql(
            # What makes two concurrent writers (or a replayed batch) produce one incident.
            "CREATE UNIQUE INDEX inc_incident_open_fingerprint_uq ON inc_incident (fingerprint) "
            "WHERE status NOT IN ('resolved', 'closed')",
            "CREATE INDEX inc_incident_status_opened_ix ON inc_incident (status, opened_at)",
            "CREATE UNIQUE INDEX inc_affected_asset_uq ON inc_affected_asset (incident, asset_id)",
            "CREATE UNIQUE INDEX inc_incident_check_uq ON inc_incident_check (incident, asset_id, key)",
            "CREATE INDEX inc_incident_check_asset_ix ON inc_incident_check (asset_id, key)",
            "CREATE UNIQUE INDEX inc_affected_client_uq ON inc_affected_client (incident, client_id)",
            "CREATE INDEX inc_timeline_incident_at_ix ON inc_timeline (incident, at)",
            "CREATE INDEX inc_delivery_due_ix ON inc_delivery (status, next_attempt_at)",
            "CREATE INDEX inc_maintenance_window_span_ix ON inc_maintenance_window (starts_at, ends_at)",
        )
    )
    return manager
