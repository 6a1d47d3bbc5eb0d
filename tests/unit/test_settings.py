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


def test_short_secret_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="RACKCARD_SECRET_KEY"):
        Settings.from_env({"RACKCARD_VAR_DIR": str(tmp_path), "RACKCARD_SECRET_KEY": "changeme"})


def test_bad_integer_names_the_variable(tmp_path):
    with pytest.raises(SettingsError, match="RACKCARD_PORT"):
        Settings.from_env({"RACKCARD_VAR_DIR": str(tmp_path), "RACKCARD_PORT": "eighty"})
