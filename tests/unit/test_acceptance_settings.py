"""Acceptance (issue 3, trap receiver): RACKCARD_TRAP_HOST defaults to
0.0.0.0 and RACKCARD_TRAP_PORT to 1162; both are read from the environment."""

import pytest

from rackcard.settings import Settings, SettingsError


def test_trap_receiver_defaults(tmp_path):
    settings = Settings.from_env({"RACKCARD_VAR_DIR": str(tmp_path)})
    assert (settings.trap_host, settings.trap_port) == ("0.0.0.0", 1162)


def test_trap_receiver_from_the_environment(tmp_path):
    settings = Settings.from_env({"RACKCARD_VAR_DIR": str(tmp_path), "RACKCARD_TRAP_HOST": "127.0.0.1",
                                  "RACKCARD_TRAP_PORT": "10162"})
    assert (settings.trap_host, settings.trap_port) == ("127.0.0.1", 10162)
    with pytest.raises(SettingsError, match="RACKCARD_TRAP_PORT"):
        Settings.from_env({"RACKCARD_VAR_DIR": str(tmp_path), "RACKCARD_TRAP_PORT": "traps"})
