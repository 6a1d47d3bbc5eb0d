"""Test fixtures: the same suite runs on SQLite and, when RACKCARD_TEST_PG_URL
is set, on PostgreSQL (each test that takes `db` runs once per engine).

Each engine's database is created and migrated once per session; every test
starts from empty tables.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import httpx
import pytest

from rackcard import db as rdb

PG_URL = os.environ.get("RACKCARD_TEST_PG_URL")


def _pg_admin(url: str, sql: str) -> None:
    import asyncpg

    async def run():
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def _with_database(url: str, name: str) -> str:
    parts = urlparse(url)
    return urlunparse(parts._replace(path="/" + name))


def _migrate(url: str) -> None:
    async def run():
        async with rdb.connected(url):
            pass

    asyncio.run(run())


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory) -> str:
    path = Path(tmp_path_factory.mktemp("db")) / "rackcard-test.sqlite"
    url = f"sqlite:///{path}"
    _migrate(url)
    return url


@pytest.fixture(scope="session")
def pg_url() -> str:
    if not PG_URL:
        pytest.skip("RACKCARD_TEST_PG_URL is not set")
    name = f"rackcard_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _pg_admin(PG_URL, f'CREATE DATABASE "{name}"')
    url = _with_database(PG_URL, name)
    _migrate(url)
    yield url
    _pg_admin(PG_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "pg"])
def db_url(request) -> str:
    return request.getfixturevalue(f"{request.param}_url")


async def _empty_all_tables(engine) -> None:
    tables = [t._meta.tablename for t in rdb.all_tables() if t._meta.tablename != "migration"]
    if rdb.is_sqlite(engine):
        import aiosqlite

        async with aiosqlite.connect(engine.connection_kwargs["database"]) as conn:
            await conn.execute("PRAGMA foreign_keys = OFF")
            # Append-only tables (the audit log) refuse DELETE by trigger: lift the
            # triggers while emptying, then put them back as the migration wrote them.
            async with conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'") as cursor:
                triggers = list(await cursor.fetchall())
            for name, _ in triggers:
                await conn.execute(f'DROP TRIGGER "{name}"')
            for name in tables:
                await conn.execute(f'DELETE FROM "{name}"')
            for _, sql in triggers:
                await conn.execute(sql)
            await conn.commit()
    else:
        joined = ", ".join(f'"{n}"' for n in tables)
        await engine.run_ddl(f"TRUNCATE {joined} RESTART IDENTITY CASCADE")


@pytest.fixture
async def db(db_url):
    """A connected, empty database; yields the engine."""
    async with rdb.connected(db_url, run_migrations=False) as engine:
        await _empty_all_tables(engine)
        yield engine


@pytest.fixture
def settings(tmp_path, db_url):
    from rackcard.settings import Settings

    return Settings.from_env(
        {
            "RACKCARD_DATABASE_URL": db_url,
            "RACKCARD_SECRET_KEY": "t" * 40,
            "RACKCARD_VAR_DIR": str(tmp_path / "var"),
        }
    )


@pytest.fixture
async def app(db, settings):
    from rackcard.app import create_app

    # The `db` fixture owns the engine and nothing runs in the background, so the
    # lifespan has nothing to do; entering it here would straddle pytest-asyncio's
    # setup and teardown tasks (anyio cancel scopes forbid that).
    return create_app(settings, manage_db=False, background=False)


@pytest.fixture
async def http(app):
    """An unauthenticated client running the app on the test's own event loop."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rackcard.test") as client:
        yield client


async def _client_as(app, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://rackcard.test",
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.fixture
async def client_as(app):
    """client_as(role, client_id=None) -> an httpx client acting as a new user of that role."""
    from accounts.services import create_token, create_user

    opened: list[httpx.AsyncClient] = []

    async def make(role: str = "admin", client_id: int | None = None) -> httpx.AsyncClient:
        email = f"{role}-{uuid.uuid4().hex[:8]}@example.test"
        await create_user(email, role, "correct horse battery", client_id=client_id)
        client = await _client_as(app, await create_token(email))
        opened.append(client)
        return client

    yield make
    for c in opened:
        await c.aclose()


@pytest.fixture
async def api(client_as):
    """An httpx client authenticated as an administrator."""
    return await client_as("admin")
