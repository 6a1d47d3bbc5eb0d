"""`rackcard serve` starts one embedded probe worker — in its own process, so
SNMP work never competes with the web event loop — with a probe token made
for it at start-up. The worker also runs the trap receiver
(RACKCARD_TRAP_HOST:RACKCARD_TRAP_PORT). It talks to this server over HTTP
like any remote worker (RACKCARD_PROBE_SERVER overrides the URL, e.g. when
serving on another port than RACKCARD_PORT).

Listed in rackcard.app.BACKGROUND_MODULES; off with RACKCARD_EMBEDDED_PROBE=false.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from database.transactions import atomic
from accounts.services import create_token
from accounts.tables import ApiToken
from incidents import probe_health
from incidents.tables import ProbeBatch
from probes.worker import EXIT_TOKEN_REFUSED

log = logging.getLogger("rackcard.probes.embedded")


#: Embedded-worker tokens are named after the server that owns them.
TOKEN_PREFIX = "probe embedded@"
#: An embedded token no batch came with for this long (its server is gone) is revoked.
STALE_TOKEN_AGE = dt.timedelta(days=1)


def _token_name(settings) -> str:
    """One name per server (host and web port): two servers on one database,
    on one host or not, never touch each other's token. The port is ours (the
    server bound it before starting this), so an earlier token of this name
    belongs to an earlier run of this very server."""
    return f"{TOKEN_PREFIX}{socket.gethostname()}:{settings.port}"


async def _fresh_token(settings) -> str:
    """Revoke this server's earlier embedded-worker tokens and the embedded tokens
    of servers gone for STALE_TOKEN_AGE, then make a new one."""
    name = _token_name(settings)
    cutoff = dt.datetime.now(dt.timezone.utc) - STALE_TOKEN_AGE
    async with atomic():
        await ApiToken.update({ApiToken.revoked: True}).where(
            (ApiToken.kind == "probe") & (ApiToken.name == name) & (ApiToken.revoked == False)  # noqa: E712
        )
        recent = ProbeBatch.select(ProbeBatch.probe).where(ProbeBatch.received_at >= cutoff)
        await ApiToken.update({ApiToken.revoked: True}).where(
            (ApiToken.kind == "probe") & ApiToken.name.like(TOKEN_PREFIX + "%")
            & (ApiToken.revoked == False) & (ApiToken.created_at < cutoff)  # noqa: E712
            & ApiToken.name.not_in(recent)
        )
        return await create_token(name=name, probe="embedded")


def server_url(settings) -> str:
    if os.environ.get("RACKCARD_PROBE_SERVER"):
        return os.environ["RACKCARD_PROBE_SERVER"]
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    return f"http://{host}:{settings.port}"


def command(settings) -> list[str]:
    return [
        sys.executable, "-m", "rackcard.cli", "probe",
        "--server", server_url(settings), "--name", "embedded",
        "--spool-dir", str(Path(settings.var_dir) / "probe-spool" / "embedded"),
        "--trap-host", settings.trap_host, "--trap-port", str(settings.trap_port), "--exit-on-refused",
    ]


def _die_with_parent() -> None:
    """Linux: the worker gets SIGTERM when the web process dies, even by SIGKILL."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # not Linux: the worker outlives a killed server and keeps spooling
        pass


@asynccontextmanager
async def background(app_state, settings) -> AsyncIterator[None]:
    if not settings.embedded_probe:
        yield
        return
    env = dict(os.environ, RACKCARD_PROBE_TOKEN=await _fresh_token(settings), RACKCARD_VAR_DIR=str(settings.var_dir))
    stopping = asyncio.Event()

    async def start() -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(*command(settings), env=env, preexec_fn=_die_with_parent)
        app_state.probe_process = process
        log.info("embedded probe worker started (pid %d) -> %s; traps on udp %s:%d",
                 process.pid, server_url(settings), settings.trap_host, settings.trap_port)
        return process

    async def supervise(process: asyncio.subprocess.Process) -> None:
        """Restart the worker if it dies while the server runs (with a growing pause)."""
        pause = 1.0
        while True:
            code = await process.wait()
            if stopping.is_set():
                return
            if code == EXIT_TOKEN_REFUSED:
                log.error("embedded probe worker: its token was refused (revoked?); restarting it with a new one")
                env["RACKCARD_PROBE_TOKEN"] = await _fresh_token(settings)
            else:
                log.error("embedded probe worker exited with %s; restarting in %.0f s", code, pause)
            try:
                await asyncio.wait_for(stopping.wait(), pause)
                return
            except asyncio.TimeoutError:
                pass
            pause = min(pause * 2, 60.0)
            process = await start()

    supervisor = asyncio.create_task(supervise(await start()))
    try:
        yield
    finally:
        stopping.set()
        process = app_state.probe_process
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()
        await supervisor
        name = _token_name(settings)
        await ApiToken.update({ApiToken.revoked: True}).where((ApiToken.kind == "probe") & (ApiToken.name == name))
        await probe_health.retire(name)  # stopped on purpose: not a stale probe
