"""The incident engine's rules — a pure function (no I/O, no ORM, no framework).

    decide(updates, incidents, topology, maintenance, now, checks, params) -> list[Decision]

The storage wrapper (incidents/engine.py) loads the inputs, calls `decide`, and
applies the decisions in order inside one transaction. See ARCHITECTURE.md,
"The engine's rules". The types below are the contract between the two.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Mapping, Union

OK, WARNING, CRITICAL, UNKNOWN = "ok", "warning", "critical", "unknown"
PROBLEM_STATES = frozenset({WARNING, CRITICAL})

# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class CheckUpdate:
    """One observation applied to a check's stored state (from record_observations)."""

    asset_id: int
    key: str  # reachability | link:<ifIndex> | power:source | power:battery | uptime | rx_power:<ifIndex> ...
    state: str  # ok | warning | critical | unknown
    previous_state: str | None  # the check's state before this observation; None = first ever
    streak: int  # consecutive observations in `state`, this one included
    since: dt.datetime  # when `state` began
    observed_at: dt.datetime
    source: str  # poll | trap
    value: str | None = None
    message: str = ""


@dataclass(frozen=True)
class CheckStatus:
    """The stored state of a check, for rules that need more than this batch
    (recovery hold time, site silence, a maintenance window that ended)."""

    asset_id: int
    key: str
    state: str
    since: dt.datetime
    streak: int
    source: str
    last_observed_at: dt.datetime


@dataclass(frozen=True)
class InterfaceInfo:
    if_index: int
    role: str  # fiber | copper | uplink | client | other
    client_id: int | None = None
    service_id: int | None = None


@dataclass(frozen=True)
class AssetInfo:
    id: int
    name: str
    kind: str  # media_converter | router | switch | server | ups | pdu | other
    site_id: int
    site_kind: str  # datacenter | remote | client_premises
    client_id: int | None = None  # owner
    interfaces: tuple[InterfaceInfo, ...] = ()
    service_ids: frozenset[int] = frozenset()  # services this asset delivers
    service_client_ids: frozenset[int] = frozenset()  # clients of those services


@dataclass(frozen=True)
class Edge:
    asset_id: int  # depends on ...
    depends_on_id: int
    kind: str  # power | uplink


@dataclass(frozen=True)
class Topology:
    assets: Mapping[int, AssetInfo]
    edges: tuple[Edge, ...] = ()
    site_names: Mapping[int, str] = field(default_factory=dict)
    # SLA weight of a client's plan for priority: 1 = most demanding; absent = no plan.
    client_plan_rank: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class MaintenanceWindow:
    id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    asset_id: int | None = None
    site_id: int | None = None
    client_id: int | None = None


@dataclass(frozen=True)
class IncidentView:
    """An open incident, or one resolved recently enough to be reopened."""

    id: int
    fingerprint: str
    status: str  # new | acknowledged | in_progress | pending_client | resolved | closed
    category: str
    priority: str  # P1..P4
    opened_at: dt.datetime
    resolved_at: dt.datetime | None = None
    root_checks: frozenset[tuple[int, str]] = frozenset()  # (asset_id, check key)
    asset_roles: Mapping[int, str] = field(default_factory=dict)  # asset_id -> root | impacted
    client_ids: frozenset[int] = frozenset()
    flapping: bool = False
    acted: bool = False  # a person acknowledged, commented or moved it: not self-healed
    recent_changes: tuple[dt.datetime, ...] = ()  # root state-change times, for flap detection


@dataclass(frozen=True)
class Params:
    hold_down_polls: int = 3
    flap_changes: int = 5
    flap_window: dt.timedelta = dt.timedelta(minutes=10)
    recovery_hold: dt.timedelta = dt.timedelta(minutes=2)
    reopen_window: dt.timedelta = dt.timedelta(minutes=30)
    site_silence_window: dt.timedelta = dt.timedelta(minutes=2)


# ---------------------------------------------------------------- decisions

#: An existing incident's id, or the fingerprint of one opened earlier in the same decision list.
IncidentRef = Union[int, str]


@dataclass(frozen=True)
class OpenIncident:
    fingerprint: str  # asset:<id>:<check> | site:<id>:power | site:<id>:unreachable ...
    title: str
    category: str  # fiber | power | equipment | reboot | request | other
    priority: str  # P1..P4
    source: str  # probe | trap
    at: dt.datetime
    root_checks: frozenset[tuple[int, str]]
    asset_roles: Mapping[int, str]  # asset_id -> root | impacted
    client_ids: frozenset[int]
    description: str = ""


@dataclass(frozen=True)
class AttachAsset:
    incident: IncidentRef
    asset_id: int
    role: str  # root | impacted
    client_ids: frozenset[int] = frozenset()  # clients that become affected through it
    check_key: str | None = None  # set when a root check joins
    note: str = ""


@dataclass(frozen=True)
class Note:
    """A timeline entry (kind `probe`, internal) about an observation that touched the incident."""

    incident: IncidentRef
    text: str
    at: dt.datetime


@dataclass(frozen=True)
class SetFlapping:
    incident: IncidentRef
    flapping: bool
    at: dt.datetime


@dataclass(frozen=True)
class Reclassify:
    incident: IncidentRef
    category: str | None = None
    priority: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class Resolve:
    incident: IncidentRef
    self_healed: bool
    at: dt.datetime
    reason: str = ""


@dataclass(frozen=True)
class Reopen:
    incident: int
    at: dt.datetime
    reason: str = ""


@dataclass(frozen=True)
class Suppress:
    """A problem inside a maintenance window: recorded on the asset, no incident, no notification."""

    asset_id: int
    check_key: str
    window_id: int
    at: dt.datetime


Decision = Union[OpenIncident, AttachAsset, Note, SetFlapping, Reclassify, Resolve, Reopen, Suppress]


def decide(
    updates: list[CheckUpdate],
    incidents: list[IncidentView],
    topology: Topology,
    maintenance: list[MaintenanceWindow],
    now: dt.datetime,
    checks: Mapping[tuple[int, str], CheckStatus] | None = None,
    params: Params = Params(),
) -> list[Decision]:
    """Turn check updates (and, on a timer tick with no updates, the passage of
    time) into decisions. Implemented by the incident-engine work."""
    raise NotImplementedError
