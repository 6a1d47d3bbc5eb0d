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

import asyncio
import contextvars
import datetime as dt
import functools
import inspect
import json
import re
import sqlite3
import types
from typing import Any, Awaitable, Iterable, Mapping, Sequence

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

    def among(self, column: str, values: Iterable[int]) -> str:
        """`column` is one of a set of integers, as a condition. Unlike `IN
        {q.ints()}`, PostgreSQL can answer it from an index under an OR."""
        if self.sqlite:
            return f"{column} IN {self.ints(values)}"
        return f"{column} = ANY({self(sorted({int(v) for v in values}))}::bigint[])"

    def texts(self, values: Iterable[str]) -> str:
        """A set of strings, as a sub-select: `col IN {q.texts(keys)}`."""
        items = sorted(set(values))
        if self.sqlite:
            return f"(SELECT value FROM json_each({self(json.dumps(items))}))"
        return f"(SELECT unnest({self(items)}::text[]))"

    def numbered(self, sql: str, **values: Any) -> str:
        """`sql` with each `{name}` made a parameter (a set of ids as one, see
        ints), left to right: SQLite numbers `?` by position, so a value used
        twice is two parameters."""
        out = []
        rest = sql
        while True:
            cut = min(((rest.find("{" + n + "}"), n) for n in values if "{" + n + "}" in rest), default=None)
            if cut is None:
                return "".join(out) + rest
            at, name = cut
            value = values[name]
            out.append(rest[:at] + (self.ints(value) if isinstance(value, set) else self(value)))
            rest = rest[at + len(name) + 2:]

    async def rows(self, sql: str) -> list[dict[str, Any]]:
        """Run one statement; rows as dicts (what Piccolo's selects return)."""
        return [dict(r) for r in await self.fetch(sql)]

    async def fetch(self, sql: str) -> list[Mapping[str, Any]]:
        """Run one statement; rows as mappings (column name -> value). Inside
        gather_reads(), a SELECT waits for the batch it joins."""
        batch = _batch.get()
        if batch is not None and self.engine.current_transaction.get() is None and _is_read(sql):
            return (await batch.add([(self, sql)]))[0]
        return await self._fetch_now(sql)

    async def _fetch_now(self, sql: str) -> list[Mapping[str, Any]]:
        txn = self.engine.current_transaction.get()
        if txn is None:
            if _is_read(sql):
                # the read session's connection (database.transactions.reading), or a kept or pooled one
                if self.sqlite:
                    return await self.engine.read_rows(sql, self.args, sqlite3.Row)
                return await self.engine.read_rows(sql, self.args)
            # A statement outside any transaction (a test, PostgreSQL's reads): a short transaction of its own.
            async with self.engine.transaction():
                return await self._fetch_now(sql)
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


async def fetch_batch(statements: Sequence[tuple[Sql, str]]) -> list[list[dict[str, Any]]]:
    """Several independent SELECTs in one trip; the rows of each, as dicts.

        a, b = Sql(), Sql()
        contacts, assets = await fetch_batch([(a, f"SELECT ... WHERE client = {a(cid)}"), (b, ...)])

    A statement is the unit of cost on a hot path: a client card is a dozen
    of them, and each round trip costs more CPU (client and server) than the
    indexed read it carries. SQLite runs them in one call on the read
    session's connection (rackcard.db.KeptReadersSQLiteEngine.read_many);
    PostgreSQL gets one statement whose columns are the statements' rows as
    arrays of records (`array_agg`, in each one's order), which asyncpg
    decodes with every value's own type, as a plain fetch would. Inside a transaction they run one after another on it."""
    if not statements:
        return []
    engine = statements[0][0].engine
    txn = engine.current_transaction.get()
    if len(statements) == 1 or (txn is not None and isinstance(engine, SQLiteEngine)):
        return [[dict(r) for r in await q._fetch_now(sql)] for q, sql in statements]
    if isinstance(engine, SQLiteEngine):
        return await engine.read_many([(sql, q.args) for q, sql in statements])
    parts, args = [], []
    for i, (q, sql) in enumerate(statements):
        offset = len(args)
        renumbered = _PG_PARAMETER.sub(lambda m: f"${int(m.group(1)) + offset}", sql)
        parts.append(f"(SELECT array_agg(t) FROM ({renumbered}) t) AS r{i}")
        args.extend(q.args)
    combined = "SELECT " + ", ".join(parts)

    async def run(connection) -> tuple[list[tuple[str, ...]], Any]:
        names = [await _column_names(connection, sql) for _, sql in statements]
        return names, await connection.fetchrow(combined, *args)

    names, row = await (run(txn.connection) if txn is not None else engine.on_connection(run))
    return [[dict(zip(columns, record)) for record in (row[i] or ())] for i, columns in enumerate(names)]


async def fetch_all(statements: Sequence[tuple[Sql, str]]) -> list[list[dict[str, Any]]]:
    """Several independent SELECTs as one read; the rows of each, as dicts.
    Inside gather_reads() they join its batch as one waiter, so a page's dozen
    statements cost one task and one wake-up, not one of each per statement
    (each is a turn of the event loop behind every other request); outside,
    they go out together (fetch_batch)."""
    batch = _batch.get()
    if batch is not None and statements and statements[0][0].engine.current_transaction.get() is None:
        return await batch.add(statements)
    return await fetch_batch(statements)


