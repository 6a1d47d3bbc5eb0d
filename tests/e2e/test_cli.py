"""The command line as an operator meets it: --help everywhere, and
`rackcard serve` starting from nothing (fresh var dir) with a user and token
made by the CLI."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys

import httpx
import pytest

from _processes import free_port, wait_until_up
from rackcard.cli import build_parser, main


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from _commands(sub, prefix + (name,))


def test_every_command_has_help(capsys):
    commands = list(_commands(build_parser()))
    assert ("serve",) in commands and ("user", "create") in commands and ("token", "create") in commands
    for command in [(), *commands]:
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--help"])
        assert exit_info.value.code == 0, command
        assert "usage:" in capsys.readouterr().out


def _rackcard(env, *args, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rackcard.cli", *args],
        env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )


def test_serve_from_a_fresh_var_dir_with_cli_user_and_token(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "RACKCARD_VAR_DIR": str(tmp_path / "var"),
        "RACKCARD_TRAP_PORT": str(free_port(socket.SOCK_DGRAM)),
        "RACKCARD_TRAP_HOST": "127.0.0.1",
    }
    env.pop("RACKCARD_DATABASE_URL", None)
    env.pop("RACKCARD_SECRET_KEY", None)

    created = _rackcard(env, "user", "create", "--email", "Ops@Example.test", "--role", "admin", "--password-stdin",
                        stdin="a long enough password\n")
    assert created.returncode == 0, created.stderr
    token_run = _rackcard(env, "token", "create", "--email", "ops@example.test")
    assert token_run.returncode == 0, token_run.stderr
    token = token_run.stdout.strip().splitlines()[-1]
    assert token.startswith("rc_")

    ingest_run = _rackcard(env, "token", "create", "--ingest", "prometheus")
    assert ingest_run.returncode == 0, ingest_run.stderr
    ingest_token = ingest_run.stdout.strip().splitlines()[-1]
    assert _rackcard(env, "token", "create", "--ingest", "x", "--email", "ops@example.test").returncode == 2

    duplicate = _rackcard(env, "user", "create", "--email", "ops@example.test", "--role", "noc", "--password-stdin",
                          stdin="a long enough password\n")
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr

    server = subprocess.Popen(
        [sys.executable, "-m", "rackcard.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(server, f"{base}/schema/openapi.json")
        me = httpx.get(f"{base}/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200 and me.json()["email"] == "ops@example.test"
        assert httpx.get(f"{base}/api/v1/me").status_code == 401
        # An ingest token posts alerts (for a host no asset has: counted, opens nothing) and reads nothing.
        alert = {"version": "4", "status": "firing", "alerts": [{"status": "firing", "labels": {
            "alertname": "InstanceDown", "instance": "10.250.0.1:9100"}, "fingerprint": "f1",
            "startsAt": "2026-11-23T10:00:00Z"}]}
        posted = httpx.post(f"{base}/api/v1/ingest/alertmanager", json=alert,
                            headers={"Authorization": f"Bearer {ingest_token}"})
        assert posted.status_code == 200 and posted.json()["unmatched"] == ["10.250.0.1"], posted.text
        assert httpx.get(f"{base}/api/v1/incidents", headers={"Authorization": f"Bearer {ingest_token}"}).status_code == 403
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    output = server.stdout.read()
    assert (tmp_path / "var" / "rackcard.sqlite").exists()
    # The embedded probe worker talks to the port given on the command line.
    assert f"-> http://127.0.0.1:{port}" in output, output


def _table(output: str) -> list[dict]:
    """The rows `_print_rows` printed, keyed by its header (cells hold no spaces here)."""
    header, *lines = output.strip().splitlines()
    names = header.split()
    return [dict(zip(names, line.split())) for line in lines]


def test_token_and_user_commands_on_a_fresh_database(tmp_path):
    """`token list|revoke` and `user list|disable|enable` run against a temporary SQLite database."""
    env = {**os.environ, "RACKCARD_VAR_DIR": str(tmp_path / "var")}
    env.pop("RACKCARD_DATABASE_URL", None)
    env.pop("RACKCARD_SECRET_KEY", None)
    for email, role in (("ops@example.test", "admin"), ("noc@example.test", "noc")):
        run = _rackcard(env, "user", "create", "--email", email, "--role", role, "--password-stdin",
                        stdin="a long enough password\n")
        assert run.returncode == 0, run.stderr
    noc_token = _rackcard(env, "token", "create", "--email", "noc@example.test", "--name", "laptop").stdout.split()[-1]
    assert _rackcard(env, "token", "create", "--ingest", "prometheus").returncode == 0

    listed = _rackcard(env, "token", "list")
    assert listed.returncode == 0, listed.stderr
    assert noc_token not in listed.stdout  # never the token itself, only its first characters
    tokens = {r["email"]: r for r in _table(listed.stdout)}
    assert noc_token.startswith(tokens["noc@example.test"]["prefix"])
    assert tokens["noc@example.test"]["revoked"] == "False" and tokens["-"]["kind"] == "ingest"

    revoked = _rackcard(env, "token", "revoke", tokens["noc@example.test"]["id"])
    assert revoked.returncode == 0 and "revoked token" in revoked.stdout, revoked.stderr
    assert "noc@example.test" not in _rackcard(env, "token", "list").stdout
    everything = {r["email"]: r for r in _table(_rackcard(env, "token", "list", "--all").stdout)}
    assert everything["noc@example.test"]["revoked"] == "True"
    missing = _rackcard(env, "token", "revoke", "999")
    assert missing.returncode == 2 and "Traceback" not in missing.stderr, missing.stderr
    for odd in ("²", "0", "99999999999999999999"):  # refused before any database sees them (PostgreSQL: int4 ids)
        refused = _rackcard(env, "token", "revoke", odd)
        assert refused.returncode == 2 and "argument id" in refused.stderr, (odd, refused.stderr)

    users = {r["email"]: r for r in _table(_rackcard(env, "user", "list").stdout)}
    assert users["noc@example.test"]["role"] == "noc" and users["noc@example.test"]["active"] == "True"
    disabled = _rackcard(env, "user", "disable", "noc@example.test")
    assert disabled.returncode == 0 and "disabled user noc@example.test" in disabled.stdout, disabled.stderr
    assert {r["email"]: r for r in _table(_rackcard(env, "user", "list").stdout)}["noc@example.test"]["active"] == "False"
    enabled = _rackcard(env, "user", "enable", users["noc@example.test"]["id"])  # by id
    assert enabled.returncode == 0 and "enabled user noc@example.test" in enabled.stdout, enabled.stderr
    assert {r["email"]: r for r in _table(_rackcard(env, "user", "list").stdout)}["noc@example.test"]["active"] == "True"
    for odd in ("nobody@example.test", "²", "99999999999999999999"):
        refused = _rackcard(env, "user", "disable", odd)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr, (odd, refused.stderr)
