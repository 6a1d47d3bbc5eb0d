"""rackcard.db answers Piccolo's `name in dir(foreign_key)` without dir():
the answer must be dir()'s for every name, on every foreign key of every table."""

from __future__ import annotations

from piccolo.columns import ForeignKey, column_types
from piccolo.table import Table

import rackcard.db  # noqa: F401  (installs the faster lookup)
from rackcard.db import _AttributeNames, _attribute_names


def _tables() -> list[type[Table]]:
    import cmdb.tables
    import incidents.tables

    found = []
    for module in (cmdb.tables, incidents.tables):
        found += [v for v in vars(module).values() if isinstance(v, type) and issubclass(v, Table) and v is not Table]
    return found


def test_piccolo_uses_the_faster_lookup():
    assert column_types.dir is _attribute_names


def test_it_answers_as_dir_does_on_every_foreign_key():
    checked = 0
    for table in _tables():
        for fk in table._meta.foreign_key_columns:
            names = set(dir(fk))
            fast = _AttributeNames(fk)
            for name in names | {"no_such_column", "name", "id", "site", "client", "is_in", "_meta"}:
                assert (name in fast) == (name in names), (table.__name__, fk._meta.name, name)
            assert sorted(fast) == sorted(names)
            checked += 1
    assert checked > 10


def test_joins_through_foreign_keys_still_resolve():
    from cmdb.tables import Asset

    column = Asset.site.name
    assert column._meta.call_chain and column._meta.call_chain[0]._meta.name == "site"
    assert "site" in str(column.get_select_string(engine_type="sqlite"))


def test_an_object_with_its_own_listing_is_asked():
    class Listed:
        def __dir__(self):
            return ["only"]

    assert list(_attribute_names(Listed())) == ["only"]
    assert isinstance(_attribute_names(ForeignKey(Table)), _AttributeNames)
