"""Demo data for `rackcard demo`: a believable small operator.

Two Moscow data centers and one remote node (Khimki) whose devices hang on a
local UPS and one uplink; ten clients with contacts, racks (some leased),
media converters with fiber/copper ports assigned to clients, switches,
routers, UPSes, prefixes, addresses and services per site.

Everything goes through cmdb.services, the same validation as the API.
`seed_demo()` seeds only a database without clients, so it is idempotent.

Demo SNMP convention (shared with the probes' simulated agents): assets that
are polled each have their own loopback address 127.0.11.N (N = 1, 2, ... in
the order below; one address per device, so a trap's sender names exactly one
asset), snmp_port RACKCARD_DEMO_SNMP_PORT (default 11161), version 2c and the
asset's name as community (snmpsim picks a device's data by community).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from database.transactions import atomic
from accounts.viewer import SYSTEM, Viewer

DEMO_ADMIN_EMAIL = "admin@demo.local"
DEFAULT_DEMO_SNMP_PORT = 11161
DEMO_ADDRESS_OCTET = 11  # polled demo devices live at 127.0.11.x (see demo_address)

SITES = (
    {"code": "MSK-DC1", "name": "Moscow DC-1", "kind": "datacenter", "address": "Moscow, Elektrodnaya st. 2 bld. 1"},
    {"code": "MSK-DC2", "name": "Moscow DC-2", "kind": "datacenter", "address": "Moscow, Borovaya st. 7 bld. 10"},
    {"code": "KHIMKI", "name": "Khimki node", "kind": "remote", "address": "Khimki, Leningradskaya st. 29, basement"},
)

# code, name, contract, contacts (name, e-mail, phone, role)
CLIENTS = (
    ("ROMASHKA", "Romashka LLC", "RC-2021/014", [
        ("Irina Sokolova", "i.sokolova@romashka.ru", "+7 (495) 123-45-67", "IT manager"),
        ("Pavel Orlov", "noc@romashka.ru", "+7 (916) 201-33-44", "on-call engineer"),
    ]),
    ("VOLGATRANS", "Volga Trans JSC", "RC-2020/102", [
        ("Sergey Kuznetsov", "s.kuznetsov@volgatrans.ru", "+7 (495) 640-12-90", "network engineer"),
    ]),
    ("SEVERSTROY", "Severstroy Group", "RC-2022/031", [
        ("Olga Morozova", "o.morozova@severstroy.ru", "8 (495) 988-07-15", "office manager"),
        ("Dmitry Volkov", "it@severstroy.ru", "+7 (925) 111-22-33", "sysadmin"),
    ]),
    ("MEDLAB", "MedLab Clinics", "RC-2019/007", [
        ("Anna Lebedeva", "a.lebedeva@medlab.ru", "+7 (499) 350-44-10", "IT director"),
        ("Help desk", "helpdesk@medlab.ru", "+7 (499) 350-44-11", "help desk"),
    ]),
    ("PIXEL", "Pixel Games Studio", "RC-2023/055", [
        ("Maxim Popov", "ops@pixelgames.ru", "+7 (903) 765-43-21", "ops lead"),
    ]),
    ("FINPRO", "FinPro Bank", "RC-2018/001", [
        ("Elena Novikova", "e.novikova@finpro.ru", "+7 (495) 777-10-01", "head of infrastructure"),
        ("Security desk", "soc@finpro.ru", "+7 (495) 777-10-02", "SOC"),
    ]),
    ("EDUNET", "EduNet School", "RC-2022/090", [
        ("Tatiana Fedorova", "admin@edunet.ru", "+7 (498) 600-20-30", "administrator"),
    ]),
    ("LOGIX", "Logix Warehouse", "RC-2021/066", [
        ("Andrey Smirnov", "a.smirnov@logix.ru", "+7 (495) 232-32-32", "IT engineer"),
    ]),
    ("AGROYUG", "AgroHolding Yug", "RC-2020/044", [
        ("Viktor Pavlov", "v.pavlov@agroyug.ru", "+7 (861) 210-55-66", "CIO"),
    ]),
    ("NORDMEDIA", "Nord Media", "RC-2024/003", [
        ("Kirill Zaitsev", "k.zaitsev@nordmedia.ru", "+7 (812) 400-12-12", "tech director"),
        ("Marina Egorova", "billing@nordmedia.ru", "+7 (812) 400-12-13", "accounts"),
    ]),
)

# site, name, height_u, leased to
RACKS = (
    ("MSK-DC1", "A01", 42, None),
    ("MSK-DC1", "A02", 42, "FINPRO"),
    ("MSK-DC1", "A03", 42, "PIXEL"),
    ("MSK-DC2", "B01", 42, None),
    ("MSK-DC2", "B02", 47, "MEDLAB"),
    ("KHIMKI", "N1", 24, None),
)

#: polled assets (see module docstring)
_P = "poll"

# name, kind, manufacturer, model, serial, site, rack, position_u, height_u, client, polled
ASSETS = (
    # Moscow DC-1, our rack A01
    ("rt-border-dc1", "router", "Juniper", "MX204", "JN12A4F0BAFC", "MSK-DC1", "A01", 40, 1, None, _P),
    ("sw-core-dc1", "switch", "Cisco", "C9300-48P", "FOC2418L0AB", "MSK-DC1", "A01", 38, 1, None, _P),
    ("mc-chassis-dc1", "media_converter", "Planet", "MC-1610MR", "PL1610A00871", "MSK-DC1", "A01", 30, 2, None, _P),
    ("ups-dc1", "ups", "APC", "Smart-UPS SRT 10000", "AS1922180451", "MSK-DC1", "A01", 1, 6, None, _P),
    # FinPro's and Pixel's leased racks
    ("finpro-db-1", "server", "Dell", "PowerEdge R650", "7H2KXN3", "MSK-DC1", "A02", 10, 1, "FINPRO", None),
    ("finpro-app-1", "server", "Dell", "PowerEdge R650", "7H2KXN4", "MSK-DC1", "A02", 12, 1, "FINPRO", None),
    ("finpro-fw", "router", "Fortinet", "FortiGate 100F", "FG100FTK21000123", "MSK-DC1", "A02", 20, 1, "FINPRO", None),
    ("pixel-game-1", "server", "HPE", "ProLiant DL360 Gen10", "CZJ93601B7", "MSK-DC1", "A03", 5, 1, "PIXEL", None),
    ("pixel-game-2", "server", "HPE", "ProLiant DL360 Gen10", "CZJ93601B8", "MSK-DC1", "A03", 6, 1, "PIXEL", None),
    # Moscow DC-2
    ("rt-border-dc2", "router", "MikroTik", "CCR2004-16G-2S+", "HD808A1B2C3", "MSK-DC2", "B01", 42, 1, None, _P),
    ("sw-core-dc2", "switch", "Huawei", "S5735-L48T4X", "2102351234567", "MSK-DC2", "B01", 40, 1, None, _P),
    ("mc-dc2-1", "media_converter", "Planet", "GT-805A", "PL805A01992", "MSK-DC2", "B01", 30, 1, None, _P),
    ("ups-dc2", "ups", "Eaton", "9PX 6000i RT3U", "GA21L06039", "MSK-DC2", "B01", 1, 3, None, _P),
    ("medlab-pacs", "server", "Lenovo", "ThinkSystem SR650", "J30ABCDE", "MSK-DC2", "B02", 10, 2, "MEDLAB", None),
    ("medlab-pdu", "pdu", "APC", "AP8959EU3", "5A2001E12345", "MSK-DC2", "B02", 1, 1, "MEDLAB", None),
    # Khimki node: everything on one UPS and one uplink
    ("ups-khimki", "ups", "APC", "Smart-UPS 1500 RM", "AS1705333210", "KHIMKI", "N1", 1, 2, None, _P),
    ("sw-khimki", "switch", "Eltex", "MES2324", "ES2324000417", "KHIMKI", "N1", 20, 1, None, _P),
    ("mc-khimki-1", "media_converter", "Planet", "FT-802", "PL802K00101", "KHIMKI", "N1", 10, 1, None, _P),
    ("mc-khimki-2", "media_converter", "Planet", "FT-802", "PL802K00102", "KHIMKI", "N1", 11, 1, None, _P),
    ("mc-khimki-3", "media_converter", "D-Link", "DMC-F20SC", "DLRB1G6000311", "KHIMKI", "N1", 12, 1, None, _P),
)

# asset, if_index, name, role, client (service: the client's first service delivered by this asset)
INTERFACES = (
    # A Planet MC-1610MR chassis numbers ports as its agent does: lo at ifIndex 1,
    # eth0 at 2, slot N at 1000+2N-1 (tp) / 1000+2N (fx). Never by guess: discover.
    ("mc-chassis-dc1", 1001, "slot_1_tp", "copper", "ROMASHKA"),
    ("mc-chassis-dc1", 1002, "slot_1_fx", "fiber", "ROMASHKA"),
    ("mc-chassis-dc1", 1003, "slot_2_tp", "copper", "VOLGATRANS"),
    ("mc-chassis-dc1", 1004, "slot_2_fx", "fiber", "VOLGATRANS"),
    ("mc-chassis-dc1", 1005, "slot_3_tp", "copper", "LOGIX"),
    ("mc-chassis-dc1", 1006, "slot_3_fx", "fiber", "LOGIX"),
    # Standalone converters: loopback at 1, then the vendor's port order.
    ("mc-dc2-1", 2, "tp1", "copper", "EDUNET"),
    ("mc-dc2-1", 3, "fx1", "fiber", "EDUNET"),
    ("mc-khimki-1", 2, "fx1", "fiber", "SEVERSTROY"),
    ("mc-khimki-1", 3, "tp1", "copper", "SEVERSTROY"),
    ("mc-khimki-2", 2, "fx1", "fiber", "AGROYUG"),
    ("mc-khimki-2", 3, "tp1", "copper", "AGROYUG"),
    ("mc-khimki-3", 2, "fx1", "fiber", "NORDMEDIA"),
    ("mc-khimki-3", 3, "tp1", "copper", "NORDMEDIA"),
    ("sw-khimki", 25, "gi1/0/25", "uplink", None),
    ("sw-core-dc1", 49, "te1/0/1", "uplink", None),
)

# asset, depends_on, kind (a power dependency on a PDU may add its outlet: number, name)
DEPENDENCIES = (
    ("sw-core-dc1", "ups-dc1", "power"),
    ("rt-border-dc1", "ups-dc1", "power"),
    ("mc-chassis-dc1", "ups-dc1", "power"),
    ("sw-core-dc1", "rt-border-dc1", "uplink"),
    ("mc-chassis-dc1", "sw-core-dc1", "uplink"),
    ("sw-core-dc2", "ups-dc2", "power"),
    ("rt-border-dc2", "ups-dc2", "power"),
    ("mc-dc2-1", "ups-dc2", "power"),
    ("sw-core-dc2", "rt-border-dc2", "uplink"),
    ("mc-dc2-1", "sw-core-dc2", "uplink"),
    ("medlab-pacs", "medlab-pdu", "power", 4, "PACS"),
    # the remote node: its UPS and its one uplink to DC-1
    ("sw-khimki", "ups-khimki", "power"),
    ("mc-khimki-1", "ups-khimki", "power"),
    ("mc-khimki-2", "ups-khimki", "power"),
    ("mc-khimki-3", "ups-khimki", "power"),
    ("sw-khimki", "sw-core-dc1", "uplink"),
    ("mc-khimki-1", "sw-khimki", "uplink"),
    ("mc-khimki-2", "sw-khimki", "uplink"),
    ("mc-khimki-3", "sw-khimki", "uplink"),
)

# prefix, vrf, client, site, description
PREFIXES = (
    ("185.71.40.0/24", "", None, "MSK-DC1", "DC-1 client space"),
    ("185.71.40.0/28", "", "ROMASHKA", "MSK-DC1", "Romashka internet"),
    ("185.71.40.16/28", "", "VOLGATRANS", "MSK-DC1", "Volga Trans internet"),
    ("185.71.40.32/27", "", "FINPRO", "MSK-DC1", "FinPro colocation"),
    ("185.71.40.64/29", "", "PIXEL", "MSK-DC1", "Pixel game servers"),
    ("185.71.40.72/29", "", "LOGIX", "MSK-DC1", "Logix internet"),
    ("185.71.41.0/24", "", None, "MSK-DC2", "DC-2 client space"),
    ("185.71.41.0/28", "", "MEDLAB", "MSK-DC2", "MedLab colocation"),
    ("185.71.41.16/29", "", "EDUNET", "MSK-DC2", "EduNet internet"),
    ("185.71.42.0/26", "", None, "KHIMKI", "Khimki node clients"),
    ("185.71.42.0/29", "", "SEVERSTROY", "KHIMKI", "Severstroy internet"),
    ("185.71.42.8/29", "", "AGROYUG", "KHIMKI", "AgroYug internet"),
    ("185.71.42.16/29", "", "NORDMEDIA", "KHIMKI", "Nord Media internet"),
    ("2a0c:9a40:1000::/48", "", None, "MSK-DC1", "DC-1 IPv6"),
    ("2a0c:9a40:1000:100::/56", "", "FINPRO", "MSK-DC1", "FinPro IPv6"),
    ("10.20.0.0/16", "mgmt", None, None, "management network"),
)

# address, vrf, client, asset, description
IP_ADDRESSES = (
    ("185.71.40.1", "", "ROMASHKA", "mc-chassis-dc1", "Romashka gateway"),
    ("185.71.40.2", "", "ROMASHKA", None, "Romashka router"),
    ("185.71.40.17", "", "VOLGATRANS", "mc-chassis-dc1", "Volga Trans gateway"),
    ("185.71.40.18", "", "VOLGATRANS", None, "Volga Trans router"),
    ("185.71.40.33", "", "FINPRO", "finpro-fw", "FinPro firewall outside"),
    ("185.71.40.34", "", "FINPRO", "finpro-db-1", "FinPro DB"),
    ("185.71.40.35", "", "FINPRO", "finpro-app-1", "FinPro app"),
    ("2a0c:9a40:1000:100::1", "", "FINPRO", "finpro-fw", "FinPro IPv6 gateway"),
    ("185.71.40.65", "", "PIXEL", "pixel-game-1", "game server 1"),
    ("185.71.40.66", "", "PIXEL", "pixel-game-2", "game server 2"),
    ("185.71.40.73", "", "LOGIX", None, "Logix router"),
    ("185.71.41.1", "", "MEDLAB", "medlab-pacs", "PACS"),
    ("185.71.41.17", "", "EDUNET", None, "EduNet router"),
    ("185.71.42.1", "", "SEVERSTROY", None, "Severstroy router"),
    ("185.71.42.9", "", "AGROYUG", None, "AgroYug router"),
    ("185.71.42.17", "", "NORDMEDIA", None, "Nord Media router"),
    ("10.20.1.1", "mgmt", None, "rt-border-dc1", "mgmt"),
    ("10.20.1.2", "mgmt", None, "sw-core-dc1", "mgmt"),
    ("10.20.1.10", "mgmt", None, "mc-chassis-dc1", "mgmt"),
    ("10.20.1.20", "mgmt", None, "ups-dc1", "mgmt"),
    ("10.20.2.1", "mgmt", None, "rt-border-dc2", "mgmt"),
    ("10.20.2.2", "mgmt", None, "sw-core-dc2", "mgmt"),
    ("10.20.3.1", "mgmt", None, "sw-khimki", "mgmt"),
    ("10.20.3.20", "mgmt", None, "ups-khimki", "mgmt"),
)

# client, site, kind, bandwidth_mbps, delivered by, description
SERVICES = (
    ("ROMASHKA", "MSK-DC1", "internet", 100, ("mc-chassis-dc1", "sw-core-dc1"), "Internet 100 Mbit/s"),
    ("VOLGATRANS", "MSK-DC1", "internet", 500, ("mc-chassis-dc1", "sw-core-dc1"), "Internet 500 Mbit/s"),
    ("VOLGATRANS", "MSK-DC1", "l2_channel", 1000, ("mc-chassis-dc1",), "L2 to the Tver office"),
    ("LOGIX", "MSK-DC1", "internet", 200, ("mc-chassis-dc1",), "Internet 200 Mbit/s"),
    ("FINPRO", "MSK-DC1", "rack_rental", None, (), "Rack A02"),
    ("FINPRO", "MSK-DC1", "colocation", None, ("sw-core-dc1",), "Colocation, 2x1G"),
    ("FINPRO", "MSK-DC1", "power", None, ("ups-dc1",), "Guaranteed power 5 kW"),
    ("FINPRO", "MSK-DC2", "l2_channel", 10000, ("sw-core-dc2",), "DC-1 <-> DC-2 backup link"),
    ("PIXEL", "MSK-DC1", "rack_rental", None, (), "Rack A03"),
    ("PIXEL", "MSK-DC1", "internet", 10000, ("sw-core-dc1", "rt-border-dc1"), "Internet 10 Gbit/s"),
    ("MEDLAB", "MSK-DC2", "colocation", None, ("sw-core-dc2",), "Colocation, rack B02"),
    ("MEDLAB", "MSK-DC2", "power", None, ("ups-dc2",), "Power 3 kW"),
    ("EDUNET", "MSK-DC2", "internet", 300, ("mc-dc2-1",), "Internet 300 Mbit/s"),
    ("SEVERSTROY", "KHIMKI", "internet", 100, ("mc-khimki-1", "sw-khimki"), "Internet 100 Mbit/s"),
    ("AGROYUG", "KHIMKI", "internet", 50, ("mc-khimki-2", "sw-khimki"), "Internet 50 Mbit/s"),
    ("AGROYUG", "KHIMKI", "l2_channel", 100, ("mc-khimki-2",), "L2 to the Krasnodar office"),
    ("NORDMEDIA", "KHIMKI", "internet", 200, ("mc-khimki-3", "sw-khimki"), "Internet 200 Mbit/s"),
)


def demo_address(n: int) -> str:
    """The loopback address of the n-th polled demo device (1-based)."""
    return f"127.0.{DEMO_ADDRESS_OCTET + n // 250}.{n % 250 + 1}"


def demo_snmp_port() -> int:
    return int(os.environ.get("RACKCARD_DEMO_SNMP_PORT", DEFAULT_DEMO_SNMP_PORT))


def expected_counts() -> dict[str, int]:
    """What a seeded demo database holds (the tests compare against this)."""
    return {
        "sites": len(SITES),
        "clients": len(CLIENTS),
        "contacts": sum(len(c[3]) for c in CLIENTS),
        "racks": len(RACKS),
        "assets": len(ASSETS),
        "interfaces": len(INTERFACES),
        "dependencies": len(DEPENDENCIES),
        "prefixes": len(PREFIXES),
        "ip_addresses": len(IP_ADDRESSES),
        "services": len(SERVICES),
    }


@dataclass
class DemoResult:
    seeded: bool
    counts: dict[str, int] = field(default_factory=dict)
    admin_email: str = DEMO_ADMIN_EMAIL
    admin_password: str | None = None  # set when this run created the demo admin
    admin_token: str | None = None


def _id(row: dict) -> int:
    return row["id"]  # what the services return: the API's dict


async def _has_clients() -> bool:
    from cmdb.tables import Client

    return await Client.exists()


async def seed_demo(viewer: Viewer = SYSTEM) -> DemoResult:
    """Seed the demo operator when the database has no clients; else do nothing."""
    if await _has_clients():
        return DemoResult(seeded=False)
    async with atomic():
        if await _has_clients():  # another process won the race
            return DemoResult(seeded=False)
        await _seed_inventory(viewer)
        result = DemoResult(seeded=True, counts=expected_counts())
        await _seed_admin(result)
    return result


async def _seed_admin(result: DemoResult) -> None:
    from accounts.services import create_token, create_user
    from accounts.tables import User

    if await User.exists().where(User.email == DEMO_ADMIN_EMAIL):
        return
    password = secrets.token_urlsafe(12)
    await create_user(DEMO_ADMIN_EMAIL, "admin", password, name="Demo admin")
    result.admin_password = password
    result.admin_token = await create_token(DEMO_ADMIN_EMAIL, name="demo")


async def _seed_inventory(viewer: Viewer) -> None:
    from cmdb import services

    sites: dict[str, int] = {}
    for site in SITES:
        sites[site["code"]] = _id(await services.sites.create(viewer, dict(site)))

    clients: dict[str, int] = {}
    for code, name, contract, contacts in CLIENTS:
        client_id = _id(await services.clients.create(
            viewer, {"code": code, "name": name, "contract_number": contract, "status": "active"}
        ))
        clients[code] = client_id
        for contact_name, email, phone, role in contacts:
            await services.contacts.create(
                viewer, {"client_id": client_id, "name": contact_name, "email": email, "phone": phone, "role": role}
            )

    racks: dict[tuple[str, str], int] = {}
    for site, name, height, client in RACKS:
        racks[(site, name)] = _id(await services.racks.create(viewer, {
            "site_id": sites[site], "name": name, "height_u": height,
            "client_id": clients[client] if client else None,
        }))

    assets: dict[str, int] = {}
    port = demo_snmp_port()
    polled_n = 0
    for name, kind, maker, model, serial, site, rack, position, height, client, polled in ASSETS:
        data = {
            "name": name, "kind": kind, "manufacturer": maker, "model": model, "serial": serial,
            "site_id": sites[site], "rack_id": racks[(site, rack)] if rack else None,
            "position_u": position, "height_u": height,
            "client_id": clients[client] if client else None, "status": "active",
        }
        if polled:
            polled_n += 1
            data.update(mgmt_ip=demo_address(polled_n), snmp_version="2c", snmp_community=name, snmp_port=port)
        assets[name] = _id(await services.assets.create(viewer, data))

    for asset, depends_on, kind, *outlet in DEPENDENCIES:
        await services.dependencies.create(
            viewer, {"asset_id": assets[asset], "depends_on_id": assets[depends_on], "kind": kind,
                     **dict(zip(("outlet_number", "outlet_name"), outlet))}
        )

    for prefix, vrf, client, site, description in PREFIXES:
        await services.prefixes.create(viewer, {
            "prefix": prefix, "vrf": vrf, "client_id": clients[client] if client else None,
            "site_id": sites[site] if site else None, "description": description,
        })
    for address, vrf, client, asset, description in IP_ADDRESSES:
        await services.ip_addresses.create(viewer, {
            "address": address, "vrf": vrf, "client_id": clients[client] if client else None,
            "asset_id": assets[asset] if asset else None, "description": description,
        })

    first_service: dict[tuple[str, str], int] = {}
    for client, site, kind, bandwidth, delivered_by, description in SERVICES:
        service_id = _id(await services.services.create(viewer, {
            "client_id": clients[client], "site_id": sites[site], "kind": kind, "bandwidth_mbps": bandwidth,
            "status": "active", "asset_ids": [assets[a] for a in delivered_by], "description": description,
        }))
        for asset in delivered_by:
            first_service.setdefault((client, asset), service_id)

    for asset, if_index, name, role, client in INTERFACES:
        await services.interfaces.create(viewer, {
            "asset_id": assets[asset], "if_index": if_index, "name": name, "role": role, "if_name": name,
            "client_id": clients[client] if client else None,
            "service_id": first_service.get((client, asset)) if client else None,
        })
