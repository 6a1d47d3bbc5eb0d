from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-30T03:05:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "probe leases: workers sharing a site split its assets; the live workers per scope"


def _params(**extra):
    return {"primary_key": False, "unique": False, "index": False, "index_method": IndexMethod.btree,
            "choices": None, "db_column_name": None, "secret": False, "null": False, **extra}


def _column(manager, table: str, tablename: str, name: str, cls, **params):
    manager.add_column(table_class_name=table, tablename=tablename, column_name=name, db_column_name=name,
                       column_class_name=cls.__name__, column_class=cls, params=_params(**params), schema=None)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="incidents", description=DESCRIPTION)
    manager.add_table(class_name="ProbeLease", tablename="inc_probe_lease", schema=None, columns=None)
    _column(manager, "ProbeLease", "inc_probe_lease", "asset", Integer, default=0, unique=True, index=True)
    _column(manager, "ProbeLease", "inc_probe_lease", "holder", Varchar, length=100, default="")
    _column(manager, "ProbeLease", "inc_probe_lease", "expires_at", Timestamptz, default=TimestamptzNow(), index=True)
    manager.add_table(class_name="ProbeHolder", tablename="inc_probe_holder", schema=None, columns=None)
    _column(manager, "ProbeHolder", "inc_probe_holder", "holder", Varchar, length=100, default="", unique=True,
            index=True)
    _column(manager, "ProbeHolder", "inc_probe_holder", "scope", Varchar, length=100, default="")
    _column(manager, "ProbeHolder", "inc_probe_holder", "expires_at", Timestamptz, default=TimestamptzNow())
    return manager
