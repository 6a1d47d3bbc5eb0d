"""A PostgreSQL transaction interrupted at its BEGIN or its ROLLBACK (a request
cancelled as the server stops, a client gone) gives its connection back: the
pool stays whole, nothing stays "idle in transaction", and closing the pool does
not wait for a connection that will never come back."""

from __future__ import annotations

import asyncio

import pytest

from rackcard import db as rdb


def _held(pool) -> int:
    return pool.get_size() - pool.get_idle_size()


async def _idle_in_transaction(engine) -> int:
    rows = await engine._run_in_new_connection(
        "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = current_database() "
        "AND state LIKE 'idle in transaction%'")
    return rows[0]["n"]


async def _cancel_when(reached: asyncio.Event, work) -> None:
    task = asyncio.create_task(work())
    await asyncio.wait_for(reached.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_transaction_cancelled_at_begin_or_rollback_gives_its_connection_back(db, monkeypatch):
    if rdb.is_sqlite(db):
        pytest.skip("a PostgreSQL pool's connections")
    from piccolo.engine.postgres import PostgresTransaction

    pool = db.pool
    await db._run_in_pool("SELECT 1")
    assert _held(pool) == 0

    # cancelled while its BEGIN is in flight
    begun = asyncio.Event()
    begin = PostgresTransaction.begin

    async def slow_begin(self):
        await begin(self)
        begun.set()
        await asyncio.sleep(30)

    monkeypatch.setattr(PostgresTransaction, "begin", slow_begin)

    async def transaction():
        async with db.transaction():
            pass

    await _cancel_when(begun, transaction)
    monkeypatch.undo()
    assert _held(pool) == 0

    # cancelled while its ROLLBACK is in flight (the body failed)
    rolling = asyncio.Event()
    rollback = PostgresTransaction.rollback

    async def slow_rollback(self):
        rolling.set()
        await asyncio.sleep(30)
        await rollback(self)

    monkeypatch.setattr(PostgresTransaction, "rollback", slow_rollback)

    async def failing():
        async with db.transaction() as t:
            await t.connection.execute("SELECT 1")
            raise ValueError("the body failed")

    await _cancel_when(rolling, failing)
    monkeypatch.undo()
    assert _held(pool) == 0
    assert await _idle_in_transaction(db) == 0
    # and the pool still serves
    assert (await db._run_in_pool("SELECT 2 AS n"))[0]["n"] == 2


async def test_closing_the_pool_does_not_wait_forever_for_a_connection_never_given_back(db_url, monkeypatch):
    if not db_url.startswith("postgres"):
        pytest.skip("a PostgreSQL pool")
    monkeypatch.setattr(rdb, "POOL_CLOSE_S", 0.5)
    async with rdb.connected(db_url, run_migrations=False) as engine:
        await engine.pool.acquire()  # never released: a task abandoned mid-transaction
        assert _held(engine.pool) == 1
    assert engine.pool is None  # closed without waiting for `kept`
