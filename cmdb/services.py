"""The CMDB service layer: one declaration per table (cmdb/resources.py turns
each into validated create/update/delete/get/list taking the Viewer), plus the
domain rules no declaration can say — rack placement, dependency cycles, the
assets that deliver a service, prefix utilisation and next free address.

Use from other code:
    from cmdb import services
    await services.assets.create(viewer, {"name": "sw-1", "kind": "switch", "site_id": 1})
    await services.assets.list(viewer, {"site_id": "1"}, limit=50, offset=0)
    await services.next_free_ip(viewer, prefix_id)
    await services.search(viewer, "10.0.0.5")          (cmdb/search.py)
    await services.client_card(viewer, client_id)      (cmdb/card.py)
"""

from __future__ import annotations

import re
import zoneinfo

from database.rawsql import Sql
from database.transactions import is_sqlite
from accounts.errors import Conflict, Invalid, NotFound
from accounts.services import normalise_email
from accounts.viewer import Viewer
from cmdb import addressing, normalise
from cmdb.resources import Choice, Ctx, Field, Normed, Ref, Resource, ResourceService, Unique, reading, scope
from cmdb.tables import (
    Asset,
    Client,
    Contact,
    Dependency,
    Interface,
    IPAddress,
    Prefix,
    Rack,
    RackUnit,
    Service,
    ServiceAsset,
    Site,
)
from cmdb.topology import KINDS as DEPENDENCY_KINDS
from cmdb.topology import Edge, Graph
from probes.profiles import check_overrides, installed_profiles, profile_names

CLIENT_STATUSES = ("active", "suspended", "terminated")
CONTACT_LANGUAGES = ("en", "ru")  # the languages incident e-mail is written in
SITE_KINDS = ("datacenter", "remote", "client_premises")
ASSET_KINDS = ("media_converter", "router", "switch", "server", "ups", "pdu", "other")
ASSET_STATUSES = ("active", "spare", "decommissioned")
RACK_FACES = ("front", "rear")
SNMP_VERSIONS = ("2c", "3")
SNMP_AUTH_PROTOCOLS = ("MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512")
SNMP_PRIV_PROTOCOLS = ("DES", "3DES", "AES", "AES192", "AES256")
INTERFACE_ROLES = ("fiber", "copper", "uplink", "client", "other")
SERVICE_KINDS = ("internet", "l2_channel", "colocation", "rack_rental", "power", "other")
SERVICE_STATUSES = ("active", "planned", "suspended", "terminated")
MAX_RACK_U = 100

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9._-]*$")


# --------------------------------------------------------------------------- cleaners (raise ValueError)


def _code(value: str) -> str:
    value = normalise.code(value)
    if value and not _CODE.match(value):
        raise ValueError("use letters, digits, '.', '_' and '-' only (no spaces)")
    return value


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (e.g. Europe/Moscow, UTC)") from None
    return value


def _email(value: str) -> str:
    return normalise_email(value) if value else ""


def _host_address(value: str) -> str:
    return addressing.parse_address(value).address


def _known_profile(value: str) -> str:
    """An asset's probe profile: `auto` or a name of this installation's profile set."""
    names = profile_names(installed_profiles())
    if value not in names:
        raise ValueError(f"unknown profile {value!r}; choose one of: {', '.join(names)}")
    return value


def _overrides(value: str) -> str:
    check_overrides(value)
    return value


def _valid_address(value: str) -> str:
    addressing.parse_address(value)
    return value


def _valid_prefix(value: str) -> str:
    addressing.parse_prefix(value)
    return value


def _address_columns(value: str) -> dict:
    a = addressing.parse_address(value)
    return {"address": a.address, "family": a.family, "ip_key": a.key, "prefix_len": a.prefix_len}


def _prefix_columns(value: str) -> dict:
    p = addressing.parse_prefix(value)
    return {"prefix": p.prefix, "family": p.family, "prefix_len": p.prefix_len, "first_key": p.first_key, "last_key": p.last_key}


def _name(**kw) -> Field:
    return Normed("name", normalise.text, required=True, max_length=kw.pop("max_length", 200), **kw)


def _tz() -> Field:
    return Field("timezone", max_length=64, clean=_timezone, default="UTC")


# --------------------------------------------------------------------------- hooks


def _site_prepare(after: dict, before: dict | None) -> None:
    if not after.get("code"):
        after["code"] = normalise.slug_code(after["name"]) or "SITE"


