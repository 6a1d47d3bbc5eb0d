"""Transaction and integrity helpers every app uses (accounts is the bottom layer,
so cmdb and incidents can import this without reaching up to rackcard/)."""

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


def current_engine() -> Engine:
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
