"""Helpers for tests that start rackcard as a real process: free ports, and
waiting until its HTTP port answers (failing with its output if it died)."""

from __future__ import annotations

import socket
import subprocess
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
        assert server.poll() is None, server.stdout.read()
        assert time.monotonic() < deadline, "server did not come up"
        time.sleep(0.2)
