"""Backup and restore of the whole database.

SQLite: the online backup API copies a consistent snapshot while the server
keeps running (readers and the writer are not stopped); restore copies a
backup over the database file, so stop the server first.
PostgreSQL: `pg_dump --format=custom` / `pg_restore --clean --if-exists`
(the client tools must be on the PATH; Debian package `postgresql-client`).
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path
from urllib.parse import urlparse


class BackupError(RuntimeError):
    """The backup or restore could not be made; the message says why."""


def _sqlite_path(url: str) -> Path | None:
    return Path(url[len("sqlite:///"):]) if urlparse(url).scheme == "sqlite" else None


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} not found: install the PostgreSQL client tools (Debian: postgresql-client)")
    return path


def backup(url: str, target: Path) -> int:
    """Write a backup of the database at `url` to `target`; returns its size in bytes."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    db_path = _sqlite_path(url)
    if db_path is not None:
        if not db_path.exists():
            raise BackupError(f"no database at {db_path}")
        partial = target.with_name(target.name + ".partial")
        source = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        dest = sqlite3.connect(partial)
        try:
            source.backup(dest, pages=1024)  # in steps: the writer is blocked only per step
        finally:
            dest.close()
            source.close()
        partial.chmod(0o600)
        partial.replace(target)
    else:
        result = subprocess.run([_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={target}", url],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
        target.chmod(0o600)
    return target.stat().st_size


def restore(url: str, source: Path) -> None:
    """Replace the database at `url` with the backup in `source`."""
    source = Path(source)
    if not source.exists():
        raise BackupError(f"no backup at {source}")
    db_path = _sqlite_path(url)
    if db_path is not None:
        try:
            check = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            ok = check.execute("PRAGMA integrity_check").fetchone()[0]
            check.close()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source} is not a SQLite backup: {exc}") from None
        if ok != "ok":
            raise BackupError(f"{source} fails the integrity check: {ok}")
        db_path.parent.mkdir(parents=True, exist_ok=True)
        dest = sqlite3.connect(db_path)
        backup_db = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            backup_db.backup(dest)  # through SQLite, so the WAL of the old file is replaced too
        finally:
            backup_db.close()
            dest.close()
    else:
        result = subprocess.run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner",
                                 "--single-transaction", f"--dbname={url}", str(source)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            raise BackupError(f"pg_restore failed: {result.stderr.strip()}")
