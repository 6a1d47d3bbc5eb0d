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


@pytest.fixture(scope="session", autouse=True)
def sealed_secrets():
    """Services seal secrets with the key the app is configured with; tests that
    call services without an app get the same key as the `settings` fixture."""
    from accounts import secretbox

    secretbox.configure("t" * 40)


@pytest.fixture(scope="session", autouse=True)
def quick_password_hashes():
    """Argon2 at its smallest cost in the test process: the default (64 MiB,
    3 passes) takes 0.1-0.2 s per hash and per login here, and the tests
    create thousands of users. Still argon2id, checked the same way; the
    server processes the end-to-end tests start keep the default."""
    from argon2 import PasswordHasher

    from accounts import services

    services._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


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
        # DELETE with triggers off (foreign keys, the audit log's append-only
        # guard) and the sequences restarted: the same empty state as TRUNCATE
        # ... RESTART IDENTITY, at a tenth of its cost per test (TRUNCATE makes
        # new files for every table). Needs the superuser the tests connect as.
        conn = await engine.get_new_connection()
        try:
            # the sequences of the tables emptied (not the migration table's)
            sequences = [r[0] for r in await conn.fetch(
                "SELECT DISTINCT s.oid::regclass::text FROM pg_class s JOIN pg_depend d ON d.objid = s.oid "
                "JOIN pg_class t ON t.oid = d.refobjid WHERE s.relkind = 'S' AND t.relname = ANY($1::text[])",
                tables)]
            await conn.execute(
                "SET session_replication_role = replica; "
                + " ".join(f'DELETE FROM "{n}";' for n in tables)
                + " SET session_replication_role = DEFAULT; "
                + " ".join(f"ALTER SEQUENCE {seq} RESTART;" for seq in sequences))
        finally:
            await conn.close()


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
            # The route-table walks send hundreds of bad tokens from one address;
            # tests of the limit itself set their own.
            "RACKCARD_AUTH_FAILURES_PER_MINUTE": "100000",
        }
    )


#: The app the `app` fixture hands out, built once per test process: building
#: its routes costs ~1 s, paid before each of some 900 tests it was the largest
#: part of the suite's time. Each test runs it under its own settings.
_BUILT_APP = None


@pytest.fixture
async def app(db, settings):
    """The web app under this test's settings, with a fresh state."""
    global _BUILT_APP
    from rackcard.app import apply_settings, create_app

    # The `db` fixture owns the engine and nothing runs in the background, so the
    # lifespan has nothing to do; entering it here would straddle pytest-asyncio's
    # setup and teardown tasks (anyio cancel scopes forbid that).
    if _BUILT_APP is None:
        _BUILT_APP = create_app(settings, manage_db=False, background=False)
    apply_settings(_BUILT_APP, settings)
    return _BUILT_APP


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


# ---------------------------------------------------------------- pages: sessions and a real browser

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"  # git-ignored


def csrf_of(html: str) -> str:
    """The CSRF token a page carries (its <meta name="csrf-token">)."""
    import re

    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert found, "the page has no csrf-token meta tag"
    return found.group(1)


async def _logged_in(app, email: str, password: str, base_url: str = "http://rackcard.test") -> httpx.AsyncClient:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
    token = csrf_of((await client.get("/login")).text)
    response = await client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert response.status_code == 303, response.text
    return client


@pytest.fixture
async def session_as(app):
    """session_as(role, client_id=None, **user) -> (httpx client logged in through the login form, user).

    The client keeps its cookies; `await page_csrf(client)` gives the token its forms must send."""
    from accounts.services import create_user

    opened: list[httpx.AsyncClient] = []

    async def make(role: str = "noc", client_id: int | None = None, **fields):
        email = f"{role}-{uuid.uuid4().hex[:8]}@example.test"
        user = await create_user(email, role, "correct horse battery", client_id=client_id, **fields)
        client = await _logged_in(app, email, "correct horse battery")
        opened.append(client)
        return client, user

    yield make
    for c in opened:
        await c.aclose()


async def page_csrf(client: httpx.AsyncClient, path: str = "/") -> str:
    """The CSRF token for `client`'s next form (read from a page it may open)."""
    response = await client.get(path, follow_redirects=True)
    return csrf_of(response.text)


@pytest.fixture
async def live_app(app):
    """The app served by uvicorn on a free loopback port (same event loop as the test)."""
    from integration._probe_support import LiveServer

    server = LiveServer(app)
    await server.start()
    yield server
    await server.stop()


BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"]


@pytest.fixture
async def browser():
    """Debian's chromium driven by Playwright (no `playwright install`)."""
    from playwright.async_api import async_playwright

    if not Path("/usr/bin/chromium").exists():
        pytest.skip("chromium is not installed (./run test installs it)")
    async with async_playwright() as p:
        instance = await p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=BROWSER_ARGS)
        yield instance
        await instance.close()


@pytest.fixture
def browser_login(live_app, browser):
    """browser_login(role="noc", viewport=(1366, 768), **user) -> (playwright page logged in through the form, user)."""
    from accounts.services import create_user

    async def make(role: str = "noc", client_id: int | None = None, viewport=(1366, 768), locale: str = "en-US",
                   color_scheme: str = "light", **fields):
        email = f"{role}-{uuid.uuid4().hex[:8]}@example.test"
        user = await create_user(email, role, "correct horse battery", client_id=client_id, **fields)
        context = await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale=locale,
                                            color_scheme=color_scheme)
        page = await context.new_page()
        await page.goto(live_app.url + "/login")
        await page.fill("#email", email)
        await page.fill("#password", "correct horse battery")
        await page.click("form[action='/login'] button[type=submit]")
        await page.wait_for_load_state()
        return page, user

    return make


async def screenshot(page, name: str, full_page: bool = True) -> Path:
    """Save a screenshot under tests/screenshots/ (git-ignored) for people to look at."""
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    return path
