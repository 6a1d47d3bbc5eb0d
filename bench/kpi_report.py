"""Benchmark: the KPI report over 100,000 incidents.

Generates a year of support-desk history — 100,000 incidents (probe, trap,
phone, e-mail, portal) with their timelines (acknowledgements, public replies,
pending_client pauses, escalations, reopens, resolutions, closures), affected
assets and clients under 24x7 and business-hours SLA plans — bulk-inserted
(executemany on SQLite, COPY on PostgreSQL), then measures through the real
app in-process (httpx ASGITransport, bearer token, JSON rendering):

- the first report over the whole year (it measures every resolved incident's
  history once and keeps the facts: the cold case);
- GET /api/v1/reports/kpi over the whole year (all 100,000 incidents), plain
  and grouped by client, and over the last 30 days grouped by category;
- GET /api/v1/reports/kpi/csv?table=groups over the whole year.

Each answer is checked (the whole-year total must be the number generated).

    python bench/kpi_report.py                    # SQLite, and PostgreSQL if RACKCARD_TEST_PG_URL is set
    python bench/kpi_report.py --incidents 10000 --no-record   # a quick look

Results are appended to bench/RESULTS.md (machine, date).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from _results import RESULTS, append_run, arguments, headline, machine, pg_admin, pg_database_url  # noqa: E402
from cmdb_card_search import percentile  # noqa: E402  (the same helper)
from rackcard import db as rdb  # noqa: E402

TARGET_P95_S = 1.0
UTC = dt.timezone.utc
CATEGORIES = [("equipment", 27), ("power", 22), ("reboot", 14), ("fiber", 8.5), ("other", 20), ("request", 8.5)]
SOURCES = [("probe", 30), ("trap", 10), ("phone", 35), ("email", 15), ("portal", 10)]


def generate(n: int, now: dt.datetime, seed: int = 7) -> dict[str, list[tuple]]:
    """Rows per table, as tuples in the column order of COLUMNS."""
    rnd = random.Random(seed)
    cats, cat_w = zip(*CATEGORIES)
    srcs, src_w = zip(*SOURCES)
    sites = [(i, f"site-{i}", f"site {i}", f"SITE{i}", "remote" if i % 3 else "datacenter") for i in range(1, 51)]
    plans = [(1, "24x7 gold", "24x7", "UTC", 15, 30, 60, 240, 120, 240, 480, 1440),
             (2, "business", "business", "Europe/Moscow", 60, 120, 240, 480, 480, 960, 1440, 2880)]
    clients = [(i, f"c{i}", f"Client {i}", f"client {i}", 1 + i % 2 if i % 5 else None) for i in range(1, 1001)]
    assets = [(i, f"mc-{i}", f"mc-{i}", "media_converter", 1 + i % 50, 1 + i % 1000) for i in range(1, 5001)]
    incidents, timeline, affected_assets, affected_clients = [], [], [], []
    span = 365 * 24 * 60
    for i in range(1, n + 1):
        opened = now - dt.timedelta(minutes=rnd.uniform(0, span))
        category = rnd.choices(cats, cat_w)[0]
        source = rnd.choices(srcs, src_w)[0]
        priority = rnd.choice(["P1", "P2", "P3", "P3", "P4"])
        asset = assets[rnd.randrange(len(assets))]
        client = clients[asset[5] - 1]
        plan = client[4]
        t = opened
        line = "L1"
        events = [(t, "event", "public", "engine" if source in ("probe", "trap") else "noc@x", None, "opened", "{}")]
        recent = (now - opened) < dt.timedelta(hours=30)
        status = "new"
        self_healed = False

        def move(to: str, after: float) -> None:
            nonlocal t, status
            t = t + dt.timedelta(minutes=after)
            events.append((t, "status", "public", "noc@x", 1, f"status {status} → {to}",
                           json.dumps({"from": status, "to": to})))
            status = to

        if source in ("probe", "trap") and rnd.random() < 0.25:
            move("resolved", rnd.uniform(3, 40))
            self_healed = True
        elif not (recent and rnd.random() < 0.5):
            move("acknowledged", rnd.expovariate(1 / 12))
            move("in_progress", rnd.uniform(0, 5))
            for _ in range(rnd.choice([0, 1, 1, 1, 2])):
                t = t + dt.timedelta(minutes=rnd.uniform(2, 60))
                events.append((t, "comment", "public", "noc@x", 1, "we are on it", "{}"))
            if rnd.random() < 0.15:
                t = t + dt.timedelta(minutes=rnd.uniform(10, 120))
                events.append((t, "escalation", "internal", "system", None, "escalated L1 → L2",
                               json.dumps({"from": "L1", "to": "L2"})))
                line = "L2"
            if rnd.random() < 0.1:
                move("pending_client", rnd.uniform(5, 60))
                move("in_progress", rnd.uniform(30, 600))
            move("resolved", rnd.expovariate(1 / 180))
            if rnd.random() < 0.05:
                move("in_progress", rnd.uniform(10, 300))
                move("resolved", rnd.uniform(10, 300))
            if rnd.random() < 0.7:
                move("closed", rnd.uniform(60, 2880))
        if t > now:  # still running: keep what happened before now
            events = [e for e in events if e[0] <= now]
            status = next((json.loads(e[6])["to"] for e in reversed(events) if e[1] == "status"), "new")
            t = events[-1][0]
        resolved_at = max((e[0] for e in events if e[1] == "status" and json.loads(e[6])["to"] == "resolved"),
                          default=None) if status in ("resolved", "closed") else None
        incidents.append((i, f"bench:{i}", f"incident {i}", category, priority, status, line, opened, source,
                          opened, resolved_at, plan, self_healed and status in ("resolved", "closed"), t))
        for e in events:
            timeline.append((i, *e))
        affected_assets.append((i, asset[0], asset[1], asset[4], "root", opened))
        affected_clients.append((i, client[0], client[2], opened))
    return {
        "cmdb_site": [(s[0], s[1], s[2], s[3], s[4]) for s in sites],
        "inc_sla_plan": plans,
        "cmdb_client": [(c[0], c[1], c[2], c[3], c[4]) for c in clients],
        "cmdb_asset": [(a[0], a[1], a[2], a[3], a[4], a[5]) for a in assets],
        "inc_incident": incidents,
        "inc_timeline": timeline,
        "inc_affected_asset": affected_assets,
        "inc_affected_client": affected_clients,
    }


COLUMNS = {
    "cmdb_site": ("id", "code", "name", "name_norm", "kind"),
    "inc_sla_plan": ("id", "name", "hours", "timezone", "response_p1", "response_p2", "response_p3", "response_p4",
                     "resolution_p1", "resolution_p2", "resolution_p3", "resolution_p4"),
    "cmdb_client": ("id", "code", "name", "name_norm", "sla_plan_id"),
    "cmdb_asset": ("id", "name", "name_norm", "kind", "site", "client"),
    "inc_incident": ("id", "fingerprint", "title", "category", "priority", "status", "line", "line_since", "source",
                     "opened_at", "resolved_at", "sla_plan_id", "self_healed", "updated_at"),
    "inc_timeline": ("incident", "at", "kind", "visibility", "author", "author_user_id", "body", "data"),
    "inc_affected_asset": ("incident", "asset_id", "name", "site_id", "role", "added_at"),
    "inc_affected_client": ("incident", "client_id", "name", "added_at"),
}


def seed_sqlite(path: str, data: dict) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        with conn:
            for name, rows in data.items():
                cols = COLUMNS[name]
                conn.executemany(f'INSERT INTO "{name}" ({", ".join(cols)}) VALUES ({", ".join("?" for _ in cols)})',
                                 rows)
    finally:
        conn.close()


async def seed_pg(url: str, data: dict) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for name, rows in data.items():
                await conn.copy_records_to_table(name, records=rows, columns=list(COLUMNS[name]))
                await conn.execute(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                                   f"(SELECT max(id) FROM \"{name}\"))")
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def measure(url: str, n: int, samples: int, now: dt.datetime) -> dict:
    from accounts.services import create_token, create_user
    from rackcard.app import create_app
    from rackcard.settings import Settings

    settings = Settings.from_env({"RACKCARD_DATABASE_URL": url, "RACKCARD_SECRET_KEY": "b" * 40,
                                  "RACKCARD_VAR_DIR": tempfile.mkdtemp(prefix="rackcard-kpi-var-")})
    async with rdb.connected(url, run_migrations=False):
        email = f"bench-{uuid.uuid4().hex[:6]}@x"
        await create_user(email, "admin", "bench password 1")
        token = await create_token(email)
        app = create_app(settings, manage_db=False, background=False)
        year = f"from={(now - dt.timedelta(days=366)).date()}&to={now.date()}"
        month = f"from={(now - dt.timedelta(days=30)).date()}&to={now.date()}"
        lines = {
            "whole year (all incidents)": f"/api/v1/reports/kpi?{year}",
            "whole year, group_by=client": f"/api/v1/reports/kpi?{year}&group_by=client",
            "last 30 days, group_by=category": f"/api/v1/reports/kpi?{month}&group_by=category",
            "whole year CSV (groups by source)": f"/api/v1/reports/kpi/csv?{year}&group_by=source&table=groups",
        }
        out: dict = {}
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b",
                                     headers={"Authorization": f"Bearer {token}"}, timeout=600) as client:
            t0 = time.perf_counter()
            first = await client.get(lines["whole year (all incidents)"])
            out["cold"] = time.perf_counter() - t0
            assert first.status_code == 200, first.text
            assert first.json()["totals"]["incidents"] == n, first.json()["totals"]["incidents"]
            for label, path in lines.items():
                times, cpu = [], []
                for _ in range(samples):
                    t0, c0 = time.perf_counter(), time.process_time()
                    r = await client.get(path)
                    times.append(time.perf_counter() - t0)
                    cpu.append(time.process_time() - c0)
                    assert r.status_code == 200, r.text
                    if label.startswith("whole year (all"):
                        assert r.json()["totals"]["incidents"] == n
                out[label] = {"p50": percentile(times, 50), "p95": percentile(times, 95), "max": max(times),
                              "cpu": percentile(cpu, 50)}
                print(f"  {label}: p50 {out[label]['p50']:.3f} s, p95 {out[label]['p95']:.3f} s, "
                      f"CPU p50 {out[label]['cpu']:.3f} s", flush=True)
    return out


async def run_engine(engine: str, url: str, data: dict, n: int, samples: int, now: dt.datetime) -> dict:
    async with rdb.connected(url):
        pass
    t0 = time.perf_counter()
    if engine == "sqlite":
        seed_sqlite(url[len("sqlite:///"):], data)
    else:
        await seed_pg(url, data)
    print(f"{engine}: seeded in {time.perf_counter() - t0:.1f} s", flush=True)
    return await measure(url, n, samples, now)


async def main_async(args) -> int:
    now = dt.datetime.now(UTC).replace(microsecond=0)
    load = os.getloadavg()
    t0 = time.perf_counter()
    data = generate(args.incidents, now)
    print(f"generated {args.incidents:,} incidents, {len(data['inc_timeline']):,} timeline entries "
          f"in {time.perf_counter() - t0:.1f} s", flush=True)
    runs = {}
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if "sqlite" in engines:
        directory = Path(tempfile.mkdtemp(prefix="rackcard-kpi-bench-"))
        try:
            runs["SQLite"] = await run_engine("sqlite", f"sqlite:///{directory / 'bench.sqlite'}", data,
                                              args.incidents, args.samples, now)
        finally:
            for p in directory.iterdir():
                p.unlink()
            directory.rmdir()
    if "pg" in engines and args.pg:
        name = f"rackcard_kpi_bench_{os.getpid()}"
        await pg_admin(args.pg, f'CREATE DATABASE "{name}"')
        try:
            url = pg_database_url(args.pg, name)
            runs["PostgreSQL"] = await run_engine("pg", url, data, args.incidents, args.samples, now)
        finally:
            await pg_admin(args.pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if runs and not args.no_record:
        stamp = dt.datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            f"### {stamp} — {machine()}; load average at start {', '.join(f'{x:.1f}' for x in load)} "
            "(other work on the machine inflates the tail)", "",
            f"{args.incidents:,} incidents over a year, {len(data['inc_timeline']):,} timeline entries, 1,000 clients, "
            f"5,000 assets, 2 SLA plans (24x7, business hours Europe/Moscow). Sequential requests through the app "
            f"in-process, {args.samples} samples per line after the cold run; target p95 < {TARGET_P95_S:.0f} s.", "",
            "CPU = this process's CPU time per request (median): the app and, on SQLite, the database work; "
            "PostgreSQL's own work is not in it. On a loaded machine it is the figure that does not grow with "
            "the load.", "",
            "| engine | request | p50 s | p95 s | max s | CPU s |", "|---|---|---:|---:|---:|---:|",
        ]
        for engine, run in runs.items():
            lines.append(f"| {engine} | first report over the year (measures and keeps every resolved incident's "
                         f"facts) | {run['cold']:.2f} | | | |")
            for label, r in run.items():
                if label == "cold":
                    continue
                flag = "" if r["p95"] < TARGET_P95_S else " ⚠"
                lines.append(f"| {engine} | {label} | {r['p50']:.3f} | {r['p95']:.3f}{flag} | {r['max']:.3f} "
                             f"| {r['cpu']:.3f} |")
        lines.append("")
        append_run("## kpi_report — KPI report over 100,000 incidents",
                   "`python bench/kpi_report.py [--pg URL]` (see the script's docstring).", lines)
        print(f"recorded in {RESULTS}")
    for engine, run in runs.items():
        p95 = max(r["p95"] for k, r in run.items() if k != "cold")
        headline("kpi_report", f"slowest KPI report p95, {engine} ({args.incidents:,} incidents)", p95, "s",
                 f"< {TARGET_P95_S:g} s", p95 < TARGET_P95_S)
    slow = [(e, k) for e, run in runs.items() for k, r in run.items() if k != "cold" and r["p95"] >= TARGET_P95_S]
    for e, k in slow:
        print(f"p95 over {TARGET_P95_S} s: {e} {k}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, engines=True)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=20, help="measured requests per line")
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
