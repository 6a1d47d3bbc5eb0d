"""What /proc says about a process's sockets, for tests that check which
process holds which port or connection."""

from __future__ import annotations

import os
from pathlib import Path


def socket_inodes(pid: int) -> set[int]:
    """The inodes of a process's open sockets (as /proc/net/* lists them)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(int(link[8:-1]))
    return inodes
