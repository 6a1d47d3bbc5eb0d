"""CMDB CRUD over HTTP: round trips, validation naming the field, 404, 409 on
references, pagination, secrets only for admins, audit rows, client users 403."""

from __future__ import annotations

import pytest

from accounts.tables import AuditLog
from cmdb.tables import Asset, Client


async def seed_site(api, name="DC One", kind="datacenter") -> dict:
    r = await api.post("/api/v1/sites", json={"name": name, "kind": kind, "address": "Moscow"})
    assert r.status_code == 201, r.text
    return r.json()


async def seed_client(api, code="ACME", name="Acme Ltd") -> dict:
    r = await api.post("/api/v1/clients", json={"code": code, "name": name, "contract_number": "C-1"})
    assert r.status_code == 201, r.text
    return r.json()


async def test_crud_round_trip_for_every_resource(api):
    site = await seed_site(api)
    client = await seed_client(api)
    rack = (await api.post("/api/v1/racks", json={"site_id": site["id"], "name": "R1", "client_id": client["id"]})).json()
    assert rack["height_u"] == 42 and rack["client_id"] == client["id"]
    asset = await api.post("/api/v1/assets", json={
        "name": "sw-core-1", "kind": "switch", "manufacturer": "Cisco", "serial": "FOC123", "site_id": site["id"],
        "rack_id": rack["id"], "position_u": 10, "height_u": 2, "client_id": client["id"], "mgmt_ip": "10.0.0.2",
    })
    assert asset.status_code == 201, asset.text
    asset = asset.json()
    bodies = {
        "contacts": {"client_id": client["id"], "name": "Ivan Petrov", "email": "Ivan@Acme.example", "phone": "+7 (495) 123-45-67"},
        "interfaces": {"asset_id": asset["id"], "if_index": 1, "name": "slot_1_fx", "role": "fiber"},
        "prefixes": {"prefix": "10.0.0.0/24", "client_id": client["id"], "site_id": site["id"]},
        "ip-addresses": {"address": "10.0.0.5/24", "client_id": client["id"], "asset_id": asset["id"]},
        "services": {"client_id": client["id"], "site_id": site["id"], "kind": "internet", "bandwidth_mbps": 100,
                     "asset_ids": [asset["id"]]},
    }
    for path, body in bodies.items():
        created = await api.post(f"/api/v1/{path}", json=body)
        assert created.status_code == 201, (path, created.text)
        item = created.json()
        fetched = (await api.get(f"/api/v1/{path}/{item['id']}")).json()
        assert fetched == item
        listed = (await api.get(f"/api/v1/{path}")).json()
        assert listed["count"] == 1 and listed["results"][0]["id"] == item["id"]
    contact = (await api.get("/api/v1/contacts")).json()["results"][0]
    assert contact["email"] == "ivan@acme.example"
    ip = (await api.get("/api/v1/ip-addresses")).json()["results"][0]
    assert (ip["address"], ip["prefix_len"], ip["family"]) == ("10.0.0.5", 24, 4)
    service = (await api.get("/api/v1/services")).json()["results"][0]
    assert service["asset_ids"] == [asset["id"]]
    prefix = (await api.get("/api/v1/prefixes")).json()["results"][0]
    assert prefix["utilisation"]["used"] == 1 and prefix["utilisation"]["size"] == 254

    # PATCH is partial, DELETE is 204 then 404
    patched = await api.patch(f"/api/v1/assets/{asset['id']}", json={"status": "spare"})
    assert patched.status_code == 200 and patched.json()["status"] == "spare"
    assert patched.json()["name"] == "sw-core-1" and patched.json()["position_u"] == 10
    service_patch = await api.patch(f"/api/v1/services/{service['id']}", json={"asset_ids": []})
    assert service_patch.json()["asset_ids"] == []
    assert (await api.delete(f"/api/v1/services/{service['id']}")).status_code == 204
    assert (await api.get(f"/api/v1/services/{service['id']}")).status_code == 404


async def test_unknown_id_is_404(api):
    for path in ("clients", "assets", "ip-addresses", "dependencies"):
        r = await api.get(f"/api/v1/{path}/999")
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("application/problem+json")
    assert (await api.patch("/api/v1/sites/999", json={"name": "x"})).status_code == 404
    assert (await api.delete("/api/v1/racks/999")).status_code == 404


