"""Probe workers share targets by lease (incidents.leases), on both databases:
disjoint shares that cover every asset, the excess handed over when a worker
joins, a dead worker's assets taken over once its lease lapses, renewal on
posts, concurrent claims that never overlap, lease holders in /metrics, a
site's own worker first at its site, no stale probe for a site handed on."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest

from _probe_support import make_asset, make_site
from accounts.viewer import Viewer
from probes.wire import LEASE_HEADER, WORKER_HEADER, Observation, ObservationBatch, utcnow

PROBE = Viewer(user_id=None, email="", role="probe", probe_name="edge")


async def _assets(count: int = 10, site_code: str = "rs1") -> list[int]:
    site = await make_site(site_code)
    return [(await make_asset(site.id, f"{site_code}-dev{i}", "router", "127.0.0.1", 161)).id for i in range(count)]


@pytest.fixture
async def probe_token(app):
    from accounts.services import create_token

    return await create_token(probe="edge")


def _worker(app, token: str, worker_id: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rackcard.test",
                             headers={"Authorization": f"Bearer {token}", WORKER_HEADER: worker_id})


async def _ids(client: httpx.AsyncClient) -> set[int]:
    response = await client.get("/api/v1/probe/targets")
    assert response.status_code == 200, response.text
    assert float(response.headers[LEASE_HEADER]) > 0
    return {t["asset_id"] for t in response.json()}


async def test_two_workers_split_the_targets_and_a_joiner_gets_the_excess(db, app, probe_token):
    ids = set(await _assets(10))
    async with _worker(app, probe_token, "a") as a, _worker(app, probe_token, "b") as b:
        assert await _ids(a) == ids  # alone: everything
        assert await _ids(b) == set()  # joined: nothing is free yet
        mine_a = await _ids(a)  # gives back its excess
        assert len(mine_a) == 5
        mine_b = await _ids(b)
        assert mine_a.isdisjoint(mine_b) and mine_a | mine_b == ids
        assert await _ids(a) == mine_a and await _ids(b) == mine_b  # stable


async def test_a_dead_workers_targets_move_after_one_lease(db, app):
    from incidents import leases

    ids = await _assets(10)
    now = utcnow()
    first = await leases.lease(PROBE, "a", "", dict.fromkeys(ids), now)
    second = await leases.lease(PROBE, "b", "", dict.fromkeys(ids), now)
    first = await leases.lease(PROBE, "a", "", dict.fromkeys(ids), now)
    second = await leases.lease(PROBE, "b", "", dict.fromkeys(ids), now)
    assert len(first) == len(second) == 5
    # "a" dies. Before its lease runs out, "b" keeps its own share ...
    lease = dt.timedelta(seconds=leases.lease_seconds())  # the promise; a lease is granted for 3/4
    assert await leases.lease(PROBE, "b", "", dict.fromkeys(ids), now + lease * 0.7) == second
    # ... and once it has, "b" holds everything.
    assert await leases.lease(PROBE, "b", "", dict.fromkeys(ids), now + lease * 0.76) == set(ids)


async def test_posting_renews_the_lease(db, app, probe_token):
    from incidents import leases
    from incidents.tables import ProbeHolder, ProbeLease

    async def expiry(table, column):
        return {r[column]: r["expires_at"] for r in await table.select().where(table.holder == "probe edge/a")}

    ids = await _assets(2)
    async with _worker(app, probe_token, "a") as a:
        await _ids(a)
        alive, held = await expiry(ProbeHolder, "holder"), await expiry(ProbeLease, "asset")
        assert set(held) == set(ids)
        await asyncio.sleep(0.05)
        batch = ObservationBatch.new([Observation(asset_id=ids[0], key="reachability", state="ok",
                                                  observed_at=utcnow().isoformat())], probe="edge")
        assert (await a.post("/api/v1/probe/observations", json=batch.to_dict())).status_code == 200
    assert (await expiry(ProbeHolder, "holder"))["probe edge/a"] > alive["probe edge/a"]
    assert await expiry(ProbeLease, "asset") == held  # fresh leases are left alone ...
    viewer = Viewer(user_id=None, email="", role="probe", probe_name="probe edge")
    late = held[ids[0]] - dt.timedelta(seconds=leases.lease_seconds() * leases.GRANTED * 0.4)
    await leases.renew(viewer, "a", late)  # ... and renewed once half their time has gone
    assert all(v > held[i] for i, v in (await expiry(ProbeLease, "asset")).items())
    assert await leases.holders() == {"probe edge/a": 2}


async def test_concurrent_claims_never_overlap(db, app):
    from incidents import leases

    ids = await _assets(30)
    now = utcnow()
    names = ["a", "b", "c"]
    for name in names:  # all three are known alive: each wants a third
        await leases.lease(PROBE, name, "", {}, now)
    shares = await asyncio.gather(*(leases.lease(PROBE, name, "", dict.fromkeys(ids), now) for name in names))
    seen = [a for share in shares for a in share]
    assert len(seen) == len(set(seen))
    assert all(len(s) <= 10 for s in shares)
    again = [await leases.lease(PROBE, name, "", dict.fromkeys(ids), now) for name in names]  # the rest claimed on the next fetch
    assert set().union(*again) == set(ids) and sum(map(len, again)) == 30


async def test_a_bad_worker_id_is_refused_and_takes_no_lease(db, app, probe_token):
    from incidents.tables import ProbeLease

    await _assets(2)
    async with _worker(app, probe_token, "bad id!") as bad:
        response = await bad.get("/api/v1/probe/targets")
    assert response.status_code in (400, 422)
    assert WORKER_HEADER in response.text
    assert await ProbeLease.count() == 0


async def test_lease_holders_in_metrics(db, app, http, probe_token):
    from prometheus_client.parser import text_string_to_metric_families

    await _assets(4)
    async with _worker(app, probe_token, "a") as a:
        await _ids(a)
    text = (await http.get("/metrics")).text
    samples = {(s.name, s.labels.get("holder")): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert samples[("rackcard_probe_leases", "probe edge/a")] == 4


async def test_a_site_handed_to_another_token_is_no_stale_probe(db, app):
    """Token A polled sites 1 and 2; B joins and A gives site 2 away: A's silence there opens nothing."""
    from cmdb.tables import Site
    from incidents import leases, probe_health
    from incidents.tables import ProbeSite

    one, two = await _assets(1, "s1"), await _assets(1, "s2")
    a, b = PROBE, Viewer(user_id=None, email="", role="probe", probe_name="other")
    now = utcnow()
    assert await leases.lease(a, "x", "", dict.fromkeys(one + two), now) == set(one + two)
    sites = {r["id"] for r in await Site.select(Site.id)}
    await probe_health.note_batch("edge", sites, now)
    await leases.lease(b, "y", "", dict.fromkeys(one + two), now)  # joins: nothing free yet
    assert await leases.lease(a, "x", "", dict.fromkeys(one + two), now) == set(one)  # gives back its excess
    assert await leases.lease(b, "y", "", dict.fromkeys(one + two), now) == set(two)
    kept = {r["site_id"] for r in await ProbeSite.select().where(ProbeSite.probe == "edge")}
    assert len(kept) == 1 and kept < sites
    later = now + dt.timedelta(hours=1)
    assert (await probe_health.check(later))["opened"] == 1  # site 1 only: A really went quiet there


async def test_a_sites_own_worker_comes_first_there_and_falls_back_to_the_others(db, app):
    """The embedded worker (every site) and a remote site's worker: the site's assets go to
    the site's worker at once; when it dies the embedded worker takes them back after a lease."""
    from incidents import leases

    remote, dc = await _assets(2, "rs1"), await _assets(2, "dc1")
    every = {**dict.fromkeys(remote, "rs1"), **dict.fromkeys(dc, "dc1")}
    embedded, site = PROBE, Viewer(user_id=None, email="", role="probe", probe_name="rs1", site_code="rs1")
    now = utcnow()
    assert await leases.lease(embedded, "e", "", every, now) == set(every)
    assert await leases.lease(site, "r", "rs1", dict.fromkeys(remote, "rs1"), now) == set(remote)  # taken over
    assert await leases.lease(embedded, "e", "", every, now) == set(dc)
    later = now + dt.timedelta(seconds=leases.lease_seconds())  # the site's worker died
    assert await leases.lease(embedded, "e", "", every, later) == set(every)
