"""Database engines: one URL picks SQLite or PostgreSQL; all tables follow it.

Nothing connects at import time. `use_engine()` binds every registered table
(and Piccolo's migration runner, through piccolo_conf) to one engine, so the
tests can run the same suite against SQLite and PostgreSQL in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import os
import queue
import re
import sqlite3
import threading
import weakref
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator
from urllib.parse import urlparse

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, dict_factory

from database import transactions
from database.transactions import INTEGRITY_ERRORS, atomic, is_sqlite, is_unique_violation  # noqa: F401 (re-exported)

log = logging.getLogger("rackcard.db")

# Piccolo registers a converter for every column declared INTEGER (ids, foreign
# keys, counts) that parses the value's text through Decimal: ~1.5 us a value,
# a fifth of a client card's CPU on SQLite. INTEGER affinity already stores a
# whole number as an integer, which sqlite3 returns as an int with no
# converter at all. (Booleans, timestamps and JSON keep Piccolo's converters.)
sqlite3.converters.pop("INTEGER", None)
_current: Engine | None = None


class _AttributeNames:
    """What `name in dir(obj)` answers, without building and sorting the list.

    Piccolo's ForeignKey.__getattribute__ asks `name not in dir(self)` on every
    public attribute access (to set up lazily referenced tables), and query
    building reads foreign-key attributes thousands of times per client card:
    dir() alone was 6 % of a card's CPU. For an object without `__dir__` (a
    column), dir() lists its `__dict__` and its classes' attributes, which is
    what `in` looks at here; iterating gives dir()'s list."""

    __slots__ = ("_obj",)

    def __init__(self, obj):
        self._obj = obj

    def __contains__(self, name) -> bool:
        try:
            if name in object.__getattribute__(self._obj, "__dict__"):
                return True
        except AttributeError:
            pass
        return any(name in vars(klass) for klass in type(self._obj).__mro__)

    def __iter__(self):
        return iter(dir(self._obj))


def _attribute_names(obj):
    if type(obj).__dir__ is not object.__dir__:  # its own listing: ask it
        return dir(obj)
    return _AttributeNames(obj)


def _speed_up_foreign_keys() -> None:
    from piccolo.columns import column_types

    if getattr(column_types, "dir", None) is None:  # the one dir() there is ForeignKey.__getattribute__'s
        column_types.dir = _attribute_names


_speed_up_foreign_keys()


async def _hand_back(transaction) -> None:
    """Give a transaction's connection back whatever state it is in: closed first
    (an unfinished BEGIN or ROLLBACK leaves it unusable), then released, so the
    pool is whole again (asyncpg shields the release from a second cancel)."""
    connection = transaction.connection
    connection.terminate()
    if transaction.engine.pool:
        await transaction.engine.pool.release(connection)


async def _transaction_enter(self):
    if self._parent is not None:
        return self._parent
    self.connection = await self.get_connection()
    try:
        self.transaction = self.connection.transaction()
        await self.begin()
    except BaseException:
        await _hand_back(self)
        raise
    self.context = self.engine.current_transaction.set(self)
    return self


async def _transaction_exit(self, exception_type, exception, traceback) -> bool:
    if self._parent:
        return exception is None
    try:
        if exception:
            if not self._rolled_back:
                await self.rollback()
        elif not self._committed and not self._rolled_back:
            await self.commit()
    except BaseException:
        await _hand_back(self)
        raise
    else:
        if self.engine.pool:
            await self.engine.pool.release(self.connection)
        else:
            await self.connection.close()
    finally:
        self.engine.current_transaction.reset(self.context)
    return exception is None


def _transactions_always_give_back_their_connection() -> None:
    """Piccolo's PostgreSQL transaction, with its connection handed back however it ends.

    Piccolo releases the connection only after a COMMIT or ROLLBACK that
    succeeded, and not at all when its BEGIN is interrupted. A request
    cancelled at that moment (a server stopping, a client gone) kept its
    connection "idle in transaction" for good, and closing the pool then
    waited for it forever. Here an interrupted BEGIN, COMMIT or ROLLBACK
    closes the connection and releases it; the database rolls the
    transaction back when the connection goes."""
    from piccolo.engine.postgres import PostgresTransaction

    PostgresTransaction.__aenter__ = _transaction_enter
    PostgresTransaction.__aexit__ = _transaction_exit


