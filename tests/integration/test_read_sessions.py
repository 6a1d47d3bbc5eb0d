"""A burst of reads (the client card, the search box, a list) holds one
connection from its first statement to its end, on both engines; statements
inside a SQLite transaction cost one hand-off to its thread each, and SQLite's
short reads none. These are what took the HTTP load mix from 5-9 ms of CPU per
request to 2 (bench/http_load.py)."""

from __future__ import annotations

import types

import aiosqlite
import pytest

from accounts.viewer import Viewer
from cmdb.tables import Client, Site
from database import rawsql
from database.transactions import atomic, reading
from rackcard import db as rdb

STAFF = Viewer(user_id=None, email="noc@example.net", role="noc")


async def _some_reads() -> None:
    """Piccolo selects and plain SQL, as the card and the lists mix them."""
    for _ in range(4):
        await Client.select(Client.id).limit(5)
        await rawsql.fetch("SELECT id, name FROM cmdb_site WHERE id > {}", 0)


async def test_a_read_session_takes_one_connection_for_all_its_statements(db, monkeypatch):
    await _some_reads()  # the kept connections exist now
    if rdb.is_sqlite(db):
        opened = []
        monkeypatch.setattr(aiosqlite.Connection, "__init__",
                            lambda self, *a, **k: (opened.append(1), _init(self, *a, **k))[1])
        connects = []
        connect = db._connect
        monkeypatch.setattr(db, "_connect", lambda: (connects.append(1), connect())[1])
        async with reading():
            await _some_reads()
        # no aiosqlite connection (and its thread) per burst; the kept connection serves it
        assert opened == [] and connects == []
    else:
        acquired = []
        pool_class = type(db.pool)
        acquire = pool_class.acquire
        monkeypatch.setattr(pool_class, "acquire", lambda self, *a, **k: (acquired.append(1), acquire(self, *a, **k))[1])
        async with reading():
            await _some_reads()
        assert len(acquired) <= 1  # none when the last read kept its connection (rackcard.db.SessionPostgresEngine)
        assert db.pool.get_size() - db.pool.get_idle_size() == len(db._kept) == 1  # given back (kept) at the end


_init = aiosqlite.Connection.__init__


async def test_a_read_session_on_sqlite_reads_one_snapshot_and_never_blocks_the_writer(db):
    if not rdb.is_sqlite(db):
        pytest.skip("SQLite's read sessions hold a snapshot (WAL)")
    await Site.insert(Site(code="DC1", name="DC One", kind="datacenter"))
    async with reading():
        before = await Site.count()
        async with atomic():  # a write inside goes its own way and commits at once
            await Site.insert(Site(code="DC2", name="DC Two", kind="datacenter"))
        assert await Site.count() == before == 1  # the session's view is the one it began with
    assert await Site.count() == 2


async def test_a_statement_inside_a_sqlite_transaction_is_one_hand_off(db, monkeypatch):
    if not rdb.is_sqlite(db):
        pytest.skip("aiosqlite's thread")
    calls = []
    execute = aiosqlite.Connection._execute

    async def counted(self, fn, *args, **kwargs):
        calls.append(fn)
        return await execute(self, fn, *args, **kwargs)

    async with atomic():
        monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
        await Client.select(Client.id).limit(1)  # the first also turns foreign keys on for the connection
        calls.clear()
        for _ in range(5):
            await Client.select(Client.id).limit(1)
        assert len(calls) == 5  # Piccolo's own way: PRAGMA, execute, fetch, close for each


def _count_trips(monkeypatch) -> list:
    """A list that grows by one for each statement sent to PostgreSQL (asyncpg's fetch and fetchrow)."""
    import asyncpg

    trips: list = []
    for name in ("fetch", "fetchrow"):
        original = getattr(asyncpg.connection.Connection, name)

        def counting(original):
            async def counted(self, *args, **kwargs):
                trips.append(1)
                return await original(self, *args, **kwargs)
            return counted

        monkeypatch.setattr(asyncpg.connection.Connection, name, counting(original))
    return trips


