"""Writers during a long CSV import on SQLite: the import (through the API)
commits in chunks, and API writes (a site created every 0.2 s) and probe
batches (an observation posted every 0.2 s) run beside it. Reports the
import's time and the writers' median and worst answer times.

    ./run bench import_concurrency [--rows 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from _results import append_run, machine  # noqa: E402  (bench/ is the script's directory)

USAGE = ("`./run bench import_concurrency [--rows N]`: N clients imported through the API on SQLite while a site is "
         "created and a probe batch posted every 0.2 s; answer times of those writers.")


async def run(rows: int, alone_s: float) -> tuple[object, int]:
    import import_load  # tests/integration: the same scenario the test runs

    from accounts.services import create_token, create_user
    from cmdb import csvio
    from cmdb.tables import Asset, Site
    from rackcard import db
    from rackcard.app import create_app
    from rackcard.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.from_env({"RACKCARD_DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite",
                                      "RACKCARD_SECRET_KEY": "b" * 40, "RACKCARD_VAR_DIR": tmp})
        app = create_app(settings, manage_db=False, background=False)
        async with db.connected(settings.database_url):
            await create_user("bench@example.test", "admin", "correct horse battery")
            site = Site(code="S", name="S", name_norm="s", kind="datacenter")
            await site.save()
            asset = Asset(name="a", name_norm="a", kind="switch", site=site.id)
            await asset.save()
            timings = await import_load.run(app, await create_token("bench@example.test"),
                                            await create_token(probe="bench"), asset.id, rows, alone_s)
    return timings, csvio.CHUNK_ROWS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--alone", type=float, default=5.0, help="seconds of writers alone before the import")
    args = parser.parse_args()
    load_before = os.getloadavg()
    timings, chunk = asyncio.run(run(args.rows, args.alone))
    load_after = os.getloadavg()
    if timings.errors:
        print("errors:", *timings.errors[:10], sep="\n  ")
    lines = [
        f"{args.rows:,} clients imported through the API in {timings.import_s:.1f} s wall, "
        f"{timings.import_cpu_s:.1f} s CPU of the process ({timings.import_cpu_s / timings.import_s:.0%} of one core; "
        f"commits after {chunk} rows, {csvio_seconds() * 1000:.0f} ms or a queued writer); "
        f"errors beside it: {len(timings.errors)}; "
        f"load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (2 CPUs shared)", "",
        "| writer | when | answers | median s | p95 s | worst s | over 1 s |", "|---|---|---|---|---|---|---|",
    ]
    for name, alone, during in (("API write (POST /sites)", timings.api_alone, timings.api_writes),
                                ("probe batch (POST /probe/observations)", timings.probe_alone, timings.probe_batches)):
        for when, values in (("alone", alone), ("during the import", during)):
            if values:
                p95 = sorted(values)[int(0.95 * (len(values) - 1))]
                lines.append(f"| {name} | {when} | {len(values)} | {statistics.median(values):.3f} | {p95:.3f} | "
                             f"{max(values):.3f} | {sum(v > 1 for v in values)} |")
    if timings.slow:
        lines += ["", "answers over 0.5 s (s into the import, s taken): "
                  + ", ".join(f"{at:g}: {took:.2f}" for at, took in sorted(timings.slow))]
    print("\n".join(lines))
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    append_run("## import_concurrency — writers during a long import (SQLite)", USAGE,
               [f"### {stamp} — {machine()}", "", *lines])


def csvio_seconds() -> float:
    from cmdb import csvio

    return csvio.CHUNK_SECONDS


if __name__ == "__main__":
    main()