_transactions_always_give_back_their_connection()


def make_engine(url: str) -> Engine:
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        # sqlite:///relative/path or sqlite:////absolute/path
        path = url[len("sqlite:///"):]
        if not path:
            raise ValueError("RACKCARD_DATABASE_URL: sqlite URL needs a file path, e.g. sqlite:///var/rackcard.sqlite")
        private_file(Path(path))
        # SQLite has one writer: wait for the lock instead of failing at once.
        return KeptReadersSQLiteEngine(path=path, timeout=30)
    if parsed.scheme in {"postgres", "postgresql"}:
        return SessionPostgresEngine(config={"dsn": url})
    raise ValueError(f"RACKCARD_DATABASE_URL: unsupported scheme {parsed.scheme!r} (use sqlite:/// or postgresql://)")


class KeptReadersSQLiteEngine(SQLiteEngine):
    """Piccolo's SQLite engine, with reads on kept-open connections, short ones
    on the event loop's own thread.

    Piccolo opens a new aiosqlite connection, with a thread of its own, for every
    query outside a transaction (~1-2 ms each; a client card makes dozens of
    queries), and inside a transaction spends four hand-offs to its thread on each
    statement (PRAGMA foreign_keys, execute, fetch, close). Here:

    * a SELECT outside a transaction runs on a kept connection; in autocommit mode
      it reads the last commit (WAL: readers never wait for the writer);
    * `read_session()` (database.transactions.reading: the card, search, lists) holds
      one kept connection in a deferred transaction for a burst of SELECTs: one
      consistent view;
    * those reads run on the event loop's own thread while they are short: an
      indexed lookup costs less than handing it to a thread and back (0.1-0.2 ms
      of CPU on a small VM). A statement that runs past INLINE_STEPS SQLite VM
      steps (a few ms) is interrupted and run again, with the rest of its batch,
      in the default thread pool, so a long report does not hold the loop; its
      text is remembered and goes to the thread at once next time;
    * a statement inside a transaction is one hand-off (execute and fetch), the
      PRAGMA once per connection.

    Writes outside a transaction go the way Piccolo sends them."""

    #: Connections kept between reads (a read session holds one for a request:
    #: one per request in flight); more are opened while more reads overlap.
    KEEP = 32
    #: VM steps a statement may run on the event loop's thread (~60-100 ns each).
    INLINE_STEPS = 40_000
    #: Statement texts that ran past INLINE_STEPS, sent to the thread pool at once.
    LONG_KEEP = 512

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._readers: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._session: contextvars.ContextVar[_ReadSession | None] = contextvars.ContextVar(
            f"rackcard_read_session_{id(self)}", default=None)
        self._long: set[str] = set()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(**self.connection_kwargs, check_same_thread=False)
        connection.row_factory = dict_factory
        connection.execute("PRAGMA foreign_keys = 1")
        return connection

    def _take(self) -> sqlite3.Connection:
        try:
            return self._readers.get_nowait()
        except queue.Empty:
            return self._connect()

    def _give_back(self, connection: sqlite3.Connection) -> None:
        if connection.in_transaction or self._readers.qsize() >= self.KEEP:
            connection.close()
        else:
            self._readers.put(connection)

    def _read(self, statements: list[tuple[str, list]], row_factory=dict_factory, fresh: bool = False,
              done: list[list] | None = None) -> list[list]:
        """The rows of each statement (after those already `done`), on a kept connection."""
        done = [] if done is None else done
        connection = self._connect() if fresh else self._take()
        try:
            rows = _fetch_each(connection, statements, row_factory, done)
        except sqlite3.DatabaseError:
            connection.close()
            if fresh:
                raise
            # a kept connection gone stale (the file rewritten under it): once more, afresh
            return self._read(statements, row_factory, fresh=True, done=done)
        except BaseException:
            connection.close()
            raise
        self._give_back(connection)
        return rows

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[None]:
        """One kept connection and one snapshot for the SELECTs made inside (outside
        any transaction). Nested sessions join the outer one."""
        if self._session.get() is not None or self.current_transaction.get() is not None:
            yield
            return
        session = _ReadSession()
        token = self._session.set(session)
        try:
            yield
        finally:
            self._session.reset(token)
            if session.connection is not None:
                session.close(self)

    async def read_rows(self, query: str, args=(), row_factory=dict_factory) -> list:
        """A SELECT on a kept connection (database.transactions.read_row: the token and
        session checks every request makes), or on the read session's. Rows are
        dicts, or what `row_factory` makes (sqlite3.Row: by name and by index)."""
        return (await self.read_many([(query, list(args))], row_factory))[0]

    async def read_many(self, statements: list[tuple[str, list]], row_factory=dict_factory) -> list[list]:
        """Several SELECTs: the rows of each. Short ones run here; from the first
        long one (or when the session's connection is busy in a thread) the rest
        go to a thread, in one hand-off."""
        session = self._session.get()
        done: list[list] = []
        if not any(query in self._long for query, _ in statements):
            if session is not None:
                finished = session.read_inline(self, statements, row_factory, done)
            else:
                finished = self._read_inline(statements, row_factory, done)
            if finished:
                return done
        loop = asyncio.get_running_loop()
        if session is not None:
            return await loop.run_in_executor(None, session.read, self, statements, row_factory, done)
        return await loop.run_in_executor(None, self._read, statements, row_factory, False, done)

    def _read_inline(self, statements: list[tuple[str, list]], row_factory, done: list[list]) -> bool:
        connection = self._take()
        if _run_inline(self, connection, statements, row_factory, done):
            self._give_back(connection)
            return True
        connection.close()  # interrupted, or a failure the thread's attempt will tell apart
        return False

    def remember_long(self, query: str) -> None:
        if len(self._long) >= self.LONG_KEEP:
            self._long.clear()
        self._long.add(query)

    async def _run_in_new_connection(self, query: str, args=None, query_type: str = "generic", table=None):
        if query_type == "generic" and query.lstrip()[:6].upper() == "SELECT":
            return await self.read_rows(query, args or [])
        return await super()._run_in_new_connection(query, args, query_type, table)

    async def _run_in_existing_connection(self, connection, query: str, args=None, query_type: str = "generic",
                                          table=None):
        if query_type == "insert" and self.get_version_sync() < 3.35:  # no RETURNING: Piccolo's way
            return await super()._run_in_existing_connection(connection, query, args, query_type, table)
        connection.row_factory = dict_factory
        if connection not in _FOREIGN_KEYS_ON:
            await connection.execute("PRAGMA foreign_keys = 1")
            _FOREIGN_KEYS_ON.add(connection)
        return await connection.execute_fetchall(query, args or [])

    def close_readers(self) -> None:
        while True:
            try:
                self._readers.get_nowait().close()
            except queue.Empty:
                return


