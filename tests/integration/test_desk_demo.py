"""The support-desk demo: articles, replies and weeks of history seeded once
into an empty desk, so the reports, search and suggestions show something on
first start."""

from __future__ import annotations

import datetime as dt

from cmdb import demo
from incidents import desk_demo


async def test_desk_demo_seeds_once_and_the_report_shows_it(db, api):
    await demo.seed_demo()
    now = dt.datetime.now(dt.timezone.utc)
    first = await desk_demo.seed_desk_demo(now=now)
    assert first.seeded and first.articles == len(desk_demo.ARTICLES) and first.replies == len(desk_demo.REPLIES)
    assert first.incidents > 60
    assert not (await desk_demo.seed_desk_demo(now=now)).seeded  # not twice
    report = (await api.get("/api/v1/reports/kpi?from=" + (now - dt.timedelta(days=45)).date().isoformat()
                            + "&group_by=category")).json()
    totals = report["totals"]
    assert totals["incidents"] == first.incidents
    assert totals["auto_opened"] > 0 and totals["proactive_pct"] is not None
    assert totals["detection_to_first_call"]["n"] > 0
    assert totals["first_contact_resolution_pct"] is not None and totals["escalated"] > 0
    assert totals["time_to_resolve"]["business"]["n"] > 0
    assert report["backlog"]["open"] >= 3
    assert sum(r["incoming"] for r in report["series"]) == first.incidents
    # Russian search by an inflected word, and the fiber articles suggested on a fiber incident
    found = (await api.get("/api/v1/kb?q=медиаконвертеров&language=ru")).json()
    assert found["count"] >= 2
    fiber = (await api.get("/api/v1/incidents?category=fiber&limit=1")).json()["results"][0]
    suggested = (await api.get(f"/api/v1/incidents/{fiber['id']}/suggestions")).json()
    assert any("FX" in a["title"] for a in suggested["articles"][:3])
    assert any(r["category"] == "fiber" for r in suggested["replies"])
