"""Helpers for tests that start rackcard as a real process: free ports, and
waiting until its HTTP port answers (failing with its output if it died)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx


def free_port(kind=socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(server: subprocess.Popen, url: str, timeout: float = 60) -> None:
    """Poll `url` until it answers 200; the server's output is the failure message if it exits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert server.poll() is None, server.stdout.read() if server.stdout else "the server exited (see its log)"
        assert time.monotonic() < deadline, "server did not come up"
        time.sleep(0.2)


async def until(predicate, timeout: float, what: str, step: float = 0.2):
    """Await `predicate()` until it is truthy (returned); fail with `what` after `timeout` s."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        result = await predicate()
        if result:
            return result
        assert time.monotonic() < deadline, what
        await asyncio.sleep(step)


def probe_worker(name: str, url: str, env: dict, spool_dir, log_path, timeout: float = 1.0) -> subprocess.Popen:
    """A `rackcard probe` process without traps (the token in env's RACKCARD_PROBE_TOKEN)."""
    return subprocess.Popen(
        [sys.executable, "-m", "rackcard.cli", "probe", "--server", url, "--name", name, "--no-traps",
         "--spool-dir", str(spool_dir), "--timeout", f"{timeout:g}"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(log_path, "ab"))


def stop_all(processes, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Signal every live process, then wait for each; kill whichever outlasts `timeout`."""
    processes = [p for p in processes if p.poll() is None]
    for process in processes:
        process.send_signal(sig)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
