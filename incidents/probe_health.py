"""Probe workers that went quiet: a worker that posted observations of a site
and then stopped posting for N poll intervals (its token refused, its host or
network down) leaves that site unwatched behind a green board. The server
notices — not the worker, which may be unable to say anything — and opens one
`probe stale` incident per worker ("Site Khimki node not monitored since
21:16"), resolved when the worker posts again.

`note_batch` runs with every applied batch (one upsert); `check` on the
incident timer; `retire` when a worker is stopped on purpose (the embedded one
at server shutdown), so its silence is not a fault.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Iterable

from database.transactions import INTEGRITY_ERRORS, atomic, is_unique_violation
from database import rawsql
from incidents import services, workflow
from database.rawsql import Sql, as_time
from incidents.tables import Incident, ProbeSite

log = logging.getLogger("rackcard.incidents.probe_health")

#: A worker is stale after this many poll intervals (of the site's assets) without a batch.
DEFAULT_INTERVALS = 3
DEFAULT_INTERVAL_S = 60
MIN_INTERVAL_S = 5  # the probe protocol's floor (incidents.checks.probe_targets)
CATEGORY = "other"

_intervals = DEFAULT_INTERVALS


def configure(intervals: int) -> None:
    global _intervals
    _intervals = max(1, int(intervals))


def fingerprint(probe: str) -> str:
    return f"probe:{probe}:stale"


async def note_batch(probe: str, site_ids: Iterable[int], at: dt.datetime) -> None:
    """Record that `probe` posted observations of these sites at `at`."""
    rows = [(probe, s, at) for s in sorted({s for s in site_ids if s is not None})]
    await rawsql.insert("inc_probe_site", ("probe", "site_id", "last_at"), ("text", "int", "time"), rows,
                        "ON CONFLICT (probe, site_id) DO UPDATE SET last_at = excluded.last_at "
                        "WHERE inc_probe_site.last_at < excluded.last_at")


async def keep_sites(probe: str, site_ids: Iterable[int]) -> None:
    """`probe` polls only these sites now (its leases moved): its silence elsewhere is no fault."""
    q = Sql()
    await q.fetch(f"DELETE FROM inc_probe_site WHERE probe = {q(probe)} AND site_id NOT IN {q.ints(site_ids)}")


async def retire(probe: str) -> None:
    """A worker stopped on purpose: forget its sites (its silence is no fault)."""
    await ProbeSite.delete().where(ProbeSite.probe == probe)


async def _intervals_of(site_ids: set[int]) -> dict[int, int]:
    q = Sql()
    rows = await q.fetch(
        f"SELECT site, MAX(poll_interval_s) AS s FROM cmdb_asset WHERE site IN {q.ints(site_ids)} "
        "AND status = 'active' AND snmp_version IS NOT NULL AND mgmt_ip IS NOT NULL GROUP BY site")
    return {r["site"]: max(MIN_INTERVAL_S, r["s"] or DEFAULT_INTERVAL_S) for r in rows}


async def check(now: dt.datetime, intervals: int | None = None) -> dict:
    """Open a `probe stale` incident for each worker silent on a site for
    `intervals` poll intervals; resolve it once the worker posts again."""
    n = intervals or _intervals
    rows = [(r["probe"], r["site_id"], as_time(r["last_at"])) for r in await ProbeSite.select()]
    if not rows:
        return {"opened": 0, "resolved": 0}
    every = await _intervals_of({s for _, s, _ in rows})
    names = {r["id"]: r["name"] for r in await Sql().fetch("SELECT id, name FROM cmdb_site")}
    stale: dict[str, list[tuple[int, dt.datetime]]] = {}
    fresh_sites: set[int] = set()
    for probe, site, last in rows:
        if site not in every:
            continue  # nothing polled there any more
        if now - last > dt.timedelta(seconds=n * every[site]):
            stale.setdefault(probe, []).append((site, last))
        else:
            fresh_sites.add(site)
    opened = resolved = 0
    open_rows = {r["fingerprint"]: r for r in await Incident.select(Incident.id, Incident.fingerprint, Incident.status)
                 .where(Incident.fingerprint.like("probe:%:stale") & Incident.status.is_in(list(workflow.OPEN_STATUSES)))}
    for probe in sorted({p for p, _, _ in rows}):
        fp = fingerprint(probe)
        sites = sorted(stale.get(probe, ()), key=lambda x: x[1])
        if sites and fp not in open_rows:
            opened += await _open(probe, sites, names, fresh_sites, now)
        elif not sites and fp in open_rows:
            row = open_rows[fp]
            async with atomic():
                await services.set_status(row["id"], row["status"], workflow.RESOLVED, now,
                                          author=services.ENGINE_AUTHOR, reason=f"probe {probe} posts again",
                                          fields={"resolved_at": now, "self_healed": True})
            resolved += 1
    return {"opened": opened, "resolved": resolved}


async def _open(probe: str, sites: list[tuple[int, dt.datetime]], names: dict[int, str], fresh_sites: set[int],
                now: dt.datetime) -> int:
    since = sites[0][1]
    blind = [s for s, _ in sites if s not in fresh_sites]  # no other worker watches them
    label = ", ".join(names.get(s, f"site {s}") for s, _ in sites)
    title = (f"Site{'s' if len(sites) > 1 else ''} {label} not monitored since {since:%H:%M} UTC "
             f"— probe {probe} silent")
    lines = [f"{names.get(s, f'site {s}')}: last observations from {probe} at {last:%Y-%m-%d %H:%M:%S} UTC"
             for s, last in sites]
    if not blind:
        lines.append("another probe worker still reports these sites")
    lines.append("check the worker: its log, its spool's worker.status (a refused token says 'stale'), its host")
    try:
        async with atomic():
            incident_id = await services.store_incident(
                fingerprint=fingerprint(probe), title=title, category=CATEGORY, priority="P2" if blind else "P4",
                source="probe", at=now, description="\n".join(lines))
            await services.add_entry(incident_id, "event", f"opened: {title}", at=now,
                                     author=services.ENGINE_AUTHOR, data={"probe": probe,
                                                                          "sites": [s for s, _ in sites]})
            await services.enqueue(incident_id, "opened", now, public=False)
    except INTEGRITY_ERRORS as exc:  # another replica opened it first
        if not is_unique_violation(exc):
            raise
        return 0
    log.error("probe stale: %s", title)
    return 1
