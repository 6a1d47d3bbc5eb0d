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
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Sequence

from incidents import sla, workflow

UTC = dt.timezone.utc
AUTO_SOURCES = ("probe", "trap")
#: Authors of entries made by the software itself, never a person's reply.
MACHINE_AUTHORS = frozenset({"system", "engine"})
#: Backlog ageing buckets: (label, upper bound in minutes, exclusive); the last is open-ended.
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("<1h", 60), ("1-4h", 240), ("4-24h", 1440), ("1-3d", 4320), (">3d", math.inf))
#: How many incidents the JSON report lists under detection_to_first_call (longest first).
DELAY_LIST = 100
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
    #: Links between client calls and auto-opened incidents (DEFINITIONS["proactive_pct"];
    #: storage finds them): for a call, the auto-opened incidents it is linked to;
    #: for an auto-opened incident, when its linked calls were opened.
    linked_to: tuple[int, ...] = ()
    calls: tuple[dt.datetime, ...] = ()


class Facts(NamedTuple):
    """One incident measured. Durations in minutes, to the second (None = did not happen);
    *_bus in the SLA plan's business time. Breach flags None without a plan.
    (A named tuple: a report over 100,000 incidents builds 100,000 of them.)"""

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
    first_call: float | None = None  # auto-opened: minutes from detection to its first linked call (< 0: called first)

    @property
    def auto(self) -> bool:
        return self.source in AUTO_SOURCES


# ---------------------------------------------------------------- one incident


def _minutes(a: dt.datetime, b: dt.datetime) -> float:
    return (b - a).total_seconds() / 60


def to_second(minutes: float) -> float:
    """Durations are measured to the whole second (storage keeps seconds)."""
    return round(minutes * 60) / 60


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
        return (to_second(sla.working_minutes(None, h.opened_at, end, spans)),
                to_second(sla.working_minutes(plan.hours if plan else None, h.opened_at, end, spans)))

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
        first_call=to_second(_minutes(h.opened_at, min(h.calls))) if h.calls and h.source in AUTO_SOURCES else None,
    )


# ---------------------------------------------------------------- statistics