class SessionPostgresEngine(PostgresEngine):
    """Piccolo's PostgreSQL engine, where a read session (database.transactions.reading:
    the card, search, lists) takes one pooled connection for all its statements
    instead of one per statement: a client card is some fifteen statements, and
    a pool acquire and release costs more CPU than the indexed read itself. The
    session's statements run one after another (a lock: tasks started inside
    share the connection); transactions go the way Piccolo sends them.

    A read that ended cleanly keeps its connection for the next read (up to
    KEPT of them) instead of handing it back to asyncpg's pool: asyncpg
    releases in a task of its own (asyncio.shield), three turns of the event
    loop each behind every other request's ready work, and meanwhile the
    request's next read (the token check's, then the handler's) would hold a
    second connection: 16 requests in flight would need more than the pool's
    20, and wait for one (bench/RESULTS.md, http_load, 2026-11-30 evening)."""

    #: connections kept between reads, at most (each process's share of the pool)
    KEPT = 8

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._session: contextvars.ContextVar[_PgReadSession | None] = contextvars.ContextVar(
            f"rackcard_pg_read_session_{id(self)}", default=None)
        self._kept: list = []

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[None]:
        if self._session.get() is not None or self.current_transaction.get() is not None or self.pool is None:
            yield
            return
        session = _PgReadSession(self)
        token = self._session.set(session)
        try:
            yield
        finally:
            self._session.reset(token)
            await session.close()

    async def _run_in_pool(self, query: str, args=None):
        session = self._session.get()
        if session is None:
            return await super()._run_in_pool(query, args)
        return await session.fetch(query, args or ())

    async def read_rows(self, query: str, args=()) -> list:
        """A statement outside a transaction: on the read session's connection, or a pooled one."""
        return await self._run_in_pool(query, list(args))

    async def on_connection(self, work):
        """`await work(connection)` on the read session's connection, or a pooled one."""
        session = self._session.get()
        if session is not None:
            return await session.run(work)
        session = _PgReadSession(self)  # a read of its own: a session of one statement
        try:
            return await session.run(work)
        finally:
            await session.close()

    async def take(self):
        """A connection for reads: a kept one, or one from the pool."""
        while self._kept:
            connection = self._kept.pop()
            if not connection.is_closed():
                return connection
            give_back(self.pool, connection)  # lost (a database restart): the pool replaces it
        return await self.pool.acquire()

    def put_back(self, connection, clean: bool) -> None:
        """Keep a connection whose reads ended cleanly; the pool gets any other
        (cancelled mid-statement, failed, in a transaction) to reset or replace."""
        if (clean and len(self._kept) < self.KEPT and not connection.is_closed()
                and not connection.is_in_transaction()):
            self._kept.append(connection)
        else:
            give_back(self.pool, connection)

    async def return_kept(self) -> None:
        """Every kept connection back to the pool (before it closes)."""
        kept, self._kept = self._kept, []
        for connection in kept:
            try:
                await self.pool.release(connection)
            except Exception:  # noqa: BLE001 - a lost connection: the pool closes it anyway
                log.debug("a kept connection could not be given back", exc_info=True)


