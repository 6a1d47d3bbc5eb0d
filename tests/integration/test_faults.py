"""Fault tests on a PostgreSQL server of the test's own (bounded, loopback only):

- /readyz answers 503 while the database is down and 200 again once it is back,
  without restarting the web process;
- PostgreSQL restarted while a probe worker posts: the batches it could not
  deliver wait in its spool and drain by themselves when the database is back —
  every observation applied once, in order, no duplicate incident.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest

from own_postgres import OwnPostgres

pytestmark = pytest.mark.slow


@pytest.fixture
async def own_pg():
    server = OwnPostgres()
    server.start()
    yield server
    server.close()


@pytest.fixture
async def own_app(own_pg, tmp_path):
    """The app on the test's own PostgreSQL, migrated, with no background tasks."""
    from rackcard import db as rdb
    from rackcard.app import create_app
    from rackcard.settings import Settings

    settings = Settings.from_env({"RACKCARD_DATABASE_URL": own_pg.url, "RACKCARD_SECRET_KEY": "f" * 40,
                                  "RACKCARD_VAR_DIR": str(tmp_path / "var")})
    async with rdb.connected(own_pg.url):
        yield create_app(settings, manage_db=False, background=False)


async def _ready(client: httpx.AsyncClient) -> int:
    return (await client.get("/readyz")).status_code


async def test_readyz_fails_while_the_database_is_down_and_recovers(own_pg, own_app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=own_app), base_url="http://t") as client:
        assert await _ready(client) == 200
        await asyncio.to_thread(own_pg.stop)
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["database"].startswith("unreachable")
        await asyncio.to_thread(own_pg.start)
        for _ in range(50):  # the pool replaces its dead connections on the next requests
            if await _ready(client) == 200:
                break
            await asyncio.sleep(0.1)
        assert await _ready(client) == 200


async def test_postgres_restarted_while_a_worker_posts_nothing_lost_nothing_doubled(own_pg, own_app, tmp_path):
    from _probe_support import LiveServer, make_asset, make_site

    from accounts.services import create_token
    from incidents.tables import CheckState, Incident, ProbeBatch, Sample
    from probes.client import ServerClient
    from probes.wire import Observation
    from probes.worker import Outbox

    site = await make_site()
    asset = await make_asset(site.id, "ups-fault", "ups", "127.0.0.1", 161)
    live = LiveServer(own_app)
    await live.start()
    client = ServerClient(live.url, await create_token(probe="edge"), tmp_path / "spool", probe="edge")
    outbox = Outbox(client, flush_s=0.05, max_backoff_s=0.05)
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10)

    def batch_of(n: int) -> list[Observation]:
        # On battery from the third batch on: a power problem the engine must open once.
        source = "critical" if n >= 2 else "ok"
        at = (start + dt.timedelta(seconds=10 * n)).isoformat()
        return [Observation(asset_id=asset.id, key="power:input_voltage", state="ok", observed_at=at,
                            value=str(200 + n), number=float(200 + n)),
                Observation(asset_id=asset.id, key="power:source", state=source, observed_at=at, source="trap",
                            value="battery" if n >= 2 else "normal")]

    try:
        outbox.add(batch_of(0))
        await outbox.flush()
        assert client.spooled() == []

        await asyncio.to_thread(own_pg.stop)
        for n in range(1, 5):
            outbox.add(batch_of(n))
            await outbox.flush()
            await asyncio.sleep(0.06)
        assert len(client.spooled()) == 4, "batches the server could not store stay spooled"

        await asyncio.to_thread(own_pg.start)
        for _ in range(100):
            await outbox.flush()
            if not client.spooled():
                break
            await asyncio.sleep(0.1)
        assert client.spooled() == []
    finally:
        await client.aclose()
        await live.stop()

    values = [r["value"] for r in await Sample.select(Sample.value).where(Sample.asset == asset.id).order_by(Sample.at)]
    assert values == [200.0, 201.0, 202.0, 203.0, 204.0]
    assert await ProbeBatch.count() == 5
    state = await CheckState.objects().where((CheckState.asset == asset.id) & (CheckState.key == "power:source")).first()
    assert state.state == "critical"
    assert await Incident.count().where(Incident.category == "power") == 1