def _asset_prepare(after: dict, before: dict | None) -> None:
    # Taking an asset out of its rack takes its position with it.
    if before is not None and after["rack"] is None and before["rack"] is not None and after["position_u"] == before["position_u"]:
        after["position_u"] = None


async def _rack_check(ctx: Ctx) -> None:
    if ctx.before is None:
        return
    if "height_u" in ctx.changed:
        above = await _first_unit(RackUnit.rack == ctx.id, RackUnit.unit > ctx.after["height_u"])
        if above:
            raise Conflict(f"U{above['unit']} is occupied by {above['name']}: the rack cannot be shorter than that", field="height_u")
    if "site" in ctx.changed and await Asset.exists().where(Asset.rack == ctx.id):
        raise Conflict("the rack holds assets: move them out before moving the rack to another site", field="site_id")


async def _first_unit(*where) -> dict | None:
    return await RackUnit.select(RackUnit.unit, RackUnit.asset.name.as_alias("name")).where(*where).order_by(RackUnit.unit).first()


def _units(after: dict) -> list[int]:
    return list(range(after["position_u"], after["position_u"] + after["height_u"]))


async def _contact_check(ctx: Ctx) -> None:
    """A contact is linked only to a client user of its own client."""
    user_id = ctx.after.get("user_id")
    if user_id is None or not ctx.touched("user_id", "client"):
        return
    from accounts.tables import User

    user = await User.select(User.role, User.client_id).where(User.id == user_id).first()
    if user is None:
        raise Invalid(f"no user {user_id}", field="user_id")
    if user["role"] != "client" or user["client_id"] != ctx.after["client"]:
        raise Invalid(f"user {user_id} is not a portal user of this contact's client", field="user_id")


async def _asset_check(ctx: Ctx) -> None:
    a = ctx.after
    if a["rack"] is None:
        if a["position_u"] is not None:
            raise Invalid("position_u needs rack_id: only an asset in a rack has a position", field="position_u")
    elif ctx.touched("rack", "position_u", "height_u", "site"):
        rack = await Rack.select(Rack.name, Rack.site, Rack.height_u, Rack.site.name.as_alias("site_name")).where(
            Rack.id == a["rack"]
        ).first()
        if rack is None:
            raise Invalid(f"rack_id: no rack {a['rack']}", field="rack_id")
        if a["position_u"] is None:
            raise Invalid("position_u is required for an asset in a rack (the lowest unit it takes)", field="position_u")
        if rack["site"] != a["site"]:
            raise Invalid(f"rack {rack['name']} is at site {rack['site_name']}, not at the asset's site", field="rack_id")
        top = a["position_u"] + a["height_u"] - 1
        if top > rack["height_u"]:
            raise Invalid(
                f"U{a['position_u']}-U{top} does not fit in rack {rack['name']}, whose top unit is U{rack['height_u']}",
                field="position_u",
            )
        where = [RackUnit.rack == a["rack"], RackUnit.unit.is_in(_units(a))]
        if ctx.id is not None:
            where.append(RackUnit.asset != ctx.id)
        held = await _first_unit(*where)
        if held:
            raise Conflict(f"U{held['unit']} is already occupied by {held['name']}", field="position_u")
    if a["snmp_version"] == "2c" and not a["snmp_community"]:
        raise Invalid("snmp_community is required for SNMP v2c", field="snmp_community")
    if a["snmp_version"] == "3" and not a["snmp_v3_user"]:
        raise Invalid("snmp_v3_user is required for SNMP v3", field="snmp_v3_user")


async def _asset_after_write(ctx: Ctx) -> None:
    """One cmdb_rack_unit row per occupied U, written with the asset: UNIQUE(rack, unit)
    makes an overlap impossible even when two placements race. Ascending order keeps
    concurrent writers from deadlocking on PostgreSQL."""
    if not ctx.touched("rack", "position_u", "height_u"):
        return
    if ctx.before is not None:
        await RackUnit.delete().where(RackUnit.asset == ctx.id)
    if ctx.after["rack"] is not None:
        await RackUnit.insert(*[RackUnit(rack=ctx.after["rack"], unit=u, asset=ctx.id) for u in _units(ctx.after)])


async def load_upstream(starts: list[int], exclude_edge: int | None = None) -> list[Edge]:
    """The edges reachable upwards from `starts` (what they depend on, and so
    on), read level by level so only the relevant part of the graph is loaded."""
    return await _load_edges(starts, "up", exclude_edge)


