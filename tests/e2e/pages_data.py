"""A small operator for the page tests, created through the API (so it is
validated and normalised as real data is): a remote node with a UPS and a
switch, a media converter chassis whose port serves a client, the client's
contacts, SLA plan, prefix and service."""

from __future__ import annotations

import datetime as dt

from accounts.viewer import Viewer
from incidents.checks import record_observations
from probes.wire import Observation, ObservationBatch

PROBE = Viewer(user_id=None, email="probe:test", role="probe", probe_name="test")


async def _post(api, path: str, body: dict) -> dict:
    response = await api.post(f"/api/v1/{path}", json=body)
    assert response.status_code == 201, (path, response.text)
    return response.json()


async def operator(api) -> dict:
    plan = await _post(api, "sla-plans", {"name": "Gold", "hours": "24x7", "timezone": "UTC",
                                          "response_minutes": {"P1": 15, "P2": 30, "P3": 60, "P4": 240},
                                          "resolution_minutes": {"P1": 240, "P2": 480, "P3": 1440, "P4": 2880}})
    romashka = await _post(api, "clients", {"code": "romashka", "name": "Romashka LLC", "contract_number": "D-2041",
                                            "sla_plan_id": plan["id"]})
    other = await _post(api, "clients", {"code": "vasilek", "name": "Vasilek JSC"})
    ivan = await _post(api, "contacts", {"client_id": romashka["id"], "name": "Ivan Petrov", "role": "admin",
                                         "email": "ivan@romashka.example", "phone": "+7 (495) 123-45-67"})
    await _post(api, "contacts", {"client_id": other["id"], "name": "Olga", "phone": "+7 916 000-11-22"})
    node = await _post(api, "sites", {"code": "KHM", "name": "Khimki node", "kind": "remote"})
    dc = await _post(api, "sites", {"code": "DC1", "name": "Moscow DC1", "kind": "datacenter"})
    ups = await _post(api, "assets", {"name": "ups-khm-1", "kind": "ups", "site_id": node["id"], "serial": "UPS-77"})
    switch = await _post(api, "assets", {"name": "sw-khm-1", "kind": "switch", "site_id": node["id"],
                                         "serial": "SW-88"})
    mc = await _post(api, "assets", {"name": "mc-khm-1", "kind": "media_converter", "site_id": node["id"],
                                     "serial": "MC-123456", "manufacturer": "Planet"})
    router = await _post(api, "assets", {"name": "rtr-romashka", "kind": "router", "site_id": dc["id"],
                                         "client_id": romashka["id"], "serial": "RTR-1"})
    copper = await _post(api, "interfaces", {"asset_id": mc["id"], "if_index": 2, "name": "slot_1_tp",
                                             "role": "copper", "client_id": romashka["id"]})
    fiber = await _post(api, "interfaces", {"asset_id": mc["id"], "if_index": 3, "name": "slot_1_fx",
                                            "role": "fiber", "client_id": romashka["id"]})
    await _post(api, "dependencies", {"asset_id": mc["id"], "depends_on_id": switch["id"], "kind": "uplink"})
    await _post(api, "dependencies", {"asset_id": mc["id"], "depends_on_id": ups["id"], "kind": "power"})
    await _post(api, "dependencies", {"asset_id": switch["id"], "depends_on_id": ups["id"], "kind": "power"})
    service = await _post(api, "services", {"client_id": romashka["id"], "site_id": node["id"], "kind": "internet",
                                            "bandwidth_mbps": 100, "asset_ids": [mc["id"], router["id"]]})
    prefix = await _post(api, "prefixes", {"prefix": "198.51.100.0/28", "client_id": romashka["id"]})
    await _post(api, "ip-addresses", {"address": "198.51.100.5", "client_id": romashka["id"]})
    return {"plan": plan, "client": romashka, "other": other, "contact": ivan, "node": node, "dc": dc, "ups": ups,
            "switch": switch, "mc": mc, "router": router, "copper": copper, "fiber": fiber, "service": service,
            "prefix": prefix}


async def observe(asset_id: int, key: str, state: str, *, message: str = "", source: str = "trap",
                  at: dt.datetime | None = None) -> dict:
    """What a probe worker would post (a trap confirms at once)."""
    at = at or dt.datetime.now(dt.timezone.utc)
    batch = ObservationBatch.new([Observation(asset_id=asset_id, key=key, state=state, observed_at=at.isoformat(),
                                              source=source, message=message)], probe="test")
    return await record_observations(batch, PROBE, now=at)


async def fiber_cut(data: dict) -> None:
    """The client's fiber port goes down while its copper side stays up: a fiber incident naming Romashka."""
    await observe(data["mc"]["id"], "link:2", "ok")
    await observe(data["mc"]["id"], "link:3", "critical", message="fiber link down")


async def switch_down_with_a_redundant_neighbour(api, data: dict) -> None:
    """Vasilek's converter at the node has two uplinks (sw-khm-1 and a second
    switch); sw-khm-1 stops answering: Romashka (one uplink) is down, Vasilek only at risk."""
    spare = await _post(api, "assets", {"name": "sw-khm-2", "kind": "switch", "site_id": data["node"]["id"]})
    mc = await _post(api, "assets", {"name": "mc-vasilek", "kind": "media_converter", "site_id": data["node"]["id"],
                                     "client_id": data["other"]["id"]})
    for uplink in (data["switch"], spare):
        await _post(api, "dependencies", {"asset_id": mc["id"], "depends_on_id": uplink["id"], "kind": "uplink"})
    await observe(data["switch"]["id"], "reachability", "critical", message="no answer")
    data.update(spare=spare, mc_other=mc)
