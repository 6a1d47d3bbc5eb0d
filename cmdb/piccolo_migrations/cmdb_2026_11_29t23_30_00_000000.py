from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-29T23:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Interfaces keep the ifName/ifDescr read at discovery; assets get per-check probe overrides"


def _params(length: int | None = None) -> dict:
    params = {
        "default": "",
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }
    if length is not None:
        params["length"] = length
    return params


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cmdb", description=DESCRIPTION)
    for column, length in (("if_name", 100), ("if_descr", 255)):
        manager.add_column(
            table_class_name="Interface", tablename="cmdb_interface", column_name=column,
            db_column_name=column, column_class_name="Varchar", column_class=Varchar,
            params=_params(length), schema=None,
        )
    manager.add_column(
        table_class_name="Asset", tablename="cmdb_asset", column_name="probe_overrides",
        db_column_name="probe_overrides", column_class_name="Text", column_class=Text,
        params=_params(), schema=None,
    )
    return manager