async def gather_reads(*reads: Awaitable) -> list:
    """`asyncio.gather` for independent reads, whose plain-SQL SELECTs go out
    together on PostgreSQL: the statements the reads reach before waiting on
    anything else are sent as one batch (fetch_batch), then the next round, and
    so on. The reads share the read session's connection (see
    database.transactions.reading). Reads gathered inside a gathered read join
    the outer batch.

    The reads are stepped by the calling task itself while they wait on the
    batch (see _Batch): under load every task, wake-up and done-callback is a
    turn of the event loop behind every other request's ready work, and a
    client card (two sections, one of which gathers two lists) would spend
    ten such turns, twice the latency of the other reads.

    On SQLite, and inside a transaction, they run one after another: one
    connection runs one statement at a time anyway, and SQLite's short reads
    run on the event loop's thread without a trip to batch
    (rackcard.db.KeptReadersSQLiteEngine)."""
    engine = current_engine()
    if isinstance(engine, SQLiteEngine) or engine.current_transaction.get() is not None:
        return await _in_turn(reads)
    outer = _batch.get()
    batch = outer or _Batch()
    token = _batch.set(batch)  # the reads' contexts are copies of this one
    try:
        outcomes = [batch.start(read) for read in reads]
    finally:
        _batch.reset(token)
    if outer is not None:  # a gather inside a gathered read: the outer one steps these too
        if not all(o.done() for o in outcomes):
            await batch.joint(outcomes)
    else:
        await batch.drive(outcomes)
    results = [_outcome(o) for o in outcomes]
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def _outcome(future: asyncio.Future) -> Any:
    if future.cancelled():
        return asyncio.CancelledError()
    return future.exception() or future.result()


async def _in_turn(reads: Sequence[Awaitable]) -> list:
    results = []
    try:
        for read in reads:
            results.append(await read)
    finally:
        for read in reads[len(results) + 1:]:  # after a failure: not started, and never to be
            if inspect.iscoroutine(read):
                read.close()
    return results


