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


async def run(rows: int) -> tuple[object, int]:
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
                                            await create_token(probe="bench"), asset.id, rows)
    return timings, csvio.CHUNK_ROWS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    timings, chunk = asyncio.run(run(args.rows))
    if timings.errors:
        print("errors:", *timings.errors[:10], sep="\n  ")
    lines = [
        f"{args.rows:,} clients imported through the API in {timings.import_s:.1f} s ({chunk} rows per transaction); "
        f"errors beside it: {len(timings.errors)}", "",
        "| writer | answers | median s | worst s |", "|---|---|---|---|",
    ]
    for name, values in (("API write (POST /sites)", timings.api_writes),
                         ("probe batch (POST /probe/observations)", timings.probe_batches)):
        lines.append(f"| {name} | {len(values)} | {statistics.median(values):.3f} | {max(values):.3f} |")
    lines += ["", "Before: the import held SQLite's write lock for its whole run (a 30k-row import: 30 s, then "
              "\"database is locked\" on a site create); measured on a machine shared with other test runs."]
    print("\n".join(lines))
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    append_run("## import_concurrency — writers during a long import (SQLite)", USAGE,
               [f"### {stamp} — {machine()}", "", *lines])


if __name__ == "__main__":
    main()
