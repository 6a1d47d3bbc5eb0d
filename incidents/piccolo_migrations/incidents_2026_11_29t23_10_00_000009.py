from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Timestamptz, Varchar
from piccolo.columns.indexes import IndexMethod

from accounts.migration_sql import run_sql

ID = "2026-11-29T23:10:00:000009"
VERSION = "1.38.0"
DESCRIPTION = ("impact before outage: affected clients' impact (down | at_risk), the battery estimate on incidents; "
               "one row per probe and site")


def _params(**extra):
    return {"primary_key": False, "unique": False, "index": False, "index_method": IndexMethod.btree,
            "choices": None, "db_column_name": None, "secret": False, **extra}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="incidents", description=DESCRIPTION)
    # (inc_probe_site is created by the migration before this one; raw SQL runs first)
    manager.add_raw(run_sql("CREATE UNIQUE INDEX inc_probe_site_uq ON inc_probe_site (probe, site_id)"))
    manager.add_column(
        table_class_name="AffectedClient", tablename="inc_affected_client", column_name="impact",
        db_column_name="impact", column_class_name="Varchar", column_class=Varchar,
        params=_params(length=8, default="down", null=False), schema=None)
    manager.add_column(
        table_class_name="Incident", tablename="inc_incident", column_name="battery_exhausted_at",
        db_column_name="battery_exhausted_at", column_class_name="Timestamptz", column_class=Timestamptz,
        params=_params(default=None, null=True), schema=None)
    manager.add_column(
        table_class_name="Incident", tablename="inc_incident", column_name="battery_minutes_left",
        db_column_name="battery_minutes_left", column_class_name="Integer", column_class=Integer,
        params=_params(default=None, null=True), schema=None)
    return manager
