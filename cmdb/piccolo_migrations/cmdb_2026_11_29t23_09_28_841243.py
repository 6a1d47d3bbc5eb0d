from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-29T23:09:28:841243"
VERSION = "1.38.0"
DESCRIPTION = "assets: rack face"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="cmdb", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="Asset",
        tablename="cmdb_asset",
        column_name="rack_face",
        db_column_name="rack_face",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 5,
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
