"""Load over real HTTP: a mix of card, search and incident-list reads from 1, 8
and 32 concurrent users against `rackcard serve --workers N` on loopback.

Seeds the card/search bench data (bench/cmdb_card_search.py: 10,000 clients at
--scale 1), starts the server as a real process, then for each user count runs
the mix for --seconds (bounded) with keep-alive connections and reports
requests/s, p50 and p95. Every answer is checked for status 200. The load
generator runs on the same machine (2 cores here): its CPU is taken from the
server, so the figures are a floor.

    ./run bench http_load [--scale 1] [--seconds 15] [--workers 2] [--pg postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

import cmdb_card_search as card_bench  # noqa: E402  (bench/ is the script's directory)
from _results import append_run, machine  # noqa: E402
from rackcard import db as rdb  # noqa: E402

USERS = (1, 8, 32)
TARGET_RPS, TARGET_P95_MS = 500, 50.0
USAGE = ("`./run bench http_load [--scale S] [--seconds N] [--workers W] [--pg URL]`: card 40 %, search 30 %, "
         "open-incident list 30 % over real HTTP (keep-alive) from 1, 8 and 32 users; the load generator shares "
         f"the machine. Targets on 2 cores: >= {TARGET_RPS} req/s and p95 < {TARGET_P95_MS:.0f} ms at 32 users.")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _token(url: str) -> str:
    from accounts.services import create_token, create_user

    async with rdb.connected(url, run_migrations=False):
        email = f"load-{uuid.uuid4().hex[:6]}@bench.local"
        await create_user(email, "engineer", "bench password 123")
        return await create_token(email)


async def _run_users(base: str, token: str, data, users: int, seconds: float) -> dict:
    rng = random.Random(users)
    clients = list(data.client_names)
    latencies: list[float] = []
    errors = 0
    stop_at = time.monotonic() + seconds

    def request() -> tuple[str, dict | None]:
        roll = rng.random()
        if roll < 0.4:
            return f"/api/v1/clients/{rng.choice(clients)}/card", None
        if roll < 0.7:
            kind = rng.random()
            if kind < 0.34:
                return "/api/v1/search", {"q": rng.choice(data.ips)[0]}
            if kind < 0.67:
                return "/api/v1/search", {"q": data.client_names[rng.choice(clients)]}
            return "/api/v1/search", {"q": data.phones[rng.choice(clients)]}
        return "/api/v1/incidents", {"status": "open", "limit": 50}

    async def user(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.monotonic() < stop_at:
            path, params = request()
            t0 = time.perf_counter()
            response = await client.get(path, params=params)
            elapsed = (time.perf_counter() - t0) * 1000
            if response.status_code == 200:
                latencies.append(elapsed)
            else:
                errors += 1

    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits,
                                 timeout=30) as client:
        started = time.monotonic()
        await asyncio.gather(*(user(client) for _ in range(users)))
        took = time.monotonic() - started
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else float("nan")  # noqa: E731
    return {"users": users, "rps": len(latencies) / took, "p50": p(0.5), "p95": p(0.95), "errors": errors,
            "n": len(latencies)}


def _serve(url: str, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "RACKCARD_DATABASE_URL": url, "RACKCARD_SECRET_KEY": "l" * 40,
           "RACKCARD_VAR_DIR": tempfile.mkdtemp(), "RACKCARD_EMBEDDED_PROBE": "false", "RACKCARD_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "rackcard.cli", "serve", "--port", str(port),
                             "--workers", str(workers)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_up(base: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit("the server did not come up")


def run_engine(label: str, url: str, data, args) -> list[dict]:
    async def prepare() -> str:
        async with rdb.connected(url):
            pass
        if url.startswith("sqlite"):
            card_bench.seed_sqlite(url[len("sqlite:///"):], data)
        else:
            await card_bench.seed_pg(url, data)
        return await _token(url)

    token = asyncio.run(prepare())
    port = _free_port()
    server = _serve(url, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_up(base, server)
        rows = []
        for users in USERS:
            r = asyncio.run(_run_users(base, token, data, users, args.seconds))
            print(f"{label}: {users:>2} users  {r['rps']:7.1f} req/s  p50 {r['p50']:6.1f} ms  p95 {r['p95']:6.1f} ms"
                  f"  (n={r['n']}, errors={r['errors']})", flush=True)
            rows.append(r)
        return rows
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 10,000 clients (as the card bench)")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long each user count runs")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="web processes")
    parser.add_argument("--pg", metavar="URL", help="also run on this PostgreSQL server (a scratch database is made)")
    args = parser.parse_args(argv)
    data = card_bench.Dataset(int(10_000 * args.scale), int(100_000 * args.scale), int(200_000 * args.scale)).build()
    targets = [("SQLite", f"sqlite:///{tempfile.mkdtemp()}/load.sqlite", None)]
    if args.pg:
        name = f"rackcard_bench_load_{uuid.uuid4().hex[:6]}"
        targets.append(("PostgreSQL", card_bench._pg_database_url(args.pg, name), name))
    lines = [f"### {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC — {machine()}, load average "
             f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}", "",
             f"{len(data.client_names):,} clients, `serve --workers {args.workers}`, {args.seconds:.0f} s per step:", "",
             "| engine | users | req/s | p50 ms | p95 ms | errors |", "|---|---|---|---|---|---|"]
    for label, url, pg_name in targets:
        if pg_name:
            asyncio.run(card_bench._pg_admin(args.pg, f'CREATE DATABASE "{pg_name}"'))
        try:
            for r in run_engine(label, url, data, args):
                lines.append(f"| {label} | {r['users']} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['errors']} |")
        finally:
            if pg_name:
                asyncio.run(card_bench._pg_admin(args.pg, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
    append_run("## http_load — card, search and incident list over real HTTP", USAGE, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
