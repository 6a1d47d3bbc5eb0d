"""Response types of the incidents API (incidents, SLA plans, maintenance
windows, webhooks, check state, the live views), for the OpenAPI document:
handlers return plain dicts annotated with these TypedDicts."""

# No `from __future__ import annotations`: on Python 3.11 it hides NotRequired from
# TypedDict, and every optional key would be documented as required.

import datetime as dt
from typing import Any, NotRequired, Optional, TypedDict, Union

from cmdb.schemas import AssetRow, CardInventory
from probes.wire import Observation


class AffectedAssetOut(TypedDict):
    asset_id: int
    name: str
    role: str  # root | impacted | at_risk
    site_id: Optional[int]


class AffectedClientOut(TypedDict):
    client_id: int
    name: str
    impact: str  # down | at_risk


class TimelineItem(TypedDict):
    id: int
    at: dt.datetime
    kind: str  # event | probe | comment | status | escalation | sla | priority | notification | assets
    visibility: str  # internal | public
    author: str
    body: str
    data: dict[str, Any]


class IncidentOut(TypedDict):
    """An incident as lists show it (the single view adds `timeline`)."""

    id: int
    fingerprint: str
    title: str
    description: str
    category: str  # fiber | power | equipment | reboot | request | other
    priority: str  # P1..P4
    status: str  # new | acknowledged | in_progress | pending_client | resolved | closed
    allowed_transitions: list[str]
    line: str  # L1 | L2 | L3 | vendor
    line_since: Optional[dt.datetime]
    assignee: Optional[str]
    source: str  # probe | trap | phone | email | chat | portal
    opened_at: dt.datetime
    acknowledged_at: Optional[dt.datetime]
    first_response_at: Optional[dt.datetime]
    resolved_at: Optional[dt.datetime]
    closed_at: Optional[dt.datetime]
    self_healed: bool
    flapping: bool
    parent_id: Optional[int]
    sla_plan_id: Optional[int]
    response_due_at: Optional[dt.datetime]
    resolution_due_at: Optional[dt.datetime]
    response_breached: bool
    resolution_breached: bool
    battery_exhausted_at: Optional[dt.datetime]  # a UPS on battery: when its estimate runs out
    affected_assets: list[AffectedAssetOut]
    affected_clients: list[AffectedClientOut]
    clients_down: int  # affected clients whose service is down
    clients_at_risk: int  # affected clients only at risk (e.g. a UPS on battery, a redundant feed lost)


class IncidentDetail(IncidentOut):
    timeline: list[TimelineItem]


class ClientCard(CardInventory):
    """The whole client card: inventory, then the incident sections."""

    open_incidents: list[IncidentOut]
    incident_history: list[IncidentOut]


class PriorityMinutes(TypedDict):
    P1: int
    P2: int
    P3: int
    P4: int


class SlaPlanOut(TypedDict):
    id: int
    name: str
    hours: str  # 24x7 | business
    timezone: str
    business_days: list[int]
    business_start: str
    business_end: str
    response_minutes: PriorityMinutes
    resolution_minutes: PriorityMinutes


class WindowOut(TypedDict):
    id: int
    asset_id: Optional[int]
    site_id: Optional[int]
    client_id: Optional[int]
    starts_at: dt.datetime
    ends_at: dt.datetime
    reason: str
    created_by: str
    created_at: NotRequired[dt.datetime]


class WebhookOut(TypedDict):
    id: int
    name: str
    url: str
    events: list[str]
    active: bool
    secret: NotRequired[str]  # only in the create response


class DeliveryAttemptOut(TypedDict):
    at: dt.datetime
    ok: bool
    status_code: Optional[int]
    error: str
    duration_ms: int


class DeliveryOut(TypedDict):
    id: int
    incident_id: int
    event: str
    channel: str  # webhook | email
    target: str
    status: str  # pending | delivered | failed
    attempts: list[DeliveryAttemptOut]
    last_error: str
    next_attempt_at: Optional[dt.datetime]
    delivered_at: Optional[dt.datetime]


class CheckOut(TypedDict):
    key: str
    state: str  # ok | warning | critical | unknown
    value: Optional[str]
    message: str
    since: dt.datetime
    last_observed_at: dt.datetime
    source: str  # poll | trap


