"""Benchmark: the client card and the search box at operator scale.

Seeds 10,000 clients, 100,000 assets and 200,000 IP addresses (plus contacts,
sites, racks with their occupied units, prefixes, services and dependencies)
with bulk inserts, then measures p50/p95/max latency of

- GET /api/v1/clients/{id}/card  (a random client, and one of the 10 large clients with 500 assets)
- GET /api/v1/search?q=<an IP address>  (exact address)
- GET /api/v1/search?q=<an IP inside a client prefix, not recorded>  (containment)
- GET /api/v1/search?q=<a client name>
- GET /api/v1/search?q=<an asset serial>
- GET /api/v1/search?q=<a phone in another format>
- GET /api/v1/me as a baseline: what every request pays for the token check and the framework

through the real app in-process (httpx ASGITransport, bearer token, JSON
rendering: what a user gets minus the network), one request at a time, on
SQLite and on PostgreSQL. Every answer is checked (the expected client/asset
is among the results) so a fast wrong answer does not count as fast.

Rows are built by the services' own field declarations (`parse` + the
columns each field fills: `*_norm`, `ip_key`, `first_key`/`last_key` ...), so
the data looks exactly as if it came through the API; only the per-row
transactions are skipped (executemany on SQLite, COPY on PostgreSQL).

    python bench/cmdb_card_search.py                  # SQLite, and PostgreSQL if RACKCARD_TEST_PG_URL is set
    python bench/cmdb_card_search.py --pg postgresql://postgres@127.0.0.1:5432/postgres
    python bench/cmdb_card_search.py --scale 0.1 --no-record   # a quick look

Results are appended to bench/RESULTS.md (machine, date, dataset sizes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from cmdb import addressing  # noqa: E402
from _results import RESULTS, append_run, arguments, headline, machine, pg_admin, pg_database_url  # noqa: E402  (bench/ is the script's directory)
from rackcard import db as rdb  # noqa: E402
from accounts import secretbox  # noqa: E402

BENCH_SECRET_KEY = "b" * 40

TARGET_P95_MS = 50.0
BIG_CLIENTS, BIG_ASSETS = 10, 500  # the card of a large client is the card's worst case

ADJECTIVES = ["Volga", "Severny", "Ural", "Baltic", "Siberian", "Moscow", "Neva", "Kama", "Oka", "Don",
              "Altai", "Amur", "Pechora", "Ladoga", "Onega", "Yenisei", "Irtysh", "Sayan", "Taiga", "Polar"]
NOUNS = ["Logistics", "Trade", "Telecom", "Bank", "Clinic", "Games", "Media", "Retail", "Energy", "Foods",
         "Build", "Pharma", "Capital", "Soft", "Transit", "Agro", "Steel", "Insurance", "Print", "School"]
FIRST = ["Ivan", "Olga", "Sergey", "Anna", "Dmitry", "Elena", "Pavel", "Irina", "Maxim", "Tatiana"]
LAST = ["Ivanov", "Petrova", "Sidorov", "Smirnova", "Kuznetsov", "Popova", "Volkov", "Sokolova", "Orlov", "Lebedeva"]
TOWNS = ["Khimki", "Mytishchi", "Podolsk", "Lyubertsy", "Balashikha", "Korolev", "Odintsovo", "Krasnogorsk",
         "Zelenograd", "Dolgoprudny", "Reutov", "Vidnoye", "Shchelkovo", "Pushkino", "Dmitrov", "Klin"]
KINDS = [("server", 50), ("media_converter", 20), ("switch", 10), ("router", 10), ("pdu", 5), ("other", 5)]
MAKERS = {
    "server": [("Dell", "PowerEdge R650"), ("HPE", "ProLiant DL360"), ("Lenovo", "SR650"), ("Supermicro", "SYS-1029")],
    "media_converter": [("Planet", "FT-802"), ("Planet", "GT-805A"), ("D-Link", "DMC-F20SC"), ("TP-Link", "MC220L")],
    "switch": [("Cisco", "C9200-24T"), ("Eltex", "MES2324"), ("Huawei", "S5735"), ("SNR", "S2985G")],
    "router": [("MikroTik", "CCR2004"), ("Juniper", "MX204"), ("Cisco", "ISR4331"), ("Fortinet", "FortiGate 60F")],
    "pdu": [("APC", "AP8959"), ("Eaton", "EMAB03")],
    "other": [("Ubiquiti", "EdgeRouter X"), ("Moxa", "NPort 5110")],
    "ups": [("APC", "Smart-UPS 1500"), ("Eaton", "9PX 6000")],
}
PREFIX_OF = {"server": "srv", "media_converter": "mc", "switch": "sw", "router": "rt", "pdu": "pdu",
             "other": "dev", "ups": "ups"}


# --------------------------------------------------------------------------- dataset


class Dataset:
    """Rows per table as dicts of table columns, with explicit ids."""

    def __init__(self, clients: int, assets: int, ips: int, sites: int = 50, racks_per_site: int = 40, seed: int = 42):
        from cmdb import services as s

        self.s = s
        self.rng = random.Random(seed)
        self.n_clients, self.n_assets, self.n_ips = clients, assets, ips
        self.n_sites, self.racks_per_site = sites, racks_per_site
        self.tables: dict[str, list[dict]] = {}
        self.client_names: dict[int, str] = {}
        self.phones: dict[int, str] = {}  # client id -> a contact's phone
        self.serials: dict[int, tuple[str, int]] = {}  # asset id -> (serial, client id)
        self.ips: list[tuple[str, int]] = []  # (address, client id)
        self.prefix_gaps: list[tuple[str, int]] = []  # an unrecorded address inside a client's prefix

    def _rows(self, service, items: list[dict]) -> list[dict]:
        """API fields -> table columns, exactly as the service computes them."""
        defaults = service._defaults()
        out = []
        for item in items:
            row_id = item.pop("id")
            columns = service._columns(service.parse(item, partial=False))
            row = {**defaults, **columns, "id": row_id}
            if service.r.prepare:
                service.r.prepare(row, None)
            out.append(row)
        return out

    def build(self) -> "Dataset":
        s, rng = self.s, self.rng
        # Rows are built as the services store them, SNMP secrets sealed; the
        # apps below are started with the same key.
        secretbox.configure(BENCH_SECRET_KEY)
        t0 = time.perf_counter()
        sites = []
        for i in range(1, self.n_sites + 1):
            if i <= 3:
                name, kind = ["Moscow DC-1", "Moscow DC-2", "St Petersburg DC-3"][i - 1], "datacenter"
            else:
                name, kind = f"{TOWNS[i % len(TOWNS)]} node {i}", "remote"
            sites.append({"id": i, "code": f"S{i:03d}", "name": name, "kind": kind, "address": f"{name}, street {i}"})
        self.tables["cmdb_site"] = self._rows(s.sites, sites)

        clients, contacts = [], []
        for i in range(1, self.n_clients + 1):
            name = f"{ADJECTIVES[i % 20]} {NOUNS[(i // 20) % 20]} {i}"
            self.client_names[i] = name
            clients.append({"id": i, "code": f"C{i:05d}", "name": name, "contract_number": f"RC-{i:05d}"})
            for k in range(2):
                digits = f"{(i * 2 + k) % 10_000_000:07d}"
                phone = f"+7 (495) {digits[:3]}-{digits[3:5]}-{digits[5:]}"
                if k == 0:
                    self.phones[i] = phone
                first, last = FIRST[(i + k) % 10], LAST[(i * 3 + k) % 10]
                contacts.append({"id": i * 2 - 1 + k, "client_id": i, "name": f"{first} {last}",
                                 "email": f"{first.lower()}.{last.lower()}{k}@c{i}.example", "phone": phone,
                                 "role": "IT" if k == 0 else "billing"})
        self.tables["cmdb_client"] = self._rows(s.clients, clients)
        self.tables["cmdb_contact"] = self._rows(s.contacts, contacts)

        racks, rack_of_site, next_u = [], {}, {}
        rack_id = 0
        for site in range(1, self.n_sites + 1):
            for r in range(self.racks_per_site):
                rack_id += 1
                leased = rng.randint(1, self.n_clients) if rng.random() < 0.3 else None
                racks.append({"id": rack_id, "site_id": site, "name": f"R{r + 1:02d}", "height_u": 42,
                              "client_id": leased})
                rack_of_site.setdefault(site, []).append(rack_id)
                next_u[rack_id] = 1
        self.tables["cmdb_rack"] = self._rows(s.racks, racks)

        # Our own gear per site (UPS, switch, router), then the clients' assets.
        assets, units, deps = [], [], []
        ups_of, switch_of = {}, {}
        asset_id = 0

        def place(site: int, height: int) -> tuple[int | None, int | None]:
            for rack in rng.sample(rack_of_site[site], 3):
                u = next_u[rack]
                if u + height - 1 <= 42:
                    next_u[rack] = u + height
                    return rack, u
            return None, None

        def add_asset(kind: str, site: int, client: int | None, in_rack: bool) -> int:
            nonlocal asset_id
            asset_id += 1
            maker, model = rng.choice(MAKERS[kind])
            height = 2 if kind == "server" and rng.random() < 0.3 else 1
            rack, position = place(site, height) if in_rack else (None, None)
            serial = f"{maker[:2].upper()}{asset_id:07d}{rng.randrange(16 ** 4):04X}"
            owner = f"c{client:05d}" if client else f"s{site:03d}"
            item = {"id": asset_id, "name": f"{PREFIX_OF[kind]}-{owner}-{asset_id}", "kind": kind,
                    "manufacturer": maker, "model": model, "serial": serial, "site_id": site,
                    "rack_id": rack, "position_u": position, "height_u": height, "client_id": client}
            if kind in ("media_converter", "ups", "switch") and rng.random() < 0.5:
                item.update(mgmt_ip=f"10.{200 + site // 250}.{site % 250}.{asset_id % 250 + 1}", snmp_version="2c",
                            snmp_community=f"c{asset_id}")
            assets.append(item)
            if rack:
                units.extend({"rack": rack, "unit": u, "asset": asset_id} for u in range(position, position + height))
            if client:
                self.serials[asset_id] = (serial, client)
            return asset_id

        for site in range(1, self.n_sites + 1):
            ups_of[site] = add_asset("ups", site, None, True)
            switch_of[site] = add_asset("switch", site, None, True)
            router = add_asset("router", site, None, True)
            deps += [(switch_of[site], ups_of[site], "power"), (router, ups_of[site], "power"),
                     (switch_of[site], router, "uplink")]
        own = asset_id
        # A few large clients (BIG_ASSETS each), as every operator has; the rest share what is left.
        self.big_clients = list(range(1, min(BIG_CLIENTS, self.n_clients // 10) + 1))
        # at most a quarter of all assets (small --scale runs)
        self.big_assets = min(BIG_ASSETS, self.n_assets // (4 * len(self.big_clients))) if self.big_clients else 0
        big_total = len(self.big_clients) * self.big_assets
        per_client = (self.n_assets - own - big_total) / (self.n_clients - len(self.big_clients))
        home = {c: (rng.randint(1, 3) if rng.random() < 0.7 else rng.randint(4, self.n_sites))
                for c in range(1, self.n_clients + 1)}
        assets_of: dict[int, list[int]] = {}
        kinds = [k for k, w in KINDS for _ in range(w)]
        for c in range(1, self.n_clients + 1):
            if c in self.big_clients:
                target = self.big_assets
            else:
                n = c - len(self.big_clients)
                target = round(per_client * n) - round(per_client * (n - 1))
            for _ in range(target):
                kind = rng.choice(kinds)
                site = home[c]
                a = add_asset(kind, site, c, rng.random() < 0.35)
                assets_of.setdefault(c, []).append(a)
                if site > 3:  # a remote site: fed by its UPS, reached through its switch
                    deps += [(a, ups_of[site], "power"), (a, switch_of[site], "uplink")]
                elif kind == "media_converter":
                    deps.append((a, switch_of[site], "uplink"))
        self.tables["cmdb_asset"] = self._rows(s.assets, assets)
        self.tables["cmdb_rack_unit"] = [{"id": i, **u} for i, u in enumerate(units, start=1)]
        self.tables["cmdb_dependency"] = [
            {"id": i, "asset": a, "depends_on": b, "kind": k} for i, (a, b, k) in enumerate(deps, start=1)
        ]

        # IP space: one /27 per client (10.0.0.0/8 and on), addresses packed from its start.
        prefixes, ips, services, service_assets = [], [], [], []
        per_ip = self.n_ips / self.n_clients
        ip_id = 0
        base = int(addressing.parse_address("10.0.0.0").value)
        for c in range(1, self.n_clients + 1):
            first = base + (c - 1) * 32
            prefixes.append({"id": c, "prefix": f"{addressing.text_of(first, 4)}/27", "client_id": c,
                             "site_id": home[c], "description": f"{self.client_names[c]} space"})
            count = min(round(per_ip * c) - round(per_ip * (c - 1)), 29)
            owned = assets_of.get(c, [])
            for k in range(count):
                ip_id += 1
                address = addressing.text_of(first + 1 + k, 4)
                asset = owned[k % len(owned)] if owned and k % 2 else None
                ips.append({"id": ip_id, "address": address, "client_id": c, "asset_id": asset})
                self.ips.append((address, c))
            if count < 29:
                self.prefix_gaps.append((addressing.text_of(first + 30, 4), c))
            services.append({"id": 2 * c - 1, "client_id": c, "site_id": home[c], "kind": "internet",
                             "bandwidth_mbps": rng.choice([50, 100, 200, 500, 1000])})
            services.append({"id": 2 * c, "client_id": c, "site_id": home[c], "kind": "colocation"})
            if owned:
                service_assets.append({"service": 2 * c - 1, "asset": owned[0]})
        # the rest of the IPv4 space as a supernet per data center
        prefixes.append({"id": self.n_clients + 1, "prefix": "10.0.0.0/8", "site_id": 1, "description": "clients"})
        self.tables["cmdb_prefix"] = self._rows(s.prefixes, prefixes)
        self.tables["cmdb_ip_address"] = self._rows(s.ip_addresses, ips)
        self.tables["cmdb_service"] = self._rows(s.services, services)
        self.tables["cmdb_service_asset"] = [{"id": i, **sa} for i, sa in enumerate(service_assets, start=1)]
        self.build_s = time.perf_counter() - t0
        return self

    def sizes(self) -> dict[str, int]:
        plural = {"cmdb_ip_address": "IP addresses", "cmdb_prefix": "prefixes", "cmdb_service_asset": "service-asset links",
                  "cmdb_rack_unit": "occupied rack units", "cmdb_dependency": "dependencies"}
        return {plural.get(name, name.removeprefix("cmdb_") + "s"): len(rows) for name, rows in self.tables.items()}


ORDER = ["cmdb_site", "cmdb_client", "cmdb_contact", "cmdb_rack", "cmdb_asset", "cmdb_rack_unit",
         "cmdb_dependency", "cmdb_prefix", "cmdb_ip_address", "cmdb_service", "cmdb_service_asset"]


def _table_columns(name: str) -> list[str]:
    from rackcard.db import all_tables

    table = next(t for t in all_tables() if t._meta.tablename == name)
    return [c._meta.db_column_name for c in table._meta.columns]


def _tuples(name: str, rows: list[dict]) -> tuple[list[str], list[tuple]]:
    columns = _table_columns(name)
    present = [c for c in columns if c in rows[0]]
    return present, [tuple(r.get(c) for c in present) for r in rows]


def seed_sqlite(path: str, data: Dataset) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        with conn:
            for name in ORDER:
                rows = data.tables[name]
                if not rows:
                    continue
                columns, values = _tuples(name, rows)
                marks = ", ".join("?" for _ in columns)
                quoted = ", ".join(f'"{c}"' for c in columns)
                conn.executemany(f'INSERT INTO "{name}" ({quoted}) VALUES ({marks})', values)
    finally:
        conn.close()


async def seed_pg(url: str, data: Dataset) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            for name in ORDER:
                rows = data.tables[name]
                if not rows:
                    continue
                columns, values = _tuples(name, rows)
                await conn.copy_records_to_table(name, records=values, columns=columns)
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM \"{name}\"))"
                )
        await conn.execute("ANALYZE")  # what autovacuum does shortly after a bulk load
    finally:
        await conn.close()


# --------------------------------------------------------------------------- measuring


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def measure(url: str, data: Dataset, samples: int, warmup: int) -> dict[str, dict]:
    from accounts.services import create_token, create_user
    from rackcard.app import create_app
    from rackcard.settings import Settings

    rng = random.Random(7)
    async with rdb.connected(url, run_migrations=False):
        email = f"bench-{uuid.uuid4().hex[:6]}@bench.local"
        await create_user(email, "admin", "bench password 123")
        token = await create_token(email)
        settings = Settings.from_env({"RACKCARD_DATABASE_URL": url, "RACKCARD_SECRET_KEY": BENCH_SECRET_KEY,
                                      "RACKCARD_VAR_DIR": tempfile.mkdtemp()})
        app = create_app(settings, manage_db=False, background=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench",
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            clients = list(data.client_names)
            serial_ids = list(data.serials)

            def card():
                c = rng.choice(clients)
                return f"/api/v1/clients/{c}/card", None, lambda body: body["client"]["id"] == c

            def big_card():
                c = rng.choice(data.big_clients)
                return f"/api/v1/clients/{c}/card", None, lambda body: body["assets"]["count"] == data.big_assets

            def hit_for(value: str, check):
                return "/api/v1/search", {"q": value}, check

            def by_ip():
                address, c = rng.choice(data.ips)
                return hit_for(address, lambda body: any(h["client_id"] == c for h in body_results(body)))

            def by_prefix():
                address, c = rng.choice(data.prefix_gaps)
                return hit_for(address, lambda body: any(h["client_id"] == c for h in body_results(body)))

            def by_name():
                c = rng.choice(clients)
                return hit_for(data.client_names[c],
                               lambda body: any(h["type"] == "client" and h["id"] == c for h in body_results(body)))

            def by_serial():
                a = rng.choice(serial_ids)
                serial, c = data.serials[a]
                return hit_for(serial.lower(),
                               lambda body: any(h["type"] == "asset" and h["id"] == a for h in body_results(body)))

            def by_phone():
                c = rng.choice(clients)
                digits = "".join(ch for ch in data.phones[c] if ch.isdigit())
                return hit_for("8" + digits[1:], lambda body: any(h["client_id"] == c for h in body_results(body)))

            cases = {
                "baseline: GET /me (token check)": lambda: ("/api/v1/me", None, lambda body: body["email"] == email),
                "client card": card,
                f"client card, large client ({data.big_assets} assets)": big_card,
                "search: IP (exact)": by_ip,
                "search: IP in a client prefix": by_prefix,
                "search: client name": by_name,
                "search: serial": by_serial,
                "search: phone, other format": by_phone,
            }
            results = {}
            for label, make in cases.items():
                times, wrong, errors = [], 0, 0
                for i in range(warmup + samples):
                    path, params, check = make()
                    t0 = time.perf_counter()
                    response = await client.get(path, params=params)
                    elapsed = (time.perf_counter() - t0) * 1000
                    if response.status_code != 200:
                        errors += 1
                        if errors == 1:
                            print(f"  {label}: HTTP {response.status_code} {response.text[:300]}", file=sys.stderr)
                        continue
                    if i >= warmup:
                        times.append(elapsed)
                        if not check(response.json()):
                            wrong += 1
                results[label] = {
                    "n": len(times),
                    "p50": statistics.median(times) if times else float("nan"),
                    "p95": percentile(times, 95) if times else float("nan"),
                    "max": max(times) if times else float("nan"),
                    "wrong": wrong,
                    "errors": errors,
                }
                r = results[label]
                print(f"  {label:<40} p50 {r['p50']:7.1f} ms  p95 {r['p95']:7.1f} ms  max {r['max']:7.1f} ms"
                      f"  (n={r['n']}, wrong={wrong}, errors={errors})", flush=True)
    return results


def body_results(body) -> list[dict]:
    if isinstance(body, dict):
        return body.get("results", [])
    return body


# --------------------------------------------------------------------------- engines


async def run_engine(engine: str, url: str, data: Dataset, args) -> dict:
    print(f"{engine}: migrating", flush=True)
    async with rdb.connected(url):
        pass
    t0 = time.perf_counter()
    if engine == "sqlite":
        seed_sqlite(url[len("sqlite:///"):], data)
        if args.sqlite_analyze:
            conn = sqlite3.connect(url[len("sqlite:///"):])
            conn.execute("ANALYZE")
            conn.close()
    else:
        await seed_pg(url, data)
    seed_s = time.perf_counter() - t0
    print(f"{engine}: seeded in {seed_s:.1f} s", flush=True)
    results = await measure(url, data, args.samples, args.warmup)
    return {"seed_s": seed_s, "results": results}


def record(runs: dict[str, dict], data: Dataset, args) -> None:
    sizes = data.sizes()
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.1f}" for x in args.load)
    lines = [
        f"### {now} — {machine()}; load average at start {load} (other work on the machine inflates the tail)",
        "",
        "Dataset: " + ", ".join(f"{v:,} {k}" for k, v in sizes.items()) + ".",
        f"Sequential requests through the app in-process (httpx ASGITransport), {args.samples} samples per line "
        f"after {args.warmup} warm-up requests; target p95 < {TARGET_P95_MS:.0f} ms."
        + (" SQLite after ANALYZE." if args.sqlite_analyze else " SQLite without ANALYZE (as shipped)."),
        "",
        "| engine | request | p50 ms | p95 ms | max ms | wrong answers |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for engine, run in runs.items():
        for label, r in run["results"].items():
            flag = "" if r["p95"] < TARGET_P95_MS else " ⚠"
            lines.append(f"| {engine} | {label} | {r['p50']:.1f} | {r['p95']:.1f}{flag} | {r['max']:.1f} | {r['wrong']} |")
    lines.append("")
    lines.append("Seeding (bulk insert): " + ", ".join(f"{e} {run['seed_s']:.0f} s" for e, run in runs.items())
                 + f"; building the rows through the service declarations {data.build_s:.0f} s.")
    lines.append("")
    append_run("## cmdb_card_search — client card and search",
               "`python bench/cmdb_card_search.py [--pg URL]` (see the script's docstring).", lines)
    print(f"recorded in {RESULTS}")


async def main_async(args) -> int:
    scale = args.scale
    args.load = os.getloadavg()
    data = Dataset(int(args.clients * scale), int(args.assets * scale), int(args.ips * scale))
    # Field declarations need the tables bound to some engine for defaults; no connection is made.
    print("building rows...", flush=True)
    data.build()
    print(f"built in {data.build_s:.1f} s: {data.sizes()}", flush=True)
    runs = {}
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if "sqlite" in engines:
        directory = Path(tempfile.mkdtemp(prefix="rackcard-bench-"))
        path = directory / "bench.sqlite"
        try:
            runs["SQLite"] = await run_engine("sqlite", f"sqlite:///{path}", data, args)
        finally:
            if not args.keep:
                for p in directory.iterdir():
                    p.unlink()
                directory.rmdir()
            else:
                print(f"kept {path}")
    if "pg" in engines:
        if not args.pg:
            print("PostgreSQL skipped: give --pg URL or set RACKCARD_TEST_PG_URL", file=sys.stderr)
        else:
            name = f"rackcard_bench_{os.getpid()}"
            await pg_admin(args.pg, f'CREATE DATABASE "{name}"')
            try:
                runs["PostgreSQL"] = await run_engine("pg", pg_database_url(args.pg, name), data, args)
            finally:
                if not args.keep:
                    await pg_admin(args.pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                else:
                    print(f"kept database {name}")
    if runs and not args.no_record:
        record(runs, data, args)
    for engine, run in runs.items():
        results = run["results"]
        card = results["client card"]["p95"]
        search = max(r["p95"] for label, r in results.items() if label.startswith("search"))
        target = f"< {TARGET_P95_MS:.0f} ms"
        headline("card_search", f"client card p95, {engine}", card, "ms", target, card < TARGET_P95_MS)
        headline("card_search", f"slowest search p95, {engine}", search, "ms", target, search < TARGET_P95_MS)
    slow = [(e, label) for e, run in runs.items() for label, r in run["results"].items() if not r["p95"] < TARGET_P95_MS]
    wrong = [(e, label) for e, run in runs.items() for label, r in run["results"].items() if r["wrong"] or r["errors"]]
    for e, label in slow:
        print(f"p95 over {TARGET_P95_MS:.0f} ms: {e} {label}")
    for e, label in wrong:
        print(f"wrong answers or errors: {e} {label}")
    return 1 if wrong else 0


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, engines=True)
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--assets", type=int, default=100_000)
    parser.add_argument("--ips", type=int, default=200_000)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the sizes (0.1 for a quick look)")
    parser.add_argument("--samples", type=int, default=300, help="measured requests per line")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--sqlite-analyze", action="store_true", help="run ANALYZE on SQLite after seeding")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    args = parser.parse_args(argv)
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
