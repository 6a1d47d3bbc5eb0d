from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-30T06:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "a contact can be linked to its portal user (one contact per user)"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cmdb", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Contact", tablename="cmdb_contact", column_name="user_id", db_column_name="user_id",
        column_class_name="Integer", column_class=Integer,
        params={"default": None, "null": True, "primary_key": False, "unique": False, "index": False,
                "index_method": IndexMethod.btree, "choices": None, "db_column_name": None, "secret": False},
        schema=None,
    )
    return manager
