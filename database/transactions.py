"""Transactions, read sessions and integrity helpers every app uses. The
package sits below accounts, cmdb and incidents, so each can import it without
reaching up to rackcard/ (which makes the engines, rackcard/db.py)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import weakref

from asyncpg.exceptions import DataError, IntegrityConstraintViolationError, UniqueViolationError
from piccolo.engine import engine_finder
from piccolo.engine.base import Engine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

#: Constraint failures surface as different exceptions per engine; catch them in one place.
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, IntegrityConstraintViolationError)
#: A value the database refuses (out of the column's range, NUL in text, too long):
#: validation should have caught it; these keep a gap from becoming a 500.
DATA_ERRORS: tuple[type[Exception], ...] = (DataError, OverflowError)


def is_unique_violation(exc: BaseException) -> bool:
    if isinstance(exc, UniqueViolationError):
        return True
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc).upper()


#: The engine every table is bound to (rackcard.db.use_engine sets it): the
#: hot paths ask for it on every statement, and Piccolo's engine_finder
#: imports piccolo_conf and reads the environment each time.
_bound: Engine | None = None


def bind(engine: Engine) -> None:
    global _bound
    _bound = engine


def current_engine() -> Engine:
    if _bound is not None:
        return _bound
    engine = engine_finder()
    if engine is None:  # pragma: no cover - piccolo_conf always provides one
        raise RuntimeError("no database engine configured")
    return engine


def is_sqlite(engine: Engine | None = None) -> bool:
    return isinstance(engine or current_engine(), SQLiteEngine)


def atomic(engine: Engine | None = None):
    """A write transaction that serialises correctly on both engines.

    SQLite needs BEGIN IMMEDIATE so that read-then-write transactions queue on
    the lock instead of failing with "database is locked". Inside an already
    open transaction it joins that one, so service functions compose into an
    all-or-nothing batch (an import, a probe batch).
    """
    engine = engine or current_engine()
    if engine.current_transaction.get() is not None:
        return contextlib.nullcontext()
    if isinstance(engine, SQLiteEngine):
        return _sqlite_write(engine)
    return engine.transaction()


class _WriteQueue:
    """SQLite's writers of one event loop, served in arrival order. SQLite's
    own busy handler polls, so a writer that commits and begins again at once
    (an import's chunks) would starve the others; asyncio.Lock hands the
    database over in arrival order, and `waiting` tells a long writer that
    someone queues behind it."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.waiting = 0

    @contextlib.asynccontextmanager
    async def turn(self):
        self.waiting += 1
        try:
            await self.lock.acquire()
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self.lock.release()


_write_queues: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _WriteQueue]" = weakref.WeakKeyDictionary()


def _queue() -> _WriteQueue:
    loop = asyncio.get_running_loop()
    queue = _write_queues.get(loop)
    if queue is None:
        queue = _write_queues[loop] = _WriteQueue()
    return queue


def writers_waiting() -> bool:
    """Whether another writer queues for SQLite's write lock behind the current
    one (in this process): a long writer (an import) commits and lets it in."""
    return _queue().waiting > 0


@contextlib.asynccontextmanager
async def _sqlite_write(engine: SQLiteEngine):
    async with _queue().turn():
        async with engine.transaction(transaction_type=TransactionType.immediate) as transaction:
            yield transaction


def reading():
    """`async with reading():` one connection for a burst of reads (the client
    card, the search box, a list and its count), taken at the first read and
    given back at the end (rackcard.db's engines). SQLite: a kept connection in a
    deferred transaction, one consistent view that never blocks the writer (WAL).
    PostgreSQL: one pooled connection for all the statements. A write made
    inside goes its own way; inside an open transaction the reads join it."""
    engine = current_engine()
    session = getattr(engine, "read_session", None)
    if session is None or engine.current_transaction.get() is not None:
        return contextlib.nullcontext()
    return session()


async def read_row(sql: str, *args):
    """One row (a mapping) or None, for the reads every request makes (token and
    session checks), at a fraction of a Piccolo query's cost.

    `sql` takes `?` placeholders. SQLite: a read on an indexed key takes microseconds,
    so it runs on one of the engine's kept-open connections (rackcard.db) instead of a
    new aiosqlite connection and its thread per query (~2 ms); in WAL mode a reader sees
    the last commit and never waits for the writer. PostgreSQL: one statement on a
    pooled connection (asyncpg prepares it once per connection). Inside a transaction,
    the transaction's own connection is used, so its uncommitted writes are seen."""
    engine = current_engine()
    txn = engine.current_transaction.get()
    if isinstance(engine, SQLiteEngine):
        if txn is not None:
            rows = await txn.connection.execute_fetchall(sql, args)
            return rows[0] if rows else None
        rows = await engine.read_rows(sql, args)  # rackcard.db.KeptReadersSQLiteEngine, the only one made
        return rows[0] if rows else None
    numbered, n = [], 0
    for part in sql.split("?"):
        numbered.append(part)
        n += 1
        numbered.append(f"${n}")
    sql = "".join(numbered[:-1])
    if txn is not None:
        return await txn.connection.fetchrow(sql, *args)
    if getattr(engine, "pool", None) is not None:
        return await engine.on_connection(lambda connection: connection.fetchrow(sql, *args))
    async with engine.transaction() as transaction:
        return await transaction.connection.fetchrow(sql, *args)
