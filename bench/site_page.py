"""Benchmark: the site page (topology and rack elevations drawn on the server)
of a site with 500 assets.

Seeds one site with 500 assets through the services (2 UPSes, 2 routers, 24
switches, 300 media converters, servers; 12 racks of 42 U), their power and
uplink dependencies, a client port on every media converter, and a check state
for every asset (a few critical, so marks and at-risk nodes are drawn too).
Then measures p50/p95/max of

- GET /sites/{id}                    the whole page, as a logged-in engineer
- GET /sites/{id}/live               the htmx redraw (topology and racks only)
- GET /api/v1/sites/{id}/topology    the data alone, as JSON

through the real app in-process (httpx ASGITransport: a browser's request
minus the network), one request at a time, on SQLite and on PostgreSQL.

    python bench/site_page.py                     # SQLite, and PostgreSQL if RACKCARD_TEST_PG_URL is set
    python bench/site_page.py --requests 20 --no-record

Results are appended to bench/RESULTS.md.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from _results import append_run, arguments, headline, machine, scratch_pg  # noqa: E402
from rackcard import db as rdb  # noqa: E402

TARGET_P95_MS = 300.0
PASSWORD = "correct horse battery"


async def seed(n_assets: int) -> int:
    from accounts.viewer import SYSTEM, Viewer
    from cmdb import services as s
    from incidents.checks import record_observations
    from probes.wire import Observation, ObservationBatch

    site = await s.sites.create(SYSTEM, {"name": "Bench Node", "code": "BENCH", "kind": "remote"})
    clients = [await s.clients.create(SYSTEM, {"code": f"C{i:03}", "name": f"Client {i:03}"}) for i in range(60)]
    racks = [await s.racks.create(SYSTEM, {"site_id": site["id"], "name": f"R{i:02}"}) for i in range(12)]
    free = {r["id"]: 1 for r in racks}
    counts = {"ups": 2, "router": 2, "switch": 24, "media_converter": 300}
    counts["server"] = n_assets - sum(counts.values())
    made: dict[str, list[int]] = {k: [] for k in counts}
    for kind, n in counts.items():
        for i in range(n):
            rack = racks[(len(made[kind]) + len(kind)) % len(racks)]
            height = 2 if kind in ("ups", "server") else 1
            body = {"name": f"{kind[:3]}-{i:03}", "kind": kind, "site_id": site["id"], "height_u": height}
            if free[rack["id"]] + height - 1 <= 42 and kind != "media_converter":
                body.update(rack_id=rack["id"], position_u=free[rack["id"]])
                free[rack["id"]] += height
            if kind in ("media_converter", "server"):
                body["client_id"] = clients[i % len(clients)]["id"]
            made[kind].append((await s.assets.create(SYSTEM, body))["id"])

    async def dep(a: int, b: int, kind: str) -> None:
        await s.dependencies.create(SYSTEM, {"asset_id": a, "depends_on_id": b, "kind": kind})

    ups, routers, switches = made["ups"], made["router"], made["switch"]
    for i, r in enumerate(routers):
        await dep(r, ups[i % 2], "power")
    for i, sw in enumerate(switches):
        await dep(sw, ups[i % 2], "power")
        await dep(sw, routers[i % 2], "uplink")
    for i, mc in enumerate(made["media_converter"]):
        await dep(mc, switches[i % len(switches)], "uplink")
        await s.interfaces.create(SYSTEM, {"asset_id": mc, "if_index": 2, "name": "fx", "role": "fiber",
                                           "client_id": clients[i % len(clients)]["id"]})
    for i, srv in enumerate(made["server"]):
        await dep(srv, switches[i % len(switches)], "uplink")
    now = dt.datetime.now(dt.timezone.utc)
    observations = []
    for kind, ids in made.items():
        for i, a in enumerate(ids):
            state = "critical" if (kind == "switch" and i == 0) else "ok"
            observations.append(Observation(a, "reachability", state, now.isoformat(), source="trap"))
    probe = Viewer(user_id=None, email="probe:bench", role="probe", probe_name="bench")
    await record_observations(ObservationBatch.new(observations, probe="bench"), probe, now=now)
    return site["id"]


async def measure(client: httpx.AsyncClient, url: str, n: int, expect: str) -> dict:
    times, cpu = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        response = await client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
        assert expect in response.text, (url, "the answer lacks " + expect)
    times.sort()
    return {"p50": statistics.median(times), "p95": times[max(0, int(len(times) * 0.95) - 1)], "max": times[-1],
            "cpu": statistics.median(cpu), "bytes": len(response.content)}


async def run(url: str, n_assets: int, requests: int) -> dict:
    from accounts.services import create_token, create_user
    from rackcard.app import create_app
    from rackcard.settings import Settings

    async with rdb.connected(url) as engine:
        t0 = time.perf_counter()
        site_id = await seed(n_assets)
        seeded = time.perf_counter() - t0
        await create_user("bench@example.test", "engineer", PASSWORD)
        token = await create_token("bench@example.test")
        with tempfile.TemporaryDirectory() as var:
            settings = Settings.from_env({"RACKCARD_DATABASE_URL": url, "RACKCARD_SECRET_KEY": "b" * 40,
                                          "RACKCARD_VAR_DIR": var})
            app = create_app(settings, manage_db=False, background=False)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench.test") as browser, \
                    httpx.AsyncClient(transport=transport, base_url="http://bench.test",
                                      headers={"Authorization": f"Bearer {token}"}) as api:
                login = await browser.get("/login")
                csrf = re.search(r'name="csrf-token" content="([^"]+)"', login.text).group(1)
                done = await browser.post("/login", data={"email": "bench@example.test", "password": PASSWORD,
                                                          "csrf_token": csrf})
                assert done.status_code == 303, done.text
                await measure(browser, f"/sites/{site_id}", 3, "topo-node")  # warm up
                out = {
                    "page": await measure(browser, f"/sites/{site_id}", requests, "rack-asset"),
                    "live": await measure(browser, f"/sites/{site_id}/live", requests, "topo-node"),
                    "api": await measure(api, f"/api/v1/sites/{site_id}/topology", requests, "asset-"),
                }
        out["seed_s"] = seeded
        out["engine"] = "SQLite" if rdb.is_sqlite(engine) else "PostgreSQL"
        return out


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__)
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args(argv)
    results = []
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        results.append(asyncio.run(run(f"sqlite:///{tmp}/bench.sqlite", args.assets, args.requests)))
    if args.pg:
        async def on_pg():
            async with scratch_pg(args.pg, "rackcard_bench_site") as url:
                return await run(url, args.assets, args.requests)

        results.append(asyncio.run(on_pg()))
    lines = [f"### {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC — {machine()}", "",
             f"One site with {args.assets} assets (12 racks, ~{args.assets * 2} dependencies, 300 client ports), "
             f"{args.requests} requests each, one at a time, in-process; load average before the run "
             f"{load[0]:.1f} (CPU ms = the process's CPU time per request, median: what the request costs "
             "whatever else the machine runs).", "",
             "| engine | request | p50 ms | p95 ms | max ms | CPU ms | KB |", "|---|---|---:|---:|---:|---:|---:|"]
    ok = True
    for r in results:
        for key, what in (("page", "GET /sites/{id} (page)"), ("live", "GET /sites/{id}/live (htmx redraw)"),
                          ("api", "GET /api/v1/sites/{id}/topology")):
            m = r[key]
            lines.append(f"| {r['engine']} | {what} | {m['p50']:.1f} | {m['p95']:.1f} | {m['max']:.1f} | {m['cpu']:.1f} "
                         f"| {m['bytes'] / 1024:.0f} |")
        ok = ok and r["page"]["p95"] < TARGET_P95_MS
        headline("site_page", f"site page p95, {r['engine']} ({args.assets} assets)", r["page"]["p95"], "ms",
                 f"< {TARGET_P95_MS:.0f} ms", r["page"]["p95"] < TARGET_P95_MS)
    lines += ["", f"Target: the page p95 < {TARGET_P95_MS:.0f} ms: **{'met' if ok else 'NOT met'}**."]
    print("\n".join(lines))
    if not args.no_record:
        append_run("## site_page — the site page with 500 assets",
                   "`python bench/site_page.py` (add `--pg URL` or set RACKCARD_TEST_PG_URL for PostgreSQL).", lines)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
