"""Acceptance (issue 2): uniqueness rules hold in the database too. With the
domain's uniqueness check out of the way (as when concurrent requests all pass
it before any of them writes), the same address in one VRF, the same client
code or the same serial posted ten times ends with exactly one accepted and the
rest 409 (never a 500, never a duplicate), on both engines."""

from __future__ import annotations

import asyncio

from cmdb.tables import Asset, Client, IPAddress


async def _at_once(api, path: str, bodies: list[dict]) -> list[int]:
    responses = await asyncio.gather(*(api.post(path, json=b) for b in bodies))
    return sorted(r.status_code for r in responses)


async def test_duplicates_past_the_domain_check_are_stopped_by_the_database(api, monkeypatch):
    from cmdb.resources import ResourceService

    async def passes(self, ctx):  # every request "saw" no holder, as in a race
        return None

    monkeypatch.setattr(ResourceService, "_check_unique", passes)
    site = (await api.post("/api/v1/sites", json={"name": "DC One", "kind": "datacenter"})).json()

    codes = await _at_once(api, "/api/v1/clients", [{"code": "ACME", "name": f"Acme {i}"} for i in range(10)])
    assert codes == [201] + [409] * 9
    assert await Client.count() == 1

    codes = await _at_once(api, "/api/v1/ip-addresses", [{"address": "10.0.0.5", "vrf": "blue"} for _ in range(10)])
    assert codes == [201] + [409] * 9
    assert await IPAddress.count() == 1

    codes = await _at_once(api, "/api/v1/assets", [{"name": f"sw-{i}", "kind": "switch", "site_id": site["id"],
                                                    "serial": "FOC123"} for i in range(10)])
    assert codes == [201] + [409] * 9
    assert await Asset.count() == 1
