from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean, Integer, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-30T02:41:37:013000"
VERSION = "1.38.0"
DESCRIPTION = "Power dependencies name the PDU outlet; clients' contracts may allow self-service power-cycles"


def _params(**extra) -> dict:
    return {"primary_key": False, "unique": False, "index": False, "index_method": IndexMethod.btree,
            "choices": None, "db_column_name": None, "secret": False, **extra}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cmdb", description=DESCRIPTION)
    for table, tablename, column, cls, params in (
        ("Dependency", "cmdb_dependency", "outlet_number", Integer, _params(default=None, null=True)),
        ("Dependency", "cmdb_dependency", "outlet_name", Varchar, _params(default="", null=False, length=100)),
        ("Client", "cmdb_client", "self_service_power", Boolean, _params(default=False, null=False)),
    ):
        manager.add_column(
            table_class_name=table, tablename=tablename, column_name=column, db_column_name=column,
            column_class_name=cls.__name__, column_class=cls, params=params, schema=None)
    return manager
