"""Probe workers share targets by lease.

Each worker (its identity: the probe token's name and the worker id it sends
in `X-Probe-Worker`) asks for targets; it gets a lease on its fair share of
its scope's assets (a site code, or every site): the scope's assets over the
workers alive in that scope. `lease_s` (RACKCARD_PROBE_LEASE_S) is the promise:
a dead worker's assets move within it. A lease is granted for three quarters
of it and renewed each time the worker fetches targets (it does every quarter)
or posts observations; a worker holding more than
its share (another worker joined) gives the rest back, a dead worker's leases
lapse and the others pick them up on their next fetch. So each asset is polled
by exactly one worker, and a dead worker's assets move within `lease_s`.

The claim runs in one write transaction: `SELECT ... FOR UPDATE SKIP LOCKED`
on PostgreSQL (two workers claiming at once take different rows), `BEGIN
IMMEDIATE` on SQLite (claims queue). A token whose workers no longer hold any
asset of a site forgets that site in incidents.probe_health (its silence
there is no stale probe).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Mapping

from database.transactions import atomic
from accounts.errors import Invalid
from accounts.viewer import Viewer
from incidents import probe_health
from database.rawsql import Sql, insert
from probes.wire import LEASE_HEADER, WORKER_HEADER, WORKER_ID_CHARS, utcnow  # noqa: F401 (re-exported)

MAX_HOLDER = 100
_WORKER_ID = re.compile(f"[{WORKER_ID_CHARS}]{{1,60}}")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

_lease_s = 90.0
#: The part of lease_s a lease is granted for: the rest is the others' next fetch (every lease_s / 4).
GRANTED = 0.75


def configure(lease_s: float) -> None:
    """How long a lease runs unrenewed (RACKCARD_PROBE_LEASE_S)."""
    global _lease_s
    if lease_s <= 0:
        raise ValueError("the probe lease must be positive")
    _lease_s = float(lease_s)


def lease_seconds() -> float:
    return _lease_s


def holder_of(viewer: Viewer, worker_id: str | None) -> str:
    """A worker's identity: its token's name, and the worker id it sent (one token, many workers)."""
    name = viewer.probe_name or viewer.email or "probe"
    if not worker_id:
        return name[:MAX_HOLDER]
    if not _WORKER_ID.fullmatch(worker_id):
        raise Invalid("the worker id is 1 to 60 letters, digits or ._@:/+-", field=WORKER_HEADER)
    return f"{name}/{worker_id}"[:MAX_HOLDER]


async def lease(viewer: Viewer, worker_id: str | None, scope: str, assets: Mapping[int, str | None],
                now: dt.datetime | None = None) -> set[int]:
    """The assets (id -> site code: the scope's targets) this worker holds now: its
    leases renewed, its excess given back, free or lapsed ones claimed up to its share.

    A site's own workers (scope = that site) come first there: workers of every
    site (scope "") share only the sites no live site worker covers, and a site
    worker takes its site's assets from them."""
    holder = holder_of(viewer, worker_id)
    now = now or utcnow()
    until = now + dt.timedelta(seconds=_lease_s * GRANTED)
    async with atomic():
        q = Sql()
        await q.fetch(
            "INSERT INTO inc_probe_holder (holder, scope, expires_at) "
            f"VALUES ({q(holder)}, {q(scope)}, {q(until)}) ON CONFLICT (holder) DO UPDATE "
            "SET scope = excluded.scope, expires_at = excluded.expires_at")
        covered: set[str] = set()
        if not scope:
            q = Sql()
            covered = {r[0] for r in await q.fetch(
                f"SELECT DISTINCT scope FROM inc_probe_holder WHERE scope <> '' AND expires_at > {q(now)}")}
        ids = sorted(a for a, site in assets.items() if site not in covered)
        q = Sql()
        live = (await q.fetch(f"SELECT COUNT(*) FROM inc_probe_holder WHERE scope = {q(scope)} "
                              f"AND expires_at > {q(now)}"))[0][0]
        share = math.ceil(len(ids) / max(1, live))
        q = Sql()
        rows = await q.fetch(f"SELECT asset, holder FROM inc_probe_lease WHERE asset IN {q.ints(ids)}")
        known = {r[0] for r in rows}
        held = sorted(r[0] for r in rows if r[1] == holder)
        keep, drop = held[:share], held[share:]
        q = Sql()
        # Given back: the excess, and whatever it held outside this scope (removed assets, another scope).
        await q.fetch(f"UPDATE inc_probe_lease SET holder = '', expires_at = {q(now)} WHERE holder = {q(holder)} "
                      f"AND (asset IN {q.ints(drop)} OR asset NOT IN {q.ints(ids)})")
        if keep:
            q = Sql()
            await q.fetch(f"UPDATE inc_probe_lease SET expires_at = {q(until)} "
                          f"WHERE holder = {q(holder)} AND asset IN {q.ints(keep)}")
        await insert("inc_probe_lease", ("asset", "holder", "expires_at"), ("int", "text", "time"),
                     [(a, "", _EPOCH) for a in ids if a not in known], "ON CONFLICT (asset) DO NOTHING")
        claimed: list[int] = []
        want = share - len(keep)
        if want > 0:
            q = Sql()
            lock = "" if q.sqlite else " FOR UPDATE SKIP LOCKED"
            free = [r[0] for r in await q.fetch(
                f"SELECT asset FROM inc_probe_lease WHERE asset IN {q.ints(ids)} AND {_claimable(q, scope, now)} "
                f"ORDER BY asset LIMIT {int(want)}{lock}")]
            if free:
                q = Sql()
                claimed = [r[0] for r in await q.fetch(
                    f"UPDATE inc_probe_lease SET holder = {q(holder)}, expires_at = {q(until)} "
                    f"WHERE asset IN {q.ints(free)} AND {_claimable(q, scope, now)} RETURNING asset")]
        if viewer.probe_name:
            await _forget_sites_gone(viewer.probe_name, now)
    return set(keep) | set(claimed)


def _claimable(q: Sql, scope: str, now: dt.datetime) -> str:
    """A lease that lapsed; for a site's own worker also one that a worker of every site holds."""
    steal = " OR holder IN (SELECT holder FROM inc_probe_holder WHERE scope = '')" if scope else ""
    return f"(expires_at <= {q(now)}{steal})"


async def _forget_sites_gone(probe: str, now: dt.datetime) -> None:
    """A site whose assets all moved to workers of other tokens is not this token's
    to watch: its silence there must not read as a stale probe (incidents.probe_health)."""
    q = Sql()
    rows = await q.fetch(
        "SELECT DISTINCT a.site FROM inc_probe_lease l JOIN cmdb_asset a ON a.id = l.asset "
        f"WHERE (l.holder = {q(probe)} OR substr(l.holder, 1, {q(len(probe) + 1)}) = {q(probe + '/')}) "
        f"AND l.expires_at > {q(now)}")
    await probe_health.keep_sites(probe, [r[0] for r in rows if r[0] is not None])


async def renew(viewer: Viewer, worker_id: str | None, now: dt.datetime | None = None) -> None:
    """A worker that posts is alive: its presence and leases run another lease time.
    Its lease rows are rewritten only once half their time has gone (a worker of
    thousands of assets posting every second would otherwise rewrite them all each time)."""
    if not viewer.is_probe:
        return
    holder = holder_of(viewer, worker_id)
    now = now or utcnow()
    granted = dt.timedelta(seconds=_lease_s * GRANTED)
    async with atomic():
        q = Sql()
        await q.fetch(f"UPDATE inc_probe_holder SET expires_at = {q(now + granted)} WHERE holder = {q(holder)}")
        q = Sql()
        await q.fetch(f"UPDATE inc_probe_lease SET expires_at = {q(now + granted)} WHERE holder = {q(holder)} "
                      f"AND expires_at < {q(now + granted / 2)}")


async def holders(now: dt.datetime | None = None) -> dict[str, int]:
    """Live leases by holder (for /metrics)."""
    q = Sql()
    rows = await q.fetch(f"SELECT holder, COUNT(*) FROM inc_probe_lease WHERE holder <> '' "
                         f"AND expires_at > {q(now or utcnow())} GROUP BY holder")
    return {r[0]: int(r[1]) for r in rows}