async def test_a_client_card_is_one_trip_to_postgresql(db, monkeypatch):
    """Every statement of the card starts from the client id (the racks, the
    dependency walk with its upstream assets, the services' assets and the
    prefixes' use select the client's rows themselves), so the inventory and
    the incidents go out as one batch (database.rawsql.gather_reads). Each
    trip costs the card a wait behind every other request in the loop."""
    if rdb.is_sqlite(db):
        pytest.skip("PostgreSQL's round trips (SQLite's reads take none: see the next test)")

    from cmdb_seed import seed
    from rackcard.composed import build_card

    ids = await seed()
    await build_card(STAFF, ids["acme"])  # statements prepared, column names known
    trips = _count_trips(monkeypatch)
    card = await build_card(STAFF, ids["acme"])
    assert card["dependencies"]["upstream_assets"] and card["racks"] and card["prefixes"]  # every part had rows
    assert len(trips) == 1, trips


def _suspensions(coroutine) -> tuple[types.GeneratorType, list[str]]:
    """`coroutine` run as the awaiting task's own steps, and for each time it
    gave the event loop back, the innermost function it was waiting in."""
    waits: list[str] = []

    @types.coroutine
    def stepped():
        sent, thrown = None, None
        while True:
            try:
                waiting_on = coroutine.throw(thrown) if thrown is not None else coroutine.send(sent)
            except StopIteration as done:
                return done.value
            frame, inner = None, coroutine
            while inner is not None:
                frame = getattr(inner, "cr_frame", None) or getattr(inner, "gi_frame", None) or frame
                inner = getattr(inner, "cr_await", None) or getattr(inner, "gi_yieldfrom", None)
            waits.append(f"{frame.f_code.co_filename}:{frame.f_code.co_name}")
            try:
                sent, thrown = (yield waiting_on), None
            except BaseException as exc:  # noqa: BLE001 - passed on, as a task would
                sent, thrown = None, exc

    return stepped(), waits


async def test_a_client_card_on_postgresql_waits_only_on_the_database(db):
    """The card's task gives the event loop back only while PostgreSQL answers:
    its two sections, and the two lists the incidents section gathers, are
    stepped by the card's own task (database.rawsql.gather_reads), not as tasks
    to start, wake and join. Under load each of those was a turn of the loop
    behind every other request's ready work: ten a card, its p50 twice the
    other reads'."""
    if rdb.is_sqlite(db):
        pytest.skip("PostgreSQL's batches (SQLite's reads wait on nothing: see test_a_client_card_on_sqlite_...)")
    import asyncio

    from cmdb_seed import seed
    from rackcard.composed import build_card

    ids = await seed()
    for _ in range(4):  # statements prepared on the pool's connections
        await build_card(STAFF, ids["acme"])
    loop = asyncio.get_running_loop()
    created = []

    def counting(loop, coro, **kwargs):
        created.append(getattr(coro, "__qualname__", repr(coro)))
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counting)
    try:
        stepped, waits = _suspensions(build_card(STAFF, ids["acme"]))
        card = await stepped
    finally:
        loop.set_task_factory(None)
    assert card["racks"] and card["dependencies"]["edges"]
    assert waits and all("/asyncpg/" in w for w in waits), waits
    assert all("release" in name for name in created), created  # only the connection on its way back


