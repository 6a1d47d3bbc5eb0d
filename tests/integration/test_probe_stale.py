"""A probe worker that cannot be heard (issue 9): its token refused, it says so
(log, status file) and keeps spooling; the server raises `probe stale` when a
worker that polled a site has not posted for N poll intervals, and resolves it
when the worker is back. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import logging

import httpx
import pytest

from _probe_support import LiveServer, make_asset, make_site
from accounts.services import create_token
from accounts.tables import ApiToken
from incidents import probe_health
from incidents.tables import Incident, ProbeSite
from probes.client import ServerClient
from probes.wire import Observation, ObservationBatch, utcnow
from probes.worker import Outbox

SEC = dt.timedelta(seconds=1)


async def _post(app, token: str, asset_id: int) -> httpx.Response:
    batch = ObservationBatch.new([Observation(asset_id, "reachability", "ok", utcnow().isoformat())], probe="edge-1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                 headers={"Authorization": f"Bearer {token}"}) as probe:
        return await probe.post("/api/v1/probe/observations", json=batch.to_dict())


async def test_a_worker_silent_for_n_intervals_is_a_probe_stale_incident_until_it_posts_again(db, app):
    site = await make_site("khm")
    asset = await make_asset(site.id, "ups-khm", "ups", "127.0.0.1", 161, poll_interval_s=10)
    token = await create_token(probe="edge-1")
    assert (await _post(app, token, asset.id)).status_code in (200, 201)
    (seen,) = await ProbeSite.select()
    assert seen["probe"] == "probe edge-1" and seen["site_id"] == site.id
    last = probe_health.as_time(seen["last_at"])

    await ApiToken.update({ApiToken.revoked: True}).where(ApiToken.name == "probe edge-1")
    assert (await _post(app, token, asset.id)).status_code == 401  # nothing it sends is seen any more

    # three intervals of 10 s: not yet at 29 s, stale after 31 s
    assert await probe_health.check(last + 29 * SEC, intervals=3) == {"opened": 0, "resolved": 0}
    assert await probe_health.check(last + 31 * SEC, intervals=3) == {"opened": 1, "resolved": 0}
    assert await probe_health.check(last + 40 * SEC, intervals=3) == {"opened": 0, "resolved": 0}  # one incident
    (inc,) = await Incident.select()
    assert inc["fingerprint"] == "probe:probe edge-1:stale" and inc["status"] == "new"
    assert inc["title"] == f"Site Site khm not monitored since {last:%H:%M} UTC — probe probe edge-1 silent"
    assert inc["priority"] == "P2"  # no other worker watches the site

    # a new token for the same worker: it posts again, the incident resolves itself
    assert (await _post(app, await create_token(probe="edge-1"), asset.id)).status_code in (200, 201)
    now = probe_health.as_time((await ProbeSite.select().first())["last_at"]) + SEC
    assert await probe_health.check(now, intervals=3) == {"opened": 0, "resolved": 1}
    row = await Incident.select(Incident.status, Incident.self_healed).first()
    assert row["status"] == "resolved" and row["self_healed"]


async def test_a_worker_stopped_on_purpose_is_not_stale(db, app):
    site = await make_site("dc1", "datacenter")
    asset = await make_asset(site.id, "sw-1", "switch", "127.0.0.1", 161, poll_interval_s=10)
    assert (await _post(app, await create_token(probe="edge-1"), asset.id)).status_code in (200, 201)
    await probe_health.retire("probe edge-1")
    assert await probe_health.check(utcnow() + dt.timedelta(hours=1)) == {"opened": 0, "resolved": 0}


@pytest.mark.slow
async def test_worker_with_a_refused_token_logs_an_error_and_reports_itself_stale(db, app, tmp_path, caplog):
    site = await make_site()
    asset = await make_asset(site.id, "ups-x", "ups", "127.0.0.1", 161)
    token = await create_token(probe="edge-2")
    await ApiToken.update({ApiToken.revoked: True}).where(ApiToken.name == "probe edge-2")
    live = LiveServer(app)
    await live.start()
    try:
        client = ServerClient(live.url, token, tmp_path / "spool", probe="edge-2")
        outbox = Outbox(client, flush_s=0.05, max_backoff_s=0.05)
        outbox.add([Observation(asset.id, "reachability", "ok", utcnow().isoformat())])
        with caplog.at_level(logging.ERROR, logger="rackcard.probes.worker"):
            await outbox.flush()
        assert outbox.token_refused.is_set()
        assert "STALE" in caplog.text and "refused the probe token" in caplog.text
        status = json.loads((tmp_path / "spool" / ServerClient.STATUS_FILE).read_text())
        assert status["state"] == "stale" and status["spooled"] == 1  # kept, not lost
        await client.aclose()
    finally:
        await live.stop()
