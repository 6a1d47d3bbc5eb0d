"""Two clients, Alpha and Bravo, sharing a remote site, a UPS and a media
converter chassis, with one shared power incident and one incident each —
the world the portal and authorization tests look for leaks in.

Every value of Bravo's (and every secret of ours) that must never reach
Alpha's user is listed in `World.bravo_markers` / `World.secrets`, and the
other way round in `World.alpha_markers`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from accounts.viewer import SYSTEM
from cmdb import services as cmdb
from incidents import admin, kb
from incidents import services as inc

UTC = dt.timezone.utc

SECRETS = [
    "alpha-community-S3CRET", "bravo-community-S3CRET", "ups-community-S3CRET", "v3-auth-S3CRET", "v3-priv-S3CRET",
    "whsec-S3CRET-hook", "pdu-read-S3CRET", "pdu-write-S3CRET",
]
INTERNAL = ["INTERNAL-KB-ARTICLE-0815", "INTERNAL-NOTE-4711", "INTERNAL-DESC-ALPHA", "INTERNAL-DESC-BRAVO", "Bravo-internal-client-notes",
            "Alpha-internal-client-notes"]
MGMT = ["10.1.1.1", "10.2.2.2", "10.9.9.9", "10.9.9.8", "10.9.9.7"]


@dataclass
class World:
    alpha: int = 0
    bravo: int = 0
    site_dc: int = 0
    site_remote: int = 0
    ups: int = 0
    chassis: int = 0
    alpha_asset: int = 0
    bravo_asset: int = 0
    alpha_contact: int = 0
    bravo_contact: int = 0
    alpha_ip: int = 0
    bravo_ip: int = 0
    alpha_rack: int = 0
    bravo_rack: int = 0
    shared_incident: int = 0
    alpha_incident: int = 0
    bravo_incident: int = 0
    bravo_window: int = 0
    bravo_interface: int = 0
    bravo_prefix: int = 0
    bravo_service: int = 0
    bravo_dependency: int = 0  # rtr-bravo-1's power from the UPS
    webhook: int = 0
    plan: int = 0
    public_article: int = 0
    #: An internal knowledge-base article: "foreign" to every client user (never found, never shown).
    alpha_article: int = 0
    bravo_article: int = 0
    #: `add_pdu`: a PDU at Khimki, Alpha's converter alone on outlet 1, outlet 2 shared by Alpha and Bravo.
    pdu: int = 0
    alpha_outlet_asset: int = 0
    alpha_shared_asset: int = 0
    bravo_shared_asset: int = 0
    ids: dict = field(default_factory=dict)

    #: What Alpha's user must never see (Bravo's data, our management addresses, secrets, internal text).
    @property
    def bravo_markers(self) -> list[str]:
        return ["Bravo Corp", "bravo-co", "rtr-bravo-1", "SN-BRAVO-0001", "198.51.100.20", "198.51.100.0/24",
                "Bravo fiber cut", "bob@bravo.test", "+7 495 222-22-22", "mc-bravo-shared", *MGMT, *SECRETS, *INTERNAL]

    @property
    def alpha_markers(self) -> list[str]:
        return ["Alpha LLC", "alpha-co", "rtr-alpha-1", "SN-ALPHA-0001", "192.0.2.10", "192.0.2.0/24",
                "Alpha router reboot", "alice@alpha.test", "mc-alpha-shared", "mc-alpha-khimki", *MGMT, *SECRETS, *INTERNAL]


async def build(now: dt.datetime | None = None) -> World:
    now = now or dt.datetime.now(UTC)
    w = World()
    w.plan = (await admin.create_plan(SYSTEM, {
        "name": "Gold", "hours": "24x7", "response_minutes": {"P1": 15, "P2": 30, "P3": 60, "P4": 240},
        "resolution_minutes": {"P1": 240, "P2": 480, "P3": 1440, "P4": 4320}}))["id"]
    w.alpha = (await cmdb.clients.create(SYSTEM, {"code": "alpha-co", "name": "Alpha LLC", "sla_plan_id": w.plan,
                                                  "notes": "Alpha-internal-client-notes"}))["id"]
    w.bravo = (await cmdb.clients.create(SYSTEM, {"code": "bravo-co", "name": "Bravo Corp",
                                                  "notes": "Bravo-internal-client-notes"}))["id"]
    w.alpha_contact = (await cmdb.contacts.create(SYSTEM, {
        "client_id": w.alpha, "name": "Alice Alpha", "email": "alice@alpha.test", "phone": "+7 495 111-11-11",
        "notify": True, "language": "ru"}))["id"]
    await cmdb.contacts.create(SYSTEM, {"client_id": w.alpha, "name": "Andrew Alpha", "email": "andrew@alpha.test"})
    w.bravo_contact = (await cmdb.contacts.create(SYSTEM, {
        "client_id": w.bravo, "name": "Bob Bravo", "email": "bob@bravo.test", "phone": "+7 495 222-22-22",
        "notify": True}))["id"]
    w.site_dc = (await cmdb.sites.create(SYSTEM, {"code": "DC1", "name": "Moscow DC1", "kind": "datacenter"}))["id"]
    w.site_remote = (await cmdb.sites.create(SYSTEM, {"code": "KHM", "name": "Khimki node", "kind": "remote"}))["id"]
    w.alpha_rack = (await cmdb.racks.create(SYSTEM, {"site_id": w.site_dc, "name": "A01", "client_id": w.alpha}))["id"]
    w.bravo_rack = (await cmdb.racks.create(SYSTEM, {"site_id": w.site_dc, "name": "B01", "client_id": w.bravo}))["id"]
    w.ups = (await cmdb.assets.create(SYSTEM, {
        "name": "ups-khimki", "kind": "ups", "site_id": w.site_remote, "mgmt_ip": "10.9.9.9",
        "snmp_version": "2c", "snmp_community": "ups-community-S3CRET", "serial": "SN-UPS-0001"}))["id"]
    w.chassis = (await cmdb.assets.create(SYSTEM, {
        "name": "mc-chassis-khimki", "kind": "media_converter", "site_id": w.site_remote, "mgmt_ip": "10.9.9.8",
        "snmp_version": "3", "snmp_v3_user": "mon", "snmp_v3_auth_protocol": "SHA",
        "snmp_v3_auth_key": "v3-auth-S3CRET", "snmp_v3_priv_protocol": "AES", "snmp_v3_priv_key": "v3-priv-S3CRET"}))["id"]
    w.alpha_asset = (await cmdb.assets.create(SYSTEM, {
        "name": "rtr-alpha-1", "kind": "router", "site_id": w.site_dc, "rack_id": w.alpha_rack, "position_u": 10,
        "client_id": w.alpha, "serial": "SN-ALPHA-0001", "mgmt_ip": "10.1.1.1", "snmp_version": "2c",
        "snmp_community": "alpha-community-S3CRET", "notes": "INTERNAL-NOTE-4711 alpha"}))["id"]
    w.bravo_asset = (await cmdb.assets.create(SYSTEM, {
        "name": "rtr-bravo-1", "kind": "router", "site_id": w.site_dc, "rack_id": w.bravo_rack, "position_u": 10,
        "client_id": w.bravo, "serial": "SN-BRAVO-0001", "mgmt_ip": "10.2.2.2", "snmp_version": "2c",
        "snmp_community": "bravo-community-S3CRET", "notes": "INTERNAL-NOTE-4711 bravo"}))["id"]
    for asset in (w.alpha_asset, w.bravo_asset):
        w.bravo_dependency = (await cmdb.dependencies.create(SYSTEM, {"asset_id": asset, "depends_on_id": w.ups,
                                                                      "kind": "power"}))["id"]
    await cmdb.interfaces.create(SYSTEM, {"asset_id": w.chassis, "if_index": 3, "name": "slot_1_fx", "role": "fiber",
                                          "client_id": w.alpha})
    w.bravo_interface = (await cmdb.interfaces.create(SYSTEM, {
        "asset_id": w.chassis, "if_index": 5, "name": "slot_2_fx", "role": "fiber", "client_id": w.bravo}))["id"]
    await cmdb.prefixes.create(SYSTEM, {"prefix": "192.0.2.0/24", "client_id": w.alpha})
    w.bravo_prefix = (await cmdb.prefixes.create(SYSTEM, {"prefix": "198.51.100.0/24", "client_id": w.bravo}))["id"]
    w.alpha_ip = (await cmdb.ip_addresses.create(SYSTEM, {"address": "192.0.2.10", "client_id": w.alpha,
                                                          "asset_id": w.alpha_asset}))["id"]
    w.bravo_ip = (await cmdb.ip_addresses.create(SYSTEM, {"address": "198.51.100.20", "client_id": w.bravo,
                                                          "asset_id": w.bravo_asset}))["id"]
    await cmdb.services.create(SYSTEM, {"client_id": w.alpha, "site_id": w.site_dc, "kind": "internet",
                                        "bandwidth_mbps": 100, "asset_ids": [w.alpha_asset]})
    w.bravo_service = (await cmdb.services.create(SYSTEM, {
        "client_id": w.bravo, "site_id": w.site_dc, "kind": "internet", "bandwidth_mbps": 1000,
        "asset_ids": [w.bravo_asset]}))["id"]
    w.webhook = (await admin.create_webhook(SYSTEM, {"name": "noc-hook", "url": "http://192.0.2.9:9/hook",
                                                     "secret": "whsec-S3CRET-hook"}))["id"]
    await admin.create_window(SYSTEM, {"asset_id": w.alpha_asset, "starts_at": (now + dt.timedelta(days=1)).isoformat(),
                                       "ends_at": (now + dt.timedelta(days=1, hours=2)).isoformat(),
                                       "reason": "Alpha router firmware"})
    w.bravo_window = (await admin.create_window(SYSTEM, {
        "asset_id": w.bravo_asset, "starts_at": (now - dt.timedelta(hours=1)).isoformat(),
        "ends_at": (now + dt.timedelta(hours=1)).isoformat(), "reason": "Bravo fiber cut repair"}))["id"]
    await admin.create_window(SYSTEM, {"site_id": w.site_dc, "starts_at": (now - dt.timedelta(hours=1)).isoformat(),
                                       "ends_at": (now + dt.timedelta(hours=3)).isoformat(),
                                       "reason": "DC1 power feed maintenance"})

    # The shared power incident: our UPS is the root, one router of each client is impacted.
    w.shared_incident = await _incident(
        "site:KHM:power", "Power problem at Khimki node: ups-khimki on battery; rtr-bravo-1, rtr-alpha-1 unreachable",
        "power", {w.ups: "root", w.alpha_asset: "impacted", w.bravo_asset: "impacted"}, [w.alpha, w.bravo], now,
        # the engine quotes the poller: management addresses in public text, masked for clients
        public=["opened: ups-khimki on battery\nrtr-alpha-1: reachability critical\nrtr-bravo-1: reachability critical"
                "\nrtr-alpha-1: no SNMP answer from 10.1.1.1:161 after 2 tries of 1 s (or wrong community)"
                "\nrtr-bravo-1: no SNMP answer from 10.2.2.2:161 after 2 tries of 1 s (or wrong community)"
                "\nups-khimki: on battery (10.9.9.9)",
                "Engineers are on the way to Khimki node"],
        internal=["INTERNAL-NOTE-4711: Bravo Corp disputes the invoice; vendor ticket open"])
    w.alpha_incident = await _incident("manual:alpha", "Alpha router reboot loop", "equipment",
                                       {w.alpha_asset: "root"}, [w.alpha], now,
                                       public=["We are looking into rtr-alpha-1"], internal=["INTERNAL-DESC-ALPHA"])
    w.bravo_incident = await _incident("manual:bravo", "Bravo fiber cut near Bravo HQ", "fiber",
                                       {w.bravo_asset: "root"}, [w.bravo], now,
                                       public=["Bravo fiber cut: crew dispatched"], internal=["INTERNAL-DESC-BRAVO"])
    w.public_article = (await kb.create(SYSTEM, {
        "title": "How to report an outage", "body": "Call the NOC.", "categories": ["request", "fiber"],
        "asset_kinds": ["router", "media_converter"], "visibility": "public"}))["id"]
    w.alpha_article = w.bravo_article = (await kb.create(SYSTEM, {
        "title": "INTERNAL-KB-ARTICLE-0815 vendor escalation", "body": "INTERNAL-KB-ARTICLE-0815",
        "categories": ["request", "fiber", "other"], "asset_kinds": ["router", "media_converter"],
        "visibility": "internal"}))["id"]
    return w


async def add_pdu(w: World) -> World:
    """A switched PDU at Khimki feeding client equipment: Alpha's media converter
    alone on outlet 1; outlet 2 feeds one device of Alpha's and one of Bravo's (the
    shared outlet no client may switch). Alpha's contract allows self-service
    power-cycles, so only the ownership and shared-outlet guards refuse."""
    w.pdu = (await cmdb.assets.create(SYSTEM, {
        "name": "pdu-khimki", "kind": "pdu", "site_id": w.site_remote, "mgmt_ip": "10.9.9.7", "snmp_version": "2c",
        "snmp_community": "pdu-read-S3CRET", "snmp_write_community": "pdu-write-S3CRET",
        "profile": "apc_rpdu2"}))["id"]
    await cmdb.clients.update(SYSTEM, w.alpha, {"self_service_power": True})
    for attr, name, client, outlet in (("alpha_outlet_asset", "mc-alpha-khimki", w.alpha, 1),
                                       ("alpha_shared_asset", "mc-alpha-shared", w.alpha, 2),
                                       ("bravo_shared_asset", "mc-bravo-shared", w.bravo, 2)):
        asset = (await cmdb.assets.create(SYSTEM, {"name": name, "kind": "media_converter", "site_id": w.site_remote,
                                                   "client_id": client}))["id"]
        await cmdb.dependencies.create(SYSTEM, {"asset_id": asset, "depends_on_id": w.pdu, "kind": "power",
                                                "outlet_number": outlet})
        setattr(w, attr, asset)
    return w


async def _incident(fingerprint: str, title: str, category: str, roles: dict[int, str], clients: list[int],
                    now: dt.datetime, *, public: list[str], internal: list[str]) -> int:
    incident_id = await inc.store_incident(fingerprint=fingerprint, title=title, category=category, priority="P2",
                                           source="probe", at=now - dt.timedelta(hours=2))
    await inc.store_assets(incident_id, roles, now - dt.timedelta(hours=2))
    await inc.store_clients(incident_id, clients, now - dt.timedelta(hours=2))
    for i, body in enumerate(public):
        await inc.add_entry(incident_id, "event" if i == 0 else "comment", body, at=now - dt.timedelta(minutes=90 - i),
                            visibility="public", author="engine" if i == 0 else "noc@op.test")
    for body in internal:
        await inc.add_entry(incident_id, "comment", body, at=now - dt.timedelta(minutes=60), author="noc@op.test")
    await inc.refresh_sla(incident_id, now)
    return incident_id
