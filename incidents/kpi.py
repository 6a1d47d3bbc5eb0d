"""Support-desk KPIs — pure (standard library plus the pure incidents.sla and
incidents.workflow; no framework, ORM, clock or I/O).

Input is an incident's history reduced to what the KPIs read (`History`: the
incident row and its status, escalation and comment timeline entries). Two
steps:

    facts(history, now) -> Facts        one incident's measured times and flags
    report(facts, ...)  -> dict         the KPI tables over a set of incidents

`Facts` of a resolved incident never change until its history does, so
storage may keep them (incidents.kpi_store does) and recompute only when the
incident changed. Business time is `incidents.sla.working_minutes` with the
incident's governing SLA plan (24x7 when it has none), so "09:00-18:00" stays
nine working hours on a DST change day and weekends do not count.

Definitions (each is also in DEFINITIONS, which the API and page show):
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from incidents import sla, workflow

UTC = dt.timezone.utc
AUTO_SOURCES = ("probe", "trap")
#: Authors of entries made by the software itself, never a person's reply.
MACHINE_AUTHORS = frozenset({"system", "engine"})
#: Backlog ageing buckets: (label, upper bound in minutes, exclusive); the last is open-ended.
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("<1h", 60), ("1-4h", 240), ("4-24h", 1440), ("1-3d", 4320), (">3d", math.inf))
GROUP_BYS = ("category", "client", "site", "line", "source", "priority")
BUCKETS = ("day", "week")
DURATIONS = ("time_to_first_response", "time_to_acknowledge", "time_to_resolve", "handling_time")

DEFINITIONS: dict[str, str] = {
    "cohort": "The incidents a report covers: opened in [from, to) and matching the filters. Every rate and "
              "duration below is over the cohort; backlog, ageing and overdue are the current snapshot of open "
              "incidents matching the filters.",
    "incidents": "Incidents in the cohort.",
    "resolved": "Cohort incidents resolved or closed now.",
    "closed_pct": "Share of the cohort whose status is closed now.",
    "first_contact_resolution_pct": "Of the cohort's resolved incidents that a person handled (not self-healed): "
                                    "the share resolved at L1, never escalated, never reopened, with at most one "
                                    "public staff reply before resolution.",
    "time_to_first_response": "Opened -> the first acknowledgement or public staff reply (whichever is first); "
                              "incidents without either are left out.",
    "time_to_acknowledge": "MTTA: opened -> the first move to acknowledged.",
    "time_to_resolve": "MTTR: opened -> the final resolution (resolved or closed incidents).",
    "handling_time": "Average handling time: time the incident was open (opened -> final resolution) minus time "
                     "in pending_client and time spent resolved before a reopen.",
    "calendar_vs_business": "Durations are in minutes, as mean, median and p90 (nearest rank), in calendar time "
                            "and in the business time of the incident's SLA plan (24x7 without a plan).",
    "response_breach_pct": "Of cohort incidents under an SLA plan: the share whose response time ran out "
                           "(first acknowledgement, public reply or resolution later than the plan allows, "
                           "pending_client not counted) - as of the resolution, or of now while open.",
    "resolution_breach_pct": "Likewise for the resolution time.",
    "overdue_now": "Open incidents (filters apply, not the period) whose response or resolution due time has "
                   "passed now.",
    "backlog": "Open incidents now (filters apply, not the period), by age since opened: <1h, 1-4h, 4-24h, "
               "1-3d, >3d.",
    "series": "Per day or ISO week (UTC) in the period: incidents opened (incoming) and incidents whose final "
              "resolution falls in it (resolved), whatever their opening date.",
    "reopen_rate_pct": "Of the cohort incidents resolved at least once: the share reopened at least once.",
    "escalation_rate_pct": "Share of the cohort escalated at least once.",
    "escalation_by_line": "Per support line: cohort incidents that reached the line, how many of them it "
                          "escalated onwards, and that rate.",
    "proactive_pct": "Share of the cohort's problems that probes or traps opened before any client contact on "
                     "them. Problems = the cohort minus client calls linked to an auto-opened incident. A client "
                     "call (a phone/e-mail/chat/portal incident) is linked to an auto-opened incident when it is "
                     "its child (parent_id) or shares an affected asset with it while both were open; an "
                     "auto-opened incident is proactive unless a linked call was opened before it.",
    "self_healed_pct": "Of the cohort's auto-opened incidents: the share that recovered with nobody acting.",
    "detection_to_first_call": "For each auto-opened incident with a linked call opened after it: minutes from "
                               "detection to the first such call (mean, median, p90, and the list).",
    "call_mix": "Cohort share by category (equipment failure, remote-site power, reboot request, fiber, "
                "client request, other).",
    "groups": "With group_by, the same metrics per category / client / site / line (the line holding it now) / "
              "source / priority. An incident affecting several clients or sites counts in each of their "
              "groups; totals count it once.",
}
__doc__ += "\n".join(f"    {k}: {v}" for k, v in DEFINITIONS.items())


# ---------------------------------------------------------------- input


@dataclass(frozen=True)
class Entry:
    """One timeline entry the KPIs read.

    kind: "status" (to/frm = statuses), "escalation" (to/frm = lines), "comment".
    public: visible to the client.  staff: written by a staff person (not the
    engine, not the system, not a client user)."""

    at: dt.datetime
    kind: str
    to: str = ""
    frm: str = ""
    public: bool = False
    staff: bool = False


@dataclass(frozen=True)
class History:
    id: int
    opened_at: dt.datetime
    category: str
    priority: str
    source: str
    status: str  # now
    line: str  # now
    entries: tuple[Entry, ...] = ()
    self_healed: bool = False
    plan: sla.SlaPlan | None = None
    #: A client call's links: the auto-opened incidents it is linked to
    #: (DEFINITIONS["proactive_pct"]; storage finds them).
    linked_to: tuple[int, ...] = ()


@dataclass(frozen=True)
class Facts:
    """One incident measured. Durations in minutes (None = did not happen);
    *_bus in the SLA plan's business time. Breach flags None without a plan."""

    id: int
    opened_at: dt.datetime
    category: str
    priority: str
    source: str
    status: str
    line: str
    plan_id: int | None
    self_healed: bool
    resolved_at: dt.datetime | None  # final resolution (None while open)
    ttfr: float | None = None
    ttfr_bus: float | None = None
    tta: float | None = None
    tta_bus: float | None = None
    ttr: float | None = None
    ttr_bus: float | None = None
    aht: float | None = None
    aht_bus: float | None = None
    fcr: bool | None = None  # None = not eligible (open or self-healed)
    resolutions: int = 0
    reopens: int = 0
    escalated_from: str = ""  # comma-separated lines that escalated it onwards
    response_breached: bool | None = None
    resolution_breached: bool | None = None
    linked_to: str = ""  # comma-separated ids of the auto-opened incidents this call is linked to

    @property
    def auto(self) -> bool:
        return self.source in AUTO_SOURCES

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------- one incident


