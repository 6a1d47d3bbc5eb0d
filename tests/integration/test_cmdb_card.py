"""The client card: all its parts for a seeded client, nothing of other clients."""

from __future__ import annotations

import json

import pytest

from cmdb_seed import seed


@pytest.fixture
async def ids(db):
    return await seed()


async def test_card_returns_all_parts(api, ids):
    r = await api.get(f"/api/v1/clients/{ids['acme']}/card")
    assert r.status_code == 200, r.text
    card = r.json()
    assert card["client"]["code"] == "ACME" and card["client"]["notes"] == "pays late"
    assert [c["name"] for c in card["contacts"]] == ["Ivan Petrov"]
    assert [i["address"] for i in card["ip_addresses"]] == ["10.10.5.10", "10.10.5.11"]
    assert [p["prefix"] for p in card["prefixes"]] == ["10.10.0.0/16", "10.10.5.0/24"]
    assert card["prefixes"][1]["utilisation"]["used"] == 2
    groups = {g["site_name"]: [s["kind"] for s in g["services"]] for g in card["services_by_site"]}
    assert groups == {"DC One": ["internet"], "Remote Node 7": ["l2_channel"]}
    racks = {r["name"]: r for r in card["racks"]}
    assert racks["R1"]["leased"] and racks["R1"]["holds_assets"]
    assert not racks["R2"]["leased"] and racks["R2"]["holds_assets"] and racks["R2"]["units_used_by_client"] == 2
    assets = card["assets"]
    assert assets["count"] == 3
    assert assets["by_kind"] == {"switch": 1, "server": 1, "media_converter": 1}
    assert assets["by_manufacturer"] == {"Cisco": 1, "Dell": 1, "Planet": 1}
    assert {a["name"] for a in assets["items"]} == {"sw-acme-1", "srv-acme-1", "mc-acme"}
    upstream = {a["name"] for a in card["dependencies"]["upstream_assets"]}
    assert upstream == {"ups-remote-7", "core-sw", "pdu-dc"}  # pdu-dc feeds core-sw: two hops up
    edges = {(e["asset_name"], e["depends_on_name"], e["kind"]) for e in card["dependencies"]["edges"]}
    assert ("mc-acme", "ups-remote-7", "power") in edges and ("core-sw", "pdu-dc", "power") in edges


async def test_card_excludes_other_clients_data(api, ids):
    text = json.dumps((await api.get(f"/api/v1/clients/{ids['acme']}/card")).json()).lower()
    for foreign in ("globex", "olga", "glx-99", "srv-globex", "mc-globex", "10.20.0", "colocation"):
        assert foreign not in text, foreign


async def test_card_hides_snmp_secrets_from_non_admins_and_404s(api, client_as, ids):
    engineer = await client_as("engineer")
    text = (await engineer.get(f"/api/v1/clients/{ids['acme']}/card")).text
    assert "s3cret" not in text
    assert (await api.get("/api/v1/clients/999/card")).status_code == 404


async def test_card_sections_are_extensible(api, ids, monkeypatch):
    from rackcard import composed

    async def extra(viewer, client_id):
        return {"open_incidents": [], "seen_client": client_id}

    monkeypatch.setattr(composed, "CARD_SECTIONS", [*composed.CARD_SECTIONS, extra])
    card = (await api.get(f"/api/v1/clients/{ids['acme']}/card")).json()
    assert card["seen_client"] == ids["acme"] and card["open_incidents"] == [] and card["contacts"]


async def test_dependency_rules(api, ids):
    def dep(a, b, kind="uplink"):
        return api.post("/api/v1/dependencies", json={"asset_id": ids[a], "depends_on_id": ids[b], "kind": kind})

    r = await dep("core-sw", "core-sw")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "depends_on_id"
    r = await dep("pdu-dc", "mc-acme")
    assert r.status_code == 409
    assert "pdu-dc -> mc-acme -> core-sw -> pdu-dc" in r.json()["detail"]
    assert (await dep("mc-acme", "core-sw")).status_code == 409  # the same edge twice
    r = await dep("mc-acme", "core-sw", kind="fiber")
    assert r.status_code == 422 and "power, uplink" in r.json()["detail"]
    assert (await dep("srv-acme-1", "pdu-dc", kind="power")).status_code == 201
    listed = (await api.get(f"/api/v1/dependencies?asset_id={ids['mc-acme']}")).json()
    assert listed["count"] == 2


async def test_two_concurrent_edges_closing_a_cycle_accept_one(ids):
    import asyncio

    from accounts.viewer import SYSTEM
    from cmdb import services

    a, b = ids["srv-acme-1"], ids["srv-globex"]
    results = await asyncio.gather(
        services.dependencies.create(SYSTEM, {"asset_id": a, "depends_on_id": b, "kind": "uplink"}),
        services.dependencies.create(SYSTEM, {"asset_id": b, "depends_on_id": a, "kind": "power"}),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "dict"], results


async def test_client_id_by_code(ids):
    import pytest as _pytest

    from accounts.errors import NotFound
    from cmdb.services import client_id_by_code

    assert await client_id_by_code(" acme ") == ids["acme"]
    with _pytest.raises(NotFound):
        await client_id_by_code("NOPE")