async def load_downstream(starts: list[int]) -> list[Edge]:
    """The edges reachable downwards from `starts` (what depends on them, and
    so on): what a fault of `starts` would hit."""
    return await _load_edges(starts, "down")


async def _load_edges(starts: list[int], direction: str, exclude_edge: int | None = None) -> list[Edge]:
    """The edges reachable from `starts` one way, in one recursive statement."""
    if not starts:
        return []
    q = Sql()
    rows = await q.fetch(q.numbered(walk_sql(direction, "SELECT * FROM {starts} AS s", exclude_edge is not None),
                                    starts=set(starts), exclude=exclude_edge))
    return [Edge(r["asset"], r["depends_on"], r["kind"]) for r in rows]


def walk_sql(direction: str, starts: str, exclude: bool = False, far_asset: bool = False) -> str:
    """The statement that reads the dependency edges reachable from the assets
    `starts` selects, one way (UNION, not UNION ALL: a cycle ends the walk
    instead of looping), as rows of asset, depends_on, kind in the order the
    edges were recorded; `{exclude}` names an edge left out when `exclude`.
    With `far_asset`, each row also carries the asset at the far end (far_name,
    far_kind, far_status, far_client, far_site, far_site_name, far_mgmt_ip), so a
    page shows the chain without a second trip. Placeholders are
    `Sql.numbered` names."""
    near, far = ("asset", "depends_on") if direction == "up" else ("depends_on", "asset")
    other = " AND d.id <> {exclude}" if exclude else ""
    select, join = "d.asset AS asset, d.depends_on AS depends_on, d.kind AS kind", ""
    if far_asset:
        select += (", f.name AS far_name, f.kind AS far_kind, f.status AS far_status, f.client AS far_client,"
                   " f.site AS far_site, fs.name AS far_site_name, f.mgmt_ip AS far_mgmt_ip")
        join = f" LEFT JOIN cmdb_asset f ON f.id = d.{far} LEFT JOIN cmdb_site fs ON fs.id = f.site"
    return (f"WITH RECURSIVE walk(id) AS ({starts}"
            f" UNION SELECT d.{far} FROM cmdb_dependency d JOIN walk w ON d.{near} = w.id{other})"
            f" SELECT {select} FROM cmdb_dependency d{join}"
            f" WHERE d.{near} IN (SELECT id FROM walk){other} ORDER BY d.id")


async def _asset_names(ids) -> dict[int, str]:
    ids = list(ids)
    if not ids:
        return {}
    return {r["id"]: r["name"] for r in await Asset.select(Asset.id, Asset.name).where(Asset.id.is_in(ids))}


async def _dependency_check(ctx: Ctx) -> None:
    a = ctx.after
    if a["asset"] == a["depends_on"]:
        raise Invalid("an asset cannot depend on itself", field="depends_on_id")
    if a.get("outlet_number") is not None and a["kind"] != "power":
        raise Invalid("only a power dependency names a PDU outlet", field="outlet_number")
    if not ctx.touched("asset", "depends_on"):
        return
    graph = Graph(await load_upstream([a["depends_on"]], exclude_edge=ctx.id))
    cycle = graph.cycle_if_added(a["asset"], a["depends_on"])
    if cycle:
        names = await _asset_names(cycle)
        path = " -> ".join(names.get(i, str(i)) for i in cycle)
        raise Conflict(f"this dependency would close a cycle: {path}", field="depends_on_id")


async def _dependency_lock() -> None:
    # Two edges that only together close a cycle must not be checked side by side.
    if not is_sqlite():
        await Dependency.raw("SELECT pg_advisory_xact_lock(7243001)")


async def _service_after_write(ctx: Ctx) -> None:
    if "asset_ids" not in ctx.data:
        return
    if ctx.before is not None:
        await ServiceAsset.delete().where(ServiceAsset.service == ctx.id)
    ids = ctx.data["asset_ids"] or []
    if ids:
        await ServiceAsset.insert(*[ServiceAsset(service=ctx.id, asset=i) for i in ids])