class CheckEventOut(TypedDict):
    key: str
    from_state: Optional[str]
    to_state: str
    value: Optional[str]
    message: str
    at: dt.datetime
    source: str


class SampleOut(TypedDict):
    key: str
    value: float
    at: dt.datetime


class PollOut(TypedDict):
    asset_id: int
    observations: list[Observation]


class BatchResult(TypedDict):
    batch_id: str
    duplicate: bool
    applied: int
    stale: int
    rejected: int


# ---------------------------------------------------------------- live views (incidents.live)


class TopologySite(TypedDict):
    id: int
    code: str
    name: str
    kind: str
    address: str


class TopologyNode(TypedDict):
    key: str  # asset-<id> | port-<interface id>
    type: str  # asset | port
    asset_id: int
    name: str
    state: str  # ok | warning | critical | unknown (an asset: its worst check; a port: its link)
    marks: list[str]  # root | impacted | at-risk
    client_id: Optional[int]
    client_name: Optional[str]
    kind: NotRequired[str]
    mgmt_ip: NotRequired[Optional[str]]
    rack_id: NotRequired[Optional[int]]
    site_id: NotRequired[int]
    site_name: NotRequired[Optional[str]]
    outside: NotRequired[bool]  # an asset of another site this site hangs on
    interface_id: NotRequired[int]
    if_index: NotRequired[int]


#: "from" depends on "to" (power or uplink); "from" is a keyword, hence the functional form.
TopologyEdge = TypedDict("TopologyEdge", {"from": str, "to": str, "kind": str})


class SiteTopology(TypedDict):
    site: TopologySite
    nodes: list[TopologyNode]
    edges: list[TopologyEdge]


class RackAsset(TypedDict):
    id: int
    name: str
    kind: str
    manufacturer: str
    model: str
    position_u: int
    height_u: int
    client_id: Optional[int]
    client_name: Optional[str]
    status: str
    state: str
    marks: list[str]


class RackElevation(TypedDict):
    id: int
    name: str
    height_u: int
    site_id: int
    site_name: str
    client_id: Optional[int]
    client_name: Optional[str]
    assets: list[RackAsset]
    free: list[list[int]]  # [lowest, highest] runs of free units, bottom up
    free_u: int


class RackSpace(TypedDict):
    rack_id: int
    name: str
    height_u: int
    free: list[list[int]]
    positions: list[int]  # every lowest U where an asset of the asked height fits


class LinkedAsset(TypedDict):
    asset_id: int
    name: Optional[str]
    kind: Optional[str]
    site_id: Optional[int]
    site_name: Optional[str]
    depth: int
    edge: Optional[str]  # power | uplink
    through_id: Optional[int]
    state: str
    marks: list[str]


class AssetInterface(TypedDict):
    id: int
    if_index: int
    name: str
    role: str
    client_id: Optional[int]
    client_name: Optional[str]
    service_id: Optional[int]
    link_state: Optional[str]
    link_since: Optional[dt.datetime]
    link_message: Optional[str]


class AssetCheck(TypedDict):
    key: str
    state: str
    since: dt.datetime
    message: str


class ImpactedClient(TypedDict):
    client_id: int
    name: str
    impact: str  # down | at_risk (another feed stays up)


class AssetImpact(TypedDict):
    assets: int  # downstream assets hit
    services: int
    clients: list[ImpactedClient]


class SamplePoint(TypedDict):
    at: dt.datetime
    value: float


class AssetNamed(AssetRow):  # type: ignore[misc, valid-type]
    """The asset as GET /assets/{id} returns it, with the names of its site, rack and owner."""

    site_name: str
    rack_name: Optional[str]
    client_name: Optional[str]


class AssetOverview(TypedDict):
    asset: AssetNamed
    state: str
    marks: list[str]
    interfaces: list[AssetInterface]
    checks: list[AssetCheck]
    upstream: list[LinkedAsset]
    downstream: list[LinkedAsset]
    impact: AssetImpact
    incidents: list[IncidentOut]
    samples: dict[str, list[SamplePoint]]