def _minutes(a: dt.datetime, b: dt.datetime) -> float:
    return (b - a).total_seconds() / 60


def facts(h: History, now: dt.datetime) -> Facts:
    """Measure one incident (see DEFINITIONS). `now` matters only while it is open (breaches)."""
    entries = sorted(h.entries, key=lambda e: e.at)
    statuses = [(e.at, e.to) for e in entries if e.kind == "status"]
    resolved_now = h.status in (workflow.RESOLVED, workflow.CLOSED)
    resolutions = [at for at, to in statuses if to == workflow.RESOLVED]
    resolved_at = resolutions[-1] if resolved_now and resolutions else None
    if resolved_now and resolved_at is None:  # resolved without a recorded move (imported): trust the status
        resolved_at = max((at for at, _ in statuses), default=h.opened_at)
    reopens = sum(1 for e in entries if e.kind == "status" and e.frm in (workflow.RESOLVED, workflow.CLOSED)
                  and workflow.is_open(e.to))
    acknowledged = next((at for at, to in statuses if to == workflow.ACKNOWLEDGED), None)
    replies = [e.at for e in entries if e.kind == "comment" and e.public and e.staff]
    first_response = min([t for t in (acknowledged, replies[0] if replies else None) if t is not None], default=None)
    escalations = [e for e in entries if e.kind == "escalation" and e.to]
    plan = h.plan
    pauses = sla.pauses_from_history(statuses, workflow.PAUSED_STATUSES)

    def both(end: dt.datetime | None, paused: bool = False) -> tuple[float | None, float | None]:
        if end is None:
            return None, None
        spans = pauses if paused else ()
        return (sla.working_minutes(None, h.opened_at, end, spans),
                sla.working_minutes(plan.hours if plan else None, h.opened_at, end, spans))

    ttfr, ttfr_bus = both(first_response)
    tta, tta_bus = both(acknowledged)
    ttr, ttr_bus = both(resolved_at)
    aht, aht_bus = both(resolved_at, paused=True)

    fcr = None
    if resolved_at is not None and not h.self_healed:
        replies_before = sum(1 for t in replies if t <= resolved_at)
        fcr = h.line == "L1" and not escalations and reopens == 0 and replies_before <= 1

    response_breached = resolution_breached = None
    if plan is not None and h.priority in plan.resolution_minutes:
        # The SLA engine's own reading: the response clock stops at the first
        # acknowledgement, public reply or resolution; pending_client pauses.
        engine_response = min([t for t in (first_response, resolutions[0] if resolutions else None)
                               if t is not None], default=None)
        status = sla.sla_status(plan, h.priority, h.opened_at, resolved_at or now, pauses,
                                first_response_at=engine_response, resolved_at=resolved_at)
        response_breached, resolution_breached = status.response_breached, status.resolution_breached

    return Facts(
        id=h.id, opened_at=h.opened_at, category=h.category, priority=h.priority, source=h.source,
        status=h.status, line=h.line, plan_id=plan.id if plan else None, self_healed=h.self_healed,
        resolved_at=resolved_at, ttfr=ttfr, ttfr_bus=ttfr_bus, tta=tta, tta_bus=tta_bus, ttr=ttr, ttr_bus=ttr_bus,
        aht=aht, aht_bus=aht_bus, fcr=fcr, resolutions=len(resolutions), reopens=reopens,
        escalated_from=",".join(e.frm for e in escalations if e.frm),
        response_breached=response_breached, resolution_breached=resolution_breached,
        linked_to=",".join(str(i) for i in sorted(set(h.linked_to))) if h.source not in AUTO_SOURCES else "",
    )


