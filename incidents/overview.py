"""Read-only views of live check state for the pages: each site's health (the
board's site strip) and the current checks of a set of assets (the client card,
the incident page). One grouped query each, so a 5-second board refresh stays cheap."""

from __future__ import annotations

from piccolo.query.functions.aggregate import Count

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


async def site_health(viewer: Viewer) -> list[dict]:
    """Every site with the count of its checks per state and a colour: red (a critical
    check), amber (warning or unknown), green (all ok), grey (nothing watched)."""
    _staff(viewer)
    sites = await Site.select(Site.id, Site.code, Site.name, Site.kind)
    rows = await CheckState.select(
        CheckState.asset.site.as_alias("site_id"), CheckState.state, Count(CheckState.id, alias="n")
    ).group_by(CheckState.asset.site, CheckState.state)
    counts: dict[int, dict[str, int]] = {}
    for r in rows:
        counts.setdefault(r["site_id"], {})[r["state"]] = r["n"]
    out = []
    for s in sites:
        by_state = counts.get(s["id"], {})
        worst = max((st for st, n in by_state.items() if n), key=lambda st: SEVERITY.get(st, 2), default=None)
        out.append({**s, "counts": by_state, "worst": worst, "health": HEALTH.get(worst or "", "grey"),
                    "problems": sum(n for st, n in by_state.items() if st != "ok")})
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
