"""Plain SQL for the hot paths (probe batch -> check states -> engine ->
storage; the client card, the search box and the incident list every desk
reads), written once for SQLite and PostgreSQL.

Piccolo builds every query value by value (an `is_in` over 500 ids costs
milliseconds before the query leaves) and, on SQLite, runs a PRAGMA before
each statement of a transaction. On the hot path one statement per table and
batch goes straight to the transaction's connection instead:

* a set of ids or keys is ONE parameter — a JSON array read with `json_each`
  on SQLite, an array read with `unnest` on PostgreSQL — so the statement text
  is constant (PostgreSQL prepares it once per connection);
* rows are written with one statement: `executemany` on SQLite (one prepared
  statement), `INSERT ... SELECT FROM unnest(arrays)` on PostgreSQL.

Values go through the same adapters Piccolo uses (its SQLite datetime adapter
and column converters are process-wide), so rows written here read back
through Piccolo unchanged, and the other way round.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import sqlite3
from typing import Any, Iterable, Mapping, Sequence

from piccolo.engine.sqlite import SQLiteEngine, dict_factory

from database.transactions import current_engine

#: PostgreSQL array types for the column kinds used here.
_PG_TYPES = {"int": "bigint", "text": "text", "time": "timestamptz", "float": "float8", "bool": "boolean",
             "json": "text"}


def as_time(value: Any) -> dt.datetime | None:
    """A timestamp read here, as an aware datetime. SQLite returns the stored ISO
    text where a compound SELECT lost the column's declared type."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


class Sql:
    """Placeholders and arguments of one statement, numbered for the current engine.

        q = Sql()
        rows = await q.fetch(f"SELECT id FROM t WHERE asset IN {q.ints(ids)} AND at >= {q(since)}")
    """

    def __init__(self) -> None:
        self.engine = current_engine()
        self.sqlite = isinstance(self.engine, SQLiteEngine)
        self.args: list[Any] = []

    def __call__(self, value: Any) -> str:
        """A scalar parameter."""
        self.args.append(value)
        return "?" if self.sqlite else f"${len(self.args)}"

    def ints(self, values: Iterable[int]) -> str:
        """A set of integers, as a sub-select: `col IN {q.ints(ids)}`."""
        ids = sorted({int(v) for v in values})
        if self.sqlite:
            return f"(SELECT value FROM json_each({self(json.dumps(ids))}))"
        return f"(SELECT unnest({self(ids)}::bigint[]))"

    def texts(self, values: Iterable[str]) -> str:
        """A set of strings, as a sub-select: `col IN {q.texts(keys)}`."""
        items = sorted(set(values))
        if self.sqlite:
            return f"(SELECT value FROM json_each({self(json.dumps(items))}))"
        return f"(SELECT unnest({self(items)}::text[]))"

    async def rows(self, sql: str) -> list[dict[str, Any]]:
        """Run one statement; rows as dicts (what Piccolo's selects return)."""
        return [dict(r) for r in await self.fetch(sql)]

    async def fetch(self, sql: str) -> list[Mapping[str, Any]]:
        """Run one statement; rows as mappings (column name -> value)."""
        txn = self.engine.current_transaction.get()
        if txn is None:
            if sql.lstrip()[:6].upper() == "SELECT":
                # the read session's connection (database.transactions.reading), or a kept or pooled one
                if self.sqlite:
                    return await self.engine.read_rows(sql, self.args, sqlite3.Row)
                return await self.engine.read_rows(sql, self.args)
            # A statement outside any transaction (a test, PostgreSQL's reads): a short transaction of its own.
            async with self.engine.transaction():
                return await self.fetch(sql)
        if self.sqlite:
            # sqlite3.Row (C) reads by column name; Piccolo's dict_factory (Python,
            # per row) is put back for Piccolo's own queries on this connection.
            connection = txn.connection
            connection.row_factory = sqlite3.Row
            try:
                return await connection.execute_fetchall(sql, self.args)
            finally:
                connection.row_factory = dict_factory
        return await txn.connection.fetch(sql, *self.args)


@functools.cache
def columns(table: type, alias: str = "", only: tuple[str, ...] = ()) -> str:
    """The select list of a Piccolo table's columns (all, or `only` these), each
    under its own name: `SELECT {columns(Client, "c")} FROM cmdb_client c`
    reads rows shaped as `Client.select()` reads them."""
    prefix = f"{alias}." if alias else ""
    names = only or tuple(c._meta.db_column_name for c in table._meta.columns)
    return ", ".join(f'{prefix}"{n}" AS "{n}"' for n in names)


def literals(values: Iterable[str]) -> str:
    """A constant list of the code's own words (statuses, kinds) as SQL text:
    `status IN ({literals(OPEN_STATUSES)})` keeps the statement text constant."""
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


def reading():
    """One read transaction for several statements: one connection (SQLite
    opens a connection, and a thread, per transaction) and one consistent view.
    Inside an open transaction it joins that one."""
    engine = current_engine()
    if engine.current_transaction.get() is not None:
        return contextlib.nullcontext()
    return engine.transaction()


async def fetch(sql: str, *args: Any) -> list[Mapping[str, Any]]:
    """A statement with `{}` placeholders for `args` (scalars only)."""
    q = Sql()
    return await q.fetch(sql.format(*(q(a) for a in args)))


async def insert(table: str, columns: Sequence[str], kinds: Sequence[str], rows: Sequence[Sequence[Any]],
                 suffix: str = "") -> None:
    """Insert `rows` (tuples in the order of `columns`) with one statement.

    `kinds` gives each column's kind (int, text, time, float, bool, json — a
    json value is passed as its text). `suffix` follows the values, e.g.
    `ON CONFLICT (a, b) DO NOTHING`; it must not take parameters."""
    if not rows:
        return
    engine = current_engine()
    txn = engine.current_transaction.get()
    if txn is None:
        async with engine.transaction():
            return await insert(table, columns, kinds, rows, suffix)
    names = ", ".join(f'"{c}"' for c in columns)
    if isinstance(engine, SQLiteEngine):
        marks = ", ".join("?" for _ in columns)
        await txn.connection.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks}) {suffix}", rows)
        return
    arrays = ", ".join(f"${i + 1}::{_PG_TYPES[k]}[]" for i, k in enumerate(kinds))
    picks = ", ".join(f"u.c{i}::json" if k == "json" else f"u.c{i}" for i, k in enumerate(kinds))
    aliases = ", ".join(f"c{i}" for i in range(len(columns)))
    await txn.connection.execute(
        f"INSERT INTO {table} ({names}) SELECT {picks} FROM unnest({arrays}) AS u({aliases}) {suffix}",
        *[[row[i] for row in rows] for i in range(len(columns))],
    )
