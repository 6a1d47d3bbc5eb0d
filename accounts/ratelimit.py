"""Failed logins and unknown tokens, counted per source address and per
account in a sliding minute; past the limit the answer is 429 with
Retry-After instead of another guess. In memory, per process: a brute force
against one replica is slowed where it happens; the counters need no storage."""

from __future__ import annotations

import time
from collections import deque

from validation.errors import TooMany

WINDOW_S = 60.0


class FailureLimiter:
    def __init__(self, per_minute: int, clock=time.monotonic):
        self.per_minute = per_minute
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str) -> deque[float]:
        now = self.clock()
        found = self._failures.setdefault(key, deque())
        while found and found[0] <= now - WINDOW_S:
            found.popleft()
        return found

    def check(self, *keys: str) -> None:
        """Raise TooMany when any of `keys` (an address, an account) failed too often lately."""
        for key in keys:
            recent = self._recent(key)
            if len(recent) >= self.per_minute:
                wait = max(1, int(recent[0] + WINDOW_S - self.clock()) + 1)
                what = "this address" if key.startswith("addr:") else "this account"
                raise TooMany(f"too many failed attempts from {what}; try again in {wait} s", retry_after=wait)

    def failed(self, *keys: str) -> None:
        now = self.clock()
        for key in keys:
            self._recent(key).append(now)
        if len(self._failures) > 100_000:  # forget idle keys rather than grow without bound
            for key in [k for k, v in self._failures.items() if not v]:
                del self._failures[key]

    def succeeded(self, key: str) -> None:
        """An account's own failures are forgiven by a success (an address's are not)."""
        self._failures.pop(key, None)
