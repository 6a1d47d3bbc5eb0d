"""Acceptance (issue 2, CLI): `rackcard migrate` makes a working database from
nothing (fresh RACKCARD_VAR_DIR, default SQLite file), `rackcard export` then
writes a list as CSV (to stdout or -o FILE), and `rackcard import` is all or nothing per file
with the bad row reported (as the README shows them)."""

from __future__ import annotations

import os
import subprocess
import sys


def _rackcard(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rackcard.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_migrate_export_and_import_from_a_fresh_var_dir(tmp_path):
    env = {**os.environ, "RACKCARD_VAR_DIR": str(tmp_path / "var")}
    env.pop("RACKCARD_DATABASE_URL", None)
    env.pop("RACKCARD_SECRET_KEY", None)
    migrated = _rackcard(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert (tmp_path / "var" / "rackcard.sqlite").exists()

    sites = tmp_path / "sites.csv"
    sites.write_text("code,name,kind\nMSK-DC1,Moscow DC1,datacenter\nRS1,Khimki,remote\n", encoding="utf-8")
    assert _rackcard(env, "import", str(sites), "--kind", "sites", "--quiet").returncode == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name,kind\nDC2,DC Two,datacenter\nDC3,DC Three,moon\n", encoding="utf-8")
    refused = _rackcard(env, "import", str(bad), "--kind", "sites", "--quiet")
    assert refused.returncode == 1 and "row 3" in refused.stderr and "kind" in refused.stderr

    exported = _rackcard(env, "export", "--kind", "sites")
    assert exported.returncode == 0, exported.stderr
    lines = exported.stdout.strip().splitlines()
    assert lines[0].split(",")[:4] == ["id", "code", "name", "kind"]
    assert [line.split(",")[1] for line in lines[1:]] == ["MSK-DC1", "RS1"]  # nothing of the bad file
    listed = _rackcard(env, "export", "--kind", "ip-addresses", "-o", str(tmp_path / "ips.csv"))
    assert listed.returncode == 0, listed.stderr
    assert (tmp_path / "ips.csv").read_text(encoding="utf-8").startswith("id,address")
