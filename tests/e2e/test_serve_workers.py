"""`rackcard serve --workers 2`: two web processes answer on one port, the
migrations ran once before them, and exactly one of them runs the embedded
probe worker and the timers (one probe token, one worker process)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from _processes import free_port, wait_until_up


def _processes_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite", "pg"], indirect=True)
async def test_two_web_processes_and_one_embedded_probe_worker(db, db_url, tmp_path):
    from accounts.tables import ApiToken

    port = free_port()
    var_dir = tmp_path / "var"
    env = {**os.environ, "RACKCARD_VAR_DIR": str(var_dir), "RACKCARD_DATABASE_URL": db_url,
           "RACKCARD_SECRET_KEY": "s" * 40, "RACKCARD_TRAP_HOST": "127.0.0.1",
           "RACKCARD_TRAP_PORT": str(free_port(socket.SOCK_DGRAM))}
    server = subprocess.Popen([sys.executable, "-m", "rackcard.cli", "serve", "--port", str(port), "--workers", "2"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(server, f"{base}/readyz", timeout=90)
        # Both processes have started (uvicorn spawns them with multiprocessing).
        deadline = time.monotonic() + 60
        while len([p for p in _processes_with("multiprocessing") if _parent(p) == server.pid]) < 2:
            assert time.monotonic() < deadline, "two web processes did not start"
            time.sleep(0.3)
        # ... and only one embedded probe worker, with the one live probe token.
        spool = str(var_dir / "probe-spool" / "embedded")
        deadline = time.monotonic() + 30
        while not _processes_with(spool):
            assert time.monotonic() < deadline, "no embedded probe worker"
            time.sleep(0.3)
        time.sleep(2)  # a second leader, were there one, would have started by now
        assert len(_processes_with(spool)) == 1
        tokens = await ApiToken.select(ApiToken.name, ApiToken.revoked).where(ApiToken.kind == "probe")
        assert len(tokens) == 1 and not tokens[0]["revoked"], tokens
        for _ in range(10):
            assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    output = server.stdout.read()
    assert "2 process(es)" in output, output


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rsplit(")", 1)[1].split()[1])