class _PgReadSession:
    __slots__ = ("engine", "connection", "lock", "clean")

    def __init__(self, engine: SessionPostgresEngine) -> None:
        self.engine = engine
        self.connection = None
        self.lock = asyncio.Lock()
        self.clean = True

    async def fetch(self, query: str, args) -> list:
        return await self.run(lambda connection: connection.fetch(query, *args))

    async def run(self, work):
        async with self.lock:
            if self.connection is None:
                self.connection = await self.engine.take()
            try:
                return await work(self.connection)
            except BaseException:
                self.clean = False
                raise

    async def close(self) -> None:
        async with self.lock:
            connection, self.connection = self.connection, None
        if connection is not None:
            self.engine.put_back(connection, self.clean)


def give_back(pool, connection) -> None:
    """Return a connection to the pool without waiting for it: a read leaves
    nothing to undo, so nothing needs to wait for asyncpg's release (a task of
    its own); shutdown waits for it (stop)."""
    task = asyncio.get_running_loop().create_task(pool.release(connection))
    _releasing.add(task)
    task.add_done_callback(_released)


_releasing: set[asyncio.Task] = set()


async def given_back() -> None:
    """Once every read's connection on its way back (give_back) is in the pool."""
    loop = asyncio.get_running_loop()
    if mine := [t for t in _releasing if t.get_loop() is loop]:
        await asyncio.gather(*mine, return_exceptions=True)


def _released(task: asyncio.Task) -> None:
    _releasing.discard(task)
    if not task.cancelled() and task.exception() is not None:  # asyncpg closed the connection; the pool makes a new one
        log.warning("a read's database connection could not be given back: %s", task.exception())


#: aiosqlite connections (of transactions) that already have foreign keys on.
_FOREIGN_KEYS_ON: "weakref.WeakSet" = weakref.WeakSet()


def _fetch_all(connection: sqlite3.Connection, query: str, args: list, row_factory=dict_factory) -> list:
    cursor = connection.cursor()
    cursor.row_factory = row_factory
    try:
        return cursor.execute(query, args).fetchall()
    finally:
        cursor.close()


def _fetch_each(connection: sqlite3.Connection, statements: list[tuple[str, list]], row_factory,
                done: list[list], budget: _StepBudget | None = None) -> list[list]:
    """Run the statements after the `done` ones, appending the rows of each to
    `done`; each with a full `budget` when one is given (the connection's progress handler)."""
    for query, args in statements[len(done):]:
        if budget is not None:
            budget.refill()
        done.append(_fetch_all(connection, query, args, row_factory))
    return done


