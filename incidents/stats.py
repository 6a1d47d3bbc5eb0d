"""Counts an operator's monitoring scrapes: open incidents by priority, failed
notification deliveries, and how long ago each site's checks were last observed
(a site whose newest observation is old is a site nobody is polling)."""

from __future__ import annotations

import datetime as dt

from piccolo.query.functions.aggregate import Max

from incidents import workflow
from incidents.tables import CheckState, Delivery, Incident


async def open_incidents_by_priority() -> dict[str, int]:
    rows = await Incident.select(Incident.priority).where(Incident.status.is_in(list(workflow.OPEN_STATUSES)))
    counts = {p: 0 for p in ("P1", "P2", "P3", "P4")}
    for row in rows:
        counts[row["priority"]] = counts.get(row["priority"], 0) + 1
    return counts


async def deliveries_by_status() -> dict[str, int]:
    counts = {"pending": 0, "delivered": 0, "failed": 0}
    for status in counts:
        counts[status] = await Delivery.count().where(Delivery.status == status)
    return counts


async def site_observation_age(now: dt.datetime) -> dict[str, float]:
    """Seconds since the newest observation of any check on each site's assets, by site code."""
    site = CheckState.asset.site.code
    rows = await CheckState.select(site.as_alias("site"), Max(CheckState.last_observed_at, alias="newest")).where(
        CheckState.asset.site.id.is_not_null()
    ).group_by(site)
    ages: dict[str, float] = {}
    for row in rows:
        at = row["newest"]
        if at is None:
            continue
        if isinstance(at, str):  # SQLite returns the aggregate as stored text
            at = dt.datetime.fromisoformat(at)
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.timezone.utc)
        ages[row["site"]] = max(0.0, (now - at).total_seconds())
    return ages
