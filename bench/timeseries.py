"""Sample storage per 1,000 devices per day: raw versus rolled up.

Writes one simulated day of numeric samples (every device polled once a minute,
KEYS numeric checks each: input voltage, minutes remaining, load, rx power),
then runs the roll-up and pruning the server's timer runs (incidents.timeseries)
as it would after the raw window has passed, and reports rows and bytes, raw
and kept, scaled to 1,000 devices, plus the time the roll-up and pruning took.

    ./run bench timeseries [--devices 100] [--pg postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _results import append_run, arguments, headline, machine, scratch_pg  # noqa: E402  (bench/ is the script's directory)

KEYS = ("power:input_voltage", "power:minutes_remaining", "power:load", "rx_power:2")
USAGE = ("`./run bench timeseries [--devices N] [--pg URL]`: one day of samples (each device polled once a minute, "
         f"{len(KEYS)} numeric checks), then the roll-up and pruning run as after the raw window; figures per 1,000 devices.")


async def _size(engine, sqlite_path: Path | None) -> tuple[int, int, int]:
    """(raw rows, rollup rows, bytes used by both tables and their indexes)."""
    from incidents.tables import Sample, SampleRollup

    raw, rolled = await Sample.count(), await SampleRollup.count()
    if sqlite_path is not None:
        rows = await engine._run_in_new_connection(
            "SELECT SUM(pgsize) AS b FROM dbstat WHERE name LIKE 'inc_sample%'")
        return raw, rolled, int(rows[0]["b"] or 0)
    rows = await engine.run_ddl(
        "SELECT pg_total_relation_size('inc_sample') + pg_total_relation_size('inc_sample_rollup') AS b")
    return raw, rolled, int(rows[0]["b"])


async def run(url: str, devices: int) -> dict:
    from database import rawsql
    from incidents import timeseries
    from cmdb.tables import Asset, Site
    from rackcard import db

    async with db.connected(url) as engine:
        site = Site(code="BENCH", name="Bench", name_norm="bench", kind="remote")
        await site.save()
        assets = [Asset(name=f"ups-{i}", name_norm=f"ups-{i}", kind="ups", site=site.id) for i in range(devices)]
        await Asset.insert(*assets)
        ids = [r["id"] for r in await Asset.select(Asset.id)]
        start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
        for minute in range(24 * 60):
            at = start + dt.timedelta(minutes=minute)
            rows = [(a, k, 220.0 + (minute + a) % 7, at) for a in ids for k in KEYS]
            async with db.atomic():
                await rawsql.insert("inc_sample", ("asset", "key", "value", "at"), ("int", "text", "float", "time"), rows)
        sqlite_path = Path(url[len("sqlite:///"):]) if url.startswith("sqlite") else None
        raw_before, _, bytes_before = await _size(engine, sqlite_path)
        later = start + dt.timedelta(days=3)  # past the 48 h raw window
        t0 = time.perf_counter()
        rolled = await timeseries.roll_up(later)
        t1 = time.perf_counter()
        pruned = await timeseries.prune(later, timeseries.Retention())
        t2 = time.perf_counter()
        if sqlite_path is not None:
            await engine._run_in_new_connection("VACUUM")
        else:
            await engine.run_ddl("VACUUM FULL inc_sample")
            await engine.run_ddl("VACUUM FULL inc_sample_rollup")
        raw_after, rollup_after, bytes_after = await _size(engine, sqlite_path)
        scale = 1000 / devices
        return {
            "raw_rows": raw_before * scale, "raw_mb": bytes_before * scale / 1e6,
            "kept_rows": (raw_after + rollup_after) * scale, "kept_mb": bytes_after * scale / 1e6,
            "rolled": rolled, "pruned": pruned, "rollup_s": t1 - t0, "prune_s": t2 - t1,
        }


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, pg_default_from_env=False)
    parser.add_argument("--devices", type=int, default=100, help="simulated devices (figures are scaled to 1,000)")
    args = parser.parse_args(argv)
    lines = [f"### {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC — {machine()}", "",
             f"{args.devices} devices x {len(KEYS)} numeric checks x 1 poll/min x 1 day, scaled to 1,000 devices:", "",
             "| engine | raw rows/day | raw MB/day | kept rows/day after roll-up | kept MB/day | roll-up s | prune s |",
             "|---|---|---|---|---|---|---|"]
    async def on_pg():
        async with scratch_pg(args.pg, "rackcard_bench_ts") as url:
            return await run(url, args.devices)

    targets = [("SQLite", lambda: asyncio.run(run(f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite", args.devices)))]
    if args.pg:
        targets.append(("PostgreSQL", lambda: asyncio.run(on_pg())))
    for label, measure in targets:
        r = measure()
        headline("timeseries", f"samples kept per 1,000 devices per day, {label}", r["kept_mb"], "MB")
        headline("timeseries", f"raw sample rows per 1,000 devices per day, {label}", r["raw_rows"], "rows")
        row = (f"| {label} | {r['raw_rows']:,.0f} | {r['raw_mb']:,.1f} | {r['kept_rows']:,.0f} | {r['kept_mb']:,.2f} "
               f"| {r['rollup_s']:.2f} | {r['prune_s']:.2f} |")
        print(row, flush=True)
        lines.append(row)
    if not args.no_record:
        append_run("## timeseries — sample rows and disk per 1,000 devices per day", USAGE, lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