class PowerCycleOut(TypedDict):
    """A power-cycle queued (or, dry run, only checked): what is switched and who else loses power."""

    asset_id: int
    asset_name: str
    client_id: Optional[int]
    client_name: str
    pdu_id: int
    pdu_name: str
    outlet_number: int
    outlet_name: str
    also_loses_power: list[str]
    dry_run: bool
    job_id: Optional[int]
    then_job_id: Optional[int]  # the second device's job (then_asset_id), waiting for the first
    incident_id: Optional[int]
    status: str  # dry_run | queued


class PowerJobOut(TypedDict):
    id: int
    asset_id: int
    asset_name: str
    pdu_name: str
    outlet_number: int
    incident_id: int
    status: str  # waiting | queued | running | done | failed
    step: str
    requested_by: str
    created_at: dt.datetime
    finished_at: Optional[dt.datetime]
    result: str


class PowerClaimOut(TypedDict):
    """The job handed to the worker serving the PDU's site (PDU secrets included), or null."""

    job: Optional[dict[str, Any]]


class PowerStepOut(TypedDict):
    job_id: int
    status: str
# ---------------------------------------------------------------- support desk


class ArticleOut(TypedDict):
    """A knowledge-base article; lists leave out `html`."""

    id: int
    title: str
    body: str  # Markdown
    categories: list[str]
    asset_kinds: list[str]
    asset_models: list[str]
    visibility: str  # public | internal
    language: str  # en | ru
    used_in: NotRequired[int]  # incidents it was used on (staff only: it counts every client's incidents)
    created_at: dt.datetime
    updated_at: dt.datetime
    html: NotRequired[str]  # the safe rendering (one article)
    score: NotRequired[int]  # suggestions: category 4, model 3, kind 2


class CannedReplyOut(TypedDict):
    id: int
    name: str
    category: Optional[str]  # null = any
    language: str
    body: str
    placeholders: list[str]
    visibility: str  # of the comment it becomes
    uses: int
    created_at: dt.datetime
    updated_at: dt.datetime


class RenderedReply(TypedDict):
    reply_id: int
    incident_id: int
    body: str
    visibility: str
    values: dict[str, Optional[str]]  # each placeholder's value


class Suggestions(TypedDict):
    incident_id: int
    articles: list[ArticleOut]
    replies: list[CannedReplyOut]
    used: list[ArticleOut]


# ---------------------------------------------------------------- probe protocol, discovery


class TargetsVersion(TypedDict):
    version: str  # moves with every audited inventory change


class ServedProfiles(TypedDict):
    profiles: dict[str, dict[str, Any]]  # name -> profile entry, as in RACKCARD_PROFILES


class DiscoveredInterface(TypedDict):
    """The stored interface a discovered port is (or null)."""

    id: int
    name: str
    role: str
    client_id: Optional[int]
    if_name: str
    matches: bool  # the stored ifName/ifDescr still names this ifIndex


class DiscoveredPort(TypedDict):
    if_index: int
    if_name: str
    if_descr: str
    alias: str
    if_type: str
    speed_mbps: Optional[int]
    admin: str
    oper: str
    role: str  # proposed: fiber | copper | other
    entity_name: str
    name: str
    interface: Optional[DiscoveredInterface]


class Discovery(TypedDict):
    asset_id: int
    ports: list[DiscoveredPort]
    created: list[int]  # interface ids made from the picks
    updated: list[int]


# ---------------------------------------------------------------- impact views


class ImpactAsset(TypedDict):
    asset_id: int
    name: str
    kind: Optional[str]
    site_id: Optional[int]
    client_id: Optional[int]
    impact: str  # down | at_risk


class ImpactClient(TypedDict):
    client_id: int
    name: str
    impact: str  # down | at_risk
    sla_plan_id: Optional[int]


class ImpactService(TypedDict):
    service_id: int
    kind: str
    client_id: Optional[int]
    site_id: Optional[int]
    impact: str


class ImpactPlan(TypedDict):
    sla_plan_id: int
    name: str
    client_ids: list[int]


class ImpactView(TypedDict):
    """What failing assets would hit: themselves, everything downstream, the
    clients and services behind them, and those clients' SLA plans."""

    assets: list[ImpactAsset]
    downstream: list[ImpactAsset]
    clients: list[ImpactClient]
    services: list[ImpactService]
    sla_plans: list[ImpactPlan]