# ---------------------------------------------------------------- statistics


def summary(values: Iterable[float]) -> dict[str, float | int | None]:
    """n, mean, median and p90 (nearest rank: the ceil(0.9 n)-th smallest), rounded to 0.1 minute."""
    data = sorted(values)
    if not data:
        return {"n": 0, "mean": None, "median": None, "p90": None}
    return {
        "n": len(data),
        "mean": round(statistics.fmean(data), 1),
        "median": round(statistics.median(data), 1),
        "p90": round(data[max(math.ceil(0.9 * len(data)) - 1, 0)], 1),
    }


def pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


# ---------------------------------------------------------------- the report


@dataclass(frozen=True)
class Links:
    """Client calls linked to auto-opened incidents (DEFINITIONS["proactive_pct"]):
    auto incident id -> opening times of its linked calls; the ids of linked calls."""

    calls: Mapping[int, Sequence[dt.datetime]] = field(default_factory=dict)
    linked_calls: frozenset[int] = frozenset()

    @classmethod
    def of(cls, items: Iterable[Facts]) -> "Links":
        calls: dict[int, list[dt.datetime]] = {}
        linked = set()
        for f in items:
            if f.linked_to:
                linked.add(f.id)
                for auto_id in f.linked_to.split(","):
                    calls.setdefault(int(auto_id), []).append(f.opened_at)
        return cls(calls, frozenset(linked))


