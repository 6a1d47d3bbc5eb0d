"""Every benchmark in one run, and the summary table at the top of bench/RESULTS.md.

Runs each benchmark as its own process (some pin themselves to a CPU, each
binds its own database engine), one after the other: card/search, poll
throughput (v2c and v3 against the `snmpget` loop), trap latency, storm, the
board fragment and card pages, the KPI report, the site page, samples growth,
the per-request fixed cost and the HTTP load test. Each appends its own section
to bench/RESULTS.md as usual and reports its headline figures through
`_results.headline()`; then the summary (machine, date, load, each figure
against its target) replaces the previous one at the top of the file.

    ./run bench all [--pg URL] [--only poll_throughput,storm] [--quick]

PostgreSQL runs when --pg or RACKCARD_TEST_PG_URL gives a server (scratch
databases are made and dropped). --quick runs every benchmark at a small scale
(a smoke test of the suite: minutes, not the hour the full suite takes); its
figures are not comparable with the targets, so nothing is recorded and the
summary is printed only (or written to --summary-to FILE).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _results import HEADLINES_ENV, RESULTS, load_average, machine, read_headlines, summary_block, write_summary  # noqa: E402

#: name -> (arguments of a full run, arguments of a --quick run); "{pg}" is replaced by
#: ["--pg", URL] when a server is given, and dropped otherwise.
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "cmdb_card_search": (["{pg}"], ["{pg}", "--scale", "0.02", "--samples", "20", "--warmup", "3"]),
    "poll_throughput": (["--record"], ["--devices", "200", "--snmpget-devices", "20"]),
    "trap_latency": ([], ["--traps", "6"]),
    "storm": (["{pg}"], ["{pg}", "--assets", "60", "--clients", "20", "--repeats", "2", "--full-repeats", "1"]),
    "board_card_pages": (["{pg}"], ["{pg}", "--scale", "0.02", "--samples", "20", "--warmup", "3"]),
    "kpi_report": (["{pg}"], ["{pg}", "--incidents", "2000", "--samples", "3"]),
    "site_page": (["{pg}"], ["{pg}", "--assets", "60", "--requests", "10"]),
    "timeseries": (["{pg}"], ["{pg}", "--devices", "5"]),
    "request_cost": (["{pg}"], ["{pg}", "--requests", "200"]),
    "http_load": (["{pg}"], ["{pg}", "--scale", "0.02", "--seconds", "2", "--users", "1,8"]),
}
#: Benchmarks whose own recording is switched off by a flag (poll_throughput records only when asked).
NO_RECORD = {name: ["--no-record"] for name in BENCHES if name != "poll_throughput"}


def command(name: str, quick: bool, pg: str | None) -> list[str]:
    full, small = BENCHES[name]
    args: list[str] = []
    for arg in small if quick else full:
        if arg == "{pg}":
            args += ["--pg", pg] if pg else []
        else:
            args.append(arg)
    if quick:
        args += NO_RECORD.get(name, [])
    return [sys.executable, str(HERE / f"{name}.py"), *args]


def run(names: list[str], quick: bool, pg: str | None, timeout: float) -> tuple[list[dict], list[str]]:
    """Run the benchmarks; (their headline figures, notes on the ones that failed)."""
    headlines: list[dict] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="rackcard-bench-all-") as tmp:
        for name in names:
            sink = Path(tmp) / f"{name}.jsonl"
            cmd = command(name, quick, pg)
            print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
            started = time.monotonic()
            env = {**os.environ, HEADLINES_ENV: str(sink)}
            try:
                code = subprocess.run(cmd, env=env, timeout=timeout).returncode
            except subprocess.TimeoutExpired:
                code = "timeout"
            took = time.monotonic() - started
            found = read_headlines(sink)
            headlines += found
            print(f"=== {name}: exit {code} in {took:.0f} s, {len(found)} headline figures", flush=True)
            if code != 0:
                notes.append(f"`{name}` ended with {'a timeout' if code == 'timeout' else f'exit code {code}'} "
                             f"after {took:.0f} s: a crash, a wrong answer or a missed target (some benchmarks "
                             "exit 1 for those); see its output and section.")
            elif not found:
                notes.append(f"`{name}` reported no headline figure.")
    return headlines, notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pg", default=os.environ.get("RACKCARD_TEST_PG_URL"), help="PostgreSQL server URL")
    parser.add_argument("--only", help="comma-separated benchmark names (default: all of " + ", ".join(BENCHES) + ")")
    parser.add_argument("--quick", action="store_true", help="small scales; record nothing, print the summary")
    parser.add_argument("--summary-to", type=Path, help="write the summary into this file instead")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per benchmark")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",")] if args.only else list(BENCHES)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    load = load_average()
    started = dt.datetime.now(dt.timezone.utc)
    headlines, notes = run(names, args.quick, args.pg, args.timeout)
    if not args.pg:
        notes.append("PostgreSQL not measured (no --pg / RACKCARD_TEST_PG_URL).")
    skipped = [n for n in BENCHES if n not in names]
    if skipped:
        notes.append("Not run in this pass (see their own sections below): " + ", ".join(f"`{n}`" for n in skipped) + ".")
    if args.quick:
        notes.append("`--quick`: small scales, figures not comparable with the targets.")
    minutes = (dt.datetime.now(dt.timezone.utc) - started).total_seconds() / 60
    block = summary_block(headlines, f"{started:%Y-%m-%d %H:%M} UTC, `./run bench all"
                          f"{' --quick' if args.quick else ''}` ({minutes:.0f} min)", machine(), load, notes)
    print("\n" + block)
    target = args.summary_to or (None if args.quick else RESULTS)
    if target is not None:
        write_summary(block, target)
        print(f"summary written to {target}")
    return 0 if not any("ended with" in n for n in notes) else 1


if __name__ == "__main__":
    sys.exit(main())