class _StepBudget:
    """A progress handler, called every STEPS_PER_CALL VM steps, that interrupts the
    statement once it has spent its budget. The budget is refilled before each
    statement: SQLite counts a cached statement's steps across all its runs."""

    STEPS_PER_CALL = 1_000
    __slots__ = ("calls", "calls_left")

    def __init__(self, steps: int) -> None:
        self.calls = steps // self.STEPS_PER_CALL
        self.calls_left = self.calls

    def refill(self) -> None:
        self.calls_left = self.calls

    def __call__(self) -> bool:
        self.calls_left -= 1
        return self.calls_left < 0


def _run_inline(engine: KeptReadersSQLiteEngine, connection: sqlite3.Connection,
                statements: list[tuple[str, list]], row_factory, done: list[list]) -> bool:
    """Run the statements on this thread while each stays under INLINE_STEPS; False
    when one did not (it is remembered as long) or failed: the rest, from that one,
    is for a thread."""
    budget = _StepBudget(engine.INLINE_STEPS)
    connection.set_progress_handler(budget, budget.STEPS_PER_CALL)
    try:
        _fetch_each(connection, statements, row_factory, done, budget)
        return True
    except sqlite3.OperationalError as error:
        if error.sqlite_errorcode == sqlite3.SQLITE_INTERRUPT:
            engine.remember_long(statements[len(done)][0])
        return False
    except sqlite3.DatabaseError:
        return False
    finally:
        connection.set_progress_handler(None, 0)


class _ReadSession:
    """A kept connection in a deferred transaction, taken at the first read. A
    lock keeps two threads off the connection (tasks started inside a session
    share it)."""

    __slots__ = ("connection", "lock")

    def __init__(self) -> None:
        self.connection: sqlite3.Connection | None = None
        self.lock = threading.Lock()

    def read(self, engine: KeptReadersSQLiteEngine, statements: list[tuple[str, list]],
             row_factory=dict_factory, done: list[list] | None = None) -> list[list]:
        """The rows of each statement (after those already `done`)."""
        with self.lock:
            return _fetch_each(self._begun(engine), statements, row_factory, [] if done is None else done)

    def read_inline(self, engine: KeptReadersSQLiteEngine, statements: list[tuple[str, list]], row_factory,
                    done: list[list]) -> bool:
        """`read` on the event loop's thread, as far as `_run_inline` goes; False at
        once when a thread holds the connection (the loop must not wait for it)."""
        if not self.lock.acquire(blocking=False):
            return False
        try:
            return _run_inline(engine, self._begun(engine), statements, row_factory, done)
        except sqlite3.DatabaseError:  # BEGIN failed twice: the thread's attempt raises it
            return False
        finally:
            self.lock.release()

    def _begun(self, engine: KeptReadersSQLiteEngine) -> sqlite3.Connection:
        if self.connection is None:
            connection = engine._take()
            try:
                connection.execute("BEGIN")
            except sqlite3.DatabaseError:  # a kept connection gone stale
                connection.close()
                connection = engine._connect()
                connection.execute("BEGIN")
            self.connection = connection
        return self.connection

    def close(self, engine: KeptReadersSQLiteEngine) -> None:
        with self.lock:
            connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            connection.rollback()  # read only: ends the snapshot
        except sqlite3.Error:
            connection.close()
            return
        engine._give_back(connection)


