"""The search box: phones in any format, serials, IPs (exact and via the
owning prefix), names; best match first."""

from __future__ import annotations

import pytest

from cmdb_seed import seed


@pytest.fixture
async def ids(db):
    return await seed()


async def _search(api, q):
    r = await api.get("/api/v1/search", params={"q": q})
    assert r.status_code == 200, r.text
    return r.json()["results"]


@pytest.mark.parametrize("phone", ["84951234567", "+7 (495) 123-45-67", "7 495 123 45 67", "123-45-67"])
async def test_finds_a_client_by_phone_in_another_format(api, ids, phone):
    results = await _search(api, phone)
    assert results[0]["type"] == "contact" and results[0]["label"] == "Ivan Petrov"
    assert results[0]["client_id"] == ids["acme"] and results[0]["client_name"] == "Acme Holdings"


async def test_finds_by_serial_any_case(api, ids):
    results = await _search(api, "foc1234x")
    assert (results[0]["type"], results[0]["id"], results[0]["client_id"]) == ("asset", ids["sw-acme-1"], ids["acme"])
    assert results[0]["matched"] == "serial"
    assert (await _search(api, "GLX"))[0]["id"] == ids["srv-globex"]


async def test_finds_an_ip_exactly(api, ids):
    results = await _search(api, "10.10.5.10")
    assert results[0]["type"] == "ip_address" and results[0]["client_id"] == ids["acme"]
    assert {(r["type"], r["id"]) for r in results} >= {("asset", ids["sw-acme-1"])}  # its management address


async def test_an_address_inside_a_clients_prefix_finds_that_client(api, ids):
    results = await _search(api, "10.10.5.77")
    assert (results[0]["type"], results[0]["id"]) == ("client", ids["acme"])
    prefixes = [r["label"] for r in results if r["type"] == "prefix"]
    assert prefixes == ["10.10.5.0/24", "10.10.0.0/16", "10.0.0.0/8"]  # most specific first
    assert (await _search(api, "10.20.0.200"))[0]["client_id"] == ids["globex"]
    unowned = await _search(api, "10.99.0.1")
    assert [r["label"] for r in unowned] == ["10.0.0.0/8"] and unowned[0]["client_id"] is None
    assert (await _search(api, "10.10.5.0/24"))[0]["label"] == "10.10.5.0/24"


async def test_names_rank_exact_then_prefix_then_word(api, ids):
    results = await _search(api, "acme")
    assert results[0]["type"] == "client" and results[0]["id"] == ids["acme"]
    assert {"ACME", "Acme Holdings"} >= {r["client_name"] for r in results if r["client_name"]}
    # assets (100,000 of them) match by name prefix through the index
    assert [r["label"] for r in await _search(api, "SW-ACME") if r["type"] == "asset"] == ["sw-acme-1"]
    assert (await _search(api, "ACME"))[0]["matched"] == "code"
    petrov = await _search(api, "petrov")
    assert petrov[0]["type"] == "contact" and petrov[0]["client_id"] == ids["acme"]
    assert (await _search(api, "holdings"))[0]["id"] == ids["acme"]
    assert (await _search(api, "ivan@acme"))[0]["matched"] == "email"
    assert (await _search(api, "remote node"))[0]["type"] == "site"
    r1 = await _search(api, "r1")
    assert r1[0]["type"] == "rack" and r1[0]["client_id"] == ids["acme"]
    assert await _search(api, "zzz-nothing") == []
    # nothing by the indexes: asset names are searched inside as a last resort
    assert [r["label"] for r in await _search(api, "globex")][:1] == ["Globex Corp"]
    assert [r["label"] for r in await _search(api, "remote-7")] == ["ups-remote-7"]
    assert await _search(api, "  ") == []


async def test_search_wildcards_are_literal(api, ids):
    assert await _search(api, "%") == []
    assert await _search(api, "_") == []
