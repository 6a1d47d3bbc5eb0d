"""`rackcard backup` / `restore` on both engines: a backup taken while the
database is in use restores every row; a change made after the backup is gone
after the restore; a file that is not a backup is refused, the data untouched."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def _rackcard(db_url: str, var_dir, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RACKCARD_DATABASE_URL": db_url, "RACKCARD_VAR_DIR": str(var_dir),
           "RACKCARD_SECRET_KEY": "t" * 40}
    return subprocess.run([sys.executable, "-m", "rackcard.cli", *args], env=env,
                          capture_output=True, text=True, timeout=120, check=False)


async def _site_codes() -> list[str]:
    from cmdb.tables import Site

    return sorted(r["code"] for r in await Site.select(Site.code))


async def test_backup_then_restore_brings_back_the_data(db, db_url, tmp_path):
    from cmdb.tables import Site

    await Site(code="MSK-DC1", name="Moscow DC1", name_norm="moscow dc1", kind="datacenter").save()
    await Site(code="KHM", name="Khimki node", name_norm="khimki node", kind="remote").save()
    target = tmp_path / "backups" / "rackcard.backup"

    made = _rackcard(db_url, tmp_path / "var", "backup", str(target))
    assert made.returncode == 0, made.stderr
    assert "backup written" in made.stdout
    assert target.stat().st_mode & 0o077 == 0, "a backup holds secrets: owner-only"

    await Site.delete().where(Site.code == "KHM")
    await Site(code="SPB", name="St Petersburg", name_norm="st petersburg", kind="datacenter").save()
    assert await _site_codes() == ["MSK-DC1", "SPB"]

    refused = _rackcard(db_url, tmp_path / "var", "restore", str(target))
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert await _site_codes() == ["MSK-DC1", "SPB"]

    restored = _rackcard(db_url, tmp_path / "var", "restore", "--yes", str(target))
    assert restored.returncode == 0, restored.stderr
    assert await _site_codes() == ["KHM", "MSK-DC1"]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_restore_refuses_a_file_that_is_not_a_backup(db, db_url, tmp_path):
    from cmdb.tables import Site

    await Site(code="KHM", name="Khimki node", name_norm="khimki node", kind="remote").save()
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a database at all" * 100)
    result = _rackcard(db_url, tmp_path / "var", "restore", "--yes", str(junk))
    assert result.returncode == 2
    assert "is not a SQLite backup" in result.stderr
    assert await _site_codes() == ["KHM"]
