"""The incident timers, started by `rackcard serve` (rackcard.app BACKGROUND_MODULES):

- every TICK_S: engine.tick — the rules with no updates (recovery hold,
  maintenance ends, site-silence grouping), OLA escalation, SLA breaches;
- every TICK_S: probe_health.check — a probe worker silent on its sites is `probe stale`;
- every NOTIFY_S: notify.run_once — outbox fan-out and due deliveries/retries;
- every SAMPLES_S: timeseries.maintain — roll complete buckets up, prune in small batches;
- every KPI_S: kpi_store.refresh_facts — measure the incidents the KPI triggers queued, so a
  report never has to catch up on a day's (or, after an upgrade, a year's) changes itself;
- every IMPORTS_S (and at start): cmdb.csvio.undo_interrupted — a chunked SQLite import
  whose process died mid-run has what it committed removed (imports are all or nothing).

A failing round is logged and the loop goes on. Several web replicas may run
these loops at once: every step claims its rows (compare-and-set) or relies
on the unique index.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from contextlib import asynccontextmanager, suppress
from typing import AsyncIterator, Awaitable, Callable

from cmdb import csvio
from incidents import engine, kpi_store, notify, probe_health, timeseries

log = logging.getLogger("rackcard.incidents")

TICK_S = 15.0
NOTIFY_S = 2.0
SAMPLES_S = 60.0
KPI_S = 60.0
IMPORTS_S = 60.0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


async def _every(name: str, seconds: float, step: Callable[[], Awaitable[object]]) -> None:
    while True:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a timer must survive a bad round
            log.exception("%s: round failed; retrying in %.0f s", name, seconds)
        await asyncio.sleep(seconds)


@asynccontextmanager
async def background(app_state, settings) -> AsyncIterator[None]:
    engine.configure(settings.engine)
    probe_health.configure(settings.probe_stale_intervals)
    config = notify.NotifyConfig.from_settings(settings)
    timeseries.configure(timeseries.Retention(raw_keep=dt.timedelta(hours=settings.sample_raw_hours)))
    tasks = [
        asyncio.create_task(_every("incident timers", TICK_S, lambda: engine.tick(_now()))),
        asyncio.create_task(_every("probe health", TICK_S, lambda: probe_health.check(_now()))),
        asyncio.create_task(_every("notifications", NOTIFY_S, lambda: notify.run_once(config))),
        asyncio.create_task(_every("sample roll-ups", SAMPLES_S, lambda: timeseries.maintain(_now()))),
        asyncio.create_task(_every("KPI facts", KPI_S, lambda: kpi_store.refresh_facts(_now()))),
        asyncio.create_task(_every("interrupted imports", IMPORTS_S, lambda: csvio.undo_interrupted(_now()))),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task