async def test_gathered_reads_on_postgresql_batch_nest_wait_elsewhere_and_end_together(db, monkeypatch):
    """What gather_reads promises, whatever a read does: the statements reached
    before any other wait go out as one trip, a gather inside a read joins it,
    a Piccolo query and a read that first waits on something else go their own
    way, and when one read fails the error comes only after every other read
    has ended (none may use the session's connection once it is given back)."""
    if rdb.is_sqlite(db):
        pytest.skip("PostgreSQL's batches")
    import asyncio

    await Site.insert(Site(code="DC1", name="DC One", kind="datacenter"), Site(code="DC2", name="DC Two",
                                                                                kind="datacenter"))

    async def sites(n: int) -> list[str]:
        rows = await rawsql.fetch("SELECT code FROM cmdb_site WHERE id > {} ORDER BY code LIMIT {}", 0, n)
        return [r["code"] for r in rows]

    async def nested() -> list:
        return await rawsql.gather_reads(sites(1), sites(2))

    async def later() -> list[str]:
        await asyncio.sleep(0.01)
        return await sites(2)

    async with reading():
        await nested()  # prepared
        trips = _count_trips(monkeypatch)
        first, inner, piccolo, after = await rawsql.gather_reads(
            sites(2), nested(), Site.select(Site.code).order_by(Site.code).first(), later())
    assert first == ["DC1", "DC2"] and inner == [["DC1"], ["DC1", "DC2"]]
    assert piccolo == {"code": "DC1"} and after == ["DC1", "DC2"]
    assert len(trips) == 3  # the first round together; Piccolo's query; the late read's

    ended = []

    async def failing() -> None:
        await sites(1)
        raise ValueError("no such thing")

    async def slow() -> None:
        await asyncio.sleep(0.05)
        await sites(1)
        ended.append("slow")

    async with reading():
        with pytest.raises(ValueError, match="no such thing"):
            await rawsql.gather_reads(failing(), slow(), nested())
        assert ended == ["slow"]
        assert await sites(1) == ["DC1"]  # the session's connection is whole


async def test_a_cancelled_gather_on_postgresql_ends_every_read_first(db):
    """A request cancelled while its batch is out (a client gone, a shutdown):
    every read gets the cancellation and finishes its own cleanup before the
    gather gives up, and the pool gets its connection back in working order."""
    if rdb.is_sqlite(db):
        pytest.skip("PostgreSQL's batches")
    import asyncio

    cleaned = []

    async def read(label: str, sql: str) -> None:
        try:
            await rawsql.fetch(sql)
        finally:
            cleaned.append(label)

    async def nested() -> None:
        await rawsql.gather_reads(read("inner", "SELECT 1 AS one"), read("inner sleep", "SELECT pg_sleep(5) AS s"))

    async def waiting_elsewhere() -> None:
        try:
            await asyncio.sleep(5)
        finally:
            cleaned.append("elsewhere")

    async def request() -> None:
        async with reading():
            await rawsql.gather_reads(read("outer", "SELECT 2 AS two"), nested(), waiting_elsewhere())

    task = asyncio.create_task(request())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(cleaned) == ["elsewhere", "inner", "inner sleep", "outer"]
    await rdb.given_back()
    assert db.pool.get_size() - db.pool.get_idle_size() == len(db._kept)  # the cancelled session's went to the pool
    assert [dict(r) for r in await rawsql.fetch("SELECT 3 AS three")] == [{"three": 3}]


async def test_reads_on_postgresql_keep_their_connection_for_the_next(db, monkeypatch):
    """A token check then a handler's read session (every API request) run on a
    kept connection, with no trip through asyncpg's pool, whose release is a
    task of its own and three turns of the event loop while the next read holds
    a second connection: sixteen such requests at once then took twenty, and
    waited for more. A read that fails gives its connection to the pool to reset."""
    if rdb.is_sqlite(db):
        pytest.skip("PostgreSQL's pool")
    import asyncio

    import asyncpg

    from database.transactions import read_row

    async def request() -> None:
        assert (await read_row("SELECT 1 AS one"))["one"] == 1
        async with reading():
            await _some_reads()

    await request()
    pool_class = type(db.pool)
    calls = []
    for name in ("acquire", "release"):
        original = getattr(pool_class, name)
        monkeypatch.setattr(pool_class, name,
                            lambda self, *a, _name=name, _original=original, **k: (calls.append(_name),
                                                                                  _original(self, *a, **k))[1])
    for _ in range(3):
        await request()
    assert calls == [] and len(db._kept) == 1

    await asyncio.gather(*(request() for _ in range(16)))
    await rdb.given_back()
    assert db.pool.get_size() <= 16

    with pytest.raises(asyncpg.DataError):
        await read_row("SELECT 1 / 0 AS boom")
    await rdb.given_back()
    assert calls[-1] == "release" and db.pool.get_size() - db.pool.get_idle_size() == len(db._kept)