def metrics(items: Sequence[Facts], links: Links | None = None) -> dict[str, Any]:
    """Every cohort metric over `items` (see DEFINITIONS). Links default to those among `items`."""
    links = Links.of(items) if links is None else links
    n = len(items)
    resolved = [f for f in items if f.resolved_at is not None]
    eligible = [f for f in resolved if f.fcr is not None]
    planned = [f for f in items if f.response_breached is not None]
    resolved_once = [f for f in items if f.resolutions > 0]
    out: dict[str, Any] = {
        "incidents": n,
        "resolved": len(resolved),
        "resolved_pct": pct(len(resolved), n),
        "closed": sum(1 for f in items if f.status == workflow.CLOSED),
        "first_contact_resolution_pct": pct(sum(1 for f in eligible if f.fcr), len(eligible)),
        "fcr_eligible": len(eligible),
        "under_sla": len(planned),
        "response_breached": sum(1 for f in planned if f.response_breached),
        "resolution_breached": sum(1 for f in planned if f.resolution_breached),
        "reopened": sum(1 for f in resolved_once if f.reopens),
        "reopen_rate_pct": pct(sum(1 for f in resolved_once if f.reopens), len(resolved_once)),
        "escalated": sum(1 for f in items if f.escalated_from),
        "escalation_rate_pct": pct(sum(1 for f in items if f.escalated_from), n),
    }
    out["closed_pct"] = pct(out["closed"], n)
    out["response_breach_pct"] = pct(out["response_breached"], len(planned))
    out["resolution_breach_pct"] = pct(out["resolution_breached"], len(planned))
    for name, attr in (("time_to_first_response", "ttfr"), ("time_to_acknowledge", "tta"),
                       ("time_to_resolve", "ttr"), ("handling_time", "aht")):
        out[name] = {
            "calendar": summary(getattr(f, attr) for f in items if getattr(f, attr) is not None),
            "business": summary(getattr(f, attr + "_bus") for f in items if getattr(f, attr + "_bus") is not None),
        }
    out.update(proactive(items, links))
    return out


def proactive(items: Sequence[Facts], links: Links) -> dict[str, Any]:
    auto = [f for f in items if f.auto]
    problems = [f for f in items if f.auto or f.id not in links.linked_calls]
    proactive_ids = []
    delays = []
    for f in auto:
        calls = sorted(links.calls.get(f.id, ()))
        if calls and calls[0] < f.opened_at:
            continue  # a client called first
        proactive_ids.append(f.id)
        if calls:
            delays.append((f.id, round(_minutes(f.opened_at, calls[0]), 1)))
    return {
        "auto_opened": len(auto),
        "problems": len(problems),
        "proactive": len(proactive_ids),
        "proactive_pct": pct(len(proactive_ids), len(problems)),
        "self_healed": sum(1 for f in auto if f.self_healed),
        "self_healed_pct": pct(sum(1 for f in auto if f.self_healed), len(auto)),
        "detection_to_first_call": {**summary(d for _, d in delays),
                                    "incidents": [{"incident_id": i, "minutes": d} for i, d in delays]},
    }


def call_mix(items: Sequence[Facts]) -> list[dict[str, Any]]:
    counts = {c: 0 for c in workflow.CATEGORIES}
    for f in items:
        counts[f.category] = counts.get(f.category, 0) + 1
    return [{"category": c, "incidents": k, "share_pct": pct(k, len(items))} for c, k in counts.items()]


def escalation_by_line(items: Sequence[Facts]) -> list[dict[str, Any]]:
    """Lines L1..L3 (the vendor never escalates): reached, escalated onwards, rate."""
    out = []
    for i, line in enumerate(workflow.LINES[:3]):
        reached = [f for f in items if i == 0 or workflow.LINES[i - 1] in f.escalated_from.split(",")
                   or (f.line in workflow.LINES and workflow.LINES.index(f.line) >= i)]
        up = sum(1 for f in reached if line in f.escalated_from.split(","))
        out.append({"line": line, "reached": len(reached), "escalated": up, "escalation_rate_pct": pct(up, len(reached))})
    return out


