"""The failure limiter's table holds only the last minute's failing keys:
checks add nothing, keys whose failures left the window are dropped, and the
table never grows past its bound (an address spray cannot exhaust memory)."""

from __future__ import annotations

import pytest

from accounts.ratelimit import WINDOW_S, FailureLimiter
from validation.errors import TooMany


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_expired_windows_are_dropped():
    clock = Clock()
    limiter = FailureLimiter(3, clock=clock)
    for n in range(5000):
        limiter.check(f"addr:10.0.{n // 256}.{n % 256}")
    assert len(limiter) == 0  # a check holds nothing
    for n in range(5000):
        limiter.failed(f"addr:10.0.{n // 256}.{n % 256}", f"user:u{n}@example.test")
    assert len(limiter) == 10_000
    clock.now += WINDOW_S + 1
    limiter.failed("addr:192.0.2.1")
    assert len(limiter) == 1


def test_the_table_is_bounded_and_limits_still_hold():
    clock = Clock()
    limiter = FailureLimiter(3, clock=clock, max_keys=100)
    for n in range(1000):
        limiter.failed(f"addr:198.51.100.{n}")
    assert len(limiter) == 100
    for _ in range(3):
        limiter.failed("addr:203.0.113.9")
    with pytest.raises(TooMany):
        limiter.check("addr:203.0.113.9")
    clock.now += WINDOW_S + 1
    limiter.check("addr:203.0.113.9")  # the window passed: allowed again