async def test_postgresql_sessions_plan_for_an_inventory_in_memory(db):
    """rackcard's connections plan each statement once and cost an index probe
    as on SSD or in memory (rackcard.db.PG_SESSION_SETTINGS): at the default
    (a disk seek) the card's assets were joined to their racks by hashing all
    2,000 racks of the load data, a third of PostgreSQL's CPU per request."""
    if rdb.is_sqlite(db):
        pytest.skip("PostgreSQL's planner")
    rows = await rawsql.fetch("SELECT current_setting('random_page_cost') AS cost,"
                              " current_setting('plan_cache_mode') AS mode")
    assert (rows[0]["cost"], rows[0]["mode"]) == ("1.1", "force_generic_plan")


async def test_a_search_is_one_trip_to_postgresql(db, monkeypatch):
    """An address's owner and a management address's client are joined in, and
    each tier of a text search waits as one read: an address and a name that
    matches exactly each cost one trip."""
    if rdb.is_sqlite(db):
        pytest.skip("PostgreSQL's round trips")

    from cmdb.search import search
    from cmdb_seed import seed

    await seed()
    trips = _count_trips(monkeypatch)
    for q, label in (("10.10.5.11", "10.10.5.11"), ("10.10.5.10", "sw-acme-1"), ("Acme Holdings", "Acme Holdings")):
        await search(STAFF, q)  # statements prepared, column names known
        trips.clear()
        hits = await search(STAFF, q)
        assert any(h["label"] == label and h["client_name"] for h in hits), hits
        assert len(trips) == 1, (q, trips)


async def test_a_client_card_on_sqlite_is_one_turn_of_the_event_loop(db):
    """Its reads run on the loop's thread one after another, with no task to wait
    for: under load the card does not queue behind every other request once per
    batch (it had twice the latency of the other reads of the HTTP load mix)."""
    if not rdb.is_sqlite(db):
        pytest.skip("SQLite's reads")
    import asyncio

    from cmdb_seed import seed
    from rackcard.composed import build_card

    ids = await seed()
    await build_card(STAFF, ids["acme"])
    turns = 0

    async def ticking() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    ticker = asyncio.create_task(ticking())
    await asyncio.sleep(0)
    before = turns
    card = await build_card(STAFF, ids["acme"])
    during = turns - before
    ticker.cancel()
    assert card["dependencies"]["upstream_assets"] and card["racks"] and card["prefixes"]
    assert during == 0


async def test_sqlite_keeps_a_connection_for_each_request_in_flight(db, monkeypatch):
    """Sixteen requests reading at once each hold a connection; the next sixteen
    find them kept (opening one costs more than the reads of a card)."""
    if not rdb.is_sqlite(db):
        pytest.skip("SQLite's kept connections")
    import asyncio

    async def request() -> None:
        async with reading():
            await _some_reads()

    await asyncio.gather(*(request() for _ in range(16)))
    connects = []
    connect = db._connect
    monkeypatch.setattr(db, "_connect", lambda: (connects.append(1), connect())[1])
    await asyncio.gather(*(request() for _ in range(16)))
    assert connects == []


#: A statement that runs far past KeptReadersSQLiteEngine.INLINE_STEPS VM steps.
_LONG = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000) SELECT count(*) AS c FROM n"


def _count_hand_offs(monkeypatch) -> list:
    import asyncio

    loop = asyncio.get_running_loop()
    hand_offs = []
    run_in_executor = loop.run_in_executor
    monkeypatch.setattr(loop, "run_in_executor",
                        lambda executor, fn, *args: (hand_offs.append(fn), run_in_executor(executor, fn, *args))[1])
    return hand_offs


