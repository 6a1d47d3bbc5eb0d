"""Failed logins and unknown tokens, counted per source address and per
account in a sliding minute; past the limit the answer is 429 with
Retry-After instead of another guess. In memory, per process: a brute force
against one replica is slowed where it happens; the counters need no storage.

Only keys with a failure in the last minute are held: a key is added by a
failure (never by a check), and once a minute the keys whose last failure
left the window are dropped, so the table is as large as the last minute's
failing addresses and accounts, and never more than `max_keys`."""

from __future__ import annotations

import time
from collections import deque

from validation.errors import TooMany

WINDOW_S = 60.0
#: Keys held at most; beyond it the longest-held keys are forgotten first.
MAX_KEYS = 100_000


class FailureLimiter:
    def __init__(self, per_minute: int, clock=time.monotonic, max_keys: int = MAX_KEYS):
        self.per_minute = per_minute
        self.clock = clock
        self.max_keys = max_keys
        self._failures: dict[str, deque[float]] = {}
        self._swept = clock()

    def __len__(self) -> int:
        """Keys (addresses, accounts) with failures held now."""
        return len(self._failures)

    def _recent(self, key: str, now: float) -> deque[float]:
        found = self._failures.get(key)
        if found is None:
            return deque()
        while found and found[0] <= now - WINDOW_S:
            found.popleft()
        if not found:
            del self._failures[key]
        return found

    def check(self, *keys: str) -> None:
        """Raise TooMany when any of `keys` (an address, an account) failed too often lately."""
        now = self.clock()
        for key in keys:
            recent = self._recent(key, now)
            if len(recent) >= self.per_minute:
                wait = max(1, int(recent[0] + WINDOW_S - now) + 1)
                what = "this address" if key.startswith("addr:") else "this account"
                raise TooMany(f"too many failed attempts from {what}; try again in {wait} s", retry_after=wait)

    def failed(self, *keys: str) -> None:
        now = self.clock()
        for key in keys:
            self._recent(key, now)
            self._failures.setdefault(key, deque()).append(now)
        self._forget(now)

    def _forget(self, now: float) -> None:
        """Drop the keys whose failures all left the window (once a window), then the
        longest-held keys while more than `max_keys` remain."""
        if now - self._swept >= WINDOW_S:
            self._swept = now
            for key in [k for k, v in self._failures.items() if not v or v[-1] <= now - WINDOW_S]:
                del self._failures[key]
        while len(self._failures) > self.max_keys:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, key: str) -> None:
        """An account's own failures are forgiven by a success (an address's are not)."""
        self._failures.pop(key, None)
