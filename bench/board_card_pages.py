"""Benchmark: the NOC board's live fragment and the client card page at operator scale.

Reuses cmdb_card_search's 10,000-client dataset (100,000 assets, 200,000 IP
addresses ...), adds live check states for a fifth of the assets (the board's
site strip groups them all) and 60 open incidents, then measures p50/p95/max of

- GET /  with HX-Request (the fragment htmx polls every 5 s: site strip + open incidents)
- GET /clients/{id}  (the card page: composed card + ports + live states + upstream paths, rendered)
- the same for one of the large clients (500 assets)

through the real app in-process with a logged-in browser session (cookie),
one request at a time, on SQLite and on PostgreSQL. Targets: p95 < 100 ms.

    python bench/board_card_pages.py [--pg URL] [--scale 0.1 --no-record]
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from _results import append_run, arguments, headline, machine, pg_admin, pg_database_url  # noqa: E402
from cmdb_card_search import BENCH_SECRET_KEY, Dataset, percentile, seed_pg, seed_sqlite  # noqa: E402
from rackcard import db as rdb  # noqa: E402

TARGET_P95_MS = 100.0
OPEN_INCIDENTS = 60
CHECKED_SHARE = 5  # every fifth asset has live check states


async def add_live_state(data: Dataset) -> None:
    """Check states (reachability + a link) on a share of the assets, a few critical; open incidents."""
    from accounts.viewer import SYSTEM
    from incidents.services import ManualIncident, create_manual
    from incidents.tables import CheckState

    rng = random.Random(3)
    now = dt.datetime.now(dt.timezone.utc)
    assets = [a["id"] for a in data.tables["cmdb_asset"]][::CHECKED_SHARE]
    rows = []
    for a in assets:
        for key in ("reachability", "link:2"):
            state = "critical" if rng.random() < 0.01 else "ok"
            rows.append(CheckState(asset=a, key=key, state=state, value=None, message="", since=now,
                                   last_observed_at=now, source="poll", streak=3))
    for i in range(0, len(rows), 1000):
        await CheckState.insert(*rows[i:i + 1000])
    owned = [(a["id"], a["client"]) for a in data.tables["cmdb_asset"] if a.get("client")]
    for k in range(OPEN_INCIDENTS):
        asset_id, client_id = rng.choice(owned)
        await create_manual(SYSTEM, ManualIncident(title=f"bench incident {k}", category="equipment",
                                                   client_id=client_id, source="phone", asset_ids=(asset_id,)))


async def measure(url: str, data: Dataset, samples: int, warmup: int) -> dict[str, dict]:
    from accounts.services import create_user
    from rackcard.app import create_app
    from rackcard.settings import Settings

    rng = random.Random(7)
    async with rdb.connected(url, run_migrations=False):
        await add_live_state(data)
        if not url.startswith("sqlite"):
            from incidents.tables import CheckState

            # Planner statistics for the live state just written, as autovacuum
            # has them on a running server (a fresh bulk load has none).
            await CheckState.raw("ANALYZE")
        email = f"bench-{uuid.uuid4().hex[:6]}@bench.local"
        await create_user(email, "noc", "bench password 123")
        settings = Settings.from_env({"RACKCARD_DATABASE_URL": url, "RACKCARD_SECRET_KEY": BENCH_SECRET_KEY,
                                      "RACKCARD_VAR_DIR": tempfile.mkdtemp()})
        app = create_app(settings, manage_db=False, background=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            login = await client.get("/login")
            token = re.search(r'name="csrf-token" content="([^"]+)"', login.text).group(1)
            response = await client.post("/login", data={"email": email, "password": "bench password 123",
                                                         "csrf_token": token})
            assert response.status_code == 303, response.text
            clients = list(data.client_names)
            fragment_headers = {"hx-request": "true", "hx-target": "board-body"}

            def board():
                return "/", fragment_headers, lambda text: text.count("data-incident=") == OPEN_INCIDENTS

            def card():
                c = rng.choice(clients)
                return f"/clients/{c}", None, lambda text: data.client_names[c].replace("&", "&amp;") in text

            def big_card():
                c = rng.choice(data.big_clients)
                return f"/clients/{c}", None, lambda text: text.count("<tr>") >= data.big_assets

            cases = {"board fragment (htmx poll)": board, "client card page": card,
                     f"client card page, large client ({data.big_assets} assets)": big_card}
            results = {}
            for label, make in cases.items():
                times, cpu, wrong, errors = [], [], 0, 0
                for i in range(warmup + samples):
                    path, headers, check = make()
                    t0, c0 = time.perf_counter(), time.process_time()
                    response = await client.get(path, headers=headers)
                    elapsed = (time.perf_counter() - t0) * 1000
                    used = (time.process_time() - c0) * 1000
                    if response.status_code != 200:
                        errors += 1
                        if errors == 1:
                            print(f"  {label}: HTTP {response.status_code} {response.text[:300]}", file=sys.stderr)
                        continue
                    if i >= warmup:
                        times.append(elapsed)
                        cpu.append(used)
                        wrong += not check(response.text)
                results[label] = r = {"n": len(times), "p50": statistics.median(times), "p95": percentile(times, 95),
                                      "max": max(times), "cpu50": statistics.median(cpu),
                                      "cpu95": percentile(cpu, 95), "wrong": wrong, "errors": errors}
                print(f"  {label:<48} p50 {r['p50']:7.1f} ms  p95 {r['p95']:7.1f} ms  max {r['max']:7.1f} ms"
                      f"  CPU p50 {r['cpu50']:6.1f} ms p95 {r['cpu95']:6.1f} ms"
                      f"  (n={r['n']}, wrong={wrong}, errors={errors})", flush=True)
    return results


async def run_engine(engine: str, url: str, data: Dataset, args) -> dict:
    async with rdb.connected(url):
        pass
    t0 = time.perf_counter()
    if engine == "sqlite":
        seed_sqlite(url[len("sqlite:///"):], data)
    else:
        await seed_pg(url, data)
    print(f"{engine}: seeded in {time.perf_counter() - t0:.1f} s", flush=True)
    return await measure(url, data, args.samples, args.warmup)


def record(runs: dict[str, dict], data: Dataset, args) -> None:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.1f}" for x in args.load)
    lines = [
        f"### {now} — {machine()}; load average at start {load} (other work on the machine inflates the tail)",
        "",
        "Dataset: " + ", ".join(f"{v:,} {k}" for k, v in data.sizes().items())
        + f"; live check states on every {CHECKED_SHARE}th asset (2 checks each), {OPEN_INCIDENTS} open incidents.",
        f"Sequential requests through the app in-process with a session cookie, {args.samples} samples per line "
        f"after {args.warmup} warm-up requests; target p95 < {TARGET_P95_MS:.0f} ms. CPU ms = this process's CPU "
        "time per request (the app and, on SQLite, the database): what the request costs whatever the load.",
        "",
        "| engine | request | p50 ms | p95 ms | max ms | CPU p50 ms | CPU p95 ms | wrong answers |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for engine, results in runs.items():
        for label, r in results.items():
            flag = "" if r["p95"] < TARGET_P95_MS else " ⚠"
            lines.append(f"| {engine} | {label} | {r['p50']:.1f} | {r['p95']:.1f}{flag} | {r['max']:.1f} "
                         f"| {r['cpu50']:.1f} | {r['cpu95']:.1f} | {r['wrong']} |")
    lines.append("")
    append_run("## pages — NOC board fragment and client card page",
               "`python bench/board_card_pages.py [--pg URL]` (see the script's docstring).", lines)


async def main_async(args) -> int:
    args.load = os.getloadavg()
    data = Dataset(int(10_000 * args.scale), int(100_000 * args.scale), int(200_000 * args.scale))
    data.build()
    runs: dict[str, dict] = {}
    if "sqlite" in args.engines:
        directory = Path(tempfile.mkdtemp(prefix="rackcard-bench-pages-"))
        try:
            runs["SQLite"] = await run_engine("sqlite", f"sqlite:///{directory / 'bench.sqlite'}", data, args)
        finally:
            for p in directory.iterdir():
                p.unlink()
            directory.rmdir()
    if "pg" in args.engines and args.pg:
        name = f"rackcard_bench_pages_{os.getpid()}"
        await pg_admin(args.pg, f'CREATE DATABASE "{name}"')
        try:
            runs["PostgreSQL"] = await run_engine("pg", pg_database_url(args.pg, name), data, args)
        finally:
            await pg_admin(args.pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if runs and not args.no_record:
        record(runs, data, args)
    for engine, results in runs.items():
        for label, short in (("board fragment (htmx poll)", "board fragment"), ("client card page", "card page")):
            p95 = results[label]["p95"]
            headline("pages", f"{short} p95, {engine}", p95, "ms", f"< {TARGET_P95_MS:.0f} ms", p95 < TARGET_P95_MS)
    bad = [(e, label) for e, res in runs.items() for label, r in res.items() if r["wrong"] or r["errors"]]
    for e, label in bad:
        print(f"wrong answers or errors: {e} {label}")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, engines=True)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the sizes (0.1 for a quick look)")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