def bucket_start(at: dt.datetime, bucket: str) -> dt.date:
    day = at.astimezone(UTC).date()
    return day - dt.timedelta(days=day.weekday()) if bucket == "week" else day


def series(items: Sequence[Facts], resolved_times: Iterable[dt.datetime], start: dt.datetime, end: dt.datetime,
           bucket: str = "day") -> list[dict[str, Any]]:
    """Incoming (cohort opened) vs resolved (final resolutions in [start, end)) per UTC day or ISO week."""
    step = dt.timedelta(days=7 if bucket == "week" else 1)
    first, last = bucket_start(start, bucket), bucket_start(end - dt.timedelta(microseconds=1), bucket)
    rows: dict[dt.date, dict[str, Any]] = {}
    day = first
    while day <= last:
        rows[day] = {"period": day.isoformat(), "incoming": 0, "resolved": 0}
        day += step
    for f in items:
        if start <= f.opened_at < end:
            rows[bucket_start(f.opened_at, bucket)]["incoming"] += 1
    for at in resolved_times:
        if start <= at < end:
            rows[bucket_start(at, bucket)]["resolved"] += 1
    return list(rows.values())


def backlog(open_items: Sequence[Facts], now: dt.datetime) -> dict[str, Any]:
    """Open incidents now by age, and how many of them are overdue."""
    buckets = {label: 0 for label, _ in AGE_BUCKETS}
    for f in open_items:
        age = _minutes(f.opened_at, now)
        label = next(lbl for lbl, bound in AGE_BUCKETS if age < bound)
        buckets[label] += 1
    return {
        "open": len(open_items),
        "overdue_now": sum(1 for f in open_items if f.response_breached or f.resolution_breached),
        "ageing": [{"age": k, "incidents": v} for k, v in buckets.items()],
    }


def report(
    cohort: Sequence[Facts],
    open_now: Sequence[Facts],
    *,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    resolved_times: Iterable[dt.datetime] = (),
    group_by: str | None = None,
    groups_of: Callable[[Facts], Iterable[Any]] | None = None,
    labels: Mapping[Any, str] | None = None,
    bucket: str = "day",
) -> dict[str, Any]:
    """The whole KPI report: totals, optional groups, series, backlog, mix, lines.

    groups_of(f) gives the group keys of an incident (several for client/site);
    without it group_by reads the attribute of that name from Facts."""
    links = Links.of(cohort)  # a group's calls still count against the auto incident in another group
    if group_by is not None and groups_of is None:
        groups_of = lambda f: (getattr(f, group_by),)  # noqa: E731
    out: dict[str, Any] = {
        "from": start, "to": end, "as_of": now, "group_by": group_by, "bucket": bucket,
        "totals": metrics(cohort, links),
        "series": series(cohort, resolved_times, start, end, bucket),
        "backlog": backlog(open_now, now),
        "call_mix": call_mix(cohort),
        "escalation_by_line": escalation_by_line(cohort),
        "groups": [],
    }
    if groups_of is not None:
        members: dict[Any, list[Facts]] = {}
        for f in cohort:
            for key in groups_of(f):
                members.setdefault(key, []).append(f)
        open_members: dict[Any, list[Facts]] = {}
        for f in open_now:
            for key in groups_of(f):
                open_members.setdefault(key, []).append(f)
        for key in sorted(set(members) | set(open_members), key=lambda k: (k is None, str(k))):
            row = metrics(members.get(key, []), links)
            snap = backlog(open_members.get(key, []), now)
            row.update(open_now=snap["open"], overdue_now=snap["overdue_now"])
            out["groups"].append({"key": key, "label": (labels or {}).get(key, "" if key is None else str(key)),
                                  **row})
    return out
