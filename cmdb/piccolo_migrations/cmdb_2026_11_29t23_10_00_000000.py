from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean, Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-29T23:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "contacts: notify me (incident e-mail) and the contact's language"


def _params(**kw) -> dict:
    return {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
        **kw,
    }


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cmdb", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Contact", tablename="cmdb_contact", column_name="notify", db_column_name="notify",
        column_class_name="Boolean", column_class=Boolean, params=_params(default=False), schema=None,
    )
    manager.add_column(
        table_class_name="Contact", tablename="cmdb_contact", column_name="language", db_column_name="language",
        column_class_name="Varchar", column_class=Varchar, params=_params(length=8, default="en"), schema=None,
    )
    return manager
