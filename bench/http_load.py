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

import asyncio
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

import cmdb_card_search as card_bench  # noqa: E402  (bench/ is the script's directory)
from _processes import free_port, wait_until_up  # noqa: E402  (the e2e tests' process helpers)
from _results import append_run, arguments, headline, load_average, machine, scratch_pg  # noqa: E402
from rackcard import db as rdb  # noqa: E402

USERS = (1, 8, 32)
TARGET_RPS, TARGET_P95_MS = 500, 50.0
USAGE = ("`./run bench http_load [--scale S] [--seconds N] [--workers W] [--pg URL]`: card 40 %, search 30 %, "
         "open-incident list 30 % over real HTTP (keep-alive) from 1, 8 and 32 users; the load generator shares "
         f"the machine. Targets on 2 cores: >= {TARGET_RPS} req/s and p95 < {TARGET_P95_MS:.0f} ms at 32 users.")


async def _token(url: str) -> str:
    from accounts.services import create_token, create_user

    async with rdb.connected(url, run_migrations=False):
        email = f"load-{uuid.uuid4().hex[:6]}@bench.local"
        await create_user(email, "engineer", "bench password 123")
        return await create_token(email)


class _Connection:
    """One keep-alive HTTP/1.1 connection speaking just enough of the protocol for
    GETs (Content-Length or chunked answers). The load generator shares the
    server's two cores: httpx spends ~1 ms of CPU per request, which the server
    would lose; this spends a tenth of it."""

    def __init__(self, host: str, port: int, token: str):
        self.host, self.port = host, port
        self.head = f"Host: {host}:{port}\r\nAuthorization: Bearer {token}\r\nAccept: application/json\r\n\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, params: dict | None) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        target = path + ("?" + urlencode(params) if params else "")
        self.writer.write(f"GET {target} HTTP/1.1\r\n{self.head}".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if "content-length" in headers:
            await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = self.reader = None


async def _run_users(base: str, token: str, data, users: int, seconds: float) -> dict:
    rng = random.Random(users)
    clients = list(data.client_names)
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {}
    by_user: list[list[float]] = []
    errors = 0
    stop_at = time.monotonic() + seconds
    host, port = base.removeprefix("http://").split(":")

    def request() -> tuple[str, dict | None]:
        roll = rng.random()
        if roll < 0.4:
            return "card", f"/api/v1/clients/{rng.choice(clients)}/card", None
        if roll < 0.7:
            kind = rng.random()
            if kind < 0.34:
                return "search ip", "/api/v1/search", {"q": rng.choice(data.ips)[0]}
            if kind < 0.67:
                return "search name", "/api/v1/search", {"q": data.client_names[rng.choice(clients)]}
            return "search phone", "/api/v1/search", {"q": data.phones[rng.choice(clients)]}
        return "incidents", "/api/v1/incidents", {"status": "open", "limit": 50}

    async def user() -> None:
        nonlocal errors
        connection = _Connection(host, int(port), token)
        mine: list[float] = []
        by_user.append(mine)
        try:
            while time.monotonic() < stop_at:
                kind, path, params = request()
                t0 = time.perf_counter()
                status = await connection.get(path, params)
                elapsed = (time.perf_counter() - t0) * 1000
                if status == 200:
                    latencies.append(elapsed)
                    by_kind.setdefault(kind, []).append(elapsed)
                    mine.append(elapsed)
                else:
                    errors += 1
        finally:
            await connection.close()

    cpu0 = time.process_time()
    started = time.monotonic()
    await asyncio.gather(*(user() for _ in range(users)))
    took = time.monotonic() - started
    return {"users": users, "rps": len(latencies) / took, "p50": _percentile(latencies, 0.5),
            "p95": _percentile(latencies, 0.95), "errors": errors,
            "kinds": {k: (_percentile(v, 0.5), _percentile(v, 0.95)) for k, v in sorted(by_kind.items())},
            # each user's median: far apart when some connections wait longer than others
            # (an uneven split over the processes, or an unfair order within one)
            "user_medians": sorted(_percentile(v, 0.5) for v in by_user if v),
            "n": len(latencies), "client_cpu_ms": (time.process_time() - cpu0) * 1000 / max(1, len(latencies))}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total, pending = 0.0, [pid]
    while pending:
        p = pending.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(c) for c in children)
        except (OSError, ValueError, IndexError):
            continue
    return total


