"""Response types of the CMDB API, for its OpenAPI document: handlers return
plain dicts and are annotated with these TypedDicts, so the document shows
every field (Litestar reads the annotation; nothing is converted at run time).

A resource's row type is made from its declaration in cmdb/services.py
(`row_type`), so the documented fields are the fields the service returns.
"""

# No `from __future__ import annotations`: on Python 3.11 it hides NotRequired from
# TypedDict, and every optional key would be documented as required.

import datetime as dt
from typing import Any, NotRequired, Optional, TypedDict

from cmdb import services
from cmdb.resources import Field, ResourceService


def _python_type(f: Field) -> Any:
    base: Any = {"int": int, "str": str, "bool": bool, "ids": list[int]}[f.type]
    return Optional[base] if f.nullable else base


def row_type(svc: ResourceService, name: str = "") -> type:
    """A TypedDict of what `svc` returns for one row: id, the declared fields
    (a secret only for admins, with `<name>_set` for everyone), read-only
    output columns and timestamps when the table has them."""
    r = svc.r
    fields: dict[str, Any] = {"id": int}
    for f in r.fields:
        if f.secret:
            fields[f"{f.name}_set"] = bool
            fields[f.name] = NotRequired[_python_type(f)]
        elif f.internal:
            fields[f.name] = NotRequired[_python_type(f)]
        else:
            fields[f.name] = _python_type(f)
    for column in r.output:
        fields[column] = int
    columns = {c._meta.name for c in r.table._meta.columns}
    for stamp in ("created_at", "updated_at"):
        if stamp in columns:
            fields[stamp] = str
    return TypedDict(name or r.name.title().replace(" ", ""), fields)  # type: ignore[operator]


ClientRow = row_type(services.clients, "Client")
AssetRow = row_type(services.assets, "Asset")
ContactRow = row_type(services.contacts, "Contact")
IPAddressRow = row_type(services.ip_addresses, "IPAddress")
PrefixRow = row_type(services.prefixes, "Prefix")
ServiceRow = row_type(services.services, "Service")


class Utilisation(TypedDict):
    size: int
    used: int
    free: int
    percent: float


class PrefixWithUse(PrefixRow):  # type: ignore[misc, valid-type]
    utilisation: Utilisation


class NextFreeIp(TypedDict):
    address: str
    prefix: str
    vrf: str


class SearchHit(TypedDict):
    type: str  # client | contact | ip_address | prefix | asset | site | rack
    id: int
    label: str
    client_id: Optional[int]
    client_name: Optional[str]
    matched: str
    detail: str
    url: str
    vrf: NotRequired[str]
    asset_id: NotRequired[Optional[int]]


class SearchResults(TypedDict):
    q: str
    results: list[SearchHit]


class ImportRowError(TypedDict):
    row: int
    column: Optional[str]
    field: Optional[str]
    message: str


class ImportReport(TypedDict):
    kind: str
    rows: int
    created: int
    dry_run: bool
    errors: list[ImportRowError]


class ImportStatus(TypedDict):
    """A background import (GET /api/v1/imports/{id})."""

    id: int
    kind: str
    status: str  # running | done | rejected | failed | undone
    rows: int  # data rows in the file (known once it is read)
    done: int  # rows gone through so far
    started_by: str
    started_at: dt.datetime
    heartbeat_at: dt.datetime
    finished_at: Optional[dt.datetime]
    report: Optional[ImportReport]  # when finished (rejected: every bad row)


# ---------------------------------------------------------------- the client card (inventory part)


class SiteServices(TypedDict):
    site_id: int
    site_name: str
    services: list[ServiceRow]  # type: ignore[valid-type]


class CardRack(TypedDict):
    id: int
    name: str
    site_id: int
    site_name: str
    height_u: int
    leased: bool
    holds_assets: bool
    units_used_by_client: int


class CardAsset(TypedDict):
    id: int
    name: str
    kind: str
    manufacturer: str
    model: str
    serial: Optional[str]
    site_id: int
    rack_id: Optional[int]
    position_u: Optional[int]
    height_u: int
    client_id: Optional[int]
    mgmt_ip: Optional[str]
    status: str
    snmp_version: Optional[str]
    profile: Optional[str]
    site_name: str
    rack_name: Optional[str]


class CardAssets(TypedDict):
    count: int
    by_kind: dict[str, int]
    by_manufacturer: dict[str, int]
    items: list[CardAsset]


class CardEdge(TypedDict):
    asset_id: int
    asset_name: Optional[str]
    depends_on_id: int
    depends_on_name: Optional[str]
    kind: str


class UpstreamAsset(TypedDict):
    id: int
    name: Optional[str]  # null for another client's asset
    kind: str
    status: str
    site_id: int
    site_name: str
    mgmt_ip: Optional[str]
    other_client: bool


class CardDependencies(TypedDict):
    edges: list[CardEdge]
    upstream_assets: list[UpstreamAsset]


class CardInventory(TypedDict):
    client: ClientRow  # type: ignore[valid-type]
    contacts: list[ContactRow]  # type: ignore[valid-type]
    ip_addresses: list[IPAddressRow]  # type: ignore[valid-type]
    prefixes: list[PrefixWithUse]
    services_by_site: list[SiteServices]
    racks: list[CardRack]
    assets: CardAssets
    dependencies: CardDependencies
