"""SLA plans in storage: which plan governs an incident (the most demanding
affected client's), and its due times and breaches from the status history.
The calendar math (24x7 / business hours, pauses) is incidents.sla's."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Sequence

from incidents import rules, sla, workflow
from database.rawsql import Sql
from incidents.tables import SlaPlan


@dataclass(frozen=True)
class DueTimes:
    plan_id: int | None
    response_due_at: dt.datetime | None
    resolution_due_at: dt.datetime | None
    response_breached: bool
    resolution_breached: bool


async def plans_of_clients(client_ids: Iterable[int]) -> dict[int, dict]:
    """client_id -> plan row, for clients that have a plan."""
    ids = [c for c in set(client_ids) if c is not None]
    if not ids:
        return {}
    q = Sql()
    links = {r["id"]: r["sla_plan_id"] for r in await q.fetch(
        f"SELECT id, sla_plan_id FROM cmdb_client WHERE id IN {q.ints(ids)} AND sla_plan_id IS NOT NULL")}
    if not links:
        return {}
    plans = {r["id"]: r for r in await SlaPlan.select().where(SlaPlan.id.is_in(sorted(set(links.values()))))}
    return {c: plans[p] for c, p in links.items() if p in plans}


async def plan_ranks() -> dict[int, int]:
    """plan_id -> rank, 1 = most demanding (incidents.sla.plan_ranks)."""
    return sla.plan_ranks({r["id"]: sla.SlaPlan.from_record(r) for r in await SlaPlan.select()})


async def client_plan_ranks(client_ids: Iterable[int]) -> dict[int, int]:
    """client_id -> rank of its plan, for rules.Topology.client_plan_rank."""
    ids = [c for c in set(client_ids) if c is not None]
    if not ids:
        return {}
    # On every probe batch that reaches the rules: one plain query, the plans only when a client has one.
    q = Sql()
    links = await q.fetch(f"SELECT id, sla_plan_id FROM cmdb_client WHERE id IN {q.ints(ids)} AND sla_plan_id IS NOT NULL")
    if not links:
        return {}
    ranks = await plan_ranks()
    return {r["id"]: ranks[r["sla_plan_id"]] for r in links if r["sla_plan_id"] in ranks}


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
    plans = [sla.SlaPlan.from_record(r) for r in (await plans_of_clients(client_ids)).values()]
    plan = sla.most_demanding(plans, priority, opened_at)
    if plan is None:
        return DueTimes(None, None, None, False, False)
    pauses = sla.pauses_from_history(status_history, workflow.PAUSED_STATUSES)
    status = sla.sla_status(plan, priority, opened_at, now, pauses, first_response_at, resolved_at)
    return DueTimes(
        plan_id=plan.id,
        response_due_at=status.response_due,
        resolution_due_at=status.resolution_due,
        response_breached=status.response_breached,
        resolution_breached=status.resolution_breached,
    )


async def manual_priority(category: str, client_ids: Iterable[int], service_ids: Iterable[int]) -> str:
    """Priority of a manual incident given without one: the rules' impact x urgency."""
    clients = frozenset(client_ids)
    return rules.priority_for(category, clients, frozenset(service_ids), await client_plan_ranks(clients))