class WindowImpact(ImpactView):
    window: WindowOut


# ---------------------------------------------------------------- KPI and SLA reports (minutes, percentages)


class Spread(TypedDict):
    """n, mean, median and p90 in minutes (null without values)."""

    n: int
    mean: Optional[float]
    median: Optional[float]
    p90: Optional[float]


class CalendarBusiness(TypedDict):
    calendar: Spread
    business: Spread  # counted in the client's business hours


class FirstCallDelay(TypedDict):
    incident_id: int
    minutes: float


class DetectionDelay(Spread):
    incidents: NotRequired[list[FirstCallDelay]]  # the totals: the longest waits first


class KpiMetrics(TypedDict):
    incidents: int
    resolved: int
    resolved_pct: Optional[float]
    closed: int
    closed_pct: Optional[float]
    first_contact_resolution_pct: Optional[float]
    fcr_eligible: int
    under_sla: int
    response_breached: int
    response_breach_pct: Optional[float]
    resolution_breached: int
    resolution_breach_pct: Optional[float]
    reopened: int
    reopen_rate_pct: Optional[float]
    escalated: int
    escalation_rate_pct: Optional[float]
    auto_opened: int
    problems: int
    proactive: int
    proactive_pct: Optional[float]
    self_healed: int
    self_healed_pct: Optional[float]
    time_to_first_response: CalendarBusiness
    time_to_acknowledge: CalendarBusiness
    time_to_resolve: CalendarBusiness
    handling_time: CalendarBusiness
    detection_to_first_call: DetectionDelay


class KpiGroup(KpiMetrics):
    key: Union[int, str, None]  # the client/site id, or the category, line, source, priority
    label: str
    open_now: int
    overdue_now: int


class KpiPeriod(TypedDict):
    period: str  # the day or week's first day
    incoming: int
    resolved: int


class AgeBucket(TypedDict):
    age: str
    incidents: int


class Backlog(TypedDict):
    open: int
    overdue_now: int
    ageing: list[AgeBucket]


class CategoryShare(TypedDict):
    category: str
    incidents: int
    share_pct: Optional[float]


class LineEscalation(TypedDict):
    line: str  # L1 | L2 | L3
    reached: int
    escalated: int
    escalation_rate_pct: Optional[float]


class KpiFilters(TypedDict):
    client_id: Optional[int]
    category: Optional[str]


KpiReport = TypedDict("KpiReport", {
    "from": dt.datetime, "to": dt.datetime, "as_of": dt.datetime, "group_by": Optional[str], "bucket": str,
    "totals": KpiMetrics, "series": list[KpiPeriod], "backlog": Backlog, "call_mix": list[CategoryShare],
    "escalation_by_line": list[LineEscalation], "groups": list[KpiGroup], "filters": KpiFilters,
    "definitions": dict[str, str],
})


class SlaReportClient(TypedDict):
    id: int
    name: str


class SlaReportPlan(TypedDict):
    id: Optional[int]
    name: str
    hours: str  # 24x7 | business
    response_minutes: dict[str, int]  # priority -> minutes
    resolution_minutes: dict[str, int]


class ServiceAvailability(TypedDict):
    id: int
    kind: str
    description: str
    bandwidth_mbps: Optional[int]
    status: str
    site: str
    checks: list[str]  # asset:check the service's availability is read from
    downtime_minutes: float
    availability_pct: Optional[float]


class SlaIncidents(TypedDict):
    incidents: int
    resolved: int
    under_sla: int
    response_breached: int
    response_breach_pct: Optional[float]
    resolution_breached: int
    resolution_breach_pct: Optional[float]
    time_to_first_response: CalendarBusiness
    time_to_resolve: CalendarBusiness


SlaReport = TypedDict("SlaReport", {
    "client": SlaReportClient, "plan": Optional[SlaReportPlan], "from": dt.datetime, "to": dt.datetime,
    "as_of": dt.datetime, "services": list[ServiceAvailability], "incidents": SlaIncidents, "open_now": int,
    "definitions": dict[str, str],
})
