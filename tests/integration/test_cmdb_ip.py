"""IP space: uniqueness per VRF, canonical forms, next free address, utilisation."""

from __future__ import annotations

from cmdb.tables import IPAddress, Prefix


async def test_duplicate_ip_in_one_vrf_is_rejected_and_two_vrfs_are_fine(api):
    assert (await api.post("/api/v1/ip-addresses", json={"address": "10.0.0.5"})).status_code == 201
    dup = await api.post("/api/v1/ip-addresses", json={"address": "10.0.0.5/24"})
    assert dup.status_code == 409 and dup.json()["errors"][0]["field"] == "address"
    assert (await api.post("/api/v1/ip-addresses", json={"address": "10.0.0.5", "vrf": "cust-a"})).status_code == 201
    assert (await api.post("/api/v1/ip-addresses", json={"address": "10.0.0.5", "vrf": "cust-b"})).status_code == 201
    assert (await api.post("/api/v1/ip-addresses", json={"address": "2001:db8::5"})).status_code == 201
    assert (await api.post("/api/v1/ip-addresses", json={"address": "2001:DB8:0::5"})).status_code == 409
    assert await IPAddress.count() == 4
    assert (await api.get("/api/v1/ip-addresses?vrf=cust-a")).json()["count"] == 1
    assert (await api.get("/api/v1/ip-addresses?family=6")).json()["results"][0]["address"] == "2001:db8::5"


async def test_invalid_address_is_422_naming_the_field(api):
    for bad in ("10.0.0.256", "not-an-ip", "10.0.0.1/40", ""):
        r = await api.post("/api/v1/ip-addresses", json={"address": bad})
        assert r.status_code == 422, bad
        assert r.json()["errors"][0]["field"] == "address"
    r = await api.post("/api/v1/prefixes", json={"prefix": "10.0.0.7/24"})
    assert r.status_code == 422 and "10.0.0.0/24" in r.json()["detail"]
    site = (await api.post("/api/v1/sites", json={"name": "S", "kind": "remote"})).json()
    r = await api.post("/api/v1/assets", json={"name": "x", "kind": "router", "site_id": site["id"], "mgmt_ip": "300.1.1.1"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "mgmt_ip"
    assert await IPAddress.count() == 0 and await Prefix.count() == 0


async def test_prefix_is_canonical_and_unique_per_vrf(api):
    r = await api.post("/api/v1/prefixes", json={"prefix": "2001:0DB8::/32"})
    assert r.status_code == 201 and r.json()["prefix"] == "2001:db8::/32" and r.json()["family"] == 6
    assert (await api.post("/api/v1/prefixes", json={"prefix": "2001:db8::/32"})).status_code == 409
    assert (await api.post("/api/v1/prefixes", json={"prefix": "2001:db8::/32", "vrf": "x"})).status_code == 201


async def test_next_free_ip_skips_used_ones_and_is_409_when_full(api):
    prefix = (await api.post("/api/v1/prefixes", json={"prefix": "192.0.2.0/29"})).json()
    for last in (1, 2, 4):
        await api.post("/api/v1/ip-addresses", json={"address": f"192.0.2.{last}"})
    await api.post("/api/v1/ip-addresses", json={"address": "192.0.2.3", "vrf": "other"})  # another VRF: not used here
    r = await api.get(f"/api/v1/prefixes/{prefix['id']}/next-free-ip")
    assert r.status_code == 200 and r.json()["address"] == "192.0.2.3"
    for last in (3, 5, 6):
        await api.post("/api/v1/ip-addresses", json={"address": f"192.0.2.{last}"})
    full = await api.get(f"/api/v1/prefixes/{prefix['id']}/next-free-ip")
    assert full.status_code == 409
    assert (await api.get(f"/api/v1/prefixes/{prefix['id']}")).json()["utilisation"] == {
        "size": 6, "used": 6, "free": 0, "percent": 100.0
    }
    assert (await api.get("/api/v1/prefixes/999/next-free-ip")).status_code == 404


async def test_next_free_ip_looks_past_a_full_batch(api, monkeypatch):
    from cmdb import services

    monkeypatch.setattr(services, "NEXT_FREE_BATCH", 4)
    prefix = (await api.post("/api/v1/prefixes", json={"prefix": "10.9.0.0/24"})).json()
    for last in range(1, 11):
        await api.post("/api/v1/ip-addresses", json={"address": f"10.9.0.{last}"})
    r = await api.get(f"/api/v1/prefixes/{prefix['id']}/next-free-ip")
    assert r.json()["address"] == "10.9.0.11"
