from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

ID = "2026-11-30T03:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "import runs: progress of background imports; what each chunk of a SQLite import made (undone if the run dies)"


class ImportRun(Table, tablename="cmdb_import_run", schema=None):
    id = Serial(null=False, primary_key=True, unique=False, index=False, index_method=IndexMethod.btree,
                choices=None, db_column_name="id", secret=False)


def _params(**extra):
    return {"primary_key": False, "unique": False, "index": False, "index_method": IndexMethod.btree,
            "choices": None, "db_column_name": None, "secret": False, **extra}


_RUN = (
    ("kind", Varchar, _params(default="", null=False, length=20)),
    ("status", Varchar, _params(default="running", null=False, length=8)),
    ("started_at", Timestamptz, _params(default=None, null=False)),
    ("heartbeat_at", Timestamptz, _params(default=None, null=False)),
    ("started_by", Varchar, _params(default="", null=False, length=254)),
    ("rows", Integer, _params(default=0, null=False)),
    ("done", Integer, _params(default=0, null=False)),
    ("report", Text, _params(default="", null=False)),
    ("finished_at", Timestamptz, _params(default=None, null=True)),
)
_ROW = (
    ("run", ForeignKey, _params(references=ImportRun, on_delete=OnDelete.cascade, on_update=OnUpdate.cascade,
                                target_column=None, default=None, null=True, index=True)),
    ("row_id", Integer, _params(default=0, null=False)),
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="cmdb", description=DESCRIPTION)
    for class_name, tablename, columns in (("ImportRun", "cmdb_import_run", _RUN),
                                           ("ImportRunRow", "cmdb_import_run_row", _ROW)):
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
        for name, cls, params in columns:
            manager.add_column(
                table_class_name=class_name, tablename=tablename, column_name=name, db_column_name=name,
                column_class_name=cls.__name__, column_class=cls, params=params, schema=None)
    return manager
