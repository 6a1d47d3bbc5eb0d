from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Text, Timestamptz, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-30T02:41:37:013001"
VERSION = "1.38.0"
DESCRIPTION = "remote power-cycle jobs"


def _params(**extra):
    return {"primary_key": False, "unique": False, "index": False, "index_method": IndexMethod.btree,
            "choices": None, "db_column_name": None, "secret": False, **extra}


_COLUMNS = (
    ("asset_id", Integer, _params(default=0, null=False, index=True)),
    ("asset_name", Varchar, _params(default="", null=False, length=200)),
    ("client_id", Integer, _params(default=None, null=True, index=True)),
    ("pdu_id", Integer, _params(default=0, null=False)),
    ("pdu_name", Varchar, _params(default="", null=False, length=200)),
    ("outlet_number", Integer, _params(default=0, null=False)),
    ("outlet_name", Varchar, _params(default="", null=False, length=100)),
    ("site_code", Varchar, _params(default="", null=False, length=50)),
    ("incident_id", Integer, _params(default=0, null=False, index=True)),
    ("status", Varchar, _params(default="queued", null=False, length=10, index=True)),
    ("after_job_id", Integer, _params(default=None, null=True)),
    ("after_s", Integer, _params(default=0, null=False)),
    ("not_before", Timestamptz, _params(default=None, null=True)),
    ("step", Varchar, _params(default="queued", null=False, length=32)),
    ("reason", Text, _params(default="", null=False)),
    ("requested_by", Varchar, _params(default="", null=False, length=254)),
    ("requested_from", Varchar, _params(default="", null=False, length=64)),
    ("created_at", Timestamptz, _params(default=None, null=False, index=True)),
    ("claimed_by", Varchar, _params(default="", null=False, length=100)),
    ("claimed_at", Timestamptz, _params(default=None, null=True)),
    ("lease_until", Timestamptz, _params(default=None, null=True)),
    ("finished_at", Timestamptz, _params(default=None, null=True)),
    ("result", Text, _params(default="", null=False)),
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="incidents", description=DESCRIPTION)
    manager.add_table(class_name="PowerJob", tablename="inc_power_job", schema=None, columns=None)
    for name, cls, params in _COLUMNS:
        manager.add_column(
            table_class_name="PowerJob", tablename="inc_power_job", column_name=name, db_column_name=name,
            column_class_name=cls.__name__, column_class=cls, params=params, schema=None)
    return manager
