"""Acceptance (issue 3, poller): each asset is polled at its own interval with
jitter: the next delay stays within +-jitter of the asset's interval and is
not the same every time (so a thousand devices do not poll in lock-step)."""

from probes.wire import Target
from probes.worker import Scheduler


def test_next_poll_is_the_assets_interval_with_jitter():
    scheduler = Scheduler(emit=lambda observations: None, jitter=0.1)
    for interval in (30, 300):
        target = Target(asset_id=1, name="mc", kind="media_converter", host="127.0.0.1", port=161,
                        version="2c", community="public", interval_s=interval)
        delays = [scheduler._next_delay(target) for _ in range(200)]
        assert all(interval * 0.9 <= d <= interval * 1.1 for d in delays), (interval, min(delays), max(delays))
        assert len({round(d, 6) for d in delays}) > 1
