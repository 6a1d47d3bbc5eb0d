"""Keep-alive connections spread evenly over the processes of `rackcard serve --workers N`.

The kernel gives each new connection to one process (each has its own socket,
bound with SO_REUSEPORT, and the kernel hashes the addresses), and a keep-alive
connection stays where it landed: 32 clients split 20/12 as easily as 16/16,
and then the busier process's queue sets everyone's latency. On PostgreSQL at
32 users the users' median latencies ranged from 11 to 32 ms within one run,
and the p95 from 42 to 58 ms between runs that differed only in the split.

So each process publishes how many connections it serves (a slot in a file
under the var directory), and a process serving more than its share answers a
few requests with `Connection: close`. Their clients reconnect, as HTTP
clients and proxies do, and the kernel places those connections afresh, until
the shares are even.
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import struct
import time
from pathlib import Path
from typing import Any, Callable

log = logging.getLogger("rackcard.spread")

#: One slot: connections served, pid, when published (time.monotonic, one clock for all processes).
SLOT = struct.Struct("<IId")
SLOTS = 64
#: How often a process publishes its count and compares it with the others'.
PERIOD_S = 0.25
#: A connection counts as served while it sent a request within this long.
ACTIVE_S = 1.0
#: A slot not published for this long belongs to no running process.
STALE_S = 4 * PERIOD_S


class Shares:
    """This process's slot in the shared file, and the other processes' counts.

    A process owns its slot by holding a lock on the slot's byte (POSIX record
    locks end with the process, so a restarted process takes a dead one's slot)."""

    def __init__(self, path: Path):
        self.path = path
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        self.slot = -1
        for slot in range(SLOTS):
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, slot)
            except OSError:
                continue
            self.slot = slot
            break
        if self.slot < 0:
            os.close(self._fd)
            raise RuntimeError(f"all {SLOTS} slots of {path} are held")

    def publish(self, connections: int) -> None:
        os.pwrite(self._fd, SLOT.pack(connections, os.getpid(), time.monotonic()), self.slot * SLOT.size)

    def counts(self) -> dict[int, int]:
        """slot -> connections, of every process that published lately (this one included)."""
        data = os.pread(self._fd, SLOTS * SLOT.size, 0)
        now = time.monotonic()
        found = {}
        for slot in range(len(data) // SLOT.size):
            connections, pid, at = SLOT.unpack_from(data, slot * SLOT.size)
            if pid and now - at <= STALE_S:
                found[slot] = connections
        return found

    def close(self) -> None:
        os.close(self._fd)


def surplus(mine: int, counts: list[int]) -> int:
    """How many of `mine` connections to close so that the processes' shares even out.

    None while this process is within one connection of the least busy one (an
    odd total can't split evenly; closing then would only move the odd one)."""
    if len(counts) < 2 or mine - min(counts) < 2:
        return 0
    return max(0, mine - math.ceil(sum(counts) / len(counts)))


class SpreadKeepAlive:
    """ASGI middleware: answer with `Connection: close` while this process
    serves more than its share of the connections (see the module's docstring)."""

    def __init__(self, app: Callable, shares: Shares):
        self.app = app
        self.shares = shares
        self._seen: dict[Any, float] = {}  # connection (client address) -> last request
        self._next = 0.0
        self._to_close = 0

    def _compare(self, now: float) -> None:
        self._next = now + PERIOD_S
        self._seen = {client: at for client, at in self._seen.items() if now - at <= ACTIVE_S}
        mine = len(self._seen)
        try:
            self.shares.publish(mine)
            counts = self.shares.counts()
        except OSError:  # the file is gone (var cleaned): stop spreading, keep serving
            log.warning("cannot share connection counts in %s; connections are not spread", self.shares.path,
                        exc_info=True)
            self._next = float("inf")
            return
        self._to_close = surplus(mine, list(counts.values()))

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        client = scope.get("client")
        if scope["type"] != "http" or not client:
            await self.app(scope, receive, send)
            return
        now = time.monotonic()
        client = tuple(client)
        self._seen[client] = now
        if now >= self._next:
            self._compare(now)
        if self._to_close > 0:
            self._to_close -= 1
            del self._seen[client]  # its client comes back on a new connection, maybe to another process
            await self.app(scope, receive, _closing(send))
            return
        await self.app(scope, receive, send)


def _closing(send: Callable) -> Callable:
    async def closing_send(message: dict) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"connection"]
            message = {**message, "headers": [*headers, (b"connection", b"close")]}
        await send(message)

    return closing_send
