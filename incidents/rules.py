"""The incident engine's rules — a pure function (no I/O, no ORM, no framework).

    decide(updates, incidents, topology, maintenance, now, checks, params) -> list[Decision]

The storage wrapper (incidents/engine.py) loads the inputs, calls `decide`, and
applies the decisions in order inside one transaction. See ARCHITECTURE.md,
"The engine's rules". The types below are the contract between the two.

Contract notes for the storage wrapper and the probes
=====================================================

All additions are optional fields with defaults; no name or field of the
original contract changed.

* **Timer tick** = ``decide([], incidents, topology, maintenance, now, checks)``.
  Recovery, the end of a maintenance window, "the root recovered but a child
  is still down" and the site-silence grouping wait are only seen on a call
  that gets ``checks``. Run one every ~15–30 s.
* **What to pass.** ``incidents``: every open incident, plus those resolved
  within ``Params.reopen_window`` (only status ``resolved`` is ever reopened).
  ``checks``: the stored ``CheckStatus`` of every check of every asset in
  ``topology`` (at least: the assets of the sites touched by the updates, their
  upstream assets, and every root check of the incidents passed in). The
  updates of the call override ``checks`` for their keys, so ``checks`` may be
  loaded before or after the check states are written. ``topology``: at least
  the touched assets, everything upstream and downstream of them, and every
  asset of their sites (site silence compares a remote site's assets).
  ``IncidentView.recent_changes``: the state changes (CheckEvent times) of the
  incident's root checks within ``flap_window`` — also for resolved ones.
* **Added ``CheckUpdate.recent_changes``**: the times of this check's earlier
  state changes within ``flap_window`` (CheckEvent rows), this observation
  excluded (duplicates are harmless). Without it a port flapping on *polls*
  (state alternating every poll, so the hold-down streak never completes) is
  only detected by traps; with it, K changes in W open one incident at once,
  marked flapping.
* **Added ``Params`` fields** (impact thresholds) and ``Params.from_settings``
  (reads ``rackcard.settings.EngineSettings`` by attribute; no import).
* **Reboot** is represented by the ``uptime`` check in state ``warning`` (any
  message; e.g. "rebooted"): the probes set it when sysUpTime went backwards,
  while the device has been up less than ``recent_reboot_s``, and on a
  coldStart/warmStart trap; ``ok`` again afterwards. An ``uptime`` problem needs
  no hold-down (it is an event). It opens a ``reboot`` incident (self-healed
  once ``uptime`` has been ``ok`` for ``recovery_hold``) unless the asset is
  already in an open incident, or was in one resolved within
  ``reopen_window`` (devices restarting when power returns): then it is one
  Note on that incident.
* **Manual incidents** (fingerprint ``manual:...``, no root checks) never
  auto-resolve and never absorb probe problems: a probe fault on one of their
  assets opens its own incident and adds one Note to the manual incident.
* **Recovery**: every root check ``ok`` for ``recovery_hold`` (for a flapping
  incident: for ``max(recovery_hold, flap_window)``). A ``site:*:unreachable``
  incident resolves when more than half of its root checks are back; the
  assets still silent then get their own incidents (like the children of a
  recovered root). A fault reopens a resolved incident only if it began after
  ``resolved_at`` (a check that never recovered opens a new incident).
* **Fingerprints**: ``asset:<id>:<check key>``; every ``power:*`` check of any
  asset at a site → ``site:<site id>:power`` (two UPSes on battery at one site
  are one outage); a silent remote site → ``site:<site id>:unreachable``.
  ``fingerprint()`` computes them.
* **Decisions for an incident opened in the same call** are folded into its
  ``OpenIncident`` (its ``asset_roles`` / ``client_ids`` / ``root_checks`` are
  final); ``SetFlapping`` may follow it with the fingerprint as reference.
* **AttachAsset** for an asset already attached: add ``check_key`` (if given)
  to the incident's root checks and upgrade the role to ``root`` when
  ``role == "root"``; never downgrade root → impacted. ``client_ids`` are the
  clients that become affected (add, never remove).
* **Reclassify** is emitted for an existing incident when its category follows
  new evidence, or its computed priority is *higher* than the current one
  (impact grew). Automatic priority never goes down (a person may have raised
  it); manual ``request`` incidents keep their category.
* ``Resolve`` of a flapping incident is preceded by ``SetFlapping(False)``.
* ``priority_for``, ``clients_of_asset``, ``services_of_asset`` are public so
  manual incidents (no priority given) are classified the same way.
* **Impact before outage** (role ``at_risk``): after the problems, every open
  automatic incident whose root assets are in trouble (``own_level``: on
  battery, a trunk port in warning = at risk; output off, a PDU inlet lost,
  the device down, a trunk port down = lost) attaches what they feed
  downstream over power/uplink edges: ``at_risk`` while a feed is in trouble,
  ``impacted`` once every feed of one kind is lost. An ``AttachAsset`` with
  role ``at_risk`` carries the clients newly at risk; any other role carries
  the clients newly affected *or* moving from at risk to down. Roles only
  strengthen (root > impacted > at_risk). ``IncidentView.at_risk_client_ids``
  and ``OpenIncident.at_risk_client_ids`` say which clients are only at risk.
  Run only when a problem was confirmed or cleared, or an incident opened.
* **Titles** say what happened in words, with what it hits; ``Retitle`` keeps
  an automatic incident's title (and its battery estimate, from the UPS's
  ``power:minutes_remaining`` value: ``CheckStatus.value``) current, with a
  one-time ``note`` when the battery falls under BATTERY_WARN_MINUTES. Only
  for views that carry their stored ``title``.
* A fault on an asset whose only open incident is a reboot one opens its own
  incident (never filed under "… rebooted").

The rules, in the order an observation meets them (Alerta: blackout → dedup →
correlate): dedup by fingerprint / covering incident → maintenance (asset,
site, or any client the asset serves; or an upstream asset whose problem is
inside a window — inhibition) → reboot → topology (nearest upstream asset in
trouble, transitively over power and uplink edges) → site (remote site: join
its power / unreachable incident, or group a whole-site silence into one
incident, waiting up to ``site_silence_window`` for the rest of the site) →
the asset's own open incident (one device, one incident) → reopen → open.
Recovery runs before new problems, so a child still down when its root
recovers gets its own incident in the same call.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Union

from cmdb.topology import Graph  # pure, like this module: the same dependency walks as the CMDB's
import validation

OK, WARNING, CRITICAL, UNKNOWN = "ok", "warning", "critical", "unknown"
PROBLEM_STATES = frozenset({WARNING, CRITICAL})

REACHABILITY = "reachability"
UPTIME = "uptime"
PROFILE = "profile"  # "not readable: wrong profile?" (probes.interpret.readability)
POWER_PREFIX = "power:"
MINUTES_REMAINING = "power:minutes_remaining"

ROOT, IMPACTED, AT_RISK = "root", "impacted", "at_risk"
ROLE_STRENGTH = {AT_RISK: 0, IMPACTED: 1, ROOT: 2}
#: A battery estimate under this many minutes gets a timeline entry (call the site now).
BATTERY_WARN_MINUTES = 5
#: upsEstimatedMinutesRemaining values that mean "no estimate" (65535, 2^32-1 ...).
NO_ESTIMATE_MINUTES = 65535

CATEGORIES = ("fiber", "power", "equipment", "reboot", "request", "other")
PRIORITIES = ("P1", "P2", "P3", "P4")

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
    # Added: earlier state changes of this check within flap_window (see the notes above).
    recent_changes: tuple[dt.datetime, ...] = ()


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
    value: str | None = None  # the last value (minutes of battery left, a port's status label ...)


@dataclass(frozen=True)
class InterfaceInfo:
    if_index: int
    role: str  # fiber | copper | uplink | client | other
    client_id: int | None = None
    service_id: int | None = None
    name: str = ""  # how titles name the port ("slot_1_fx"); "" = "port <ifIndex>"
    client_name: str = ""  # the client it serves, named in titles

    @property
    def label(self) -> str:
        base = self.name or f"port {self.if_index}"
        return f"{base} ({self.client_name})" if self.client_name else base


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
    # Added: the clients of `client_ids` only at risk (none of their equipment down yet),
    # the stored title ("" = unknown: never retitled) and the battery estimate last shown.
    at_risk_client_ids: frozenset[int] = frozenset()
    title: str = ""
    battery_exhausted_at: dt.datetime | None = None
    battery_minutes_left: int | None = None


@dataclass(frozen=True)
class Params:
    hold_down_polls: int = 3
    flap_changes: int = 5
    flap_window: dt.timedelta = dt.timedelta(minutes=10)
    recovery_hold: dt.timedelta = dt.timedelta(minutes=2)
    reopen_window: dt.timedelta = dt.timedelta(minutes=30)
    site_silence_window: dt.timedelta = dt.timedelta(minutes=2)
    # Added: impact thresholds for priority (see priority_for).
    wide_impact_clients: int = 10  # this many affected clients (or services below) = wide impact
    wide_impact_services: int = 20
    some_impact_clients: int = 3  # ... = significant impact
    some_impact_services: int = 5

    @classmethod
    def from_settings(cls, engine: Any) -> "Params":
        """From rackcard.settings.EngineSettings (read by attribute name)."""
        return cls(
            hold_down_polls=engine.hold_down_polls,
            flap_changes=engine.flap_changes,
            flap_window=dt.timedelta(seconds=engine.flap_window_s),
            recovery_hold=dt.timedelta(seconds=engine.recovery_hold_s),
            reopen_window=dt.timedelta(seconds=engine.reopen_window_s),
            site_silence_window=dt.timedelta(seconds=engine.site_silence_window_s),
        )


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
    at_risk_client_ids: frozenset[int] = frozenset()  # of client_ids: only at risk
    battery_exhausted_at: dt.datetime | None = None
    battery_minutes_left: int | None = None


@dataclass(frozen=True)
class AttachAsset:
    incident: IncidentRef
    asset_id: int
    role: str  # root | impacted | at_risk
    # clients that become affected through it; with role at_risk they are at risk,
    # otherwise down (a client at risk before is now down)
    client_ids: frozenset[int] = frozenset()
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
class Retitle:
    """The title follows what the incident hits ("Khimki node on battery — 12 min left,
    3 clients at risk"), with the battery estimate it shows; `note` (when set) goes
    to the timeline (the battery is about to run out)."""

    incident: IncidentRef
    title: str
    at: dt.datetime
    battery_exhausted_at: dt.datetime | None = None
    battery_minutes_left: int | None = None
    note: str = ""


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


Decision = Union[OpenIncident, AttachAsset, Note, SetFlapping, Reclassify, Retitle, Resolve, Reopen, Suppress]


# ---------------------------------------------------------------- evidence helpers (public)


def fingerprint(asset_id: int, key: str, asset: AssetInfo | None = None) -> str:
    """The fingerprint of a problem on (asset, key): power checks are per site."""
    if key.startswith(POWER_PREFIX) and asset is not None:
        return f"site:{asset.site_id}:power"
    return f"asset:{asset_id}:{key}"


def site_unreachable_fingerprint(site_id: int) -> str:
    return f"site:{site_id}:unreachable"


def if_index_of(key: str) -> int | None:
    """`link:3` / `rx_power:3` -> 3; None for checks not about one interface."""
    prefix, sep, rest = key.partition(":")
    if sep and prefix in ("link", "rx_power", "tx_power"):
        return validation.id_or_name(rest)
    return None


def _interface(asset: AssetInfo | None, if_index: int | None) -> InterfaceInfo | None:
    if asset is None or if_index is None:
        return None
    for iface in asset.interfaces:
        if iface.if_index == if_index:
            return iface
    return None


def clients_of_asset(asset: AssetInfo | None) -> frozenset[int]:
    """Every client an asset touches: owner, its interfaces' clients, its services' clients."""
    if asset is None:
        return frozenset()
    ids = set(asset.service_client_ids)
    if asset.client_id is not None:
        ids.add(asset.client_id)
    ids.update(i.client_id for i in asset.interfaces if i.client_id is not None)
    return frozenset(ids)


def services_of_asset(asset: AssetInfo | None) -> frozenset[int]:
    if asset is None:
        return frozenset()
    return frozenset(asset.service_ids) | frozenset(i.service_id for i in asset.interfaces if i.service_id is not None)


def clients_of_check(asset: AssetInfo | None, key: str) -> frozenset[int]:
    """The clients a problem on (asset, key) affects.

    A port check names the client of THAT interface; a port without a client
    on the trunk side (fiber / uplink role) carries everything, so all the
    asset's clients; any other port without a client: the owner. Whole-device
    checks (reachability, power, uptime ...): all the asset's clients.
    """
    if asset is None:
        return frozenset()
    idx = if_index_of(key)
    if idx is None:
        return clients_of_asset(asset)
    iface = _interface(asset, idx)
    if iface is not None and iface.client_id is not None:
        return frozenset({iface.client_id})
    if iface is not None and iface.role in ("fiber", "uplink") or asset.kind == "media_converter":
        return clients_of_asset(asset)
    return frozenset({asset.client_id}) if asset.client_id is not None else frozenset()


def services_of_check(asset: AssetInfo | None, key: str) -> frozenset[int]:
    if asset is None:
        return frozenset()
    idx = if_index_of(key)
    if idx is None:
        return services_of_asset(asset)
    iface = _interface(asset, idx)
    if iface is not None and iface.service_id is not None:
        return frozenset({iface.service_id})
    if iface is not None and iface.role in ("fiber", "uplink") or asset.kind == "media_converter":
        return services_of_asset(asset)
    return frozenset()


_CATEGORY_ORDER = {"power": 0, "fiber": 1, "equipment": 2, "reboot": 3, "other": 4}


def categorize(
    fp: str,
    root_checks: Iterable[tuple[int, str]],
    topology: Topology,
    problem_keys: Mapping[int, Iterable[str]] | None = None,
) -> str:
    """The category from the evidence (the incident's root checks).

    power: a power:* check, or a silent remote site · fiber: a fiber-role port
    (link or rx_power) down while the copper side is up · equipment: device
    silent (its power and uplink fine — otherwise it would have joined their
    incident), a non-fiber port down, or a media converter with both sides
    down · reboot: uptime reset · other: anything else.
    `problem_keys` (asset -> keys currently in trouble) adds the state of
    ports outside the incident: a copper port also down makes fiber equipment.
    """
    if fp.startswith("site:"):
        return "power"
    by_asset: dict[int, set[str]] = defaultdict(set)
    for asset_id, key in root_checks:
        by_asset[asset_id].add(key)
    found = "other"
    for asset_id, keys in by_asset.items():
        asset = topology.assets.get(asset_id)
        down = set(keys) | set((problem_keys or {}).get(asset_id, ()))
        fiber_down = copper_down = False
        for key in down:
            iface = _interface(asset, if_index_of(key))
            if iface is not None and iface.role == "fiber":
                fiber_down = True
            elif iface is not None and iface.role in ("copper", "client") and key.startswith("link:"):
                copper_down = True
        for key in keys:
            if key.startswith(POWER_PREFIX):
                cat = "power"
            elif if_index_of(key) is not None:
                iface = _interface(asset, if_index_of(key))
                if iface is not None and iface.role == "fiber":
                    both = copper_down and asset is not None and asset.kind == "media_converter"
                    cat = "equipment" if both else "fiber"
                elif key.startswith("link:"):
                    cat = "equipment"
                else:
                    cat = "other"
            elif key == REACHABILITY:
                cat = "fiber" if fiber_down and not copper_down else "equipment"
            elif key == UPTIME:
                cat = "reboot"
            elif key == PROFILE:
                cat = "equipment"  # a device nobody can read: an unmonitored device
            else:
                cat = "other"
            if _CATEGORY_ORDER[cat] < _CATEGORY_ORDER[found]:
                found = cat
    return found


#: How urgent a category is: 1 = most (a power outage spreads as batteries drain).
URGENCY = {"power": 1, "fiber": 2, "equipment": 2, "reboot": 3, "other": 3, "request": 3}


def impact_level(
    client_ids: Iterable[int],
    service_ids: Iterable[int],
    client_plan_rank: Mapping[int, int],
    params: Params = Params(),
) -> int:
    """1 (wide) .. 4 (none): how many clients and services; a client on the
    most demanding plan (rank 1) raises it one step."""
    clients = set(client_ids)
    services = set(service_ids)
    if len(clients) >= params.wide_impact_clients or len(services) >= params.wide_impact_services:
        level = 1
    elif len(clients) >= params.some_impact_clients or len(services) >= params.some_impact_services:
        level = 2
    elif clients or services:
        level = 3
    else:
        level = 4
    if any(client_plan_rank.get(c) == 1 for c in clients):
        level = max(1, level - 1)
    return level


def priority_for(
    category: str,
    client_ids: Iterable[int],
    service_ids: Iterable[int],
    client_plan_rank: Mapping[int, int],
    params: Params = Params(),
    at_risk_client_ids: Iterable[int] = (),
    at_risk_service_ids: Iterable[int] = (),
) -> str:
    """P1..P4 from impact × urgency: score = impact level + urgency (2..7);
    <= 3 -> P1, 4 -> P2, 5–6 -> P3, 7 -> P4. Clients and services only at risk
    (their equipment still up, its power or uplink in trouble) count one impact
    level below those already down: a node feeding 30 clients on battery is P1/P2
    before anything fails. `client_ids` may include the at-risk ones."""
    at_risk = set(at_risk_client_ids)
    down_clients = set(client_ids) - at_risk
    down_services = set(service_ids) - set(at_risk_service_ids)
    level = impact_level(down_clients, down_services, client_plan_rank, params)
    if at_risk or at_risk_service_ids:
        level = min(level, impact_level(at_risk, at_risk_service_ids, client_plan_rank, params) + 1)
    score = level + URGENCY.get(category, 3)
    if score <= 3:
        return "P1"
    if score == 4:
        return "P2"
    if score <= 6:
        return "P3"
    return "P4"


def _prio_num(priority: str) -> int:
    try:
        return int(priority[1:])
    except (ValueError, IndexError):
        return 9


def window_for(
    asset: AssetInfo | None, windows: Iterable[MaintenanceWindow], now: dt.datetime
) -> MaintenanceWindow | None:
    """The active maintenance window covering an asset (itself, its site, or any client it serves)."""
    if asset is None:
        return None
    clients = None
    for w in windows:
        if not (w.starts_at <= now < w.ends_at):
            continue
        if w.asset_id is not None and w.asset_id == asset.id:
            return w
        if w.site_id is not None and w.site_id == asset.site_id:
            return w
        if w.client_id is not None:
            if clients is None:
                clients = clients_of_asset(asset)
            if w.client_id in clients:
                return w
    return None


# ---------------------------------------------------------------- the engine


class _Inc:
    """A working copy of an incident while deciding."""

    def __init__(self, ref: IncidentRef, fp: str, status: str, category: str, priority: str,
                 opened_at: dt.datetime, resolved_at: dt.datetime | None, root_checks: Iterable[tuple[int, str]],
                 asset_roles: Mapping[int, str], client_ids: Iterable[int], flapping: bool, acted: bool,
                 changes: Iterable[dt.datetime], new: bool):
        self.ref = ref
        self.fp = fp
        self.status = status
        self.category = category
        self.priority = priority
        self.opened_at = opened_at
        self.resolved_at = resolved_at
        self.root_checks: set[tuple[int, str]] = set(root_checks)
        self.asset_roles: dict[int, str] = dict(asset_roles)
        self.client_ids: set[int] = set(client_ids)
        self.flapping = flapping
        self.acted = acted
        self.changes: set[dt.datetime] = set(changes)
        self.new = new
        self.touched = False
        self.reasons: list[str] = []
        # for a new incident: where its placeholder sits in the output, and its source/description
        self.slot = -1
        self.source = "probe"
        self.description: list[str] = []
        # clients only at risk; the title and battery estimate stored (existing incidents)
        self.at_risk_clients: set[int] = set()
        self.title = ""
        self.battery_at: dt.datetime | None = None
        self.battery_min: int | None = None

    @property
    def open(self) -> bool:
        return self.status not in ("resolved", "closed")

    def id_for_reopen(self) -> int:
        assert isinstance(self.ref, int)
        return self.ref


class _Run:
    def __init__(self, updates, incidents, topology, maintenance, now, checks, params):
        self.topology: Topology = topology
        self.assets = topology.assets
        self.maintenance = [w for w in maintenance if w.starts_at <= now < w.ends_at]
        self.now: dt.datetime = now
        self.p: Params = params
        self.out: list[Any] = []

        # -- check states: stored, overridden by this call's updates
        # CheckStatus and CheckUpdate share the fields read here: state, since, streak, source
        self.view: dict[tuple[int, str], Any] = dict(checks) if checks else {}
        self.updates: dict[tuple[int, str], CheckUpdate] = {}
        self.batch_changes: dict[tuple[int, str], list[dt.datetime]] = defaultdict(list)
        self.check_changes: dict[tuple[int, str], set[dt.datetime]] = defaultdict(set)
        self.changed_order: list[CheckUpdate] = []
        for u in updates:
            ck = (u.asset_id, u.key)
            self.view[ck] = u
            self.updates[ck] = u
            self.check_changes[ck].update(u.recent_changes)
            if u.previous_state is not None and u.previous_state != u.state:
                self.batch_changes[ck].append(u.observed_at)
                self.check_changes[ck].add(u.observed_at)
                self.changed_order.append(u)
        # did this call confirm or clear a problem (a change, a trap, a hold-down completed)?
        self.shifted = any(u.previous_state != u.state or u.source == "trap" or u.streak == params.hold_down_polls
                           for u in updates)
        self.problem_keys: dict[int, set[str]] = defaultdict(set)
        self.in_trouble: list[tuple[int, str]] = []
        for ck, c in self.view.items():
            if c.state in PROBLEM_STATES:
                self.problem_keys[ck[0]].add(ck[1])
                self.in_trouble.append(ck)

        # -- topology: edges in id order, so every walk (and so every decision) is deterministic
        self.graph = Graph(sorted({(e.asset_id, e.depends_on_id, e.kind) for e in topology.edges
                                   if e.asset_id != e.depends_on_id}))
        self.site_assets: dict[int, list[int]] = defaultdict(list)
        for a in sorted(self.assets):
            self.site_assets[self.assets[a].site_id].append(a)
        self._depth: dict[int, int] = {}
        self._silence: dict[int, tuple[bool, list[int], bool, bool]] = {}
        self._own: dict[int, int] = {}
        self._level: dict[int, int] = {}

        # -- incidents
        self.open_by_fp: dict[str, _Inc] = {}
        self.root_owner: dict[tuple[int, str], _Inc] = {}
        self.asset_incs: dict[int, list[_Inc]] = defaultdict(list)
        self.resolved: list[_Inc] = []
        self.all: list[_Inc] = []
        for v in sorted(incidents, key=lambda i: i.id):
            inc = _Inc(v.id, v.fingerprint, v.status, v.category, v.priority, v.opened_at, v.resolved_at,
                       v.root_checks, v.asset_roles, v.client_ids, v.flapping, v.acted, v.recent_changes, False)
            inc.at_risk_clients = set(v.at_risk_client_ids) & inc.client_ids
            inc.title, inc.battery_at, inc.battery_min = v.title, v.battery_exhausted_at, v.battery_minutes_left
            self.all.append(inc)
            if inc.open:
                self._index(inc)
            elif inc.status == "resolved":
                self.resolved.append(inc)

    # ------------------------------------------------------------ indexes

    def _index(self, inc: _Inc) -> None:
        self.open_by_fp.setdefault(inc.fp, inc)
        for ck in inc.root_checks:
            self.root_owner.setdefault(ck, inc)
        for a in inc.asset_roles:
            if inc not in self.asset_incs[a]:
                self.asset_incs[a].append(inc)

    def _unindex(self, inc: _Inc) -> None:
        if self.open_by_fp.get(inc.fp) is inc:
            del self.open_by_fp[inc.fp]
        for ck in inc.root_checks:
            if self.root_owner.get(ck) is inc:
                del self.root_owner[ck]
        for a in inc.asset_roles:
            if inc in self.asset_incs.get(a, ()):
                self.asset_incs[a].remove(inc)

    # ------------------------------------------------------------ small helpers

    def name(self, a: int) -> str:
        asset = self.assets.get(a)
        return asset.name if asset is not None else f"asset {a}"

    def site_name(self, site_id: int) -> str:
        return self.topology.site_names.get(site_id, f"site {site_id}")

    def depth(self, a: int) -> int:
        """Longest chain of dependencies above `a` (cycle-safe): upstream first."""
        if a in self._depth:
            return self._depth[a]
        stack = [(a, self._above(a))]
        on_path = {a}
        best: dict[int, int] = {a: 0}
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                on_path.discard(node)
                self._depth[node] = best[node]
                if stack:
                    parent = stack[-1][0]
                    best[parent] = max(best[parent], best[node] + 1)
                continue
            if nxt in on_path:
                continue  # a cycle: ignore the back edge
            if nxt in self._depth:
                best[node] = max(best[node], self._depth[nxt] + 1)
                continue
            on_path.add(nxt)
            best[nxt] = 0
            stack.append((nxt, self._above(nxt)))
        return self._depth[a]

    def _above(self, a: int):
        return (e.depends_on for e in self.graph.up.get(a, ()))

    def confirmed(self, ck: tuple[int, str]) -> bool:
        c = self.view.get(ck)
        if c is None or c.state not in PROBLEM_STATES:
            return False
        return (c.source == "trap" or c.streak >= self.p.hold_down_polls or ck[1] == UPTIME
                or self.check_flapping(ck))

    def check_flapping(self, ck: tuple[int, str]) -> bool:
        horizon = self.now - self.p.flap_window
        return sum(1 for t in self.check_changes.get(ck, ()) if t > horizon) >= self.p.flap_changes

    def covering(self, a: int, k: str) -> _Inc | None:
        """The open incident that already accounts for (a, k): its root check, or the asset impacted."""
        inc = self.root_owner.get((a, k))
        if inc is not None and inc.open:
            return inc
        for inc in self.asset_incs.get(a, ()):
            if inc.open and inc.asset_roles.get(a) == "impacted":
                return inc
        return None

    def explains(self, u: int, k: str) -> bool:
        """Does a problem of upstream asset u on check k explain trouble downstream?"""
        if k == REACHABILITY or k == UPTIME or k.startswith(POWER_PREFIX):
            return True
        idx = if_index_of(k)
        if idx is None:
            return False
        asset = self.assets.get(u)
        if asset is not None and asset.kind == "media_converter":
            return True
        iface = _interface(asset, idx)
        return iface is not None and iface.role in ("fiber", "uplink")

    def upstream_trouble(self, a: int):
        """Nearest upstream asset in trouble, breadth first over power and uplink edges:
        ("incident", inc) | ("maintenance", window) | ("pending", asset id) | None."""
        for u in self.graph.upstream([a]):  # nearest first
            for inc in self.asset_incs.get(u, ()):
                if not inc.open:
                    continue
                if inc.asset_roles.get(u) == "impacted" or any(
                    x == u and self.explains(u, k) for x, k in inc.root_checks
                ):
                    return ("incident", inc)
            keys = [k for k in sorted(self.problem_keys.get(u, ())) if self.explains(u, k)]
            if keys:
                w = window_for(self.assets.get(u), self.maintenance, self.now)
                if w is not None:
                    return ("maintenance", w)
                return ("pending", u)
        return None

    def site_silence(self, site_id: int) -> tuple[bool, list[int], bool, bool]:
        """(every asset of the site with a reachability check is critical, within the
        window; the silent assets; a power check is in trouble at the site; the site has
        at least two such assets)."""
        if site_id in self._silence:
            return self._silence[site_id]
        reach = [x for x in self.site_assets.get(site_id, ()) if (x, REACHABILITY) in self.view]
        silent = [x for x in reach if self.view[(x, REACHABILITY)].state == CRITICAL]
        power = any(k.startswith(POWER_PREFIX) for x in self.site_assets.get(site_id, ())
                    for k in self.problem_keys.get(x, ()))
        all_silent = False
        if len(reach) >= 2 and len(silent) == len(reach):
            sinces = [self.view[(x, REACHABILITY)].since for x in silent]
            all_silent = max(sinces) - min(sinces) <= self.p.site_silence_window
        result = (all_silent, silent, power, len(reach) >= 2)
        self._silence[site_id] = result
        return result

    def recent(self, since: dt.datetime) -> bool:
        return self.now - since < self.p.site_silence_window

    def describe(self, a: int, k: str) -> str:
        c = self.view.get((a, k))
        u = self.updates.get((a, k))
        msg = f" — {u.message}" if u is not None and u.message else ""
        state = c.state if c is not None else "?"
        return f"{self.name(a)} {k} {state}{msg}"

    # ------------------------------------------------------------ decisions

    def emit(self, d: Any) -> None:
        self.out.append(d)

    def note(self, inc: _Inc, text: str, at: dt.datetime) -> None:
        if inc.new:
            inc.description.append(text)
        else:
            self.emit(Note(inc.ref, text, at))

    def attach(self, inc: _Inc, a: int, role: str, clients: frozenset[int], check_key: str | None, note: str) -> None:
        current = inc.asset_roles.get(a)
        new_role = max(role, current or AT_RISK, key=ROLE_STRENGTH.__getitem__)  # root > impacted > at_risk
        if current == new_role and (check_key is None or role != "root" or (a, check_key) in inc.root_checks):
            return  # nothing new
        if new_role == AT_RISK:
            added_clients = frozenset(clients - inc.client_ids)
            inc.at_risk_clients |= added_clients
        else:  # new clients, and those at risk until now: down
            added_clients = frozenset((clients - inc.client_ids) | (clients & inc.at_risk_clients))
            inc.at_risk_clients -= clients
        if check_key is not None and role == "root":
            inc.root_checks.add((a, check_key))
            self.root_owner.setdefault((a, check_key), inc)
        inc.asset_roles[a] = new_role
        inc.client_ids |= clients
        if inc not in self.asset_incs[a]:
            self.asset_incs[a].append(inc)
        inc.touched = True
        if inc.new:
            inc.description.append(note)
        else:
            self.emit(AttachAsset(inc.ref, a, new_role, added_clients, check_key if role == "root" else None, note))

    def check_flap(self, inc: _Inc) -> None:
        if inc.flapping:
            return
        horizon = self.now - self.p.flap_window
        if sum(1 for t in inc.changes if t > horizon) >= self.p.flap_changes:
            inc.flapping = True
            self.emit(SetFlapping(inc.ref, True, self.now))

    def open_incident(self, fp: str, roots: list[tuple[int, str]], roles: dict[int, str],
                      clients: set[int], source: str, description: str) -> _Inc:
        inc = _Inc(fp, fp, "new", "other", "P4", self.now, None, roots, roles, clients, False, False, (), True)
        inc.source = source
        inc.description.append(description)
        for ck in roots:
            inc.changes.update(self.check_changes.get(ck, ()))
        inc.slot = len(self.out)
        self.out.append(None)  # placeholder, finalised at the end
        self.all.append(inc)
        self._index(inc)
        # whatever downstream is already in trouble and not accounted for joins at once
        self.adopt_downstream(inc)
        if any(self.check_flapping(ck) for ck in roots):
            inc.flapping = True
            self.emit(SetFlapping(fp, True, self.now))
        return inc

    def adopt_downstream(self, inc: _Inc) -> None:
        if not any(self.explains(a, k) for a, k in inc.root_checks):
            return
        seen = set(inc.asset_roles)
        frontier = sorted({a for a, _ in inc.root_checks})
        while frontier:
            nxt = []
            for node in frontier:
                for d in (e.asset for e in self.graph.down.get(node, ())):
                    if d in seen:
                        continue
                    seen.add(d)
                    nxt.append(d)
                    keys = self.problem_keys.get(d)
                    if keys and not any(self.covering(d, k) or self.root_owner.get((d, k)) for k in keys):
                        if window_for(self.assets.get(d), self.maintenance, self.now) is None:
                            self.attach(inc, d, "impacted", clients_of_asset(self.assets.get(d)), None,
                                        f"{self.name(d)} impacted: depends on {self.name(node)}")
            frontier = nxt

    # ------------------------------------------------------------ the rules

    def run(self) -> list[Decision]:
        # 1. observations on checks already accounted for: a timeline note per state change
        for u in self.changed_order:
            inc = self.covering(u.asset_id, u.key)
            if inc is None:
                if u.state in PROBLEM_STATES:
                    continue  # a new problem: handled with the problems below
                inc = next((i for i in self.asset_incs.get(u.asset_id, ()) if i.open), None)
            if inc is not None:
                msg = f" — {u.message}" if u.message else ""
                self.emit(Note(inc.ref, f"{self.name(u.asset_id)} {u.key}: {u.previous_state} → {u.state}{msg}",
                               u.observed_at))

        # 2. flapping of open incidents (state changes of their root checks)
        for inc in [i for i in self.all if i.open]:
            new = [t for ck in inc.root_checks for t in self.batch_changes.get(ck, ())]
            if new:
                inc.changes.update(new)
                self.check_flap(inc)

        # 3. recovery
        for inc in sorted((i for i in self.all if i.open and not i.new), key=lambda i: i.ref):
            self.recover(inc)

        # 4. problems not accounted for, upstream first
        cands = [ck for ck in self.in_trouble if self.confirmed(ck)]
        cands.sort(key=lambda ck: (self.depth(ck[0]), ck[0], ck[1]))
        for a, k in cands:
            self.problem(a, k)

        # 5. impact before outage: what the incidents' sources still feed is at risk
        self.spread_risk()

        # 6. finalise: new incidents' OpenIncident, reclassification and titles of the others
        self.finalise()
        return [d for d in self.out if d is not None]

    def recover(self, inc: _Inc) -> None:
        if not inc.root_checks:
            return  # manual incidents are resolved by people
        hold = max(self.p.recovery_hold, self.p.flap_window) if inc.flapping else self.p.recovery_hold
        ok = 0
        for ck in inc.root_checks:
            c = self.view.get(ck)
            if c is None:
                return  # unknown state: cannot tell
            if c.state == OK and self.now - c.since >= hold:
                ok += 1
        total = len(inc.root_checks)
        if inc.fp.startswith("site:") and inc.fp.endswith(":unreachable"):
            back = ok * 2 > total  # the site is back; stragglers get their own incidents
        else:
            back = ok == total
        if not back:
            return
        if inc.flapping:
            inc.flapping = False
            self.emit(SetFlapping(inc.ref, False, self.now))
        reason = (f"{ok} of {total} root checks OK for {_fmt(hold)}" if ok < total
                  else f"all root checks OK for {_fmt(hold)}")
        self.emit(Resolve(inc.ref, not inc.acted, self.now, reason))
        self._unindex(inc)
        inc.status = "resolved"
        inc.resolved_at = self.now
        self.resolved.append(inc)

    def problem(self, a: int, k: str) -> None:
        if self.covering(a, k) is not None:
            return
        if self.view[(a, k)].state not in PROBLEM_STATES:
            return
        asset = self.assets.get(a)
        u = self.updates.get((a, k))
        c = self.view[(a, k)]
        at = u.observed_at if u is not None else self.now
        fp = fingerprint(a, k, asset)
        clients = clients_of_check(asset, k)
        desc = self.describe(a, k)

        # dedup: the fingerprint is open (a second UPS on battery at the site ...)
        inc = self.open_by_fp.get(fp)
        if inc is not None:
            self.attach(inc, a, "root", clients, k, desc)
            return

        # maintenance on the asset, its site or a client it serves
        w = window_for(asset, self.maintenance, self.now)
        if w is not None:
            self.suppress(a, k, w, u)
            return

        # a reboot of something already in (or just out of) an incident is part of that story
        if k == UPTIME:
            if u is None or u.previous_state == u.state:
                quiet = True  # already told (or seen only in stored state): say it once
            else:
                quiet = False
            for inc in self.asset_incs.get(a, ()):
                if inc.open and inc.asset_roles.get(a) != AT_RISK:
                    if not quiet:
                        self.note(inc, f"{desc} (rebooted)", at)
                    return
            for inc in sorted(self.resolved, key=lambda i: (i.resolved_at, str(i.ref)), reverse=True):
                if inc.asset_roles.get(a, AT_RISK) != AT_RISK and inc.resolved_at and self.now - inc.resolved_at <= self.p.reopen_window:
                    if not quiet:
                        self.note(inc, f"{desc} (rebooted after the incident)", at)
                    return

        # one device, one incident: another problem of an asset that is root of an open incident
        # (not a reboot incident: a fault after a restart is its own story, never "… rebooted")
        for inc in self.asset_incs.get(a, ()):
            if (inc.open and inc.asset_roles.get(a) == ROOT and _automatic(inc.fp)
                    and not all(key == UPTIME for _, key in inc.root_checks)):
                self.attach(inc, a, "root", clients, k, desc)
                return

        # topology: something upstream is in trouble
        trouble = self.upstream_trouble(a)
        if trouble is not None:
            what, obj = trouble
            if what == "incident":
                self.attach(obj, a, "impacted", clients_of_asset(asset), None,
                            f"{desc}: impacted by {obj.fp}")
                return
            if what == "maintenance":
                self.suppress(a, k, obj, u)
                return
            if what == "pending" and self.recent(c.since):
                return  # wait for the upstream problem to confirm (or clear)

        # site: a remote site's power or silence
        if k == REACHABILITY and asset is not None and asset.site_kind == "remote":
            s = asset.site_id
            inc = self.open_by_fp.get(f"site:{s}:power")
            if inc is not None:
                self.attach(inc, a, "impacted", clients_of_asset(asset), None,
                            f"{desc}: impacted by the power problem at {self.site_name(s)}")
                return
            inc = self.open_by_fp.get(site_unreachable_fingerprint(s))
            if inc is not None:
                self.attach(inc, a, "root", clients_of_asset(asset), REACHABILITY, desc)
                return
            all_silent, silent, power, grouped = self.site_silence(s)
            if all_silent and not power:
                self.open_site_unreachable(s, silent, u)
                return
            if grouped and self.recent(c.since) and (power or not all_silent):
                return  # wait: the rest of the site may be going silent too (or its power check confirm)

        # reopen: the same fault back within the reopen window
        best = None
        for inc in self.resolved:
            if inc.status != "resolved" or inc.resolved_at is None:
                continue
            if inc.fp != fp and (a, k) not in inc.root_checks:
                continue
            if self.now - inc.resolved_at > self.p.reopen_window or c.since < inc.resolved_at:
                continue
            if self.open_by_fp.get(inc.fp) is not None:
                continue
            if best is None or inc.resolved_at > best.resolved_at:
                best = inc
        if best is not None:
            self.reopen(best, a, k, clients, desc)
            return

        # open
        source = "trap" if c.source == "trap" else "probe"
        self.open_incident(fp, [(a, k)], {a: "root"}, set(clients), source, desc)
        # a manual incident (a call about this device) hears about it, once: now
        for inc in self.asset_incs.get(a, ()):
            if inc.open and not _automatic(inc.fp):
                self.emit(Note(inc.ref, f"the probes opened {fp}: {desc}", at))

    # ------------------------------------------------------------ impact before outage

    def own_level(self, a: int) -> int:
        """What `a`'s own confirmed problems do to what it feeds: 0 nothing, 1 at risk
        (on battery, battery low, a degraded trunk port, a silent UPS/PDU that may
        still feed), 2 lost (output off, a PDU's inlet lost, the device down, a
        trunk port down). Reboots and client ports threaten nothing downstream."""
        level = self._own.get(a)
        if level is not None:
            return level
        keys = self.problem_keys.get(a)
        if not keys:
            self._own[a] = 0
            return 0
        asset = self.assets.get(a)
        kind = asset.kind if asset is not None else "other"
        level = 0
        for k in keys:
            if not self.confirmed((a, k)):
                continue
            c = self.view[(a, k)]
            if k == REACHABILITY:
                lvl = 1 if kind in ("ups", "pdu") else 2
            elif k.startswith(POWER_PREFIX):
                lvl = 2 if _power_lost(kind, k, c.state, getattr(c, "value", None)) else 1
            elif _trunk(asset, if_index_of(k)):
                lvl = 2 if c.state == CRITICAL and k.startswith("link:") else 1
            else:
                continue
            level = max(level, lvl)
        self._own[a] = level
        return level

    def level(self, a: int) -> int:
        """`a`'s own level, or what its feeds pass on: every feed of one kind (power,
        uplink) lost -> lost (2); any feed lost or at risk -> at risk (1). So an
        asset with two power or uplink edges is at risk while one is down, and lost
        only when both are."""
        level = self._level.get(a)
        if level is not None:
            return level
        self._level[a] = 0  # a cycle contributes nothing
        level = self.own_level(a)
        edges = self.graph.up.get(a)
        if level < 2 and edges:
            if len(edges) == 1:  # one feed: its level passes on as it is
                level = max(level, self.level(edges[0].depends_on))
            else:
                feeds: dict[str, list[int]] = defaultdict(list)
                for e in edges:
                    feeds[e.kind].append(self.level(e.depends_on))
                for levels in feeds.values():
                    if all(x == 2 for x in levels):
                        level = 2
                        break
                    if any(levels):
                        level = 1
        self._level[a] = level
        return level

    def spread_risk(self) -> None:
        """Every asset downstream (power, uplink) of an incident's sources in trouble
        joins it before anything fails: `at_risk` while a feed is in trouble,
        `impacted` once every feed of one kind is lost. Their clients and services
        count for the priority and the title."""
        if not (self.shifted or any(i.new for i in self.all)):
            return  # no problem confirmed or cleared, no new incident: the last call's answer stands
        for inc in [i for i in self.all if i.open and _automatic(i.fp)]:
            sources = sorted({a for a, _ in inc.root_checks if self.own_level(a) >= 1})
            if not sources:
                continue
            for d in self.graph.downstream(sources):
                current = inc.asset_roles.get(d)
                if current in (ROOT, IMPACTED):
                    continue
                lvl = self.level(d)
                if lvl == 0 or (lvl == 1 and current == AT_RISK):
                    continue
                if window_for(self.assets.get(d), self.maintenance, self.now) is not None:
                    continue
                if any(o is not inc and o.open and o.asset_roles.get(d) in (ROOT, IMPACTED)
                       for o in self.asset_incs.get(d, ())):
                    continue  # already accounted for by another incident
                via = ", ".join(sorted({f"{e.kind} {self.name(e.depends_on)}" for e in self.graph.up.get(d, ())
                                        if self.level(e.depends_on)}))
                clients = clients_of_asset(self.assets.get(d))
                if lvl == 2:
                    self.attach(inc, d, IMPACTED, clients, None, f"{self.name(d)} impacted: every feed lost ({via})")
                else:
                    self.attach(inc, d, AT_RISK, clients, None, f"{self.name(d)} at risk: fed through {via}")

    def battery(self, inc: _Inc) -> tuple[int | None, dt.datetime | None, str]:
        """(minutes left, when the battery runs out, which UPS) for an incident whose
        root UPS is on battery: the lowest estimate of its UPSes, from their last
        upsEstimatedMinutesRemaining sample; (None, None, "") without one."""
        best: tuple[int | None, dt.datetime | None, str] = (None, None, "")
        for a in sorted({a for a, _ in inc.root_checks}):
            src = self.view.get((a, "power:source"))
            c = self.view.get((a, MINUTES_REMAINING))
            if c is None or (src is not None and src.state not in PROBLEM_STATES) or (
                    src is None and c.state not in PROBLEM_STATES):
                continue
            try:
                minutes = float(getattr(c, "value", None))
            except (TypeError, ValueError):
                continue
            if not 0 <= minutes < NO_ESTIMATE_MINUTES:
                continue
            seen = getattr(c, "observed_at", None) or getattr(c, "last_observed_at", None) or self.now
            at = seen + dt.timedelta(minutes=minutes)
            if best[1] is None or at < best[1]:
                best = (int(minutes), at, self.name(a))
        return best

    def suppress(self, a: int, k: str, w: MaintenanceWindow, u: CheckUpdate | None) -> None:
        """Recorded once, when the problem is (newly) confirmed inside the window."""
        if u is None:
            return
        newly = (u.previous_state != u.state) or (u.source != "trap" and u.streak == self.p.hold_down_polls)
        if newly:
            self.emit(Suppress(a, k, w.id, self.now))

    def reopen(self, inc: _Inc, a: int, k: str, clients: frozenset[int], desc: str) -> None:
        self.emit(Reopen(inc.id_for_reopen(), self.now, f"{desc} again within {_fmt(self.p.reopen_window)}"))
        self.resolved.remove(inc)
        inc.status = "new"
        inc.resolved_at = None
        inc.touched = True
        self._index(inc)
        if (a, k) not in inc.root_checks:
            self.attach(inc, a, "root", clients, k, desc)
        inc.changes.update(self.check_changes.get((a, k), ()))
        self.check_flap(inc)

    def open_site_unreachable(self, s: int, silent: list[int], u: CheckUpdate | None) -> None:
        members = [x for x in silent if self.covering(x, REACHABILITY) is None
                   and window_for(self.assets.get(x), self.maintenance, self.now) is None]
        roots = [(x, REACHABILITY) for x in members]
        clients: set[int] = set()
        for x in members:
            clients |= clients_of_asset(self.assets.get(x))
        desc = (f"All {len(silent)} assets of {self.site_name(s)} went silent within "
                f"{_fmt(self.p.site_silence_window)}; no power check explains it.")
        self.open_incident(site_unreachable_fingerprint(s), roots, {x: "root" for x in members}, clients,
                           "probe", desc)

    # ------------------------------------------------------------ finalise

    def services_of(self, inc: _Inc) -> tuple[set[int], set[int]]:
        """(services down, services only at risk) of an incident."""
        services: set[int] = set()
        at_risk: set[int] = set()
        for a, k in inc.root_checks:
            services |= services_of_check(self.assets.get(a), k)
        for a, role in inc.asset_roles.items():
            if role == IMPACTED:
                services |= services_of_asset(self.assets.get(a))
            elif role == AT_RISK:
                at_risk |= services_of_asset(self.assets.get(a))
        return services, at_risk - services

    def priority(self, inc: _Inc, category: str) -> str:
        down, at_risk = self.services_of(inc)
        return priority_for(category, inc.client_ids, down | at_risk, self.topology.client_plan_rank, self.p,
                            at_risk_client_ids=inc.at_risk_clients, at_risk_service_ids=at_risk)

    def finalise(self) -> None:
        for inc in self.all:
            if inc.new:
                category = categorize(inc.fp, inc.root_checks, self.topology, self.problem_keys)
                minutes, until, ups = self.battery(inc)
                if minutes is not None and minutes < BATTERY_WARN_MINUTES:
                    inc.description.append(_battery_note(ups, minutes, until))
                self.out[inc.slot] = OpenIncident(
                    fingerprint=inc.fp,
                    title=self.title(inc, category, minutes),
                    category=category,
                    priority=self.priority(inc, category),
                    source=inc.source,
                    at=self.now,
                    root_checks=frozenset(inc.root_checks),
                    asset_roles=dict(inc.asset_roles),
                    client_ids=frozenset(inc.client_ids),
                    description=_lines(inc.description),
                    at_risk_client_ids=frozenset(inc.at_risk_clients),
                    battery_exhausted_at=until,
                    battery_minutes_left=minutes,
                )
            elif inc.open and (inc.touched or self.roots_observed(inc)):
                category = inc.category
                if inc.category != "request" and inc.root_checks:
                    category = categorize(inc.fp, inc.root_checks, self.topology, self.problem_keys)
                if inc.touched:
                    priority = self.priority(inc, category)
                    new_cat = category if category != inc.category else None
                    new_prio = priority if _prio_num(priority) < _prio_num(inc.priority) else None
                    if new_cat or new_prio:
                        impacted = sum(1 for r in inc.asset_roles.values() if r == IMPACTED)
                        at_risk = sum(1 for r in inc.asset_roles.values() if r == AT_RISK)
                        reason = (f"{len(inc.asset_roles)} assets ({impacted} impacted"
                                  + (f", {at_risk} at risk" if at_risk else "") + "), "
                                  f"{len(inc.client_ids)} clients affected"
                                  + (f" ({len(inc.at_risk_clients)} at risk)" if inc.at_risk_clients else ""))
                        self.emit(Reclassify(inc.ref, new_cat, new_prio, reason))
                if _automatic(inc.fp) and inc.title:
                    self.retitle(inc, category)

    def roots_observed(self, inc: _Inc) -> bool:
        """Did this call observe one of the incident's root assets (minutes of battery falling ...)?"""
        roots = {a for a, _ in inc.root_checks}
        return any(a in roots for a, _ in self.updates)

    def retitle(self, inc: _Inc, category: str) -> None:
        minutes, until, ups = self.battery(inc)
        title = self.title(inc, category, minutes)
        note = ""
        if minutes is not None and minutes < BATTERY_WARN_MINUTES and (
                inc.battery_min is None or inc.battery_min >= BATTERY_WARN_MINUTES):
            note = _battery_note(ups, minutes, until)
        if title != inc.title or minutes != inc.battery_min or note:
            self.emit(Retitle(inc.ref, title, self.now, until, minutes, note))
            inc.title, inc.battery_min, inc.battery_at = title, minutes, until

    def title(self, inc: _Inc, category: str, minutes: int | None = None) -> str:
        """What happened, in words, with what it hits: "Khimki node on battery —
        12 min left, 3 clients at risk"."""
        at_risk = len(inc.at_risk_clients)
        down = len(inc.client_ids) - at_risk
        if inc.fp.startswith("site:") and inc.fp.endswith(":power"):
            s = int(inc.fp.split(":")[1])
            parts = [f"{minutes} min left"] if minutes is not None else []
            if down and at_risk:
                parts.append(f"{_plural(down, 'client')} down")
            if at_risk:
                parts.append(f"{_plural(at_risk, 'client')} at risk")
            elif down:
                parts.append(f"{_plural(down, 'client')} affected")
            return f"{self.site_name(s)} {self.power_what(inc)}" + (" — " + ", ".join(parts) if parts else "")
        base = self.base_title(inc, category)
        return base + (f" — {_plural(at_risk, 'client')} at risk" if at_risk else "")

    def power_what(self, inc: _Inc) -> str:
        """The worst power problem of the incident's root checks, in words."""
        words = []
        for a, k in sorted(inc.root_checks):
            c = self.view.get((a, k))
            if c is None or c.state not in PROBLEM_STATES:
                continue
            value = str(getattr(c, "value", None) or "")
            if k == "power:source":
                lost = _power_lost("ups", k, c.state, value)
                words.append((0, "without power (UPS output off)" if lost else
                              "on battery" if c.state == CRITICAL else f"UPS on {value or 'bypass'}"))
            elif k == "power:output":
                words.append((0, "without power (UPS output bad)"))
            elif k.startswith("power:input"):
                words.append((1, "input power lost"))
            elif k == "power:battery" or k == MINUTES_REMAINING:
                words.append((2, "battery low" if c.state == CRITICAL else "battery degraded"))
            elif k == REACHABILITY:
                words.append((3, f"{self.name(a)} silent"))
            else:
                words.append((3, f"power problem ({k})"))
        return min(words)[1] if words else "power problem"

    def base_title(self, inc: _Inc, category: str) -> str:
        if inc.fp.startswith("site:") and inc.fp.endswith(":unreachable"):
            s = int(inc.fp.split(":")[1])
            return f"Site {self.site_name(s)} unreachable — power or fiber suspected"
        roots = sorted(inc.root_checks)
        if not roots:
            return inc.title
        a, k = roots[0]
        name = self.name(a)
        idx = if_index_of(k)
        iface = _interface(self.assets.get(a), idx)
        port = iface.label if iface is not None else (f"port {idx}" if idx is not None else "")
        if category == "fiber":
            return f"Fiber down on {name}" + (f" {port}" if port else "")
        if category == "reboot":
            return f"{name} rebooted"
        if k == REACHABILITY:
            return f"{name} unreachable"
        if idx is not None and k.startswith("link:"):
            return f"{name} {port} down"
        if k == PROFILE:
            return f"{name} not readable: wrong profile?"
        c = self.view.get((a, k))
        return f"{name}: {k} {c.state if c else ''}".strip()


def _battery_note(ups: str, minutes: int, until: dt.datetime | None) -> str:
    when = f" (about {until:%H:%M} UTC)" if until is not None else ""
    return f"{ups}: battery runs out in {_plural(minutes, 'minute')}{when} — act now"


MAX_DESCRIPTION_LINES = 20


def _lines(lines: list[str]) -> str:
    """The opening description: the first lines of evidence, then a count (500 assets joining at once)."""
    if len(lines) <= MAX_DESCRIPTION_LINES + 1:
        return "\n".join(lines)
    more = len(lines) - MAX_DESCRIPTION_LINES
    return "\n".join(lines[:MAX_DESCRIPTION_LINES] + [f"… and {more} more"])


def _power_lost(kind: str, key: str, state: str, value: str | None) -> bool:
    """Does this power problem mean the feed is gone (not just on battery)?
    A UPS whose output source is none / output bad; a PDU (or anything but a UPS)
    whose input is lost."""
    if state != CRITICAL:
        return False
    if key == "power:output":
        return True
    if key == "power:source":
        return str(value or "").startswith("none")
    return kind != "ups" and key.startswith("power:input")


def _trunk(asset: AssetInfo | None, if_index: int | None) -> bool:
    """A port that carries everything behind the asset (fiber or uplink role, no
    single client): its trouble is what the downstream assets depend on."""
    iface = _interface(asset, if_index)
    return iface is not None and iface.role in ("fiber", "uplink") and iface.client_id is None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _automatic(fp: str) -> bool:
    """Opened by the rules (asset:/site: fingerprints), not by a person (manual:...)."""
    return fp.startswith(("asset:", "site:"))


def _fmt(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


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
    time) into decisions, to be applied in order. Deterministic: the same inputs
    give the same decisions. See the notes at the top of this module."""
    return _Run(updates, incidents, topology, maintenance, now, checks, params).run()
