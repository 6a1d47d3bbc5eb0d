"""A small operator for the CMDB tests: two clients sharing a data center and
a remote site, with everything a client card shows."""

from __future__ import annotations

from accounts.viewer import SYSTEM
from cmdb import services as s


async def seed() -> dict:
    ids: dict = {}
    dc = await s.sites.create(SYSTEM, {"name": "DC One", "code": "DC1", "kind": "datacenter"})
    remote = await s.sites.create(SYSTEM, {"name": "Remote Node 7", "kind": "remote"})
    acme = await s.clients.create(SYSTEM, {"code": "ACME", "name": "Acme Holdings", "notes": "pays late"})
    globex = await s.clients.create(SYSTEM, {"code": "GLOBEX", "name": "Globex Corp"})
    ids.update(dc=dc["id"], remote=remote["id"], acme=acme["id"], globex=globex["id"])
    await s.contacts.create(SYSTEM, {"client_id": acme["id"], "name": "Ivan Petrov", "email": "ivan@acme.example",
                                     "phone": "+7 (495) 123-45-67", "role": "CTO"})
    await s.contacts.create(SYSTEM, {"client_id": globex["id"], "name": "Olga Smirnova", "email": "olga@globex.example",
                                     "phone": "8 812 000-00-00"})
    r1 = await s.racks.create(SYSTEM, {"site_id": dc["id"], "name": "R1", "client_id": acme["id"]})
    r2 = await s.racks.create(SYSTEM, {"site_id": dc["id"], "name": "R2"})
    ids.update(r1=r1["id"], r2=r2["id"])

    async def asset(name, kind, site, client=None, **kw):
        row = await s.assets.create(SYSTEM, {"name": name, "kind": kind, "site_id": site, "client_id": client, **kw})
        ids[name] = row["id"]
        return row

    await asset("sw-acme-1", "switch", dc["id"], acme["id"], manufacturer="Cisco", serial="FOC1234X",
                rack_id=r1["id"], position_u=10, mgmt_ip="10.10.5.10")
    await asset("srv-acme-1", "server", dc["id"], acme["id"], manufacturer="Dell", rack_id=r2["id"], position_u=1, height_u=2)
    await asset("mc-acme", "media_converter", remote["id"], acme["id"], manufacturer="Planet")
    await asset("srv-globex", "server", dc["id"], globex["id"], manufacturer="HP", serial="GLX-99",
                rack_id=r2["id"], position_u=5)
    await asset("mc-globex", "media_converter", remote["id"], globex["id"], manufacturer="Planet")
    await asset("ups-remote-7", "ups", remote["id"], manufacturer="APC", snmp_version="2c", snmp_community="s3cret")
    await asset("core-sw", "switch", dc["id"], manufacturer="Juniper")
    await asset("pdu-dc", "pdu", dc["id"], manufacturer="APC")
    for a, b, kind in (("mc-acme", "ups-remote-7", "power"), ("mc-acme", "core-sw", "uplink"),
                       ("mc-globex", "ups-remote-7", "power"), ("core-sw", "pdu-dc", "power")):
        await s.dependencies.create(SYSTEM, {"asset_id": ids[a], "depends_on_id": ids[b], "kind": kind})
    for prefix, client in (("10.10.0.0/16", acme), ("10.10.5.0/24", acme), ("10.20.0.0/24", globex), ("10.0.0.0/8", None)):
        await s.prefixes.create(SYSTEM, {"prefix": prefix, "client_id": client and client["id"]})
    await s.ip_addresses.create(SYSTEM, {"address": "10.10.5.10/24", "client_id": acme["id"], "asset_id": ids["sw-acme-1"]})
    await s.ip_addresses.create(SYSTEM, {"address": "10.20.0.7", "client_id": globex["id"], "asset_id": ids["srv-globex"]})
    await s.ip_addresses.create(SYSTEM, {"address": "10.10.5.11", "asset_id": ids["srv-acme-1"]})  # on its asset, no owner
    await s.ip_addresses.create(SYSTEM, {"address": "10.20.0.9", "client_id": globex["id"], "asset_id": ids["srv-acme-1"]})
    await s.services.create(SYSTEM, {"client_id": acme["id"], "site_id": dc["id"], "kind": "internet",
                                     "bandwidth_mbps": 100, "asset_ids": [ids["sw-acme-1"]]})
    await s.services.create(SYSTEM, {"client_id": acme["id"], "site_id": remote["id"], "kind": "l2_channel",
                                     "asset_ids": [ids["mc-acme"]]})
    await s.services.create(SYSTEM, {"client_id": globex["id"], "site_id": dc["id"], "kind": "colocation"})
    return ids
