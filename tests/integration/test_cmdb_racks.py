"""Rack placement: fit, no overlap (named occupant), race-proof on both engines,
units follow moves, resizes and deletes."""

from __future__ import annotations

import asyncio

from accounts.viewer import SYSTEM
from cmdb import services
from cmdb.tables import Asset, RackUnit


async def _rack(api, height=42):
    site = (await api.post("/api/v1/sites", json={"name": "DC One", "kind": "datacenter"})).json()
    rack = (await api.post("/api/v1/racks", json={"site_id": site["id"], "name": "R1", "height_u": height})).json()
    return site, rack


def _asset(site, rack, name, pos, height=1, **kw):
    return {"name": name, "kind": "switch", "site_id": site["id"], "rack_id": rack["id"], "position_u": pos, "height_u": height, **kw}


async def test_overlap_is_rejected_naming_the_occupant(api):
    site, rack = await _rack(api)
    assert (await api.post("/api/v1/assets", json=_asset(site, rack, "sw-core-1", 11, 2))).status_code == 201
    r = await api.post("/api/v1/assets", json=_asset(site, rack, "srv-1", 12, 4))
    assert r.status_code == 409
    assert r.json()["detail"] == "U12 is already occupied by sw-core-1"
    assert r.json()["errors"][0]["field"] == "position_u"
    assert await Asset.count() == 1
    # touching units are fine
    assert (await api.post("/api/v1/assets", json=_asset(site, rack, "srv-1", 13, 4))).status_code == 201


async def test_out_of_rack_placement_is_rejected(api):
    site, rack = await _rack(api, height=42)
    r = await api.post("/api/v1/assets", json=_asset(site, rack, "big", 40, 4))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "position_u"
    assert "U40-U43" in r.json()["detail"] and "U42" in r.json()["detail"]
    assert (await api.post("/api/v1/assets", json=_asset(site, rack, "zero", 0))).status_code == 422
    no_pos = await api.post("/api/v1/assets", json={**_asset(site, rack, "nopos", 1), "position_u": None})
    assert no_pos.status_code == 422 and no_pos.json()["errors"][0]["field"] == "position_u"
    other = (await api.post("/api/v1/sites", json={"name": "Remote", "kind": "remote"})).json()
    wrong_site = await api.post("/api/v1/assets", json={**_asset(site, rack, "far", 1), "site_id": other["id"]})
    assert wrong_site.status_code == 422 and wrong_site.json()["errors"][0]["field"] == "rack_id"
    assert await Asset.count() == 0 and await RackUnit.count() == 0
    assert (await api.post("/api/v1/assets", json=_asset(site, rack, "top", 39, 4))).status_code == 201


async def test_moving_resizing_and_deleting_update_the_units(api):
    site, rack = await _rack(api)
    a = (await api.post("/api/v1/assets", json=_asset(site, rack, "a", 1, 2))).json()
    b = (await api.post("/api/v1/assets", json=_asset(site, rack, "b", 5))).json()
    # a grows into b: refused, nothing changes
    r = await api.patch(f"/api/v1/assets/{a['id']}", json={"height_u": 5})
    assert r.status_code == 409 and "occupied by b" in r.json()["detail"]
    assert sorted(u["unit"] for u in await RackUnit.select(RackUnit.unit).where(RackUnit.asset == a["id"])) == [1, 2]
    # a moves up: its old units free up
    assert (await api.patch(f"/api/v1/assets/{a['id']}", json={"position_u": 10})).status_code == 200
    assert sorted(u["unit"] for u in await RackUnit.select(RackUnit.unit).where(RackUnit.asset == a["id"])) == [10, 11]
    assert (await api.post("/api/v1/assets", json=_asset(site, rack, "c", 1, 2))).status_code == 201
    # out of the rack entirely
    out = await api.patch(f"/api/v1/assets/{b['id']}", json={"rack_id": None})  # the position goes with the rack
    assert out.status_code == 200 and out.json()["position_u"] is None
    assert await RackUnit.count().where(RackUnit.asset == b["id"]) == 0
    # the rack cannot shrink below an occupied unit
    r = await api.patch(f"/api/v1/racks/{rack['id']}", json={"height_u": 10})
    assert r.status_code == 409 and "U11 is occupied by a" in r.json()["detail"]
    assert (await api.delete(f"/api/v1/assets/{a['id']}")).status_code == 204
    assert await RackUnit.count().where(RackUnit.asset == a["id"]) == 0
    assert (await api.patch(f"/api/v1/racks/{rack['id']}", json={"height_u": 10})).status_code == 200
    # a rack holding assets cannot be deleted
    assert (await api.delete(f"/api/v1/racks/{rack['id']}")).status_code == 409


async def test_20_concurrent_conflicting_placements_accept_exactly_one_over_http(api):
    site, rack = await _rack(api)
    responses = await asyncio.gather(
        *(api.post("/api/v1/assets", json=_asset(site, rack, f"sw-{i}", 10 + i % 3, 3)) for i in range(20))
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 19, [r.text for r in responses if r.status_code not in (201, 409)]
    winner = next(r.json() for r in responses if r.status_code == 201)
    for r in responses:
        if r.status_code == 409:
            assert f"already occupied by {winner['name']}" in r.json()["detail"]
    assert await Asset.count() == 1
    assert await RackUnit.count() == 3


async def test_20_concurrent_placements_through_the_service(db):
    site = await services.sites.create(SYSTEM, {"name": "DC", "kind": "datacenter"})
    rack = await services.racks.create(SYSTEM, {"site_id": site["id"], "name": "R9"})
    results = await asyncio.gather(
        *(services.assets.create(SYSTEM, _asset(site, rack, f"srv-{i}", 20 - i % 2, 2)) for i in range(20)),
        return_exceptions=True,
    )
    accepted = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if not isinstance(r, dict)]
    assert len(accepted) == 1, results
    assert all(getattr(e, "status", None) == 409 for e in refused), refused
    assert await RackUnit.count() == 2
