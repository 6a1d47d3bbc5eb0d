"""SLA plans in storage: which plan governs an incident (the most demanding
affected client's), and its due times and breaches from the status history.
The calendar math (24x7 / business hours, pauses) is incidents.sla's."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Sequence

from cmdb.tables import Client
from incidents import rules, workflow
from incidents.tables import SlaPlan

PRIORITIES = workflow.PRIORITIES


@dataclass(frozen=True)
class DueTimes:
    plan_id: int | None
    response_due_at: dt.datetime | None
    resolution_due_at: dt.datetime | None
    response_breached: bool
    resolution_breached: bool


def _minutes(plan: dict, kind: str, priority: str) -> int:
    return int(plan[f"{kind}_{priority.lower()}"])


def plan_from_row(row: dict) -> "_Plan":
    return _Plan(
        hours=row["hours"],
        timezone=row["timezone"],
        business_days=tuple(int(d) for d in str(row["business_days"]).split(",") if d.strip()),
        business_start=row["business_start"],
        business_end=row["business_end"],
        response_minutes={p: _minutes(row, "response", p) for p in PRIORITIES},
        resolution_minutes={p: _minutes(row, "resolution", p) for p in PRIORITIES},
    )


async def plans_of_clients(client_ids: Iterable[int]) -> dict[int, dict]:
    """client_id -> plan row, for clients that have a plan."""
    ids = [c for c in set(client_ids) if c is not None]
    if not ids:
        return {}
    links = {r["id"]: r["sla_plan_id"] for r in await Client.select(Client.id, Client.sla_plan_id).where(
        Client.id.is_in(ids)) if r["sla_plan_id"] is not None}
    if not links:
        return {}
    plans = {r["id"]: r for r in await SlaPlan.select().where(SlaPlan.id.is_in(sorted(set(links.values()))))}
    return {c: plans[p] for c, p in links.items() if p in plans}


def most_demanding(plans: Iterable[dict], priority: str) -> dict | None:
    """The plan with the shortest resolution (then response) time for this priority."""
    candidates = list(plans)
    if not candidates:
        return None
    return min(candidates, key=lambda p: (_minutes(p, "resolution", priority), _minutes(p, "response", priority), p["id"]))


async def plan_ranks() -> dict[int, int]:
    """plan_id -> rank, 1 = most demanding (shortest P1 resolution, then response)."""
    rows = await SlaPlan.select(SlaPlan.id, SlaPlan.resolution_p1, SlaPlan.response_p1)
    ordered = sorted(rows, key=lambda r: (r["resolution_p1"], r["response_p1"], r["id"]))
    ranks: dict[int, int] = {}
    rank = 0
    previous = None
    for r in ordered:
        key = (r["resolution_p1"], r["response_p1"])
        if key != previous:
            rank += 1
            previous = key
        ranks[r["id"]] = rank
    return ranks


async def client_plan_ranks(client_ids: Iterable[int]) -> dict[int, int]:
    """client_id -> rank of its plan, for rules.Topology.client_plan_rank."""
    ids = [c for c in set(client_ids) if c is not None]
    if not ids:
        return {}
    ranks = await plan_ranks()
    return {
        r["id"]: ranks[r["sla_plan_id"]]
        for r in await Client.select(Client.id, Client.sla_plan_id).where(Client.id.is_in(ids))
        if r["sla_plan_id"] in ranks
    }


async def due_times(
    *,
    client_ids: Sequence[int],
    priority: str,
    opened_at: dt.datetime,
    first_response_at: dt.datetime | None,
    resolved_at: dt.datetime | None,
    status_history: Sequence[tuple[dt.datetime, str]],
    now: dt.datetime,
) -> DueTimes:
    plan_row = most_demanding((await plans_of_clients(client_ids)).values(), priority)
    if plan_row is None:
        return DueTimes(None, None, None, False, False)
    plan = plan_from_row(plan_row)
    pauses = workflow.paused_intervals(status_history, now)
    response_due = _due_at(plan, opened_at, plan.response_minutes[priority], pauses)
    resolution_due = _due_at(plan, opened_at, plan.resolution_minutes[priority], pauses)
    responded = first_response_at or now
    finished = resolved_at or now
    return DueTimes(
        plan_id=plan_row["id"],
        response_due_at=response_due,
        resolution_due_at=resolution_due,
        response_breached=responded > response_due,
        resolution_breached=finished > resolution_due,
    )


async def manual_priority(category: str, client_ids: Iterable[int], service_ids: Iterable[int]) -> str:
    """Priority of a manual incident given without one: the rules' impact x urgency."""
    clients = frozenset(client_ids)
    return rules.priority_for(category, clients, frozenset(service_ids), await client_plan_ranks(clients))


# ---- Stand-ins until incidents.sla / rules priority land (engineer A); replaced then.
from zoneinfo import ZoneInfo  # noqa: E402


@dataclass(frozen=True)
class _Plan:
    hours: str
    timezone: str
    business_days: tuple[int, ...]
    business_start: str
    business_end: str
    response_minutes: dict
    resolution_minutes: dict


def _working(plan: _Plan, start: dt.datetime):
    """Working intervals from `start` on (UTC)."""
    if plan.hours != "business":
        yield start, dt.datetime.max.replace(tzinfo=dt.timezone.utc)
        return
    tz = ZoneInfo(plan.timezone)
    day = start.astimezone(tz).date()
    h1, m1 = map(int, plan.business_start.split(":"))
    h2, m2 = map(int, plan.business_end.split(":"))
    for _ in range(3660):
        if day.isoweekday() in plan.business_days:
            a = dt.datetime.combine(day, dt.time(h1, m1), tz).astimezone(dt.timezone.utc)
            b = dt.datetime.combine(day, dt.time(h2, m2), tz).astimezone(dt.timezone.utc)
            if b > start:
                yield max(a, start), b
        day += dt.timedelta(days=1)


def _due_at(plan: _Plan, start: dt.datetime, minutes: int, pauses) -> dt.datetime:
    remaining = dt.timedelta(minutes=minutes)
    pauses = sorted(pauses)
    for a, b in _working(plan, start):
        t = a
        for pa, pb in pauses:
            if pb <= t or pa >= b:
                continue
            if pa > t:
                if remaining <= pa - t:
                    return t + remaining
                remaining -= pa - t
            t = max(t, pb)
        if t < b:
            if remaining <= b - t:
                return t + remaining
            remaining -= b - t
    raise ValueError("no working time in ten years")
