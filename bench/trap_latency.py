"""Benchmark: trap -> check state, while the worker polls agents of which some
are silent and some go silent and come back.

A real `snmptrap` (linkDown / linkUp, alternating) from a simulated media
converter reaches the worker's trap receiver; the worker posts it at once
(its own request, not the batch timer) to a live server (uvicorn, SQLite);
the time is measured from launching snmptrap until the check state in the
database shows it. Meanwhile the same worker polls 5 agents that stop and
restart every 10 traps and 5 that never answer (1 s timeout, 1 retry).

    python bench/trap_latency.py [--traps 50]

Target: p95 < 250 ms. Appended to bench/RESULTS.md under "trap latency".
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

from _results import append_run, headline, machine  # noqa: E402

HEADER = "## trap latency — trap -> check state while polls time out"
USAGE = "`python bench/trap_latency.py --traps 50`: real snmptrap -> worker -> live server (SQLite) -> check state."
TARGET_P95_MS = 250.0


async def main(traps: int, record: bool) -> None:
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    import _trap_scenario
    from _probe_support import LiveServer
    from accounts.services import create_token
    from rackcard import db as rdb
    from rackcard.app import create_app
    from rackcard.settings import Settings

    with tempfile.TemporaryDirectory(prefix="rackcard-trapbench-") as tmp:
        url = f"sqlite:///{tmp}/bench.sqlite"
        settings = Settings.from_env({"RACKCARD_DATABASE_URL": url, "RACKCARD_VAR_DIR": tmp,
                                      "RACKCARD_SECRET_KEY": "x" * 40, "RACKCARD_EMBEDDED_PROBE": "false"})
        async with rdb.connected(url, run_migrations=True):
            app = create_app(settings, manage_db=False, background=False)
            server = LiveServer(app)
            await server.start()
            try:
                run = await _trap_scenario.run(server.url, await create_token(probe="bench"), Path(tmp), traps=traps)
            finally:
                await server.stop()
    lat = sorted(run.latencies_ms)
    p50 = statistics.median(lat)
    p95 = lat[max(0, int(round(0.95 * len(lat))) - 1)]
    in_order = run.events == ["critical", "ok"] * (traps // 2) + (["critical"] if traps % 2 else [])
    print(f"{len(lat)} traps: p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {lat[-1]:.0f} ms; "
          f"polls meanwhile {run.polls} ({run.unanswered} unanswered); state changes in order: {in_order}")
    headline("trap_latency", "trap -> check state p95, SQLite", p95, "ms", f"< {TARGET_P95_MS:.0f} ms", p95 < TARGET_P95_MS)
    headline("trap_latency", "trap -> check state p50, SQLite", p50, "ms")
    if record:
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        ok = " ✓" if p95 < TARGET_P95_MS else " ✗"
        append_run(HEADER, USAGE, [
            f"### {now} — {machine()}", "",
            f"`--traps {traps}`; 5 agents going silent and back every 10 traps, 5 never answering, polled every 5 s.", "",
            "| traps | p50 ms | p95 ms | max ms | polls meanwhile | unanswered | in order |",
            "|---:|---:|---:|---:|---:|---:|---|",
            f"| {len(lat)} | {p50:.0f} | {p95:.0f}{ok} | {lat[-1]:.0f} | {run.polls} | {run.unanswered} | {in_order} |",
            "", f"Target: p95 < {TARGET_P95_MS:.0f} ms.", ""])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traps", type=int, default=50)
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to bench/RESULTS.md")
    args = parser.parse_args()
    asyncio.run(main(args.traps, not args.no_record))
