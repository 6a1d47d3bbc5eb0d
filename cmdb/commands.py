"""CMDB commands: `rackcard import FILE --kind K` and `rackcard export --kind K [-o FILE]`.

The composition root hands every command `args.run_async(coro_fn, *args)`,
which runs the coroutine with the configured database connected (cmdb does not
import rackcard).
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path
from typing import TextIO

from accounts.viewer import SYSTEM, Viewer


class ProgressBar:
    """A plain stderr progress bar: redrawn in place on a terminal, a line per
    10 % otherwise (logs stay readable). Small files print nothing until the end."""

    WIDTH = 30

    def __init__(self, label: str, stream: TextIO | None = None, min_rows: int = 200, interval_s: float = 0.1):
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.min_rows = min_rows
        self.interval_s = interval_s
        self._last_draw = 0.0
        self._last_decile = -1
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        if total < self.min_rows:
            return
        if self.tty:
            now = time.monotonic()
            if done < total and now - self._last_draw < self.interval_s:
                return
            self._last_draw = now
            filled = self.WIDTH * done // total
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            self.stream.write(f"\r{self.label} [{bar}] {done}/{total} rows ({100 * done // total}%)")
            if done == total:
                self.stream.write("\n")
            self._drawn = True
        else:
            decile = 10 * done // total
            if decile != self._last_decile:
                self._last_decile = decile
                self.stream.write(f"{self.label}: {done}/{total} rows ({10 * decile}%)\n")
        self.stream.flush()


async def import_file(
    path: str | Path,
    kind: str,
    viewer: Viewer = SYSTEM,
    *,
    dry_run: bool = False,
    encoding: str | None = None,
    progress=None,
):
    """Import one CSV file (the CLI's work, callable from tests)."""
    from cmdb.csvio import import_csv

    data = Path(path).read_bytes()
    return await import_csv(kind, data, viewer, dry_run=dry_run, progress=progress, encoding=encoding)


async def export_file(kind: str, out: TextIO, viewer: Viewer = SYSTEM) -> int:
    """Write `kind` as CSV to `out`; returns the number of data rows."""
    from cmdb.csvio import export_csv

    lines = -1  # minus the header
    async for chunk in export_csv(kind, viewer):
        out.write(chunk)
        lines += chunk.count("\r\n")
    return lines


def _import(args: argparse.Namespace) -> int:
    from cmdb.csvio import ImportRejected

    path = Path(args.file)
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    bar = None if args.quiet else ProgressBar(f"import {args.kind}")
    try:
        report = args.run_async(functools.partial(import_file, path, args.kind, SYSTEM, dry_run=args.dry_run, progress=bar,
                                                      encoding=args.encoding))
    except ImportRejected as exc:
        for error in exc.report.errors:
            print(f"{path.name}: {error}", file=sys.stderr)
        print(f"error: {exc.report.summary()}", file=sys.stderr)
        return 1
    print(report.summary() + (" (dry run: nothing was written)" if args.dry_run else ""))
    return 0


def _export(args: argparse.Namespace) -> int:
    if args.output and args.output != "-":
        target = Path(args.output)
        partial = target.with_name(target.name + ".part")
        with partial.open("w", encoding="utf-8", newline="") as out:
            rows = args.run_async(export_file, args.kind, out, SYSTEM)
        partial.replace(target)  # a failed export leaves no half-written file behind
        print(f"exported {rows} {args.kind} rows to {target}", file=sys.stderr)
    else:
        args.run_async(export_file, args.kind, sys.stdout, SYSTEM)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from cmdb.csvio import ENCODINGS, KINDS

    order = ", ".join(KINDS)
    p = sub.add_parser(
        "import",
        help="import a CSV file of sites, clients, racks, assets, ip-addresses ... (all or nothing)",
        description="Import a CSV file through the same validation as the API. All or nothing: "
        "if any row is bad, nothing is imported and every bad row is listed (row, column, problem). "
        "The header names the columns with the API's field names; references may be ids "
        "(site_id, client_id, rack_id, asset_id) or natural keys (site = code or name, client = code, "
        "rack = name at the row's site, asset = serial or unique name; a service's assets separated by '|'). "
        f"Import in this order: {order}.",
    )
    p.add_argument("file", help="CSV file (UTF-8, else the encoding detected or named; comma, semicolon or tab separated)")
    p.add_argument("--encoding", choices=ENCODINGS, help="the file's encoding when it is not UTF-8 (default: detected)")
    p.add_argument("--kind", required=True, choices=KINDS, help="what the rows are")
    p.add_argument("--dry-run", action="store_true", help="check every row, then roll back")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_import)

    p = sub.add_parser(
        "export",
        help="export a list (sites, clients, racks, assets, ip-addresses ...) as CSV",
        description="Write every row of a list as CSV, with references as natural keys, "
        "in the format `rackcard import` reads back. SNMP secrets are included (this is an admin command).",
    )
    p.add_argument("--kind", required=True, choices=KINDS, help="which list")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.set_defaults(func=_export)
