"""`rackcard serve --workers 2`: two web processes answer on one port (new
connections spread over both, and keep-alive ones even out under load), the
migrations ran once before them, and
exactly one of them runs the embedded probe worker and the timers (one probe
token, one worker process)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from _processes import free_port, wait_until_up
from procfs import socket_inodes
from rackcard.spread import Shares


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
    log = tmp_path / "serve.log"  # a file, not a pipe: thousands of access lines would fill a pipe and stall the server
    with log.open("w") as out:
        server = subprocess.Popen([sys.executable, "-m", "rackcard.cli", "serve", "--port", str(port), "--workers", "2"],
                                  env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
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
        # A burst of keep-alive connections is spread over both processes (one
        # listening socket each), not taken whole by the first to wake: the
        # connections arrive while both are stopped, then both go on.
        children = [p for p in _processes_with("multiprocessing") if _parent(p) == server.pid]
        for pid in children:
            os.kill(pid, signal.SIGSTOP)
        try:
            clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(32)]
        finally:
            for pid in children:
                os.kill(pid, signal.SIGCONT)
        try:
            for c in clients:
                c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            for c in clients:
                assert c.recv(4096).startswith(b"HTTP/1.1 200")
            held = _connections_by_process(port, children)
        finally:
            for c in clients:
                c.close()
        # two processes hold them, neither fewer than 4 of the 32 (the busier may
        # already have closed a few of its surplus: see below)
        assert len(held) == 2 and min(held.values()) >= 4, held
        # Under load the two even out their shares of 32 keep-alive connections
        # (rackcard.spread): the busier one answers a few with Connection: close.
        stop = time.monotonic() + 4
        reconnects = await asyncio.gather(*(_keep_alive_user(port, stop) for _ in range(32)))
        shares = Shares(var_dir / "web-connections")
        try:
            published = sorted(shares.counts().values())
        finally:
            shares.close()
        assert len(published) == 2 and sum(published) >= 30 and published[1] - published[0] <= 2, published
        assert sum(reconnects) >= 1, reconnects
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    output = log.read_text()
    assert "2 process(es)" in output, output


async def _keep_alive_user(port: int, stop: float) -> int:
    """GET /healthz over one keep-alive connection until `stop`, reconnecting when
    the server says Connection: close; how many times it did."""
    reconnects = -1
    reader = writer = None
    try:
        while time.monotonic() < stop:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                reconnects += 1
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
            assert head.startswith("http/1.1 200"), head
            await reader.readexactly(int(head.split("content-length:")[1].split("\r\n")[0]))
            if "connection: close" in head:
                writer.close()
                writer = None
    finally:
        if writer is not None:
            writer.close()
    return reconnects


def _connections_by_process(port: int, pids: list[int]) -> Counter:
    """Established connections to `port` by the process holding them (from /proc)."""
    owner = {inode: pid for pid in pids for inode in socket_inodes(pid)}
    held: Counter = Counter()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], int(fields[9])
        if local_port == port and state == "01" and inode in owner:
            held[owner[inode]] += 1
    return held


def _parent(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return -1
    return int(stat.rsplit(")", 1)[1].split()[1])
