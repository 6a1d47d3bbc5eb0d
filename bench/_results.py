"""bench/RESULTS.md: each benchmark appends its runs to its own `## ` section.

Shared by the scripts in bench/ so that the file keeps one layout. Re-reads the
file right before writing: other benchmarks append their own sections.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PREAMBLE = "# Benchmark results\n\nEach benchmark in `bench/` appends its runs to its own section.\n\n"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """The machine line every run's heading carries."""
    return f"{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


def append_run(header: str, usage: str, lines: list[str], path: Path = RESULTS) -> None:
    """Append `lines` (one run) at the end of the section `header` ("## name — what"),
    creating the file and the section (with `usage` under it) when missing."""
    header = header.rstrip("\n") + "\n"
    if not path.exists():
        path.write_text(PREAMBLE)
    text = path.read_text()
    if header not in text:
        text = text.rstrip("\n") + "\n\n" + header + "\n" + usage.rstrip("\n") + "\n\n"
    start = text.index(header) + len(header)
    following = text.find("\n## ", start)
    block = "\n".join(lines) + "\n"
    if following == -1:
        text = text.rstrip("\n") + "\n\n" + block
    else:
        text = text[:following].rstrip("\n") + "\n\n" + block + text[following:]
    path.write_text(text)


# --------------------------------------------------------------------------- headline figures
#
# Each benchmark reports its few headline figures through `headline()`; `bench/all.py`
# sets RACKCARD_BENCH_HEADLINES to a file, runs the benchmarks, reads them back with
# `read_headlines()` and rewrites the summary table at the top of RESULTS.md.

HEADLINES_ENV = "RACKCARD_BENCH_HEADLINES"
SUMMARY_START = "<!-- summary: rewritten by `./run bench all`; the sections below keep every run -->"
SUMMARY_END = "<!-- end of summary -->"


def headline(bench: str, figure: str, value: float | None, unit: str, target: str = "",
             met: bool | None = None) -> dict:
    """One headline figure of this run (e.g. "v3 devices/s", 812, "devices/s",
    ">= 170", True): printed, and appended as a JSON line to the file named by
    $RACKCARD_BENCH_HEADLINES when set. `value` None means "not measured" (say why
    in `unit`)."""
    import json

    item = {"bench": bench, "figure": figure, "value": value, "unit": unit, "target": target, "met": met}
    where = os.environ.get(HEADLINES_ENV)
    if where:
        with open(where, "a", encoding="utf-8") as out:
            out.write(json.dumps(item) + "\n")
    return item


def read_headlines(path: Path) -> list[dict]:
    import json

    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _figure(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def summary_block(headlines: list[dict], when: str, machine_line: str, load: str, notes: list[str] = ()) -> str:
    """The Markdown summary table: one row per headline figure, with its target and a mark."""
    marks = {True: "✓", False: "✗", None: ""}
    lines = [SUMMARY_START, "", f"## Summary — {when}", "",
             f"{machine_line}; load average at start {load} (the machine is shared: other work inflates "
             "latencies and lowers rates).", "",
             "| bench | figure | value | target | |", "|---|---|---:|---|---|"]
    for h in headlines:
        lines.append(f"| {h['bench']} | {h['figure']} | {_figure(h['value'])} {h['unit']} | {h['target']} "
                     f"| {marks[h['met']]} |")
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    return "\n".join(lines + ["", SUMMARY_END]) + "\n"


def write_summary(block: str, path: Path = RESULTS) -> None:
    """Put `block` at the top of RESULTS.md (after the title and preamble),
    replacing the previous summary; the benchmarks' sections stay as they are."""
    text = path.read_text() if path.exists() else PREAMBLE
    if SUMMARY_START in text and SUMMARY_END in text:
        before = text[: text.index(SUMMARY_START)]
        after = text[text.index(SUMMARY_END) + len(SUMMARY_END):].lstrip("\n")
    else:
        first = text.find("\n## ")
        before, after = (text, "") if first == -1 else (text[: first + 1], text[first + 1:])
    path.write_text(before.rstrip("\n") + "\n\n" + block + ("\n" + after if after else ""))


def load_average() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"


# --------------------------------------------------------------------------- scratch PostgreSQL databases


def pg_database_url(server_url: str, name: str) -> str:
    """`server_url` with its database replaced by `name`."""
    from urllib.parse import urlparse, urlunparse

    return urlunparse(urlparse(server_url)._replace(path="/" + name))


async def pg_admin(server_url: str, sql: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) on the server's own database."""
    import asyncpg

    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def scratch_pg(server_url: str, prefix: str, keep: bool = False):
    """`async with scratch_pg(url, "rackcard_bench_x") as db_url:` a new empty database,
    dropped on the way out (unless `keep`)."""
    import contextlib
    import uuid

    @contextlib.asynccontextmanager
    async def scratch():
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        await pg_admin(server_url, f'CREATE DATABASE "{name}"')
        try:
            yield pg_database_url(server_url, name)
        finally:
            if keep:
                print(f"kept database {name}")
            else:
                await pg_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return scratch()


def arguments(doc: str | None, *, engines: bool = False, pg_default_from_env: bool = True):
    """The options every bench takes: --pg (a scratch database is made on that
    server and dropped), --no-record, and with `engines` --engines sqlite,pg."""
    import argparse

    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--pg", metavar="URL", default=os.environ.get("RACKCARD_TEST_PG_URL") if pg_default_from_env else None,
                        help="PostgreSQL server URL" + (" (default RACKCARD_TEST_PG_URL)" if pg_default_from_env else "")
                        + "; a scratch database is created there and dropped")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to bench/RESULTS.md")
    if engines:
        parser.add_argument("--engines", default="sqlite,pg", help="sqlite,pg (default both)")
    return parser
