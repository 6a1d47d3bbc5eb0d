"""Acceptance (issue 2, IP space): IPv6 works like IPv4 — the next free
address of an IPv6 prefix skips used ones, and searching an address inside a
client's IPv6 prefix finds that client."""

from __future__ import annotations


async def test_ipv6_next_free_and_search_finds_the_owning_client(api):
    client = (await api.post("/api/v1/clients", json={"code": "V6", "name": "Six Ltd"})).json()
    prefix = await api.post("/api/v1/prefixes", json={"prefix": "2001:db8:10::/64", "client_id": client["id"]})
    assert prefix.status_code == 201, prefix.text
    prefix = prefix.json()
    first = (await api.get(f"/api/v1/prefixes/{prefix['id']}/next-free-ip")).json()["address"]
    taken = await api.post("/api/v1/ip-addresses", json={"address": first, "client_id": client["id"]})
    assert taken.status_code == 201, taken.text
    second = (await api.get(f"/api/v1/prefixes/{prefix['id']}/next-free-ip")).json()["address"]
    assert second != first and second.startswith("2001:db8:10::")

    results = (await api.get("/api/v1/search", params={"q": "2001:db8:10:0:1:2:3:abcd"})).json()["results"]
    assert results and results[0]["client_id"] == client["id"] and results[0]["client_name"] == "Six Ltd"
    bad = await api.post("/api/v1/ip-addresses", json={"address": "2001:db8::g"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "address"
