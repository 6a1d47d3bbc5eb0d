"""One server per port, safe starts (issue 9): a second `serve`/`demo` on a busy
port exits non-zero with a clear message before touching anything shared — the
first server's probe token stays valid and it keeps polling (observations are
counted before and after). A revoked embedded token heals: the worker stops,
the server gives it a new token, polling goes on."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from probes.simulator import SimAgent, free_udp_port, ups_rec
from rackcard import db as rdb

pytestmark = pytest.mark.slow


def _free_tcp_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seed(url: str, agent: SimAgent) -> None:
    async def run():
        async with rdb.connected(url):
            from cmdb.tables import Asset, Site

            site = Site(code="khm", name="Khimki node", name_norm="khimki node", kind="remote")
            await site.save()
            await Asset(name="ups1", name_norm="ups1", kind="ups", site=site.id, mgmt_ip=agent.host,
                        snmp_port=agent.port, snmp_version="2c", snmp_community="ups1", poll_interval_s=5).save()

    asyncio.run(run())


def _observations(path) -> int:
    with sqlite3.connect(path, timeout=10) as conn:
        return conn.execute("SELECT COALESCE(SUM(observations), 0) FROM inc_probe_batch").fetchone()[0]


def _probe_tokens(path) -> list[tuple]:
    with sqlite3.connect(path, timeout=10) as conn:
        return conn.execute("SELECT id, name, revoked FROM rc_api_token WHERE kind = 'probe' ORDER BY id").fetchall()


def _wait(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def agent(tmp_path):
    agent = SimAgent(root=tmp_path / "snmpsim")
    agent.write("ups1", ups_rec("ups1"))
    agent.start()
    yield agent
    agent.close()


def test_second_server_on_a_busy_port_exits_before_touching_anything(tmp_path, agent):
    db_path = tmp_path / "rackcard.sqlite"
    url = f"sqlite:///{db_path}"
    _seed(url, agent)
    port = _free_tcp_port()
    env = {**os.environ, "RACKCARD_DATABASE_URL": url, "RACKCARD_VAR_DIR": str(tmp_path / "var"),
           "RACKCARD_PORT": str(port), "RACKCARD_TRAP_HOST": "127.0.0.1",
           "RACKCARD_TRAP_PORT": str(free_udp_port()), "RACKCARD_DEMO_SNMP_PORT": str(free_udp_port())}
    env.pop("RACKCARD_SECRET_KEY", None)
    first = subprocess.Popen([sys.executable, "-m", "rackcard.cli", "serve"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait(lambda: first.poll() is not None or _observations(db_path) > 0, 90, "the first server's polls")
        assert first.poll() is None
        tokens = _probe_tokens(db_path)
        assert len(tokens) == 1 and tokens[0][2] == 0  # the embedded worker's, valid

        for command in ("serve", "demo"):
            second = subprocess.run([sys.executable, "-m", "rackcard.cli", command], env=env,
                                    capture_output=True, text=True, timeout=60)
            assert second.returncode != 0, second.stderr
            assert f"cannot listen on 127.0.0.1:{port}" in second.stderr and "Nothing was changed" in second.stderr
        assert _probe_tokens(db_path) == tokens  # not revoked, no new one
        assert not (tmp_path / "var" / "demo-snmpsim").exists()  # the simulator's data untouched

        before = _observations(db_path)
        _wait(lambda: _observations(db_path) > before, 30, "the first server to keep polling")

        # its token revoked behind its back: the worker says so, stops, gets a new one, polls on
        with sqlite3.connect(db_path, timeout=10) as conn:
            conn.execute("UPDATE rc_api_token SET revoked = 1 WHERE kind = 'probe'")
        _wait(lambda: any(not t[2] for t in _probe_tokens(db_path)), 60, "a new embedded token")
        before = _observations(db_path)
        _wait(lambda: _observations(db_path) > before, 30, "polling with the new token")
    finally:
        first.terminate()
        try:
            out, _ = first.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            first.kill()
            out, _ = first.communicate()
    assert "token was refused" in out, out[-3000:]
