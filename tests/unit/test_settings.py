"""Settings: defaults work out of the box, a weak secret is refused, a generated one persists."""

import pytest

from rackcard.settings import Settings, SettingsError


def test_defaults_use_a_sqlite_file_under_var(tmp_path):
    settings = Settings.from_env({"RACKCARD_VAR_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path}/rackcard.sqlite"
    assert settings.port == 8000


def test_generated_secret_is_kept_across_restarts(tmp_path):
    first = Settings.from_env({"RACKCARD_VAR_DIR": str(tmp_path)}).secret_key
    second = Settings.from_env({"RACKCARD_VAR_DIR": str(tmp_path)}).secret_key
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0


def test_generated_secret_is_private_from_its_first_byte(tmp_path, monkeypatch):
    """Created 0600 (not written with the umask's mode, then narrowed): even with umask 0
    and no chmod afterwards, nobody else can ever read it."""
    import os
    from pathlib import Path

    chmods = []
    monkeypatch.setattr(Path, "chmod", lambda self, mode, **kw: chmods.append((self, mode)))
    monkeypatch.setattr(os, "chmod", lambda path, mode, **kw: chmods.append((path, mode)))
    old = os.umask(0)
    try:
        key = Settings.from_env({"RACKCARD_VAR_DIR": str(tmp_path / "var")}).secret_key
    finally:
        os.umask(old)
    path = tmp_path / "var" / "secret_key"
    assert path.stat().st_mode & 0o777 == 0o600 and not chmods, chmods
    assert path.read_text().strip() == key
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret_key"]  # no draft left behind


def test_short_secret_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="RACKCARD_SECRET_KEY"):
        Settings.from_env({"RACKCARD_VAR_DIR": str(tmp_path), "RACKCARD_SECRET_KEY": "changeme"})


def test_bad_integer_names_the_variable(tmp_path):
    with pytest.raises(SettingsError, match="RACKCARD_PORT"):
        Settings.from_env({"RACKCARD_VAR_DIR": str(tmp_path), "RACKCARD_PORT": "eighty"})