def summary(values: Iterable[float]) -> dict[str, float | int | None]:
    """n, mean, median and p90 (nearest rank: the ceil(0.9 n)-th smallest), rounded to 0.1 minute."""
    data = sorted(values)
    if not data:
        return {"n": 0, "mean": None, "median": None, "p90": None}
    n = len(data)
    middle = data[n // 2] if n % 2 else (data[n // 2 - 1] + data[n // 2]) / 2  # statistics.median, without its sort
    return {
        "n": n,
        "mean": round(statistics.fmean(data), 1),
        "median": round(middle, 1),
        "p90": round(data[max(math.ceil(0.9 * n) - 1, 0)], 1),
    }


def pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


# ---------------------------------------------------------------- the report


_DURATION_ATTRS = (("time_to_first_response", "ttfr"), ("time_to_acknowledge", "tta"),
                   ("time_to_resolve", "ttr"), ("handling_time", "aht"))


def metrics(items: Sequence[Facts]) -> dict[str, Any]:
    """Every cohort metric over `items` (see DEFINITIONS), in one pass.

    This is the reference: storage computes the same numbers in SQL over kept
    facts when a cohort is large (incidents.kpi_store), and a test holds the
    two equal."""
    n = len(items)
    resolved = closed = eligible = fcr_yes = planned = response_b = resolution_b = 0
    resolved_once = reopened = escalated = 0
    values: dict[str, list[float]] = {a + s: [] for _, a in _DURATION_ATTRS for s in ("", "_bus")}
    ttfr, ttfr_bus, tta, tta_bus = values["ttfr"], values["ttfr_bus"], values["tta"], values["tta_bus"]
    ttr, ttr_bus, aht, aht_bus = values["ttr"], values["ttr_bus"], values["aht"], values["aht_bus"]
    for f in items:
        if f.resolved_at is not None:
            resolved += 1
            ttr.append(f.ttr)
            ttr_bus.append(f.ttr_bus)
            aht.append(f.aht)
            aht_bus.append(f.aht_bus)
        if f.status == workflow.CLOSED:
            closed += 1
        if f.fcr is not None:
            eligible += 1
            fcr_yes += bool(f.fcr)
        if f.response_breached is not None:
            planned += 1
            response_b += bool(f.response_breached)
            resolution_b += bool(f.resolution_breached)
        if f.resolutions:
            resolved_once += 1
            reopened += f.reopens > 0
        if f.escalated_from:
            escalated += 1
        if f.ttfr is not None:
            ttfr.append(f.ttfr)
            ttfr_bus.append(f.ttfr_bus)
        if f.tta is not None:
            tta.append(f.tta)
            tta_bus.append(f.tta_bus)
    out: dict[str, Any] = {
        "incidents": n,
        "resolved": resolved,
        "resolved_pct": pct(resolved, n),
        "closed": closed,
        "closed_pct": pct(closed, n),
        "first_contact_resolution_pct": pct(fcr_yes, eligible),
        "fcr_eligible": eligible,
        "under_sla": planned,
        "response_breached": response_b,
        "response_breach_pct": pct(response_b, planned),
        "resolution_breached": resolution_b,
        "resolution_breach_pct": pct(resolution_b, planned),
        "reopened": reopened,
        "reopen_rate_pct": pct(reopened, resolved_once),
        "escalated": escalated,
        "escalation_rate_pct": pct(escalated, n),
    }
    for name, attr in _DURATION_ATTRS:
        out[name] = {"calendar": summary(values[attr]), "business": summary(values[attr + "_bus"])}
    out.update(proactive(items))
    return out


def proactive(items: Sequence[Facts]) -> dict[str, Any]:
    auto = [f for f in items if f.auto]
    problems = sum(1 for f in items if f.auto or not f.linked_to)
    proactive_n = sum(1 for f in auto if f.first_call is None or f.first_call >= 0)
    delays = sorted(((f.first_call, f.id) for f in auto if f.first_call is not None and f.first_call >= 0),
                    reverse=True)
    healed = sum(1 for f in auto if f.self_healed)
    return {
        "auto_opened": len(auto),
        "problems": problems,
        "proactive": proactive_n,
        "proactive_pct": pct(proactive_n, problems),
        "self_healed": healed,
        "self_healed_pct": pct(healed, len(auto)),
        "detection_to_first_call": {
            **summary(d for d, _ in delays),
            # the longest waits first (the CSV table lists them all)
            "incidents": [{"incident_id": i, "minutes": round(d, 1)} for d, i in delays[:DELAY_LIST]],
        },
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
    if group_by is not None and groups_of is None:
        groups_of = lambda f: (getattr(f, group_by),)  # noqa: E731
    out: dict[str, Any] = {
        "from": start, "to": end, "as_of": now, "group_by": group_by, "bucket": bucket,
        "totals": metrics(cohort),
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
            row = metrics(members.get(key, []))
            snap = backlog(open_members.get(key, []), now)
            row.update(open_now=snap["open"], overdue_now=snap["overdue_now"])
            out["groups"].append({"key": key, "label": (labels or {}).get(key, "" if key is None else str(key)),
                                  **row})
    return out


# ---------------------------------------------------------------- service availability (per-client SLA report)

DOWN_STATE = "critical"
DEFINITIONS_SLA: dict[str, str] = {
    "availability_pct": "Per service: the share of the period it was up. A service is down while any check that "
                        "carries it is critical: the reachability of each asset delivering it and the link of each "
                        "interface assigned to it (from the check history; a check never seen counts as up).",
    "downtime_minutes": "Minutes in the period during which at least one of those checks was critical "
                        "(overlapping outages count once).",
}

#: What the pages call each metric (DEFINITIONS and DEFINITIONS_SLA keys); the templates translate them.
LABELS = {
    "cohort": "Cohort", "incidents": "Incidents", "resolved": "Resolved", "closed_pct": "Closed share",
    "first_contact_resolution_pct": "First-contact resolution", "time_to_first_response": "Time to first response",
    "time_to_acknowledge": "Time to acknowledge (MTTA)", "time_to_resolve": "Time to resolve (MTTR)",
    "handling_time": "Handling time", "calendar_vs_business": "Calendar and business time",
    "response_breach_pct": "Response SLA breaches", "resolution_breach_pct": "Resolution SLA breaches",
    "overdue_now": "Overdue now", "backlog": "Backlog and ageing", "series": "Incoming and resolved over time",
    "reopen_rate_pct": "Reopen rate", "escalation_rate_pct": "Escalation rate",
    "escalation_by_line": "Escalation by line", "proactive_pct": "Proactive share of problems",
    "self_healed_pct": "Self-healed share", "detection_to_first_call": "Detection to the first client call",
    "call_mix": "Call mix", "groups": "Groups", "availability_pct": "Availability",
    "downtime_minutes": "Downtime, minutes",
}


def down_spans(changes: Iterable[tuple[dt.datetime, str]], start: dt.datetime, end: dt.datetime,
               state_before: str | None = None) -> list[tuple[dt.datetime, dt.datetime]]:
    """When one check was critical within [start, end), from its state changes
    [(at, new state)] (any order); `state_before` is its state at `start`."""
    spans: list[tuple[dt.datetime, dt.datetime]] = []
    down_since = start if state_before == DOWN_STATE else None
    for at, state in sorted(changes):
        if at >= end:
            break
        at = max(at, start)
        if state == DOWN_STATE and down_since is None:
            down_since = at
        elif state != DOWN_STATE and down_since is not None:
            if at > down_since:
                spans.append((down_since, at))
            down_since = None
    if down_since is not None and end > down_since:
        spans.append((down_since, end))
    return spans


def union_minutes(spans: Iterable[tuple[dt.datetime, dt.datetime]]) -> float:
    """Total minutes covered by the spans, overlaps counted once."""
    total = dt.timedelta()
    current: tuple[dt.datetime, dt.datetime] | None = None
    for begin, finish in sorted(spans):
        if current is None or begin > current[1]:
            if current is not None:
                total += current[1] - current[0]
            current = (begin, finish)
        else:
            current = (current[0], max(current[1], finish))
    if current is not None:
        total += current[1] - current[0]
    return total.total_seconds() / 60


def availability(spans: Iterable[tuple[dt.datetime, dt.datetime]], start: dt.datetime,
                 end: dt.datetime) -> dict[str, float]:
    down = union_minutes(spans)
    period = _minutes(start, end)
    return {"downtime_minutes": round(down, 1),
            "availability_pct": round(100 * (1 - down / period), 3) if period > 0 else None}
