"""Per-request fixed cost: what every authenticated request pays before its own work.

Through the real app in-process (httpx ASGITransport), one request at a time:

- GET /healthz            no authentication, touches nothing: the framework's floor
- GET /api/v1/me          bearer token check + the smallest handler
- GET /healthz with a session cookie looked up (`viewer_for_session`) — the pages' check

and the checks alone (`viewer_for_token`, `viewer_for_session`), on SQLite and
PostgreSQL. "Fixed cost" = /api/v1/me minus /healthz. CPU ms = this process's
CPU per request (on SQLite that includes the database; PostgreSQL's server
process is not counted, its wall time is). Target: < 1 ms per request.

    ./run bench request_cost [--requests 2000] [--pg postgresql://postgres@127.0.0.1:5432/postgres] [--no-record]
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from _results import append_run, arguments, headline, load_average, machine, scratch_pg  # noqa: E402

TARGET_MS = 1.0
HEADER = "## request_cost — the fixed cost of an authenticated request"
USAGE = ("`./run bench request_cost [--requests N] [--pg URL]`: /healthz vs /api/v1/me in-process, and the token "
         f"and session checks alone; target < {TARGET_MS:g} ms per request.")


async def _timed(n: int, call) -> dict:
    """Median wall and CPU ms of `call()` over n runs (after n/10 warm-up runs)."""
    for _ in range(max(5, n // 10)):
        await call()
    walls, cpu0 = [], time.process_time()
    for _ in range(n):
        t0 = time.perf_counter()
        await call()
        walls.append((time.perf_counter() - t0) * 1000)
    cpu = (time.process_time() - cpu0) * 1000 / n
    walls.sort()
    return {"p50": statistics.median(walls), "p95": walls[int(0.95 * (len(walls) - 1))], "cpu": cpu}


async def run(url: str, n: int) -> dict[str, dict]:
    from accounts.services import create_token, create_user, login, viewer_for_session, viewer_for_token
    from rackcard import db as rdb
    from rackcard.app import create_app
    from rackcard.settings import Settings

    async with rdb.connected(url):
        email = f"cost-{uuid.uuid4().hex[:6]}@bench.local"
        await create_user(email, "engineer", "bench password 123")
        token = await create_token(email)
        session, _ = await login(email, "bench password 123")
        settings = Settings.from_env({"RACKCARD_DATABASE_URL": url, "RACKCARD_SECRET_KEY": "c" * 40,
                                      "RACKCARD_VAR_DIR": tempfile.mkdtemp()})
        app = create_app(settings, manage_db=False, background=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
            auth = {"Authorization": f"Bearer {token}"}

            async def me():
                r = await client.get("/api/v1/me", headers=auth)
                assert r.status_code == 200, r.text

            async def healthz():
                r = await client.get("/healthz")
                assert r.status_code == 200, r.text

            async def token_check():
                assert await viewer_for_token(token) is not None

            async def session_check():
                assert await viewer_for_session(session) is not None

            out = {"/healthz (floor)": await _timed(n, healthz), "/api/v1/me": await _timed(n, me),
                   "token check alone": await _timed(n, token_check),
                   "session check alone": await _timed(n, session_check)}
        from accounts import services

        await asyncio.gather(*services._pending)  # the token's last_used_at write, before the database goes
        return out


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    load = load_average()
    runs: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="rackcard-cost-") as tmp:
        runs["SQLite"] = asyncio.run(run(f"sqlite:///{tmp}/cost.sqlite", args.requests))
    if args.pg:
        async def on_pg():
            async with scratch_pg(args.pg, "rackcard_bench_cost") as url:
                return await run(url, args.requests)

        runs["PostgreSQL"] = asyncio.run(on_pg())
    lines = [f"### {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC — {machine()}, load average at start {load}",
             "", f"{args.requests} sequential requests per line, in-process (httpx ASGITransport).", "",
             "| engine | request | p50 ms | p95 ms | CPU ms per request |", "|---|---|---:|---:|---:|"]
    for engine, rows in runs.items():
        for label, r in rows.items():
            lines.append(f"| {engine} | {label} | {r['p50']:.2f} | {r['p95']:.2f} | {r['cpu']:.2f} |")
        fixed = rows["/api/v1/me"]["p50"] - rows["/healthz (floor)"]["p50"]
        fixed_cpu = rows["/api/v1/me"]["cpu"] - rows["/healthz (floor)"]["cpu"]
        lines.append(f"| {engine} | **fixed cost** (/api/v1/me − /healthz) | {fixed:.2f} | | {fixed_cpu:.2f} |")
        headline("request_cost", f"fixed cost per request, {engine} (p50 wall)", fixed, "ms", f"< {TARGET_MS:g} ms",
                 fixed < TARGET_MS)
        headline("request_cost", f"fixed cost per request, {engine} (CPU of this process)", fixed_cpu, "ms",
                 f"< {TARGET_MS:g} ms", fixed_cpu < TARGET_MS)
        headline("request_cost", f"session check, {engine} (p50 wall)", rows["session check alone"]["p50"], "ms",
                 f"< {TARGET_MS:g} ms", rows["session check alone"]["p50"] < TARGET_MS)
    lines.append("")
    print("\n".join(lines))
    if not args.no_record:
        append_run(HEADER, USAGE, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