class _Batch:
    """The SELECTs the reads of one gather_reads() ask for, sent together, and
    the reads waiting on them.

    The gather_reads() that made the batch (its owner) steps its reads itself,
    each in a context of its own as a task would: a read's first step runs at
    once, and a read waiting on the batch (or on reads it gathered) is resumed
    by the owner as soon as the batch's rows are in, in the same turn of the
    event loop. A read that waits on anything else goes on in a task of its
    own; its statements then go out two turns after they are asked for
    (_flush), with whatever else was asked for by then."""

    def __init__(self) -> None:
        #: each waiter's statements and its future (the rows of each statement)
        self.pending: list[tuple[Sequence[tuple[Sql, str]], asyncio.Future]] = []
        self.flushing: set[asyncio.Task] = set()
        #: the futures the owner settles: the batch's rows, and the joints of gathers inside
        self.ours: set[asyncio.Future] = set()
        #: the reads the owner steps: (coroutine, its context, the future it waits on, its outcome)
        self.waiting: list[tuple[Any, contextvars.Context, asyncio.Future, asyncio.Future]] = []
        #: gathers inside the owner's reads: (the future they wait on, their reads' outcomes)
        self.joints: list[tuple[asyncio.Future, Sequence[asyncio.Future]]] = []
        self.tasks: set[asyncio.Task] = set()
        self.wakeup: asyncio.Future | None = None

    def add(self, statements: Sequence[tuple[Sql, str]]) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.ours.add(future)
        if not self.pending:
            # Two turns on: after the other reads' steps already queued, and the
            # first steps of the reads those start (for reads that run in tasks).
            loop.call_soon(loop.call_soon, self._flush)
        self.pending.append((statements, future))
        return future

    def start(self, read: Awaitable) -> asyncio.Future:
        """A read's outcome, to come; its first step runs now."""
        if not inspect.iscoroutine(read):  # a Piccolo query, say
            read = _awaited(read)
        outcome = asyncio.get_running_loop().create_future()
        self._step(read, contextvars.copy_context(), outcome)
        return outcome

    def _step(self, read, context: contextvars.Context, outcome: asyncio.Future,
              throw: BaseException | None = None) -> None:
        """Run `read` to its next wait (sending it what it waited on, or throwing `throw`)."""
        try:
            waiting_on = context.run(read.throw, throw) if throw is not None else context.run(read.send, None)
        except StopIteration as done:
            outcome.set_result(done.value)
        except asyncio.CancelledError:
            outcome.cancel()
        except BaseException as exc:  # noqa: BLE001 - the read's outcome: gather_reads raises it
            outcome.set_exception(exc)
        else:
            if waiting_on in self.ours:
                self.waiting.append((read, context, waiting_on, outcome))
                return
            task = asyncio.get_running_loop().create_task(_awaited(_resumed(read, waiting_on)), context=context)
            self.tasks.add(task)
            task.add_done_callback(functools.partial(self._task_ended, outcome))

    def _task_ended(self, outcome: asyncio.Future, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if not outcome.done():
            if task.cancelled():
                outcome.cancel()
            elif task.exception() is not None:
                outcome.set_exception(task.exception())
            else:
                outcome.set_result(task.result())
        self._wake()

    def _wake(self) -> None:
        if self.wakeup is not None and not self.wakeup.done():
            self.wakeup.set_result(None)

    def joint(self, outcomes: Sequence[asyncio.Future]) -> asyncio.Future:
        """Done (set by the owner) once every one of `outcomes` is."""
        future = asyncio.get_running_loop().create_future()
        self.ours.add(future)
        self.joints.append((future, outcomes))
        self._wake()
        return future

    def _resume_ready(self) -> None:
        """Resume every read whose wait is over, until none is."""
        while True:
            for joint in [j for j in self.joints if all(o.done() for o in j[1])]:
                self.joints.remove(joint)
                if not joint[0].done():
                    joint[0].set_result(None)
            ready = [w for w in self.waiting if w[2].done()]
            if not ready:
                return
            self.waiting = [w for w in self.waiting if not w[2].done()]
            for read, context, waited, outcome in ready:
                self.ours.discard(waited)
                self._step(read, context, outcome)

    async def drive(self, outcomes: Sequence[asyncio.Future]) -> None:
        """The owner's part: step the reads, sending the batch out whenever they
        all wait, until every read has ended (even when one fails or this is
        cancelled: none may go on using the session's connection after the
        session gave it back)."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                self._resume_ready()
                if all(o.done() for o in outcomes):
                    return
                if self.pending:
                    pending, self.pending = self.pending, []
                    await self._run(pending)
                else:  # the rest wait on tasks (or on a batch a task sent): until one of them ends
                    self.wakeup = loop.create_future()
                    await self.wakeup
        except BaseException as exc:
            self._stop()
            await asyncio.gather(*outcomes, return_exceptions=True)
            raise exc

    def _stop(self) -> None:
        """Cancel every read: those in tasks by their task, the others by
        throwing the cancellation in (twice more if one waits again)."""
        for task in list(self.tasks):
            task.cancel()
        for _ in range(3):
            waiting, self.waiting = self.waiting, []
            for read, context, _waited, outcome in waiting:
                self._step(read, context, outcome, throw=asyncio.CancelledError())
        for read, _context, _waited, outcome in self.waiting:
            read.close()
            outcome.cancel()
        self.waiting = []

    def _flush(self) -> None:
        pending, self.pending = self.pending, []
        if not pending:  # sent already, by the owner
            return
        task = asyncio.get_running_loop().create_task(self._run(pending))
        self.flushing.add(task)
        task.add_done_callback(self.flushing.discard)

    async def _run(self, pending: list[tuple[Sequence[tuple[Sql, str]], asyncio.Future]]) -> None:
        try:
            results = await fetch_batch([statement for statements, _ in pending for statement in statements])
        except BaseException as exc:  # each read raises it (or is cancelled with the batch)
            for _, future in pending:
                if not future.done():
                    future.cancel() if isinstance(exc, asyncio.CancelledError) else future.set_exception(exc)
            self._wake()
            if not isinstance(exc, Exception):
                raise
            return
        at = 0
        for statements, future in pending:
            mine, at = results[at:at + len(statements)], at + len(statements)
            if not future.done():
                future.set_result(mine)
        self._wake()


async def _awaited(awaitable: Awaitable) -> Any:
    return await awaitable


@types.coroutine
def _resumed(read, waiting_on: Any):
    """The rest of a started coroutine, in a task: what it waits on goes to the
    task, and what the task sends or throws back goes to the coroutine."""
    while True:
        try:
            sent = yield waiting_on
        except GeneratorExit:
            read.close()
            raise
        except BaseException as exc:  # noqa: BLE001 - a cancellation, thrown into the read as into any coroutine
            try:
                waiting_on = read.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                waiting_on = read.send(sent)
            except StopIteration as done:
                return done.value


_batch: contextvars.ContextVar[_Batch | None] = contextvars.ContextVar("rackcard_read_batch", default=None)

_PG_PARAMETER = re.compile(r"\$(\d+)")

#: The column names of each batched statement's rows (asyncpg reads a record
#: in an array as a tuple): found once per statement text, by preparing it.
_NAMES: dict[str, tuple[str, ...]] = {}
_NAMES_KEPT = 512


async def _column_names(connection, sql: str) -> tuple[str, ...]:
    names = _NAMES.get(sql)
    if names is None:
        prepared = await connection.prepare(sql)
        names = tuple(a.name for a in prepared.get_attributes())
        if len(_NAMES) >= _NAMES_KEPT:
            _NAMES.clear()
        _NAMES[sql] = names
    return names


_WRITES = re.compile(r"\b(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


def _is_read(sql: str) -> bool:
    """A SELECT, or a WITH whose parts only select (a recursive walk)."""
    head = sql.lstrip()[:6].upper()
    return head == "SELECT" or (head[:4] == "WITH" and not _WRITES.search(sql))


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
