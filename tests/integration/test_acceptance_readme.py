"""Acceptance (issue 2, settings): every RACKCARD_* variable the code reads is
listed in the README, and the Quick start is exactly two commands in one code
block."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("rackcard", "accounts", "cmdb", "incidents", "probes", "portal")


def _variables_read_by_the_code() -> set[str]:
    found: set[str] = set()
    files = [ROOT / "piccolo_conf.py"] if (ROOT / "piccolo_conf.py").exists() else []
    for package in PACKAGES:
        if (ROOT / package).is_dir():
            files += [p for p in (ROOT / package).rglob("*.py") if "piccolo_migrations" not in p.parts]
    for path in files:
        found |= set(re.findall(r"RACKCARD_[A-Z][A-Z0-9_]*", path.read_text(encoding="utf-8")))
    return found


def test_every_variable_the_code_reads_is_in_the_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    variables = _variables_read_by_the_code()
    assert {"RACKCARD_DATABASE_URL", "RACKCARD_SECRET_KEY", "RACKCARD_TRAP_PORT"} <= variables
    missing = sorted(v for v in variables if not re.search(rf"\b{v}\b", readme))
    assert missing == [], f"not in README.md: {missing}"


def test_quick_start_is_two_commands_in_one_block():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```[a-z]*\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1
    commands = [line for line in blocks[0].splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert len(commands) == 2, commands
