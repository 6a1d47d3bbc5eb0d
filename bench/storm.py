"""Benchmark: an alert storm — a remote site of 500 assets loses power.

Every asset of the site depends (power) on one UPS. The UPS reports "on
battery" (a trap), then the batteries run out and all 500 assets go silent:
each reachability check fails three polls in a row (the hold-down), posted by
the probe in batches the way a worker sends them. The result must be exactly
ONE `power` incident holding all 500 assets (impacted) and every owning client.

(a) pure engine — `incidents.rules.decide` alone, the growing incident passed
    back in as an IncidentView after each batch (what the storage wrapper
    does), with the full check-state map of the site on every call (what
    engine.process loads). Reported: observations/s through decide, for the
    confirming round (500 updates with the hold-down satisfied) and for the
    whole storm (3 rounds = 1,500 updates). Target >= 5,000 obs/s. Also the
    same site with no UPS check at all (all 500 silent -> one "site
    unreachable" incident), which exercises the site-silence grouping.
(b) full path — CMDB rows seeded through the Piccolo tables, observations
    posted through `incidents.checks.record_observations` (check state,
    events, the engine in the same transaction) on SQLite, and on PostgreSQL
    when RACKCARD_TEST_PG_URL or --pg gives a server. Reported: time from
    posting the last observation to the single incident holding all 500
    (target < 5 s), the confirming round's duration, end-to-end obs/s
    (target >= 5,000) — the median of --full-repeats runs (3), each on a new
    database, as the full path is sensitive to other work on the machine.

    python bench/storm.py                      # pure + SQLite (+ PostgreSQL if RACKCARD_TEST_PG_URL)
    python bench/storm.py --pg postgresql://postgres@127.0.0.1:5432/postgres
    python bench/storm.py --assets 500 --batch 100 --no-record

Results are appended to bench/RESULTS.md under "storm" (machine, date).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _results import RESULTS, append_run, arguments, headline, machine, scratch_pg  # noqa: E402  (bench/ is the script's directory)

from incidents.rules import (  # noqa: E402
    AssetInfo,
    AttachAsset,
    CheckStatus,
    CheckUpdate,
    Edge,
    IncidentView,
    OpenIncident,
    Params,
    Reclassify,
    Topology,
    decide,
)

HEADER = "## storm — a remote site of 500 assets loses power"
USAGE = "`python bench/storm.py [--pg URL]` (see the script's docstring)."
TARGET_OBS_S = 5000
TARGET_LATENCY_S = 5.0
UTC = dt.timezone.utc
SITE = 1
UPS = 100_000
MIN = dt.timedelta(minutes=1)


# --------------------------------------------------------------------------- (a) pure engine


def site_topology(n: int, clients: int, with_ups: bool = True) -> Topology:
    assets = {
        i: AssetInfo(i, f"mc-{i}", "media_converter", SITE, "remote", client_id=1000 + i % clients)
        for i in range(1, n + 1)
    }
    edges: tuple[Edge, ...] = ()
    if with_ups:
        assets[UPS] = AssetInfo(UPS, "ups-1", "ups", SITE, "remote")
        edges = tuple(Edge(i, UPS, "power") for i in range(1, n + 1))
    return Topology(assets=assets, edges=edges, site_names={SITE: "Node 1"})


class PureStorage:
    """The minimum the storage wrapper does between calls: check states, one growing incident."""

    def __init__(self, topology: Topology, t0: dt.datetime):
        self.topology = topology
        self.checks: dict[tuple[int, str], CheckStatus] = {}
        for a in topology.assets:
            self.checks[(a, "reachability")] = CheckStatus(a, "reachability", "ok", t0 - 60 * MIN, 60, "poll", t0)
        if UPS in topology.assets:
            self.checks[(UPS, "power:source")] = CheckStatus(UPS, "power:source", "ok", t0 - 60 * MIN, 60, "poll", t0)
        self.incidents: dict[int, dict] = {}
        self.decide_s = 0.0
        self.observations = 0

    def views(self) -> list[IncidentView]:
        return [
            IncidentView(id=i, fingerprint=r["fp"], status="new", category=r["category"], priority=r["priority"],
                         opened_at=r["at"], root_checks=frozenset(r["roots"]), asset_roles=dict(r["roles"]),
                         client_ids=frozenset(r["clients"]))
            for i, r in self.incidents.items()
        ]

    def post(self, obs: list[tuple[int, str, str]], at: dt.datetime, source: str = "poll") -> list:
        updates = []
        for a, k, state in obs:
            prev = self.checks.get((a, k))
            same = prev is not None and prev.state == state
            streak = prev.streak + 1 if same else 1
            since = prev.since if same else at
            updates.append(CheckUpdate(a, k, state, prev.state if prev else None, streak, since, at, source))
            self.checks[(a, k)] = CheckStatus(a, k, state, since, streak, source, at)
        views = self.views()
        t = time.perf_counter()
        decisions = decide(updates, views, self.topology, [], at, self.checks, Params())
        self.decide_s += time.perf_counter() - t
        self.observations += len(updates)
        self.apply(decisions)
        return decisions

    def apply(self, decisions) -> None:
        refs = {}
        for d in decisions:
            if isinstance(d, OpenIncident):
                i = len(self.incidents) + 1
                refs[d.fingerprint] = i
                self.incidents[i] = {"fp": d.fingerprint, "category": d.category, "priority": d.priority, "at": d.at,
                                     "roots": set(d.root_checks), "roles": dict(d.asset_roles),
                                     "clients": set(d.client_ids)}
            elif isinstance(d, AttachAsset):
                r = self.incidents[refs.get(d.incident, d.incident)]
                r["roles"][d.asset_id] = "root" if d.role == "root" or r["roles"].get(d.asset_id) == "root" else d.role
                if d.check_key:
                    r["roots"].add((d.asset_id, d.check_key))
                r["clients"] |= d.client_ids
            elif isinstance(d, Reclassify):
                r = self.incidents[refs.get(d.incident, d.incident)]
                r["category"] = d.category or r["category"]
                r["priority"] = d.priority or r["priority"]


def pure_run(n: int, clients: int, batch: int, with_ups: bool) -> dict:
    t0 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    store = PureStorage(site_topology(n, clients, with_ups), t0)
    if with_ups:
        store.post([(UPS, "power:source", "critical")], t0, source="trap")
    at = t0 + 20 * MIN
    rounds = []
    for _ in range(3):  # hold-down: three bad polls
        before_s, before_n = store.decide_s, store.observations
        for start in range(1, n + 1, batch):
            store.post([(i, "reachability", "critical") for i in range(start, min(n, start + batch - 1) + 1)], at)
            at += dt.timedelta(seconds=1)
        rounds.append((store.observations - before_n, store.decide_s - before_s))
        at += MIN
    # the verdict
    assert len(store.incidents) == 1, f"{len(store.incidents)} incidents"
    (inc,) = store.incidents.values()
    members = {a for a, r in inc["roles"].items() if (r == "impacted" if with_ups else r == "root")}
    assert members == set(range(1, n + 1)), f"{len(members)} of {n} assets in the incident"
    assert {1000 + i % clients for i in range(1, n + 1)} <= inc["clients"]
    assert inc["category"] == "power"
    return {
        "fingerprint": inc["fp"],
        "priority": inc["priority"],
        "confirm_obs": rounds[-1][0],
        "confirm_s": rounds[-1][1],
        "all_obs": store.observations,
        "all_s": store.decide_s,
    }


def pure_bench(n: int, clients: int, batches: list[int], repeats: int) -> list[dict]:
    rows = []
    for with_ups in (True, False):
        for batch in batches:
            runs = [pure_run(n, clients, batch, with_ups) for _ in range(repeats)]
            confirm = statistics.median(r["confirm_obs"] / r["confirm_s"] for r in runs)
            whole = statistics.median(r["all_obs"] / r["all_s"] for r in runs)
            row = {"scenario": "UPS on battery, power edges" if with_ups else "no power check: site silence",
                   "fingerprint": runs[0]["fingerprint"], "priority": runs[0]["priority"], "batch": batch,
                   "confirm_obs_s": confirm, "all_obs_s": whole, "repeats": repeats}
            rows.append(row)
            print(f"pure  {row['scenario']:<30} batch {batch:>3}: confirming round {confirm:>9,.0f} obs/s, "
                  f"whole storm {whole:>9,.0f} obs/s  -> one incident {row['fingerprint']} {row['priority']}",
                  flush=True)
    return rows


# --------------------------------------------------------------------------- (b) full path


def full_path_available() -> str | None:
    """None when incidents.engine.process and incidents.checks.record_observations are there."""
    try:
        from incidents import checks, engine  # noqa: F401
    except ImportError as exc:  # pragma: no cover
        return f"import failed: {exc}"
    if not hasattr(engine, "process") or not hasattr(checks, "record_observations"):
        return "incidents.engine.process / incidents.checks.record_observations missing"
    return None


async def seed(n: int, clients: int) -> tuple[int, int, list[int], dict[int, int]]:
    from cmdb.tables import Asset, Client, Dependency, Site

    site = Site(code="storm", name="Storm node", name_norm="storm node", kind="remote")
    await site.save()
    client_rows = [Client(code=f"c{j}", name=f"Client {j}", name_norm=f"client {j}") for j in range(clients)]
    await Client.insert(*client_rows)
    client_ids = [r["id"] for r in await Client.select(Client.id).where(Client.code.like("c%")).order_by(Client.id)]
    ups = Asset(name="ups-1", name_norm="ups-1", kind="ups", site=site.id)
    await ups.save()
    owner = {}
    rows = []
    for i in range(n):
        rows.append(Asset(name=f"mc-{i}", name_norm=f"mc-{i}", kind="media_converter", site=site.id,
                          client=client_ids[i % clients]))
    await Asset.insert(*rows)
    asset_ids = [r["id"] for r in await Asset.select(Asset.id, Asset.client).where(
        (Asset.site == site.id) & (Asset.id != ups.id)).order_by(Asset.id)]
    for r in await Asset.select(Asset.id, Asset.client).where(Asset.id.is_in(asset_ids)):
        owner[r["id"]] = r["client"]
    await Dependency.insert(*[Dependency(asset=a, depends_on=ups.id, kind="power") for a in asset_ids])
    return site.id, ups.id, asset_ids, owner


async def full_run(url: str, n: int, clients: int, batch: int) -> dict:
    from accounts.viewer import Viewer
    from incidents import rules

    probe = Viewer(user_id=None, email="probe@storm", role="probe", probe_name="storm")
    # how much of the full path is the pure rules: engine.process looks rules.decide up at each call
    spent = {"decide_s": 0.0}
    pure_decide = rules.decide

    def timed_decide(*a, **kw):
        t = time.perf_counter()
        try:
            return pure_decide(*a, **kw)
        finally:
            spent["decide_s"] += time.perf_counter() - t

    rules.decide = timed_decide
    try:
        return await _full_run(url, n, clients, batch, probe, spent)
    finally:
        rules.decide = pure_decide


async def _full_run(url: str, n: int, clients: int, batch: int, probe, spent: dict) -> dict:
    from incidents.checks import record_observations
    from incidents.tables import AffectedAsset, AffectedClient, Incident
    from probes.wire import Observation, ObservationBatch
    from rackcard import db as rdb

    async with rdb.connected(url):
        site_id, ups, assets, owner = await seed(n, clients)
        t0 = dt.datetime.now(UTC).replace(microsecond=0) - dt.timedelta(hours=1)

        async def post(obs: list[tuple[int, str, str]], at: dt.datetime, source: str = "poll") -> float:
            b = ObservationBatch.new([Observation(a, k, s, at.isoformat(), source=source) for a, k, s in obs],
                                     probe="storm")
            t = time.perf_counter()
            result = await record_observations(b, probe, now=at)
            elapsed = time.perf_counter() - t
            assert result["applied"] == len(obs), result
            return elapsed

        def batches(key: str, state: str):
            for start in range(0, n, batch):
                yield [(a, key, state) for a in assets[start:start + batch]]

        # a calm site
        for chunk in batches("reachability", "ok"):
            await post(chunk, t0)
        await post([(ups, "reachability", "ok"), (ups, "power:source", "ok")], t0)
        # the UPS on battery (trap), then the batteries run out
        await post([(ups, "power:source", "critical")], t0 + MIN, source="trap")
        at = t0 + 20 * MIN
        spent["decide_s"] = 0.0
        storm_s = 0.0
        storm_obs = 0
        last_s = 0.0
        confirm_s = 0.0
        for round_no in range(3):
            round_start = time.perf_counter()
            for chunk in batches("reachability", "critical"):
                last_s = await post(chunk, at)
                storm_s += last_s
                storm_obs += len(chunk)
                at += dt.timedelta(seconds=1)
            if round_no == 2:
                confirm_s = time.perf_counter() - round_start
            at += MIN
        # from the last observation's post to the incident visibly holding all 500
        t = time.perf_counter()
        incidents = await Incident.select(Incident.id, Incident.fingerprint, Incident.category, Incident.priority)
        assert len(incidents) == 1, f"{len(incidents)} incidents: {[i['fingerprint'] for i in incidents]}"
        inc = incidents[0]
        impacted = {r["asset_id"] for r in await AffectedAsset.select(AffectedAsset.asset_id).where(
            (AffectedAsset.incident == inc["id"]) & (AffectedAsset.role == "impacted"))}
        affected_clients = {r["client_id"] for r in await AffectedClient.select(AffectedClient.client_id).where(
            AffectedClient.incident == inc["id"])}
        check_s = time.perf_counter() - t
        assert impacted == set(assets), f"{len(impacted)} of {n} assets impacted"
        assert set(owner.values()) <= affected_clients
        assert inc["category"] == "power" and inc["fingerprint"] == f"site:{site_id}:power"
        return {
            "fingerprint": inc["fingerprint"], "priority": inc["priority"], "clients": len(affected_clients),
            "latency_s": last_s + check_s, "confirm_s": confirm_s, "storm_obs": storm_obs,
            "obs_s": storm_obs / storm_s, "batch": batch, "decide_share": spent["decide_s"] / storm_s,
        }


def _median_run(runs: list[dict]) -> dict:
    """The run with the median end-to-end obs/s, with the spread of all runs."""
    ranked = sorted(runs, key=lambda r: r["obs_s"])
    mid = dict(ranked[len(ranked) // 2])
    mid.update(runs=len(runs), obs_s_min=ranked[0]["obs_s"], obs_s_max=ranked[-1]["obs_s"],
               latency_s=statistics.median(r["latency_s"] for r in runs),
               confirm_s=statistics.median(r["confirm_s"] for r in runs))
    return mid


def _say(engine: str, r: dict, n: int) -> None:
    spread = f" (runs {r['obs_s_min']:,.0f}–{r['obs_s_max']:,.0f})" if r["runs"] > 1 else ""
    print(f"full  {engine:<10} batch {r['batch']}: last observation -> incident with all {n}: "
          f"{r['latency_s'] * 1000:.0f} ms; confirming round {r['confirm_s']:.2f} s; "
          f"{r['obs_s']:,.0f} obs/s end to end{spread}, median of {r['runs']} "
          f"({r['decide_share']:.0%} of it in rules.decide)", flush=True)


async def full_bench(args) -> dict[str, dict]:
    runs: dict[str, dict] = {}
    directory = Path(tempfile.mkdtemp(prefix="rackcard-storm-"))
    try:
        done = []
        for i in range(args.full_repeats):  # a new database file each run
            done.append(await full_run(f"sqlite:///{directory / f'storm-{i}.sqlite'}", args.assets, args.clients,
                                       args.batch))
        runs["SQLite"] = _median_run(done)
        _say("SQLite", runs["SQLite"], args.assets)
    finally:
        for p in directory.iterdir():
            p.unlink()
        directory.rmdir()
    if args.pg:
        done = []
        for _ in range(args.full_repeats):  # a new database each run
            async with scratch_pg(args.pg, "rackcard_storm") as url:
                done.append(await full_run(url, args.assets, args.clients, args.batch))
        runs["PostgreSQL"] = _median_run(done)
        _say("PostgreSQL", runs["PostgreSQL"], args.assets)
    else:
        print("full  PostgreSQL skipped: give --pg URL or set RACKCARD_TEST_PG_URL", file=sys.stderr)
    return runs


# --------------------------------------------------------------------------- recording


def record(pure: list[dict], full: dict[str, dict], args, skipped: str | None) -> None:
    now = dt.datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    ok = lambda good: "" if good else " ⚠"  # noqa: E731
    lines = [
        f"### {now} — {machine()}; load average at start {args.load[0]:.1f}, {args.load[1]:.1f}, "
        f"{args.load[2]:.1f} (other work on the machine slows the full path)",
        "",
        f"{args.assets} assets on one UPS at a remote site, owned by {args.clients} clients; hold-down 3 polls, "
        f"each asset's reachability fails 3 polls in a row. Every run ended with exactly one incident holding "
        f"all {args.assets} assets and every owning client (checked).",
        "",
        f"(a) `rules.decide` alone, median of {args.repeats} runs, full check-state map on every call, the growing "
        f"incident passed back in. Target ≥ {TARGET_OBS_S:,} obs/s.",
        "",
        "| scenario | batch | incident | confirming round obs/s | whole storm (3 rounds) obs/s |",
        "|---|---:|---|---:|---:|",
    ]
    for r in pure:
        lines.append(f"| {r['scenario']} | {r['batch']} | `{r['fingerprint']}` {r['priority']} | "
                     f"{r['confirm_obs_s']:,.0f}{ok(r['confirm_obs_s'] >= TARGET_OBS_S)} | "
                     f"{r['all_obs_s']:,.0f}{ok(r['all_obs_s'] >= TARGET_OBS_S)} |")
    lines += ["", f"(b) full path: `incidents.checks.record_observations` (check state, events, engine, storage in one "
              f"transaction per batch), batches of {args.batch}, a new database per run; the run with the median "
              f"end-to-end obs/s of {args.full_repeats} (the spread in brackets). Target < {TARGET_LATENCY_S:.0f} s "
              f"from the last observation to the incident holding all {args.assets}, ≥ {TARGET_OBS_S:,} obs/s.", ""]
    if full:
        lines += ["| engine | last observation → incident with all | confirming round | end-to-end obs/s "
                  "| time in rules.decide |",
                  "|---|---:|---:|---:|---:|"]
        for engine, r in full.items():
            spread = f" ({r['obs_s_min']:,.0f}–{r['obs_s_max']:,.0f})" if r["runs"] > 1 else ""
            lines.append(f"| {engine} | {r['latency_s'] * 1000:,.0f} ms{ok(r['latency_s'] < TARGET_LATENCY_S)} | "
                         f"{r['confirm_s']:.2f} s | {r['obs_s']:,.0f}{ok(r['obs_s'] >= TARGET_OBS_S)}{spread} | "
                         f"{r['decide_share']:.0%} |")
        if "PostgreSQL" not in full:
            lines.append("")
            lines.append("PostgreSQL not measured in this run (no RACKCARD_TEST_PG_URL / --pg).")
    else:
        lines.append(f"Not measured: {skipped}.")
    lines.append("")
    append_run(HEADER, USAGE, lines)
    print(f"recorded in {RESULTS}")


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__)
    parser.add_argument("--assets", type=int, default=500)
    parser.add_argument("--clients", type=int, default=200, help="owning clients, assets spread over them")
    parser.add_argument("--batch", type=int, default=100, help="observations per batch on the full path")
    parser.add_argument("--pure-batches", default="50,100", help="batch sizes for the pure engine")
    parser.add_argument("--repeats", type=int, default=7, help="runs of the pure engine (median)")
    parser.add_argument("--full-repeats", type=int, default=3, help="runs of the full path per engine (median)")
    parser.add_argument("--pure-only", action="store_true")
    args = parser.parse_args(argv)
    args.load = os.getloadavg()

    pure = pure_bench(args.assets, args.clients, [int(b) for b in args.pure_batches.split(",")], args.repeats)
    full: dict[str, dict] = {}
    skipped = "--pure-only" if args.pure_only else full_path_available()
    if skipped is None:
        full = asyncio.run(full_bench(args))
    else:
        print(f"full path not measured: {skipped}", file=sys.stderr)
    if not args.no_record:
        record(pure, full, args, skipped)
    confirm = min(r["confirm_obs_s"] for r in pure)
    headline("storm", "rules.decide alone, slowest confirming round", confirm, "obs/s", f">= {TARGET_OBS_S:,}",
             confirm >= TARGET_OBS_S)
    for engine, r in full.items():
        headline("storm", f"full path, {engine}", r["obs_s"], "obs/s", f">= {TARGET_OBS_S:,}", r["obs_s"] >= TARGET_OBS_S)
        headline("storm", f"last observation -> incident with all {args.assets}, {engine}", r["latency_s"] * 1000, "ms",
                 f"< {TARGET_LATENCY_S:g} s", r["latency_s"] < TARGET_LATENCY_S)
    slow = [r for r in pure if r["confirm_obs_s"] < TARGET_OBS_S] + [
        r for r in full.values() if r["latency_s"] >= TARGET_LATENCY_S]
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