def private_dir(path: Path) -> None:
    """A directory only the service's user may enter (var/: database, secret key, spool)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(PermissionError):
        path.chmod(0o700)


def private_file(path: Path) -> None:
    """The SQLite file and its -wal/-shm companions readable by the service's user
    only (SQLite creates the companions with the main file's mode)."""
    if not path.parent.exists():
        private_dir(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for item in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if item.exists():
            with contextlib.suppress(PermissionError):
                item.chmod(0o600)


def all_tables() -> list:
    from piccolo.apps.migrations.tables import Migration
    from piccolo.conf.apps import Finder

    # Piccolo's own bookkeeping table too, or a second engine would believe
    # the first engine's migrations were already applied.
    return [*Finder().get_table_classes(), Migration]


def use_engine(engine: Engine) -> Engine:
    """Bind every table and the migration runner to `engine`."""
    global _current
    _current = engine
    transactions.bind(engine)
    for table in all_tables():
        table._meta.db = engine
    return engine


def current_engine() -> Engine:
    if _current is None:
        from rackcard.settings import Settings

        use_engine(make_engine(Settings.from_env().database_url))
    assert _current is not None
    return _current


async def _light_reset(connection) -> None:
    # asyncpg's default reset (unlock advisory locks, CLOSE ALL, UNLISTEN, RESET ALL)
    # is a second round trip after every query taken from the pool; we use no
    # advisory locks, LISTEN or session SETs, so only an open transaction needs undoing.
    if connection.is_in_transaction():
        await connection.execute("ROLLBACK")


#: How rackcard's own PostgreSQL sessions plan. Each statement is planned once
#: per connection (its text is constant: ids go in as one array parameter), so
#: a bulk write must find its rows by a unique key (ON CONFLICT), not by a
#: plan made while the table was empty. An index probe is costed as what it is
#: for an inventory that lives in memory or on SSD (1.1, the usual SSD setting)
#: rather than the default 4, a spinning disk's seek: at 4 the card's assets
#: join their racks by reading and hashing all 2,000 racks of the load data
#: (0.47 ms of the card's 0.66 ms on the server) where nine index probes take
#: 0.1 ms, and a client of 500 assets is no slower.
PG_SESSION_SETTINGS = {"plan_cache_mode": "force_generic_plan", "random_page_cost": "1.1"}


#: Connections each web process may hold (docker-compose.yml sizes PostgreSQL's max_connections by it).
POOL_SIZE = 20


async def start(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine):
        if isinstance(engine, SessionPostgresEngine):
            engine._kept = []  # any from an earlier pool are not this one's
        await engine.start_connection_pool(min_size=2, max_size=POOL_SIZE, reset=_light_reset,
                                           server_settings=PG_SESSION_SETTINGS)
    else:
        # WAL lets readers go on while one writer writes.
        await engine._run_in_new_connection("PRAGMA journal_mode=WAL")


#: How long closing waits for connections still in use before cutting them.
POOL_CLOSE_S = 10.0


async def stop(engine: Engine) -> None:
    if isinstance(engine, PostgresEngine):
        pool = engine.pool
        if pool is not None:
            if isinstance(engine, SessionPostgresEngine):
                await engine.return_kept()
            await given_back()
            try:
                await asyncio.wait_for(pool.close(), POOL_CLOSE_S)
            except asyncio.TimeoutError:  # a connection never given back: do not wait for it forever
                log.warning("database connections still in use after %.0f s at shutdown: closing them", POOL_CLOSE_S)
                pool.terminate()
            engine.pool = None
    elif isinstance(engine, KeptReadersSQLiteEngine):
        engine.close_readers()


async def migrate(quiet: bool = True) -> None:
    """Apply every app's migrations, in dependency order."""
    import io

    from piccolo.apps.migrations.commands.forwards import run_forwards

    current_engine()
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
        result = await run_forwards("all")
    if not result.success:
        raise RuntimeError(f"migrations failed: {result.message}\n{sink.getvalue()}")


@asynccontextmanager
async def connected(url: str, run_migrations: bool = True) -> AsyncIterator[Engine]:
    engine = use_engine(make_engine(url))
    await start(engine)
    try:
        if run_migrations:
            await migrate()
        yield engine
    finally:
        await stop(engine)


@functools.cache
def _known_migrations() -> frozenset[tuple[str, str]]:
    """(app, migration id) of every migration file shipped, read once from the files."""
    from piccolo.conf.apps import Finder

    found = set()
    for app in Finder().get_app_configs():
        for path in Path(app.migrations_folder_path).glob("*.py"):
            match = re.search(r'^ID\s*=\s*["\']([^"\']+)["\']', path.read_text(), re.MULTILINE)
            if match:
                found.add((app.app_name, match.group(1)))
    return frozenset(found)


async def pending_migrations() -> list[str]:
    """Migrations shipped with this code but not applied to the database ("app:id"), oldest first."""
    from piccolo.apps.migrations.tables import Migration

    applied = {(r["app_name"], r["name"]) for r in await Migration.select(Migration.app_name, Migration.name)}
    return sorted(f"{app}:{mid}" for app, mid in _known_migrations() - applied)