def _serve(url: str, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "RACKCARD_DATABASE_URL": url, "RACKCARD_SECRET_KEY": "l" * 40,
           "RACKCARD_VAR_DIR": tempfile.mkdtemp(), "RACKCARD_EMBEDDED_PROBE": "false", "RACKCARD_LOG_LEVEL": "WARNING"}
    return subprocess.Popen([sys.executable, "-m", "rackcard.cli", "serve", "--port", str(port),
                             "--workers", str(workers)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


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
    port = free_port()
    server = _serve(url, port, args.workers)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(server, f"{base}/readyz", timeout=120)
        rows = []
        for users in args.users:
            cpu0 = _tree_cpu_s(server.pid)
            r = asyncio.run(_run_users(base, token, data, users, args.seconds))
            r["server_cpu_ms"] = (_tree_cpu_s(server.pid) - cpu0) * 1000 / max(1, r["n"])
            print(f"{label}: {users:>2} users  {r['rps']:7.1f} req/s  p50 {r['p50']:6.1f} ms  p95 {r['p95']:6.1f} ms"
                  f"  (n={r['n']}, errors={r['errors']}; CPU per request: server {r['server_cpu_ms']:.2f} ms,"
                  f" load generator {r['client_cpu_ms']:.2f} ms)", flush=True)
            print("    p50/p95 ms by kind: " + ", ".join(f"{k} {a:.1f}/{b:.1f}" for k, (a, b) in r["kinds"].items()),
                  flush=True)
            if medians := r["user_medians"]:
                print(f"    users' median latency from {medians[0]:.1f} to {medians[-1]:.1f} ms", flush=True)
            rows.append(r)
        return rows
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, pg_default_from_env=False)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = 10,000 clients (as the card bench)")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long each user count runs")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="web processes")
    parser.add_argument("--users", default=",".join(map(str, USERS)), help="concurrent users, one step each")
    args = parser.parse_args(argv)
    args.users = [int(u) for u in args.users.split(",")]
    data = card_bench.Dataset(int(10_000 * args.scale), int(100_000 * args.scale), int(200_000 * args.scale)).build()
    async def on_pg():
        async with scratch_pg(args.pg, "rackcard_bench_load") as url:
            return await asyncio.to_thread(run_engine, "PostgreSQL", url, data, args)

    targets = [("SQLite", lambda: run_engine("SQLite", f"sqlite:///{tempfile.mkdtemp()}/load.sqlite", data, args))]
    if args.pg:
        targets.append(("PostgreSQL", lambda: asyncio.run(on_pg())))
    lines = [f"### {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC — {machine()}, load average at start "
             f"{load_average()}", "",
             f"{len(data.client_names):,} clients, `serve --workers {args.workers}`, {args.seconds:.0f} s per step:", "",
             "| engine | users | req/s | p50 ms | p95 ms | errors | server CPU ms/req | generator CPU ms/req |",
             "|---|---|---|---|---|---|---|---|"]
    for label, measure in targets:
        rows = measure()
        for r in rows:
            lines.append(f"| {label} | {r['users']} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p95']:.1f} | {r['errors']} "
                         f"| {r['server_cpu_ms']:.2f} | {r['client_cpu_ms']:.2f} |")
        top = rows[-1]
        headline("http_load", f"req/s at {top['users']} users, {label}", top["rps"], "req/s", f">= {TARGET_RPS}",
                 top["rps"] >= TARGET_RPS)
        headline("http_load", f"p95 at {top['users']} users, {label}", top["p95"], "ms", f"< {TARGET_P95_MS:.0f} ms",
                 top["p95"] < TARGET_P95_MS)
    print("\n".join(lines))
    if not args.no_record:
        append_run("## http_load — card, search and incident list over real HTTP", USAGE, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