async def assets_of_services(service_ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {i: [] for i in service_ids}
    if service_ids:
        q = Sql()
        for r in await q.fetch(
            f"SELECT service, asset FROM cmdb_service_asset WHERE service IN {q.ints(service_ids)} ORDER BY asset"
        ):
            out[r["service"]].append(r["asset"])
    return out


async def _service_expand(rows: list[dict], viewer: Viewer) -> None:
    by_service = await assets_of_services([r["id"] for r in rows])
    for r in rows:
        r["asset_ids"] = by_service[r["id"]]


#: The recorded addresses inside prefix `p` (same VRF and family), as a column: one look at the (vrf, ip_key) index.
USED_IN_PREFIX = ("(SELECT COUNT(*) FROM cmdb_ip_address i WHERE i.vrf = p.vrf AND i.family = p.family"
                  " AND i.ip_key >= p.first_key AND i.ip_key <= p.last_key)")


async def used_counts(prefix_ids: list[int]) -> dict[int, int]:
    """Recorded addresses inside each prefix, in one query."""
    if not prefix_ids:
        return {}
    q = Sql()
    rows = await q.fetch(f"SELECT p.id AS id, {USED_IN_PREFIX} AS used FROM cmdb_prefix p WHERE p.id IN {q.ints(prefix_ids)}")
    return {r["id"]: r["used"] for r in rows}


async def _prefix_expand(rows: list[dict], viewer: Viewer) -> None:
    used = await used_counts([r["id"] for r in rows])
    for r in rows:
        r["utilisation"] = addressing.utilisation(addressing.parse_prefix(r["prefix"]), used.get(r["id"], 0))


# --------------------------------------------------------------------------- declarations

CLIENT = Resource(
    "client", "clients", Client,
    [
        Field("code", required=True, max_length=50, clean=_code),
        _name(),
        Field("contract_number", max_length=100),
        Choice("status", CLIENT_STATUSES, default="active"),
        Field("sla_plan_id", type="int", nullable=True, min=1, filter=True),
        Field("notes", internal=True),
        _tz(),
        Field("self_service_power", type="bool", default=False),
    ],
    unique=[Unique(("code",), "code", "code")],
    q_columns=("name_norm", "code"),
    client_scope="id",
    summary="Clients (tenants): code, name, contract, SLA plan",
)

CONTACT = Resource(
    "contact", "contacts", Contact,
    [
        Ref("client_id", Client, required=True),
        _name(),
        Normed("email", normalise.email, max_length=254, clean=_email),
        Normed("phone", normalise.phone, max_length=50),
        Field("role", max_length=100),
        # Incident e-mail (opening, public updates) goes to contacts that asked for it, in their language.
        Field("notify", type="bool", default=False),
        Choice("language", CONTACT_LANGUAGES, default="en"),
        # The portal user who is this contact: they see themselves marked and set their own e-mail wishes.
        Field("user_id", type="int", nullable=True, min=1, filter=True),
    ],
    unique=[Unique(("client", "email_norm"), "email", "e-mail", when=lambda v: bool(v["email_norm"])),
            Unique(("user_id",), "user_id", "user", when=lambda v: v["user_id"] is not None)],
    check=_contact_check,
    q_columns=("name_norm", "email_norm", "phone_norm"),
    summary="Contacts of clients; e-mail unique per client, phone normalised for search",
    writers="staff",
)

SITE = Resource(
    "site", "sites", Site,
    [
        Field("code", max_length=50, clean=_code),
        _name(),
        Choice("kind", SITE_KINDS, required=True),
        Field("address"),
        _tz(),
    ],
    unique=[Unique(("name_norm",), "name", "name"), Unique(("code",), "code", "code")],
    q_columns=("name_norm",),
    client_scope=None,
    prepare=_site_prepare,
    summary="Sites: data centers, remote (intermediate) sites, client premises",
)

RACK = Resource(
    "rack", "racks", Rack,
    [
        Ref("site_id", Site, required=True),
        _name(max_length=100),
        Field("height_u", type="int", min=1, max=MAX_RACK_U, default=42),
        Ref("client_id", Client, nullable=True),
    ],
    unique=[Unique(("site", "name_norm"), "name", "name")],
    q_columns=("name_norm",),
    check=_rack_check,
    summary="Racks at sites, optionally leased to a client",
)

#: SNMP settings are for administrators: whoever sets the management address
#: and port decides where the stored credentials are sent.
_SNMP = {"admin_only": True}
#: Secrets are sealed at rest (accounts.secretbox); these bounds keep the sealed
#: form inside the column (a community or v3 user of 32 bytes, RFC 3414's
#: bound for user names; keys of 100). Longer non-ASCII text is refused by the column check.
_SECRET = {"secret": True, "nullable": True, **_SNMP}

ASSET = Resource(
    "asset", "assets", Asset,
    [
        _name(),
        Choice("kind", ASSET_KINDS, required=True),
        Field("manufacturer", max_length=100, filter=True),
        Field("model", max_length=100, filter=True),
        Normed("serial", normalise.serial, nullable=True, max_length=100),
        Ref("site_id", Site, required=True),
        Ref("rack_id", Rack, nullable=True),
        Field("position_u", type="int", nullable=True, min=1, max=MAX_RACK_U),
        Choice("rack_face", RACK_FACES, nullable=True),
        Field("height_u", type="int", min=1, max=MAX_RACK_U, default=1),
        Ref("client_id", Client, nullable=True),
        Field("mgmt_ip", nullable=True, clean=_host_address, filter=True, **_SNMP),
        Choice("status", ASSET_STATUSES, default="active"),
        Choice("snmp_version", SNMP_VERSIONS, nullable=True, **_SNMP),
        Field("snmp_community", max_length=32, **_SECRET),
        Field("snmp_port", type="int", min=1, max=65535, default=161, **_SNMP),
        Field("snmp_v3_user", max_length=32, **_SECRET),
        Choice("snmp_v3_auth_protocol", SNMP_AUTH_PROTOCOLS, nullable=True, **_SNMP),
        Field("snmp_v3_auth_key", max_length=100, **_SECRET),
        Choice("snmp_v3_priv_protocol", SNMP_PRIV_PROTOCOLS, nullable=True, **_SNMP),
        Field("snmp_v3_priv_key", max_length=100, **_SECRET),
        Field("snmp_v3_context", nullable=True, max_length=100, **_SNMP),
        Field("snmp_write_community", max_length=32, **_SECRET),
        Field("snmp_v3_write_user", max_length=32, **_SECRET),
        Field("snmp_v3_write_auth_key", max_length=100, **_SECRET),
        Field("snmp_v3_write_priv_key", max_length=100, **_SECRET),
        Field("poll_interval_s", type="int", min=5, max=86400, default=60),
        Field("profile", nullable=True, max_length=50, filter=True, clean=_known_profile),
        Field("probe_overrides", default="", clean=_overrides),
        Field("notes", internal=True),
    ],
    unique=[Unique(("serial_norm",), "serial", "serial", when=lambda v: v["serial_norm"] is not None)],
    q_columns=("name_norm", "serial_norm"),
    prepare=_asset_prepare,
    check=_asset_check,
    after_write=_asset_after_write,
    summary="Equipment: kind, model, serial, rack placement, owner, SNMP settings (set by admins only; secrets write-only)",
)

INTERFACE = Resource(
    "interface", "interfaces", Interface,
    [
        Ref("asset_id", Asset, required=True),
        Field("if_index", type="int", required=True, min=0),
        Field("name", max_length=100),
        Choice("role", INTERFACE_ROLES, default="other"),
        Field("if_name", max_length=100, default=""),
        Field("if_descr", max_length=255, default=""),
        Ref("client_id", Client, nullable=True),
        Ref("service_id", Service, nullable=True),
    ],
    label="name",
    unique=[Unique(("asset", "if_index"), "if_index", "if_index")],
    summary="Ports of an asset (a media converter's fiber and copper sides)",
)

def _vrf() -> Field:
    return Field("vrf", max_length=50, default="", filter=True)  # "" = the global table


#: What prefixes and addresses share: filter by family, show family and mask length.
_IP_SPACE = {"extra_filters": {"family": ("family", "int")}, "output": ("family", "prefix_len")}

PREFIX = Resource(
    "prefix", "prefixes", Prefix,
    [
        Field("prefix", required=True, clean=_valid_prefix, columns=_prefix_columns),
        _vrf(),
        Ref("client_id", Client, nullable=True),
        Ref("site_id", Site, nullable=True),
        Field("description"),
    ],
    label="prefix",
    unique=[Unique(("vrf", "prefix"), "prefix", "prefix")],
    q_columns=("prefix", "description"),
    **_IP_SPACE,
    expand=_prefix_expand,
    summary="IP prefixes (canonical CIDR; host bits set is refused) with utilisation",
)

IP_ADDRESS = Resource(
    "IP address", "ip-addresses", IPAddress,
    [
        Field("address", required=True, clean=_valid_address, columns=_address_columns),
        _vrf(),
        Ref("client_id", Client, nullable=True),
        Ref("asset_id", Asset, nullable=True),
        Field("description"),
    ],
    label="address",
    unique=[Unique(("vrf", "family", "ip_key"), "address", "address")],
    q_columns=("address", "description"),
    **_IP_SPACE,
    summary="IP addresses, unique per VRF ('10.0.0.5' or '10.0.0.5/24')",
)

SERVICE = Resource(
    "service", "services", Service,
    [
        Ref("client_id", Client, required=True),
        Ref("site_id", Site, required=True),
        Choice("kind", SERVICE_KINDS, required=True),
        Field("bandwidth_mbps", type="int", nullable=True, min=0),
        Choice("status", SERVICE_STATUSES, default="active"),
        Field("description"),
        Ref("asset_ids", Asset, type="ids", stored=False, ref_label="asset", default=[]),
    ],
    label="kind",
    q_columns=("description",),
    after_write=_service_after_write,
    expand=_service_expand,
    summary="What a client ordered at a site, and the assets delivering it",
)

DEPENDENCY = Resource(
    "dependency", "dependencies", Dependency,
    [
        Ref("asset_id", Asset, required=True),
        Ref("depends_on_id", Asset, required=True, ref_label="asset"),
        Choice("kind", DEPENDENCY_KINDS, required=True),
        Field("outlet_number", type="int", nullable=True, min=1, max=4096),
        Field("outlet_name", max_length=100),
    ],
    label="kind",
    unique=[Unique(("asset", "depends_on", "kind"), "depends_on_id", "dependency on asset")],
    client_scope=None,
    check=_dependency_check,
    lock=_dependency_lock,
    summary="asset -> depends_on edges: power (fed by a UPS/PDU) or uplink (reached through)",
)

clients = ResourceService(CLIENT)
contacts = ResourceService(CONTACT)
sites = ResourceService(SITE)
racks = ResourceService(RACK)
assets = ResourceService(ASSET)
interfaces = ResourceService(INTERFACE)
prefixes = ResourceService(PREFIX)
ip_addresses = ResourceService(IP_ADDRESS)
services = ResourceService(SERVICE)
dependencies = ResourceService(DEPENDENCY)

#: URL segment -> service, in the order of the API and the docs, for generic callers (API routes, CSV import/export).
BY_PATH: dict[str, ResourceService] = {s.r.path: s for s in (
    clients, contacts, sites, racks, assets, interfaces, prefixes, ip_addresses, services, dependencies
)}


# --------------------------------------------------------------------------- more than CRUD


async def client_id_by_code(code: str) -> int:
    row = await Client.select(Client.id).where(Client.code == normalise.code(code)).first()
    if row is None:
        raise NotFound(f"no client with code {code}", field="client")
    return row["id"]


NEXT_FREE_BATCH = 1024


async def next_free_ip(viewer: Viewer, prefix_id: int) -> dict:
    """The lowest usable address of the prefix not yet recorded in its VRF."""
    async with reading():
        row = await Prefix.select().where(Prefix.id == prefix_id, *scope(PREFIX, viewer)).first()
        if row is None:
            raise NotFound(f"no prefix {prefix_id}", field="id")
        prefix = addressing.parse_prefix(row["prefix"])
        start, end = addressing.usable_range(prefix)
        candidate = start
        while candidate <= end:
            rows = await IPAddress.select(IPAddress.ip_key).where(
                IPAddress.vrf == row["vrf"],
                IPAddress.family == prefix.family,
                IPAddress.ip_key >= addressing.key_of(candidate),
                IPAddress.ip_key <= addressing.key_of(end),
            ).order_by(IPAddress.ip_key).limit(NEXT_FREE_BATCH)
            used = [addressing.int_of(r["ip_key"]) for r in rows]
            free = addressing.first_free(candidate, end, used)
            if free is None:
                break
            if len(used) < NEXT_FREE_BATCH or free <= used[-1]:
                return {"address": addressing.text_of(free, prefix.family), "prefix": row["prefix"], "vrf": row["vrf"]}
            candidate = free  # the whole batch was taken, contiguously: look further
    raise Conflict(f"prefix {row['prefix']} has no free address in VRF {row['vrf']!r}", field="prefix")


async def client_card(viewer: Viewer, client_id: int) -> dict:
    """The inventory part of the client card (cmdb/card.py)."""
    from cmdb.card import client_card as build  # card.py builds on this module

    return await build(viewer, client_id)


async def search(viewer: Viewer, q: str, limit: int = 20) -> list[dict]:
    """The search box (cmdb/search.py)."""
    from cmdb.search import search as run

    return await run(viewer, q, limit)
