from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-23T16:26:00:317069"
VERSION = "1.38.0"
DESCRIPTION = "SNMPv3 context name on assets"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="cmdb", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="Asset",
        tablename="cmdb_asset",
        column_name="snmp_v3_context",
        db_column_name="snmp_v3_context",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 100,
            "default": None,
            "null": True,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
