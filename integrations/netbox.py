"""NetBox import: `rackcard import-netbox --url U --token T [--dry-run]`.

Reads NetBox 4.x's REST API (every list followed page by page through `next`)
and writes through the CMDB service layer (cmdb.services), so every row meets
the same validation as one typed into the API:

    tenants -> clients (code = slug)     contacts assigned to a tenant -> contacts
    sites -> sites (custom field rackcard_kind, else datacenter)
    racks -> racks (u_height, tenant)    devices -> assets (role -> kind, rack, position, face, primary IP)
    interfaces with an `ifindex` custom field -> interfaces (rackcard's probes key ports by ifIndex,
        which NetBox does not hold; ports are never numbered by guess)
    cables -> dependencies: power port -> outlet = `power`; between interfaces = `uplink`, the
        device lower in the chain (converter < switch < router) depending on the other
    VRFs -> the VRF label of prefixes and addresses    prefixes, IP addresses -> the same

NetBox ids are kept in one mapping table (integrations.tables.NetboxLink,
kind + NetBox id -> rackcard id) rather than a column per CMDB table: the
inventory stays free of one source's ids, and a re-run finds every row it made.
A row with no link yet is adopted when its natural key already exists (a
client's code, a site's code, an asset's serial ...), so an import over hand-
entered data updates instead of duplicating. A re-run updates what changed (a
device moved in NetBox moves here) and never deletes. The whole import is one
transaction; --dry-run runs it and rolls it back, printing the same diff.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import httpx

from database.transactions import atomic
from accounts.errors import DomainError
from accounts.viewer import SYSTEM, Viewer
from cmdb import normalise
from cmdb import services as cmdb
from cmdb.resources import ResourceService
from cmdb.tables import Asset, Client, Contact, Dependency, IPAddress, Prefix, Rack, Site
from integrations.tables import NetboxLink

log = logging.getLogger("rackcard.integrations.netbox")

ENDPOINTS = (
    "tenancy/tenants", "tenancy/contacts", "tenancy/contact-assignments", "dcim/sites", "dcim/racks",
    "dcim/device-types", "dcim/devices", "dcim/interfaces", "dcim/cables", "ipam/vrfs", "ipam/prefixes",
    "ipam/ip-addresses",
)
#: Device role slug (substring) -> asset kind, first match wins.
ROLE_KINDS = (
    ("media_converter", ("media-converter", "converter", "mediaconverter")),
    ("ups", ("ups",)),
    ("pdu", ("pdu",)),
    ("router", ("router", "border", "gateway")),
    ("switch", ("switch",)),
    ("server", ("server", "hypervisor", "host")),
)
STATUS = {"active": "active", "failed": "active", "offline": "spare", "planned": "spare", "staged": "spare",
          "inventory": "spare", "decommissioning": "decommissioned"}
#: Who depends on whom over a data cable: the lower rank is reached through the higher.
UPLINK_RANK = {"router": 4, "switch": 3, "media_converter": 2, "server": 1, "other": 1, "ups": 0, "pdu": 0}
KINDS = ("tenant", "contact", "site", "rack", "device", "interface", "cable", "vrf", "prefix", "ip")


class NetboxError(Exception):
    """NetBox answered something unusable (HTTP error, not JSON, wrong token)."""


class NetboxClient:
    def __init__(self, url: str, token: str, *, page_size: int = 250, http: httpx.AsyncClient | None = None,
                 timeout_s: float = 30.0):
        self.base = url.rstrip("/")
        if self.base.endswith("/api"):
            self.base = self.base[:-4]
        self.page_size = page_size
        self.http = http or httpx.AsyncClient(timeout=timeout_s)
        self.headers = {"Authorization": f"Token {token}", "Accept": "application/json"}

    async def list(self, endpoint: str) -> list[dict]:
        """Every object of a list endpoint, following `next` until the last page."""
        url: str | None = f"{self.base}/api/{endpoint}/?limit={self.page_size}&offset=0"
        out: list[dict] = []
        while url:
            try:
                response = await self.http.get(url, headers=self.headers)
            except httpx.HTTPError as exc:
                raise NetboxError(f"GET {url}: {exc}") from None
            if response.status_code in (401, 403):
                raise NetboxError(f"NetBox refused the token ({response.status_code}) at {url}")
            if response.status_code != 200:
                raise NetboxError(f"GET {url}: HTTP {response.status_code}")
            try:
                page = response.json()
                out.extend(page["results"])
            except (ValueError, KeyError, TypeError):
                raise NetboxError(f"GET {url}: not a NetBox list response") from None
            url = page.get("next")
        return out

    async def fetch_all(self) -> dict[str, list[dict]]:
        return {endpoint: await self.list(endpoint) for endpoint in ENDPOINTS}

    async def aclose(self) -> None:
        await self.http.aclose()


@dataclass
class Report:
    dry_run: bool = False
    counts: dict[str, Counter] = field(default_factory=lambda: {k: Counter() for k in KINDS})
    changes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"dry_run": self.dry_run, "counts": {k: dict(v) for k, v in self.counts.items()},
                "changes": self.changes, "problems": self.problems}

    def text(self, diff: bool = False) -> str:
        head = "NetBox import" + (" (dry run: nothing was written)" if self.dry_run else "")
        lines = [head, f"{'':12}{'created':>9}{'updated':>9}{'unchanged':>11}{'skipped':>9}"]
        for kind in KINDS:
            c = self.counts[kind]
            lines.append(f"{kind:12}{c['created']:>9}{c['updated']:>9}{c['unchanged']:>11}{c['skipped']:>9}")
        if diff and self.changes:
            lines += ["", "Changes:", *self.changes]
        if self.problems:
            lines += ["", f"Skipped ({len(self.problems)}):", *(f"! {p}" for p in self.problems)]
        return "\n".join(lines)


class _Rollback(Exception):
    pass


def _id(obj: dict | None) -> int | None:
    return obj.get("id") if isinstance(obj, dict) else None


def _value(obj) -> Any:
    return obj.get("value") if isinstance(obj, dict) else obj


def _host(address: str | None) -> str | None:
    return address.split("/", 1)[0] if address else None


def _same(current: Any, wanted: Any) -> bool:
    if isinstance(current, str) and isinstance(wanted, str):
        return current.strip() == wanted.strip()
    return current == wanted


class _Importer:
    def __init__(self, data: dict[str, list[dict]], report: Report, viewer: Viewer):
        self.data = data
        self.report = report
        self.viewer = viewer
        self.links: dict[tuple[str, int], int] = {}
        self.asset_kinds: dict[int, str] = {}

    async def load_links(self) -> None:
        for r in await NetboxLink.select(NetboxLink.kind, NetboxLink.netbox_id, NetboxLink.local_id):
            self.links[(r["kind"], r["netbox_id"])] = r["local_id"]

    def local(self, kind: str, obj: dict | None) -> int | None:
        nb = _id(obj)
        return None if nb is None else self.links.get((kind, nb))

    async def upsert(self, kind: str, nb_id: int, service: ResourceService, values: dict, label: str,
                     adopt: Callable[[], Awaitable[int | None]] | None = None,
                     compare: Callable[[dict], dict] | None = None) -> int | None:
        """Create or update the row made from NetBox object `nb_id`; a refusal
        by the service layer skips this object (reported) and the import goes on."""
        counts = self.report.counts[kind]
        try:
            local_id = self.links.get((kind, nb_id))
            if local_id is not None and not await service.table.exists().where(service.pk == local_id):
                local_id = None  # deleted here since: made again
            linked = local_id is not None
            if local_id is None and adopt is not None:
                local_id = await adopt()
            if local_id is None:
                created = await service.create(self.viewer, values)
                local_id = created["id"]
                counts["created"] += 1
                self.report.changes.append(f"+ {kind} {label}")
            else:
                current = await service.get(self.viewer, local_id)
                shown = compare(current) if compare else current
                changed = {k: v for k, v in values.items() if not _same(shown.get(k), v)}
                if changed:
                    await service.update(self.viewer, local_id, changed)
                    counts["updated"] += 1
                    diff = ", ".join(f"{k}: {shown.get(k)!r} → {v!r}" for k, v in changed.items())
                    self.report.changes.append(f"~ {kind} {label}: {diff}")
                else:
                    counts["unchanged"] += 1
            if not linked:
                await NetboxLink.delete().where((NetboxLink.kind == kind) & (NetboxLink.netbox_id == nb_id))
                await NetboxLink.insert(NetboxLink(kind=kind, netbox_id=nb_id, local_id=local_id))
            self.links[(kind, nb_id)] = local_id
            return local_id
        except DomainError as exc:
            self.skip(kind, f"{kind} {label} (NetBox id {nb_id}): {exc.detail}")
            return None

    def skip(self, kind: str, why: str) -> None:
        self.report.counts[kind]["skipped"] += 1
        self.report.problems.append(why)

    # ------------------------------------------------------------ per kind

    async def tenants(self) -> None:
        for t in self.data["tenancy/tenants"]:
            code = normalise.code(t["slug"])

            async def adopt(code=code):
                row = await Client.select(Client.id).where(Client.code == code).first()
                return row and row["id"]

            await self.upsert("tenant", t["id"], cmdb.clients, {"code": code, "name": t["name"]},
                              f"{code} ({t['name']})", adopt)

    async def contacts(self) -> None:
        people = {c["id"]: c for c in self.data["tenancy/contacts"]}
        for a in self.data["tenancy/contact-assignments"]:
            if a.get("object_type") != "tenancy.tenant":
                continue  # contacts of sites, devices ...: rackcard's contacts belong to clients
            person = people.get(_id(a.get("contact")))
            client_id = self.links.get(("tenant", a.get("object_id")))
            if person is None or client_id is None:
                self.skip("contact", f"contact assignment {a['id']}: its contact or tenant was not imported")
                continue
            email = (person.get("email") or "").strip().lower()
            values = {"client_id": client_id, "name": person["name"], "email": email,
                      "phone": person.get("phone") or "", "role": (a.get("role") or {}).get("name", "")}

            async def adopt(client_id=client_id, email=email):
                if not email:
                    return None
                row = await Contact.select(Contact.id).where(
                    (Contact.client == client_id) & (Contact.email_norm == email)).first()
                return row and row["id"]

            # Keyed by the assignment: one NetBox contact may serve several tenants.
            await self.upsert("contact", a["id"], cmdb.contacts, values, person["name"], adopt)

    async def sites(self) -> None:
        for s in self.data["dcim/sites"]:
            code = normalise.code(s["slug"])
            kind = (s.get("custom_fields") or {}).get("rackcard_kind") or "datacenter"
            values = {"code": code, "name": s["name"], "kind": kind, "address": s.get("physical_address") or "",
                      "timezone": s.get("time_zone") or "UTC"}

            async def adopt(code=code):
                row = await Site.select(Site.id).where(Site.code == code).first()
                return row and row["id"]

            await self.upsert("site", s["id"], cmdb.sites, values, f"{code} ({s['name']})", adopt)

    async def racks(self) -> None:
        for r in self.data["dcim/racks"]:
            site_id = self.local("site", r.get("site"))
            if site_id is None:
                self.skip("rack", f"rack {r['name']} (NetBox id {r['id']}): its site was not imported")
                continue
            values = {"site_id": site_id, "name": r["name"], "height_u": int(r.get("u_height") or 42),
                      "client_id": self.local("tenant", r.get("tenant"))}

            async def adopt(site_id=site_id, name=r["name"]):
                row = await Rack.select(Rack.id).where((Rack.site == site_id)
                                                       & (Rack.name_norm == normalise.text(name))).first()
                return row and row["id"]

            await self.upsert("rack", r["id"], cmdb.racks, values, r["name"], adopt)

    def _kind(self, device: dict) -> str:
        explicit = (device.get("custom_fields") or {}).get("rackcard_kind")
        if explicit:
            return explicit
        role = " ".join(str((device.get("role") or {}).get(k, "")).lower() for k in ("slug", "name"))
        for kind, words in ROLE_KINDS:
            if any(w in role for w in words):
                return kind
        return "other"

    async def devices(self) -> None:
        heights = {t["id"]: t.get("u_height") for t in self.data["dcim/device-types"]}
        for d in self.data["dcim/devices"]:
            name = d.get("name") or f"netbox-device-{d['id']}"
            site_id = self.local("site", d.get("site"))
            if site_id is None:
                self.skip("device", f"device {name} (NetBox id {d['id']}): its site was not imported")
                continue
            dtype = d.get("device_type") or {}
            height = heights.get(dtype.get("id"))
            position = d.get("position")
            rack_id = self.local("rack", d.get("rack"))
            primary = (d.get("primary_ip4") or d.get("primary_ip6") or {}).get("address")
            kind = self._kind(d)
            values = {
                "name": name, "kind": kind,
                "manufacturer": (dtype.get("manufacturer") or {}).get("name", ""), "model": dtype.get("model", ""),
                "serial": d.get("serial") or None, "site_id": site_id, "rack_id": rack_id,
                "position_u": int(position) if position and rack_id else None,
                "rack_face": _value(d.get("face")) if position and rack_id else None,
                "height_u": max(1, int(float(height or 1))),
                "client_id": self.local("tenant", d.get("tenant")), "mgmt_ip": _host(primary),
                "status": STATUS.get(_value(d.get("status")), "active"),
            }
            serial = normalise.serial(values["serial"])

            async def adopt(serial=serial, name=name, site_id=site_id):
                q = Asset.select(Asset.id)
                q = q.where(Asset.serial_norm == serial) if serial else q.where(
                    (Asset.name_norm == normalise.text(name)) & (Asset.site == site_id))
                row = await q.first()
                return row and row["id"]

            local_id = await self.upsert("device", d["id"], cmdb.assets, values, name, adopt)
            if local_id is not None:
                self.asset_kinds[local_id] = kind

    async def interfaces(self) -> None:
        for i in self.data["dcim/interfaces"]:
            asset_id = self.local("device", i.get("device"))
            if_index = (i.get("custom_fields") or {}).get("ifindex")
            label = f"{(i.get('device') or {}).get('name', '?')} {i['name']}"
            if asset_id is None:
                self.skip("interface", f"interface {label}: its device was not imported")
                continue
            if not isinstance(if_index, int):
                self.skip("interface", f"interface {label}: no ifindex custom field (SNMP ifIndex); not guessed")
                continue
            typ = str(_value(i.get("type")) or "").lower()
            name = i["name"].lower()
            if i.get("mgmt_only"):
                role = "other"
            elif "base-x" in typ or "sfp" in typ or "xfp" in typ or name.endswith(("fx", "_fx")):
                role = "fiber"
            elif "base-t" in typ or name.endswith(("tp", "_tp")):
                role = "copper"
            else:
                role = "other"
            await self.upsert("interface", i["id"], cmdb.interfaces,
                              {"asset_id": asset_id, "if_index": if_index, "name": i["name"], "role": role}, label)

    def _end(self, terminations: list) -> tuple[str, int | None, str]:
        t = (terminations or [{}])[0]
        device = (t.get("object") or {}).get("device")
        return t.get("object_type", ""), self.local("device", device), (device or {}).get("name", "?")

    async def cables(self) -> None:
        for c in self.data["dcim/cables"]:
            a_type, a_asset, a_name = self._end(c.get("a_terminations"))
            b_type, b_asset, b_name = self._end(c.get("b_terminations"))
            label = f"#{c['id']} {a_name} ↔ {b_name}"
            if a_asset is None or b_asset is None:
                self.skip("cable", f"cable {label}: not between two imported devices")
                continue
            types = {a_type, b_type}
            if types == {"dcim.powerport", "dcim.poweroutlet"}:
                child, parent = (a_asset, b_asset) if a_type == "dcim.powerport" else (b_asset, a_asset)
                kind = "power"
            elif types == {"dcim.interface"}:
                rank_a = UPLINK_RANK.get(await self._asset_kind(a_asset), 1)
                rank_b = UPLINK_RANK.get(await self._asset_kind(b_asset), 1)
                if rank_a == rank_b:
                    self.skip("cable", f"cable {label}: both ends are the same kind of device; "
                                       "which one depends on the other is unknown (add the dependency by hand)")
                    continue
                child, parent = (a_asset, b_asset) if rank_a < rank_b else (b_asset, a_asset)
                kind = "uplink"
            else:
                self.skip("cable", f"cable {label}: {' / '.join(sorted(types))} ends are not imported")
                continue

            async def adopt(child=child, parent=parent, kind=kind):
                row = await Dependency.select(Dependency.id).where(
                    (Dependency.asset == child) & (Dependency.depends_on == parent) & (Dependency.kind == kind)).first()
                return row and row["id"]

            await self.upsert("cable", c["id"], cmdb.dependencies,
                              {"asset_id": child, "depends_on_id": parent, "kind": kind}, label, adopt)

    async def _asset_kind(self, asset_id: int) -> str:
        if asset_id not in self.asset_kinds:
            row = await Asset.select(Asset.kind).where(Asset.id == asset_id).first()
            self.asset_kinds[asset_id] = row["kind"] if row else "other"
        return self.asset_kinds[asset_id]

    def vrfs(self) -> dict[int, str]:
        """VRFs are labels on prefixes and addresses here (no table of their own)."""
        names = {}
        for v in self.data["ipam/vrfs"]:
            names[v["id"]] = v["name"]
            self.report.counts["vrf"]["unchanged"] += 1
        return names

    async def prefixes(self, vrfs: dict[int, str]) -> None:
        for p in self.data["ipam/prefixes"]:
            vrf = vrfs.get(_id(p.get("vrf")), (p.get("vrf") or {}).get("name", ""))
            if p.get("scope_type") == "dcim.site":
                site_id = self.links.get(("site", p.get("scope_id")))
            else:
                site_id = self.local("site", p.get("site"))  # NetBox 4.0/4.1: prefixes had a site
            values = {"prefix": p["prefix"], "vrf": vrf, "client_id": self.local("tenant", p.get("tenant")),
                      "site_id": site_id, "description": p.get("description") or ""}

            async def adopt(prefix=p["prefix"], vrf=vrf):
                row = await Prefix.select(Prefix.id).where((Prefix.prefix == prefix) & (Prefix.vrf == vrf)).first()
                return row and row["id"]

            await self.upsert("prefix", p["id"], cmdb.prefixes, values, f"{p['prefix']}" + (f" vrf {vrf}" if vrf else ""),
                              adopt)

    async def addresses(self, vrfs: dict[int, str]) -> None:
        for a in self.data["ipam/ip-addresses"]:
            vrf = vrfs.get(_id(a.get("vrf")), (a.get("vrf") or {}).get("name", ""))
            assigned = a.get("assigned_object") or {}
            values = {"address": a["address"], "vrf": vrf, "client_id": self.local("tenant", a.get("tenant")),
                      "asset_id": self.local("device", assigned.get("device")),
                      "description": a.get("description") or a.get("dns_name") or ""}

            async def adopt(host=_host(a["address"]), vrf=vrf):
                row = await IPAddress.select(IPAddress.id).where(
                    (IPAddress.address == host) & (IPAddress.vrf == vrf)).first()
                return row and row["id"]

            def shown(current: dict) -> dict:
                mask = current.get("prefix_len")
                return {**current, "address": f"{current['address']}/{mask}" if mask is not None else current["address"]}

            await self.upsert("ip", a["id"], cmdb.ip_addresses, values, a["address"] + (f" vrf {vrf}" if vrf else ""),
                              adopt, shown)

    async def run(self) -> None:
        await self.load_links()
        await self.tenants()
        await self.contacts()
        await self.sites()
        await self.racks()
        await self.devices()
        await self.interfaces()
        await self.cables()
        vrfs = self.vrfs()
        await self.prefixes(vrfs)
        await self.addresses(vrfs)


async def import_netbox(client: NetboxClient, *, dry_run: bool = False, viewer: Viewer = SYSTEM) -> Report:
    """Fetch everything first (no transaction open while NetBox answers), then
    apply it in one transaction; a dry run rolls that transaction back."""
    data = await client.fetch_all()
    report = Report(dry_run=dry_run)
    try:
        async with atomic():
            await _Importer(data, report, viewer).run()
            if dry_run:
                raise _Rollback
    except _Rollback:
        pass
    return report