async def test_validation_names_the_field_and_lists_choices(api):
    r = await api.post("/api/v1/sites", json={"name": "X", "kind": "moon"})
    assert r.status_code == 422
    body = r.json()
    assert body["errors"][0]["field"] == "kind"
    assert "datacenter, remote, client_premises" in body["detail"]
    r = await api.post("/api/v1/racks", json={"site_id": 99, "name": "R1"})
    assert r.status_code == 422 and "site_id: no site 99" in r.json()["detail"]
    r = await api.post("/api/v1/assets", json={"kind": "switch"})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"name", "site_id"}
    r = await api.post("/api/v1/clients", json={"code": "A", "name": "A", "colour": "red"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "colour"


async def test_uniqueness_conflicts_are_409(api):
    site = await seed_site(api)
    client = await seed_client(api)
    assert (await api.post("/api/v1/clients", json={"code": "acme", "name": "Other"})).status_code == 409
    assert (await api.post("/api/v1/sites", json={"name": "dc one", "kind": "remote"})).status_code == 409
    await api.post("/api/v1/racks", json={"site_id": site["id"], "name": "R1"})
    assert (await api.post("/api/v1/racks", json={"site_id": site["id"], "name": "r1"})).status_code == 409
    c = {"client_id": client["id"], "name": "A", "email": "a@acme.example"}
    assert (await api.post("/api/v1/contacts", json=c)).status_code == 201
    dup = await api.post("/api/v1/contacts", json={**c, "email": "A@ACME.example"})
    assert dup.status_code == 409 and dup.json()["errors"][0]["field"] == "email"
    a = {"name": "a", "kind": "server", "site_id": site["id"], "serial": "SN-1"}
    assert (await api.post("/api/v1/assets", json=a)).status_code == 201
    dup = await api.post("/api/v1/assets", json={**a, "name": "b", "serial": "sn-1"})
    assert dup.status_code == 409 and "already used by asset a" in dup.json()["detail"]
    # no serial twice is fine
    assert (await api.post("/api/v1/assets", json={**a, "name": "c", "serial": ""})).status_code == 201
    assert (await api.post("/api/v1/assets", json={**a, "name": "d", "serial": None})).status_code == 201


async def test_deleting_something_referenced_is_409_and_names_it(api):
    site = await seed_site(api)
    await api.post("/api/v1/assets", json={"name": "ups-1", "kind": "ups", "site_id": site["id"]})
    r = await api.delete(f"/api/v1/sites/{site['id']}")
    assert r.status_code == 409
    assert "ups-1" in r.json()["detail"]
    assert await Asset.count() == 1


async def test_rejected_request_changes_nothing(api):
    site = await seed_site(api)
    before = await AuditLog.count()
    r = await api.post("/api/v1/assets", json={"name": "x", "kind": "switch", "site_id": site["id"], "rack_id": 77, "position_u": 1})
    assert r.status_code == 422
    r = await api.post("/api/v1/services", json={"client_id": 1, "site_id": site["id"], "kind": "internet", "asset_ids": [5]})
    assert r.status_code == 422
    assert await Asset.count() == 0 and await AuditLog.count() == before


async def test_every_change_is_audited(api):
    site = await seed_site(api)
    await api.patch(f"/api/v1/sites/{site['id']}", json={"address": "Tver"})
    await api.delete(f"/api/v1/sites/{site['id']}")
    rows = await AuditLog.select(AuditLog.action, AuditLog.entity, AuditLog.entity_id).where(AuditLog.entity == "site").order_by(AuditLog.id)
    assert [r["action"] for r in rows] == ["create", "update", "delete"]
    assert {r["entity_id"] for r in rows} == {site["id"]}


async def test_snmp_secrets_are_write_only(api, client_as):
    site = await seed_site(api)
    r = await api.post("/api/v1/assets", json={"name": "mc-1", "kind": "media_converter", "site_id": site["id"],
                                               "snmp_version": "2c", "snmp_community": "s3cret"})
    assert r.status_code == 201 and "snmp_community" not in r.json() and r.json()["snmp_community_set"] is True
    engineer = await client_as("engineer")
    seen = (await engineer.get(f"/api/v1/assets/{r.json()['id']}")).json()
    assert "snmp_community" not in seen and seen["snmp_community_set"] is True
    listed = await engineer.get("/api/v1/assets")
    assert "s3cret" not in listed.text
    audit = await AuditLog.select(AuditLog.changes).where(AuditLog.entity == "asset")
    assert "s3cret" not in str(audit)
    bad = await api.post("/api/v1/assets", json={"name": "mc-2", "kind": "media_converter", "site_id": site["id"], "snmp_version": "2c"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "snmp_community"


async def test_client_user_gets_403(api, client_as):
    client = await seed_client(api)
    portal_user = await client_as("client", client["id"])
    for path in ("/api/v1/clients", f"/api/v1/clients/{client['id']}", f"/api/v1/clients/{client['id']}/card",
                 "/api/v1/search?q=acme"):
        assert (await portal_user.get(path)).status_code == 403, path
    assert (await portal_user.post("/api/v1/clients", json={"code": "X", "name": "X"})).status_code == 403
    assert await Client.count() == 1


async def test_pagination_and_filters(api):
    site = await seed_site(api)
    other = await seed_site(api, "Remote 7", "remote")
    for i in range(7):
        await api.post("/api/v1/assets", json={"name": f"mc-{i}", "kind": "media_converter", "site_id": site["id"]})
    await api.post("/api/v1/assets", json={"name": "ups-1", "kind": "ups", "site_id": other["id"]})
    page1 = (await api.get("/api/v1/assets?kind=media_converter&limit=3")).json()
    assert page1["count"] == 7 and len(page1["results"]) == 3 and page1["previous"] is None
    assert "kind=media_converter" in page1["next"] and "offset=3" in page1["next"]
    page3 = (await api.get(page1["next"].replace("offset=3", "offset=6"))).json()
    assert [a["name"] for a in page3["results"]] == ["mc-6"] and page3["next"] is None and page3["previous"]
    assert (await api.get(f"/api/v1/assets?site_id={other['id']}")).json()["count"] == 1
    assert (await api.get("/api/v1/assets?q=UPS")).json()["count"] == 1
    client = await seed_client(api, code="ZX9", name="Other Co")
    assert (await api.get("/api/v1/clients?q=zx9")).json()["results"][0]["id"] == client["id"]  # the code, any case
    assert (await api.get("/api/v1/assets?kind=ups,switch")).json()["count"] == 1
    assert (await api.get("/api/v1/assets?client_id=null")).json()["count"] == 8
    assert (await api.get("/api/v1/assets?limit=0")).status_code == 422
    bad = await api.get("/api/v1/assets?site=1")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "site"


@pytest.mark.parametrize("path", ["/api/v1/clients", "/api/v1/assets", "/api/v1/search"])
async def test_routes_are_in_openapi(http, path):
    schema = (await http.get("/schema/openapi.json")).json()
    assert path in schema["paths"]


async def test_openapi_documents_the_declared_fields(http):
    schema = (await http.get("/schema/openapi.json")).json()
    body = schema["paths"]["/api/v1/assets"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["required"]) == {"name", "kind", "site_id"}
    assert "switch" in body["properties"]["kind"]["enum"]
    page = schema["paths"]["/api/v1/assets"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert set(page["properties"]) == {"count", "next", "previous", "results"}
    assert "snmp_community_set" in page["properties"]["results"]["items"]["properties"]
    for path in ("/api/v1/prefixes/{item_id}/next-free-ip", "/api/v1/clients/{item_id}/card", "/api/v1/search"):
        assert path in schema["paths"], path


async def test_a_client_with_portal_users_is_not_deleted(api):
    from accounts.services import create_user

    created = await api.post("/api/v1/clients", json={"code": "PORTAL", "name": "Portal Ltd"})
    assert created.status_code == 201, created.text
    client_id = created.json()["id"]
    await create_user("boss@portal.test", "client", "a long enough password", client_id=client_id)
    refused = await api.delete(f"/api/v1/clients/{client_id}")
    assert refused.status_code == 409
    assert "portal user" in refused.json()["detail"] and "boss@portal.test" in refused.json()["detail"]
    assert (await api.get(f"/api/v1/clients/{client_id}")).status_code == 200
