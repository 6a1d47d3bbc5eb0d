"""Read-only views of live check state for the pages: each site's health (the
board's site strip) and the current checks of a set of assets (the client card,
the incident page). One grouped query each, so a 5-second board refresh stays cheap."""

from __future__ import annotations

from accounts.viewer import Viewer
from accounts.errors import Forbidden
from cmdb.tables import Site
from incidents.tables import CheckState

#: Worst first: a site is as bad as its worst check.
SEVERITY = {"critical": 3, "unknown": 2, "warning": 1, "ok": 0}
#: How a site's worst check colours it on the board.
HEALTH = {"critical": "red", "unknown": "amber", "warning": "amber", "ok": "green"}
#: Remote sites first (power and fiber at intermediate nodes are most of the trouble), then data centers.
SITE_KIND_ORDER = {"remote": 0, "datacenter": 1, "client_premises": 2}


def _staff(viewer: Viewer) -> None:
    if not viewer.is_staff:
        raise Forbidden("live check state is for staff")


#: Problem checks per site and state: only rows that are not OK are read (a partial index,
#: inc_check_state_problem_ix, holds just those) and grouped
#: (a healthy network has few), so the board's 5-second refresh stays cheap with 100,000 assets.
_PROBLEMS_BY_SITE = (
    "SELECT a.site AS site_id, c.state AS state, COUNT(*) AS n FROM inc_check_state c "
    "JOIN cmdb_asset a ON a.id = c.asset WHERE c.state <> 'ok' GROUP BY a.site, c.state"
)
#: Sites with at least one watched check: one index probe per site, stopping at the first.
_WATCHED_SITES = (
    "SELECT s.id AS site_id FROM cmdb_site s WHERE EXISTS ("
    "SELECT 1 FROM cmdb_asset a JOIN inc_check_state c ON c.asset = a.id WHERE a.site = s.id)"
)


async def site_health(viewer: Viewer) -> list[dict]:
    """Every site with the count of its checks that are not OK, per state, and a colour:
    red (a critical check), amber (warning or unknown), green (all ok), grey (nothing watched)."""
    _staff(viewer)
    sites = await Site.select(Site.id, Site.code, Site.name, Site.kind)
    counts: dict[int, dict[str, int]] = {}
    for r in await CheckState.raw(_PROBLEMS_BY_SITE):
        counts.setdefault(r["site_id"], {})[r["state"]] = int(r["n"])
    watched = {r["site_id"] for r in await CheckState.raw(_WATCHED_SITES)}
    out = []
    for s in sites:
        by_state = counts.get(s["id"], {})
        worst = max(by_state, key=lambda st: SEVERITY.get(st, 2), default="ok" if s["id"] in watched else None)
        out.append({**s, "counts": by_state, "worst": worst, "health": HEALTH.get(worst or "", "grey"),
                    "problems": sum(by_state.values())})
    out.sort(key=lambda s: (SITE_KIND_ORDER.get(s["kind"], 9), -SEVERITY.get(s["worst"] or "ok", 0), s["code"]))
    return out


async def check_states(viewer: Viewer, asset_ids: list[int]) -> dict[int, list[dict]]:
    """The current checks of these assets, worst first: {asset_id: [{key, state, value, message, since}]}."""
    _staff(viewer)
    found: dict[int, list[dict]] = {i: [] for i in asset_ids}
    if not asset_ids:
        return found
    for r in await CheckState.select(
        CheckState.asset, CheckState.key, CheckState.state, CheckState.value, CheckState.message, CheckState.since
    ).where(CheckState.asset.is_in(sorted(set(asset_ids)))):
        found[r["asset"]].append({k: r[k] for k in ("key", "state", "value", "message", "since")})
    for checks in found.values():
        checks.sort(key=lambda c: (-SEVERITY.get(c["state"], 2), c["key"]))
    return found


def worst_state(checks: list[dict]) -> str | None:
    return max((c["state"] for c in checks), key=lambda st: SEVERITY.get(st, 2), default=None)
