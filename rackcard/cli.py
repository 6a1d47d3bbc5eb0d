"""`rackcard` command line. Each app registers its own sub-commands
(commands live with their app); this module only assembles them."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys

from accounts.errors import DomainError
from rackcard import logs
from rackcard.backup import BackupError
from rackcard.settings import SettingsError

#: Modules exposing `register(subparsers)`; each sub-command sets `func(args) -> int | None`.
COMMAND_MODULES = (
    "rackcard.commands",
    "cmdb.commands",
    "integrations.commands",
    "probes.commands",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rackcard",
        description="rackcard: client cards, SNMP probes and asset-linked incidents for a DC support desk.",
        epilog="Settings come from RACKCARD_* environment variables (see README). "
        "Run 'rackcard COMMAND --help' for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    # Apps below the composition root run their coroutines through this (they don't import rackcard).
    parser.set_defaults(run_async=run_async)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        logs.configure(getattr(args, "log_level", None) or os.environ.get("RACKCARD_LOG_LEVEL", "INFO").upper(),
                       os.environ.get("RACKCARD_LOG_FORMAT", "text"))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from accounts.audit_log import set_source

    set_source("cli")  # audit rows written by commands say where they came from
    try:
        return args.func(args) or 0
    except (DomainError, SettingsError, BackupError) as exc:
        field = f" ({exc.field})" if isinstance(exc, DomainError) and exc.field else ""
        print(f"error{field}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def run_async(coro_fn, *args, settings=None, migrate: bool = True):
    """Run `coro_fn(*args)` with the configured database connected."""
    from rackcard import db
    from rackcard.settings import Settings

    from accounts import secretbox

    settings = settings or Settings.from_env()
    secretbox.configure(settings.secret_key, settings.old_secret_keys)

    async def runner():
        async with db.connected(settings.database_url, run_migrations=migrate):
            return await coro_fn(*args)

    return asyncio.run(runner())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