async def test_sqlite_runs_short_reads_on_the_event_loops_thread(db, monkeypatch):
    """An indexed read costs less than handing it to a thread and back: the token
    check, a card's batches and a list's reads take no hand-off at all."""
    if not rdb.is_sqlite(db):
        pytest.skip("SQLite's reads")
    from cmdb_seed import seed
    from rackcard.composed import build_card

    ids = await seed()
    await build_card(STAFF, ids["acme"])
    hand_offs = _count_hand_offs(monkeypatch)
    card = await build_card(STAFF, ids["acme"])
    await _some_reads()
    async with reading():
        await _some_reads()
    assert card["assets"]["items"] and hand_offs == []
    # SQLite counts a cached statement's steps over all its runs: the budget is per run
    q = rawsql.Sql()
    steps_per_run = 40  # about, for the ten-row read below
    for _ in range(3 * db.INLINE_STEPS // steps_per_run):
        await q.rows("SELECT id, code FROM cmdb_site WHERE id > 0 LIMIT 10")
    assert hand_offs == [] and not db._long


async def test_sqlite_finishes_a_long_read_in_a_thread_on_the_sessions_snapshot(db, monkeypatch):
    """A statement past the budget is interrupted and run again, with the rest of
    its batch, in a thread, on the same connection and snapshot; its text is then
    sent to the thread at once (no second interrupted attempt)."""
    if not rdb.is_sqlite(db):
        pytest.skip("SQLite's reads")
    await Site.insert(Site(code="DC1", name="DC One", kind="datacenter"))
    hand_offs = _count_hand_offs(monkeypatch)
    attempts = []
    run_inline = rdb._run_inline
    monkeypatch.setattr(rdb, "_run_inline", lambda *a: (attempts.append(a[2][len(a[4])][0]), run_inline(*a))[1])
    async with reading():
        assert await Site.count() == 1  # the snapshot begins here, on the loop's thread
        async with atomic():
            await Site.insert(Site(code="DC2", name="DC Two", kind="datacenter"))
        q = rawsql.Sql()
        long_rows, sites = await rawsql.fetch_batch([(q, _LONG), (rawsql.Sql(), "SELECT count(*) AS c FROM cmdb_site")])
    assert long_rows == [{"c": 300000}]
    assert sites == [{"c": 1}]  # the rest of the batch ran in the thread, on the session's snapshot
    assert len(hand_offs) == 1
    assert _LONG in db._long
    attempts.clear()
    assert [dict(r) for r in await rawsql.Sql().fetch(_LONG)] == [{"c": 300000}]
    assert attempts == [] and len(hand_offs) == 2  # remembered: straight to the thread


async def test_sqlite_does_not_wait_on_the_loop_for_a_session_busy_in_a_thread(db):
    """Tasks of one read session share its connection: while a thread holds it, a
    short read goes to a thread too rather than block the loop on the lock."""
    if not rdb.is_sqlite(db):
        pytest.skip("SQLite's reads")
    session = rdb._ReadSession()
    done: list = []
    with session.lock:
        assert session.read_inline(db, [("SELECT 1 AS one", [])], rdb.dict_factory, done) is False
    assert session.read_inline(db, [("SELECT 1 AS one", [])], rdb.dict_factory, done) is True
    assert done == [[{"one": 1}]]
    session.close(db)


async def test_sqlite_reads_whole_numbers_without_a_python_converter(db):
    """Piccolo's converter for INTEGER columns parsed each id and count through
    Decimal (a fifth of a card's CPU); SQLite hands integers over as ints, and
    both Piccolo's selects and plain SQL still read ints (booleans and
    timestamps keep their converters)."""
    if not rdb.is_sqlite(db):
        pytest.skip("SQLite's column converters")
    import datetime as dt
    import sqlite3

    assert "INTEGER" not in sqlite3.converters
    assert {"BOOLEAN", "TIMESTAMPTZ"} <= set(sqlite3.converters)
    site = Site(code="KHM", name="Khimki")
    await site.save()
    await Client(code="ACME", name="Acme", self_service_power=True).save()
    (client,) = await Client.select(Client.id, Client.self_service_power, Client.created_at)
    assert type(client["id"]) is int and client["self_service_power"] is True
    assert isinstance(client["created_at"], dt.datetime)
    async with reading():
        (row,) = await rawsql.fetch("SELECT id, self_service_power FROM cmdb_client WHERE id = {}", client["id"])
    assert type(row["id"]) is int and row["id"] == client["id"]
