"""A burst of reads (the client card, the search box, a list) holds one
connection from its first statement to its end, on both engines; statements
inside a SQLite transaction cost one hand-off to its thread each, and SQLite's
short reads none. These are what took the HTTP load mix from 5-9 ms of CPU per
request to 2 (bench/http_load.py)."""

from __future__ import annotations

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
        assert len(acquired) == 1
        assert db.pool.get_size() - db.pool.get_idle_size() == 0  # given back at the end


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


async def test_a_client_card_on_postgresql_wakes_few_tasks(db):
    """The inventory's nine statements wait as one (database.rawsql.fetch_all),
    not as a task each: every task is a few turns of the event loop, and under
    load each turn runs behind every other request's ready work (17 tasks a
    card, its p50 twice the incident list's)."""
    if rdb.is_sqlite(db):
        pytest.skip("PostgreSQL's batches (SQLite's reads take no task: see the next test)")
    import asyncio

    from cmdb_seed import seed
    from rackcard.composed import build_card

    ids = await seed()
    await build_card(STAFF, ids["acme"])
    loop = asyncio.get_running_loop()
    created = []

    def counting(loop, coro, **kwargs):
        created.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(counting)
    try:
        card = await build_card(STAFF, ids["acme"])
    finally:
        loop.set_task_factory(None)
    assert card["racks"] and card["dependencies"]["edges"]
    assert len(created) <= 8, [getattr(c, "__qualname__", c) for c in created]


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
