"""Inventory pages for every CMDB list, made from the resource declarations
(cmdb/services.py) by one controller factory — the same declarations the
REST API and the CSV import are made from, so a new table gets its pages
without new code:

    /{path}                  list: filters, text search, sorting, pagination
    /{path}/export.csv       the filtered list as CSV (the format import reads)
    /{path}/new              create form (query values pre-fill it)
    /{path}/{id}/edit        edit form, and delete
    /assets/rack-space       the free units of a rack (htmx, the asset form)
    /ip-addresses/next-free  the next free address of a prefix (htmx, the address form)

A refused form comes back with every problem next to its field, all at once
(the service parses every field before it says no).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Response, Template

from accounts.errors import DomainError
from accounts.http import CurrentViewer
from accounts.viewer import Viewer
from cmdb import services
from cmdb.csvio import export_csv
from cmdb.resources import MISSING, Field, Ref, ResourceService, require_writer
from cmdb.tables import Prefix
from incidents import live
from pages.crud import N_, FormField, Pages, controller
import validation
from validation.spreadsheet import csv_download

#: A reference to a table this small is a drop-down; a bigger one is typed as an id.
SELECT_LIMIT = 300

TITLES = {
    "clients": (N_("Clients"), N_("New client")), "contacts": (N_("Contacts"), N_("New contact")),
    "sites": (N_("Sites"), N_("New site")), "racks": (N_("Racks"), N_("New rack")),
    "assets": (N_("Assets"), N_("New asset")), "interfaces": (N_("Interfaces"), N_("New interface")),
    "prefixes": (N_("Prefixes"), N_("New prefix")), "ip-addresses": (N_("IP addresses"), N_("New IP address")),
    "services": (N_("Services"), N_("New service")), "dependencies": (N_("Dependencies"), N_("New dependency")),
}
LABELS = {
    "id": N_("ID"), "code": N_("Code"), "name": N_("Name"), "contract_number": N_("Contract"), "status": N_("Status"),
    "sla_plan_id": N_("SLA plan (id)"), "notes": N_("Internal notes"), "timezone": N_("Time zone"),
    "client_id": N_("Client"), "email": N_("E-mail"), "phone": N_("Phone"), "role": N_("Role"), "kind": N_("Kind"),
    "address": N_("Address"), "site_id": N_("Site"), "height_u": N_("Height, U"), "manufacturer": N_("Manufacturer"),
    "model": N_("Model"), "serial": N_("Serial"), "rack_id": N_("Rack"), "position_u": N_("Position, lowest U"),
    "mgmt_ip": N_("Management IP"), "snmp_version": N_("SNMP version"), "snmp_community": N_("SNMP community"),
    "snmp_port": N_("SNMP port"), "snmp_v3_user": N_("SNMPv3 user"), "snmp_v3_auth_protocol": N_("SNMPv3 auth protocol"),
    "snmp_v3_auth_key": N_("SNMPv3 auth key"), "snmp_v3_priv_protocol": N_("SNMPv3 privacy protocol"),
    "snmp_v3_priv_key": N_("SNMPv3 privacy key"), "snmp_v3_context": N_("SNMPv3 context"),
    "snmp_write_community": N_("SNMP write community (power-cycles)"),
    "snmp_v3_write_user": N_("SNMPv3 write user (power-cycles)"),
    "snmp_v3_write_auth_key": N_("SNMPv3 write user's auth key"),
    "snmp_v3_write_priv_key": N_("SNMPv3 write user's privacy key"),
    "poll_interval_s": N_("Poll every, s"), "profile": N_("Probe profile"), "asset_id": N_("Asset"),
    "if_index": N_("ifIndex"), "service_id": N_("Service"), "prefix": N_("Prefix"), "vrf": N_("VRF"),
    "description": N_("Description"), "bandwidth_mbps": N_("Bandwidth, Mbit/s"), "asset_ids": N_("Assets (ids)"),
    "depends_on_id": N_("Depends on"), "family": N_("Family"), "prefix_len": N_("Mask"),
}
#: What each list shows (the form shows every field).
COLUMNS = {
    "clients": ("code", "name", "contract_number", "status"),
    "contacts": ("name", "client_id", "email", "phone", "role"),
    "sites": ("code", "name", "kind", "address"),
    "racks": ("name", "site_id", "height_u", "client_id"),
    "assets": ("name", "kind", "site_id", "rack_id", "position_u", "client_id", "mgmt_ip", "status"),
    "interfaces": ("asset_id", "if_index", "name", "role", "client_id"),
    "prefixes": ("prefix", "vrf", "client_id", "site_id", "description"),
    "ip-addresses": ("address", "vrf", "client_id", "asset_id", "description"),
    "services": ("kind", "client_id", "site_id", "bandwidth_mbps", "status"),
    "dependencies": ("asset_id", "kind", "depends_on_id"),
}
#: Rows of these have a page of their own; the others open their edit form.
DETAIL_PAGES = {"clients", "sites", "racks", "assets"}
TEXTAREAS = {"notes", "description", "address"}
#: The prefix an address form's "next free IP" button asks about.
PREFIX_REF = Ref("prefix_id", Prefix)


def label_of(name: str) -> str:
    return LABELS.get(name, name)


def _service_of_table(table) -> ResourceService | None:
    return next((s for s in services.BY_PATH.values() if s.table is table), None)


async def ref_options(f: Field) -> list[tuple[str, str]] | None:
    """(id, label) of every row a reference may point at, or None when there are too many for a drop-down."""
    svc = _service_of_table(f.ref)
    if svc is None:
        return None
    table = svc.table
    if await table.count() > SELECT_LIMIT:
        return None
    label = svc.r.col(svc.r.label)
    rows = await table.select(table._meta.primary_key, label).order_by(label)
    return [(str(r["id"]), str(r[svc.r.label])) for r in rows]


async def ref_labels(svc: ResourceService, rows: list[dict], names: tuple[str, ...]) -> dict[str, dict[int, str]]:
    """For the reference columns shown in a list: field -> {id: label}, one query per referenced table."""
    out: dict[str, dict[int, str]] = {}
    for name in names:
        f = svc.r.by_name.get(name)
        if f is None or f.ref is None or f.type == "ids":
            continue
        ids = sorted({r[name] for r in rows if r.get(name) is not None})
        target = _service_of_table(f.ref)
        if not ids or target is None:
            out[name] = {}
            continue
        label = target.r.col(target.r.label)
        found = await target.table.select(target.table._meta.primary_key, label).where(target.pk.is_in(ids))
        out[name] = {r["id"]: str(r[target.r.label]) for r in found}
    return out


def widget_of(f: Field) -> str:
    if f.secret:
        return "password"
    if f.type == "ids":
        return "ids"
    if f.choices or f.ref is not None or f.type == "bool":
        return "select"
    if f.type == "int":
        return "number"
    return "textarea" if f.name in TEXTAREAS else "text"


async def form_fields(svc: ResourceService, values: dict, errors: dict[str, str], viewer: Viewer,
                      current: dict | None = None) -> list[FormField]:
    out = []
    for f in svc.r.fields:
        if f.internal and not viewer.is_staff:
            continue
        widget = widget_of(f)
        options: list[tuple[str, str]] = []
        if f.choices:
            options = [(c, c) for c in f.choices]
        elif f.type == "bool":
            options = [("true", "true"), ("false", "false")]  # as the webhook form's "active"
        elif f.ref is not None and f.type != "ids":
            found = await ref_options(f)
            if found is None:
                widget = "number"
            else:
                options = found
        value = values.get(f.name, "" if current is not None or f.default is MISSING else f.default)
        if isinstance(value, bool):
            value = "true" if value else "false"
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if f.secret:
            value = ""  # never sent back to the browser
        out.append(FormField(
            name=f.name, label=label_of(f.name), widget=widget, required=f.required, nullable=f.nullable,
            value="" if value is None else str(value), options=options, error=errors.get(f.name),
            secret_set=bool(current and current.get(f"{f.name}_set")),
        ))
    return out


def clean_form(svc: ResourceService, data: dict, *, partial: bool) -> dict:
    """A browser's form (every value a string) -> the API's input: empty means
    null for a nullable field, "not given" for one with a default, and is left
    for the service to refuse when the field is required; a blank secret on an
    edit keeps the stored one; a list of ids is written "1, 2, 3"."""
    out: dict[str, Any] = {}
    for f in svc.r.fields:
        if f.name not in data:
            continue
        raw = data[f.name]
        raw = raw.strip() if isinstance(raw, str) else raw
        if f.type == "ids":
            out[f.name] = [v.strip() for v in str(raw).replace(";", ",").split(",") if v.strip()]
            continue
        if raw == "":
            if f.secret and partial:
                continue
            if f.nullable:
                out[f.name] = None
            elif f.required:
                out[f.name] = None if f.type != "str" else ""
            elif f.type == "str" and not f.choices:
                out[f.name] = ""
            continue  # an empty number or choice with a default: the default (or, on an edit, unchanged)
        out[f.name] = raw
    return out


def detail_url(path: str, row_id: int) -> str:
    return f"/{path}/{row_id}" if path in DETAIL_PAGES else f"/{path}/{row_id}/edit"


class ResourcePages(Pages):
    """The inventory list and forms of one CMDB resource, from its declaration."""

    can_import = True

    def __init__(self, svc: ResourceService):
        self.svc = svc
        r = svc.r
        self.path = r.path
        self.title, self.new_title = TITLES.get(r.path, (r.path, r.name))
        names = COLUMNS.get(r.path, tuple(f.name for f in r.fields[:6]))
        self.columns = [(c, label_of(c)) for c in names]
        self.sortable = set(svc.sortable())
        self.label = r.label
        self.audit_entity = r.name

    def filters_of(self, query: dict[str, str]) -> dict[str, str]:
        known = set(self.svc.r.filters) | ({"q"} if self.svc.r.q_columns else set())
        return {k: v for k, v in query.items() if k in known and v != ""}

    async def filter_fields(self, filters: dict[str, str]) -> list[FormField]:
        r = self.svc.r
        out = [FormField("q", N_("Search"), "text", value=filters.get("q", ""))] if r.q_columns else []
        for name in r.filters:
            f = r.by_name.get(name)
            widget, options = "text", []
            if f is not None and f.choices:
                widget, options = "select", [(c, c) for c in f.choices]
            elif f is not None and f.ref is not None:
                found = await ref_options(f)
                widget, options = ("select", found) if found is not None else ("number", [])
            out.append(FormField(name, label_of(name), widget, value=filters.get(name, ""), options=options))
        return out

    async def page(self, viewer, filters, sort, limit, offset):
        found = await self.svc.list(viewer, filters, limit, offset, sort=sort)
        return found["count"], found["results"]

    async def labels(self, rows: list[dict]) -> dict[str, dict[int, str]]:
        return await ref_labels(self.svc, rows, tuple(c for c, _ in self.columns))

    def detail_url(self, row_id: int) -> str:
        return detail_url(self.path, row_id)

    async def export(self, viewer: Viewer, filters: dict) -> Response:
        self.svc.where_for(viewer, filters)  # refuse a bad filter before the stream starts
        return csv_download(export_csv(self.path, viewer, filters), f"{self.path}.csv")

    async def get(self, viewer: Viewer, row_id: int) -> dict:
        return await self.svc.get(viewer, row_id)

    async def form_fields(self, viewer, values, errors, current, row_id):
        values = values if current is not None or row_id is not None else \
            {k: v for k, v in values.items() if k in self.svc.r.by_name}
        extra: dict = {}
        if self.path == "assets" and values.get("rack_id"):
            extra["rack_space"] = await _rack_space_or_none(viewer, values, row_id)
        if self.path == "ip-addresses":
            extra["prefixes"] = await ref_options(PREFIX_REF)
        return await form_fields(self.svc, values, errors, viewer, current), extra

    def may_change(self, viewer: Viewer) -> None:
        require_writer(self.svc.r, viewer)

    async def create(self, viewer: Viewer, data: dict) -> dict:
        return await self.svc.create(viewer, clean_form(self.svc, data, partial=False))

    async def update(self, viewer: Viewer, row_id: int, data: dict) -> None:
        await self.svc.update(viewer, row_id, clean_form(self.svc, data, partial=True))

    async def delete(self, viewer: Viewer, row_id: int) -> None:
        await self.svc.delete(viewer, row_id)


def _int(raw: str | None, default: int) -> int:
    try:
        return validation.integer(raw, "number") if raw is not None else default
    except DomainError:
        return default


async def _rack_space_or_none(viewer: Viewer, values: dict, asset_id: int | None) -> dict | None:
    try:
        rack_id = validation.optional_ident(values.get("rack_id"), "rack_id")
        height = max(1, min(_int(str(values.get("height_u") or 1), 1), services.MAX_RACK_U))
        return await live.rack_space(viewer, rack_id, height, asset_id) if rack_id else None
    except (ValueError, DomainError):
        return None


@get("/assets/rack-space", name="inventory:rack_space")
async def rack_space(request: Request, viewer: CurrentViewer) -> Template:
    """The asset form asks, when the rack or the height changes: where does it fit?"""
    params = request.query_params
    asset_id = _int(params.get("asset_id"), 0) or None
    space = await _rack_space_or_none(viewer, dict(params), asset_id)
    return Template("pages/_rack_space.html", context={"rack_space": space, "position": params.get("position_u", "")})


@get("/ip-addresses/next-free", name="inventory:next_free_ip")
async def next_free_ip(request: Request, viewer: CurrentViewer) -> Template:
    """The address form's "next free IP" button: the address input, filled in (or the reason it cannot be)."""
    prefix_id = _int(request.query_params.get("prefix_id"), 0)
    try:
        found = await services.next_free_ip(viewer, prefix_id)
        return Template("pages/_address_input.html", context={"value": found["address"], "error": None,
                                                              "vrf": found["vrf"]})
    except DomainError as exc:
        return Template("pages/_address_input.html", context={"value": request.query_params.get("address", ""),
                                                              "error": exc.detail, "vrf": None})


page_routes: list = [rack_space, next_free_ip, *(controller(ResourcePages(s)) for s in services.BY_PATH.values())]
