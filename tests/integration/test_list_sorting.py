"""Lists sort by any plain field (API ?sort=, the list pages too) and export
only what the list's filters keep (both engines)."""

from __future__ import annotations

from cmdb_seed import seed

from accounts.viewer import SYSTEM
from cmdb.csvio import export_csv


async def test_sort_by_a_field_either_way_and_refuse_an_unknown_one(db, api):
    await seed()
    up = (await api.get("/api/v1/assets", params={"sort": "name"})).json()["results"]
    down = (await api.get("/api/v1/assets", params={"sort": "-name", "kind": "server,switch"})).json()["results"]
    names = [a["name"] for a in up]
    assert names == sorted(names)
    assert [a["name"] for a in down] == ["sw-acme-1", "srv-globex", "srv-acme-1", "core-sw"]
    bad = await api.get("/api/v1/assets", params={"sort": "snmp_community"})  # a secret is no sort key
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "sort"


async def test_export_keeps_the_lists_filters(db):
    ids = await seed()
    text = "".join([part async for part in export_csv("assets", SYSTEM, {"site_id": str(ids["remote"])})])
    lines = text.strip().splitlines()
    assert len(lines) == 4  # header + the three assets of the remote site
    assert all("Remote Node 7" in line or "REMOTE" in line.upper() for line in lines[1:])
