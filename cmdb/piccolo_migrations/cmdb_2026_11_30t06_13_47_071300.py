from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-30T06:13:47:071300"
VERSION = "1.38.0"
DESCRIPTION = "Assets carry separate SNMP write credentials (a PDU's power-cycles), kept out of the polling targets"


def _params(length: int) -> dict:
    return {"primary_key": False, "unique": False, "index": False, "index_method": IndexMethod.btree,
            "choices": None, "db_column_name": None, "secret": False, "default": None, "null": True, "length": length}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cmdb", description=DESCRIPTION)
    for column, length in (("snmp_write_community", 100), ("snmp_v3_write_user", 100),
                           ("snmp_v3_write_auth_key", 200), ("snmp_v3_write_priv_key", 200)):
        manager.add_column(
            table_class_name="Asset", tablename="cmdb_asset", column_name=column, db_column_name=column,
            column_class_name="Varchar", column_class=Varchar, params=_params(length), schema=None)
    return manager
