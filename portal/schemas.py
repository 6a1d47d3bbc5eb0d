"""Response types of the portal API (/api/v1/portal), for the OpenAPI
document. The portal's own: it never reuses the staff side's, so a field
added there cannot leak here by a shared type.

No `from __future__ import annotations`: on Python 3.11 it hides NotRequired
from TypedDict."""

import datetime as dt
from typing import NotRequired, Optional, TypedDict

from incidents.schemas import SampleOut  # graph points carry no client data


class SlaTerms(TypedDict):
    name: str
    hours: str  # 24x7 | business
    timezone: str
    business_days: list[int]  # ISO weekdays, Monday = 1
    business_start: str  # HH:MM
    business_end: str
    response_minutes: dict[str, int]  # priority -> minutes
    resolution_minutes: dict[str, int]


class PortalContact(TypedDict):
    id: int
    name: str
    email: str
    phone: str
    role: str
    notify: bool
    language: str
    you: bool  # the contact linked to the viewer's user


class PortalCompany(TypedDict):
    id: int
    code: str
    name: str
    contract_number: str
    status: str
    timezone: str
    sla: Optional[SlaTerms]
    contacts: list[PortalContact]


class Named(TypedDict):
    id: int
    name: str


class PortalCheck(TypedDict):
    key: str
    state: str  # ok | warning | critical | unknown
    value: Optional[str]
    since: Optional[dt.datetime]


class PortalAsset(TypedDict):
    id: int
    name: str
    kind: str
    manufacturer: str
    model: str
    serial: Optional[str]
    status: str
    site: Named
    rack: Optional[Named]
    position_u: Optional[int]
    height_u: int
    state: Optional[str]  # the worst check; null = not monitored
    checks: list[PortalCheck]


class PortalPort(TypedDict):
    """The client's port on shared equipment; equipment of another client is not named."""

    equipment: Optional[str]
    equipment_kind: str
    site: str
    if_index: int
    name: str
    role: str
    state: Optional[str]
    since: Optional[dt.datetime]
    asset_id: Optional[int]


class PortalAddress(TypedDict):
    address: str
    prefix_len: Optional[int]
    family: int
    asset: Optional[str]


class PortalPrefix(TypedDict):
    prefix: str
    family: int
    site: Optional[str]


class PortalService(TypedDict):
    id: int
    kind: str
    site: str
    bandwidth_mbps: Optional[int]
    status: str
    description: str


class PortalEquipment(TypedDict):
    assets: list[PortalAsset]
    ports: list[PortalPort]
    ip_addresses: list[PortalAddress]
    prefixes: list[PortalPrefix]
    services: list[PortalService]


class OwnAsset(TypedDict):
    asset_id: int
    name: str
    role: str


class PortalSla(TypedDict):
    applies: bool
    response_due_at: Optional[dt.datetime]
    resolution_due_at: Optional[dt.datetime]
    response_breached: bool
    resolution_breached: bool
    within: bool


class PortalEntry(TypedDict):
    id: int
    at: dt.datetime
    kind: str
    author: str  # the client's own user, "support" or "monitoring"
    body: str


class PortalIncident(TypedDict):
    id: int
    title: str  # other clients' names masked
    category: str
    priority: str
    status: str
    source: str
    opened_at: Optional[dt.datetime]
    acknowledged_at: Optional[dt.datetime]
    first_response_at: Optional[dt.datetime]
    resolved_at: Optional[dt.datetime]
    closed_at: Optional[dt.datetime]
    affected_assets: list[OwnAsset]
    sla: PortalSla
    description: NotRequired[str]  # one incident
    timeline: NotRequired[list[PortalEntry]]  # one incident: public entries only


class MaintenanceTarget(TypedDict):
    type: str  # asset | site | client
    name: str


class PortalWindow(TypedDict):
    id: int
    on: MaintenanceTarget
    starts_at: Optional[dt.datetime]
    ends_at: Optional[dt.datetime]
    reason: str
    current: bool


__all__ = ["PortalCompany", "PortalEquipment", "PortalIncident", "PortalWindow", "SampleOut"]
