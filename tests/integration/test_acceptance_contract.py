"""Acceptance (issues 2, 3, 4): the field names the issues declare as the public
contract are present in the API's responses, and the list filters they name
work. Scripts and later issues depend on these exact names."""

from __future__ import annotations

import datetime as dt

from probes.wire import Observation, ObservationBatch

CONTRACT = {
    "sites": {"name", "kind", "address"},
    "clients": {"code", "name", "contract_number", "status", "sla_plan_id"},
    "contacts": {"client_id", "name", "email", "phone", "role"},
    "racks": {"site_id", "name", "height_u", "client_id"},
    "assets": {"name", "kind", "manufacturer", "model", "serial", "site_id", "rack_id", "position_u", "height_u",
               "client_id", "mgmt_ip", "status", "snmp_version", "snmp_community_set", "snmp_port", "snmp_v3_user_set",
               "snmp_v3_auth_protocol", "snmp_v3_auth_key_set", "snmp_v3_priv_protocol", "snmp_v3_priv_key_set",
               "poll_interval_s"},  # SNMP secrets are write-only (issue 8): `<name>_set` says whether one is stored
    "interfaces": {"asset_id", "if_index", "name", "role", "client_id", "service_id"},
    "prefixes": {"prefix", "vrf", "client_id", "site_id", "description"},
    "ip-addresses": {"address", "vrf", "client_id", "asset_id", "description"},
    "services": {"client_id", "site_id", "kind", "bandwidth_mbps", "status", "asset_ids"},
    "dependencies": {"asset_id", "depends_on_id", "kind"},
}


async def _post(api, path, body) -> dict:
    r = await api.post(f"/api/v1/{path}", json=body)
    assert r.status_code == 201, (path, r.text)
    return r.json()


async def _seed_every_resource(api) -> dict[str, dict]:
    made: dict[str, dict] = {}
    made["sites"] = site = await _post(api, "sites", {"name": "DC One", "kind": "datacenter", "address": "Moscow"})
    made["clients"] = client = await _post(api, "clients", {"code": "ACME", "name": "Acme", "contract_number": "C-1"})
    made["contacts"] = await _post(api, "contacts", {"client_id": client["id"], "name": "Ivan", "email": "i@acme.test",
                                                     "phone": "+7 495 123-45-67", "role": "tech"})
    made["racks"] = rack = await _post(api, "racks", {"site_id": site["id"], "name": "R1", "client_id": client["id"]})
    made["assets"] = ups = await _post(api, "assets", {
        "name": "ups-1", "kind": "ups", "manufacturer": "APC", "model": "SRT", "serial": "AS1", "site_id": site["id"],
        "rack_id": rack["id"], "position_u": 1, "height_u": 2, "client_id": client["id"], "mgmt_ip": "10.0.0.2",
        "snmp_version": "3", "snmp_v3_user": "u", "snmp_v3_auth_protocol": "SHA", "snmp_v3_auth_key": "authkey123",
        "snmp_v3_priv_protocol": "AES", "snmp_v3_priv_key": "privkey123", "poll_interval_s": 60})
    mc = await _post(api, "assets", {"name": "mc-1", "kind": "media_converter", "site_id": site["id"],
                                      "client_id": client["id"]})
    made["services"] = service = await _post(api, "services", {"client_id": client["id"], "site_id": site["id"],
                                                               "kind": "internet", "bandwidth_mbps": 100,
                                                               "asset_ids": [mc["id"]]})
    made["interfaces"] = await _post(api, "interfaces", {"asset_id": mc["id"], "if_index": 2, "name": "fx", "role": "fiber",
                                                         "client_id": client["id"], "service_id": service["id"]})
    made["prefixes"] = await _post(api, "prefixes", {"prefix": "10.0.0.0/24", "vrf": "", "client_id": client["id"],
                                                     "site_id": site["id"], "description": "acme"})
    made["ip-addresses"] = await _post(api, "ip-addresses", {"address": "10.0.0.5", "client_id": client["id"],
                                                             "asset_id": mc["id"], "description": "gw"})
    made["dependencies"] = await _post(api, "dependencies", {"asset_id": mc["id"], "depends_on_id": ups["id"],
                                                             "kind": "power"})
    return made


async def test_every_resource_returns_the_contract_fields(api):
    made = await _seed_every_resource(api)
    for path, fields in CONTRACT.items():
        created = made[path]
        assert fields | {"id"} <= set(created), (path, sorted(fields - set(created)))
        fetched = (await api.get(f"/api/v1/{path}/{created['id']}")).json()
        assert fields | {"id"} <= set(fetched), (path, sorted(fields - set(fetched)))
        listed = (await api.get(f"/api/v1/{path}")).json()
        assert set(listed) == {"count", "next", "previous", "results"}, path
        assert fields <= set(listed["results"][0]), path


async def test_list_filters_by_client_site_kind_and_q(api):
    made = await _seed_every_resource(api)
    client_id, site_id = made["clients"]["id"], made["sites"]["id"]
    other = await _post(api, "clients", {"code": "OTHER", "name": "Other"})
    for path in ("contacts", "racks", "assets", "prefixes", "ip-addresses", "services"):
        mine = (await api.get(f"/api/v1/{path}", params={"client_id": client_id})).json()
        assert mine["count"] >= 1, path
        theirs = (await api.get(f"/api/v1/{path}", params={"client_id": other["id"]})).json()
        assert theirs["count"] == 0, path
    for path in ("racks", "assets", "prefixes", "services"):
        assert (await api.get(f"/api/v1/{path}", params={"site_id": site_id})).json()["count"] >= 1, path
        assert (await api.get(f"/api/v1/{path}", params={"site_id": site_id + 1000})).json()["count"] == 0, path
    for path, kind, none in (("sites", "datacenter", "remote"), ("assets", "ups", "router"),
                             ("services", "internet", "power"), ("dependencies", "power", "uplink")):
        assert (await api.get(f"/api/v1/{path}", params={"kind": kind})).json()["count"] >= 1, path
        assert (await api.get(f"/api/v1/{path}", params={"kind": none})).json()["count"] == 0, path
    assert (await api.get("/api/v1/assets", params={"q": "ups-1"})).json()["count"] == 1


async def test_checks_endpoint_returns_the_contract_fields(api):
    from accounts.services import create_token

    made = await _seed_every_resource(api)
    asset_id = made["assets"]["id"]
    probe_token = await create_token(probe="contract")
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    batch = ObservationBatch.new([Observation(asset_id=asset_id, key="power:source", state="critical",
                                              observed_at=now.isoformat(), source="trap", value="battery",
                                              message="on battery")], probe="contract")
    r = await api.post("/api/v1/probe/observations", json=batch.to_dict(),
                       headers={"Authorization": f"Bearer {probe_token}"})
    assert r.status_code == 200, r.text
    checks = (await api.get(f"/api/v1/assets/{asset_id}/checks")).json()
    assert isinstance(checks, list) and len(checks) == 1
    assert {"key", "state", "value", "message", "since", "last_observed_at", "source"} <= set(checks[0])
    assert (checks[0]["key"], checks[0]["state"], checks[0]["source"]) == ("power:source", "critical", "trap")
