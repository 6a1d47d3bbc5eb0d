"""SLA clocks — pure (standard library only: datetime, zoneinfo; no clock reads).

A plan gives response and resolution minutes per priority (P1..P4) and either
runs 24x7 or only in business hours (ISO weekdays, a start and end wall-clock
time, a time zone, optional holidays). Time an incident spends in a paused
status (`pending_client`) does not count. All datetimes must be timezone-aware;
results are in UTC. Business hours are wall-clock times in the plan's zone, so
"09:00–18:00 Europe/Berlin" stays nine hours of work on DST change days and a
due time never lands in a non-existent local hour.

API
---
    BusinessHours(timezone="UTC", days=frozenset({1,2,3,4,5}), start=time(9), end=time(18), holidays=frozenset())
        `days` are ISO weekdays (Monday = 1, as in inc_sla_plan.business_days);
        end <= start means the shift ends the next day (22:00–06:00).
    SlaPlan(name, response_minutes, resolution_minutes, hours=None, id=None)
        hours None = 24x7.  SlaPlan.from_record(row) reads an inc_sla_plan row
        (dict from Piccolo: name, hours, timezone, business_days, business_start,
        business_end, response_p1..p4, resolution_p1..p4, id).
    Pause = (start, end | None)            end None = still paused
    pauses_from_history(status_changes, pause_statuses=("pending_client",)) -> list[Pause]
        status_changes: [(at, new_status), ...] in any order, e.g. the timeline.
    working_minutes(plan, start, end, pauses=()) -> float
        elapsed working minutes between two instants, pauses excluded.
    add_working_minutes(plan, start, minutes, pauses=(), now=None) -> datetime
        the instant when `minutes` working minutes have run from `start`.
    due_times(plan, priority, opened_at, pauses=(), now=None) -> DueTimes(response_due, resolution_due)
        an open pause counts as ending at `now` (due times "if the clock restarted now";
        ValueError without `now`). Recompute after a priority change = call it again
        with the new priority and the same opened_at and pauses (recompute_due_times
        does it from the status history).
    recompute_due_times(plan, priority, opened_at, status_changes, now) -> DueTimes
    sla_status(plan, priority, opened_at, now, pauses=(), first_response_at=None, resolved_at=None) -> SlaStatus
        due times, working minutes used, breach flags, paused flag. The response
        clock stops at first_response_at, the resolution clock at resolved_at.
    most_demanding(plans, priority, opened_at=None) -> SlaPlan | None
        the plan that makes the incident due first: with `opened_at` by the actual
        due instants (a 24x7 plan beats a business-hours one opened on a Friday
        night), otherwise by minutes (resolution, then response; 24x7 first).
    plan_ranks(plans: Mapping[key, SlaPlan]) -> dict[key, int]
        1 = most demanding (by the P1 targets): feeds rules.Topology.client_plan_rank.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Iterator, Mapping, Sequence
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
PRIORITIES = ("P1", "P2", "P3", "P4")
PAUSE_STATUSES = ("pending_client",)
#: How far ahead a business-hours calendar is searched before giving up (a plan with no working time).
MAX_DAYS = 3660

Pause = tuple[dt.datetime, "dt.datetime | None"]


def _aware(value: dt.datetime, name: str) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


def _parse_time(value: str | dt.time) -> dt.time:
    if isinstance(value, dt.time):
        return value
    hours, _, minutes = value.strip().partition(":")
    return dt.time(int(hours) % 24, int(minutes or 0))


@dataclass(frozen=True)
class BusinessHours:
    timezone: str = "UTC"
    days: frozenset[int] = frozenset({1, 2, 3, 4, 5})  # ISO weekdays, Monday = 1
    start: dt.time = dt.time(9)
    end: dt.time = dt.time(18)
    holidays: frozenset[dt.date] = frozenset()  # dates in the plan's zone

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # fail fast on an unknown zone
        if not self.days or not set(self.days) <= set(range(1, 8)):
            raise ValueError(f"business days must be ISO weekdays 1..7, got {sorted(self.days)}")
        if self.start == self.end and self.start != dt.time(0):
            raise ValueError("business hours are empty (start == end)")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class SlaPlan:
    name: str
    response_minutes: Mapping[str, int]
    resolution_minutes: Mapping[str, int]
    hours: BusinessHours | None = None  # None = 24x7
    id: int | None = None

    @property
    def is_24x7(self) -> bool:
        return self.hours is None

    @classmethod
    def from_record(cls, row: Mapping[str, Any], holidays: Iterable[dt.date] = ()) -> "SlaPlan":
        """From an inc_sla_plan row (a dict as Piccolo's select returns)."""
        hours = None
        if (row.get("hours") or "24x7") != "24x7":
            days = frozenset(int(d) for d in str(row.get("business_days") or "1,2,3,4,5").split(",") if d.strip())
            hours = BusinessHours(
                timezone=row.get("timezone") or "UTC",
                days=days,
                start=_parse_time(row.get("business_start") or "09:00"),
                end=_parse_time(row.get("business_end") or "18:00"),
                holidays=frozenset(holidays),
            )
        return cls(
            name=row.get("name", ""),
            response_minutes={p: int(row[f"response_{p.lower()}"]) for p in PRIORITIES},
            resolution_minutes={p: int(row[f"resolution_{p.lower()}"]) for p in PRIORITIES},
            hours=hours,
            id=row.get("id"),
        )


@dataclass(frozen=True)
class DueTimes:
    response_due: dt.datetime
    resolution_due: dt.datetime


@dataclass(frozen=True)
class SlaStatus:
    response_due: dt.datetime
    resolution_due: dt.datetime
    response_minutes_used: float
    resolution_minutes_used: float
    response_breached: bool
    resolution_breached: bool
    paused: bool = False


# ---------------------------------------------------------------- calendar


def _working_intervals(hours: BusinessHours | None, start: dt.datetime) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """Working time from `start` on, as ordered UTC intervals (the first clipped to start)."""
    if hours is None:
        yield start, dt.datetime.max.replace(tzinfo=UTC)
        return
    zone = hours.zone
    overnight = hours.end <= hours.start  # ends the next day (end 00:00 = midnight)
    day = start.astimezone(zone).date() - dt.timedelta(days=1)  # yesterday's night shift may still run
    for _ in range(MAX_DAYS):
        if day.isoweekday() in hours.days and day not in hours.holidays:
            begin = dt.datetime.combine(day, hours.start, tzinfo=zone).astimezone(UTC)
            end_day = day + dt.timedelta(days=1) if overnight else day
            finish = dt.datetime.combine(end_day, hours.end, tzinfo=zone).astimezone(UTC)
            if finish > start and finish > begin:
                yield max(begin, start), finish
        day += dt.timedelta(days=1)
    raise ValueError(f"no working time within {MAX_DAYS} days (holidays cover every working day?)")


def _merge_pauses(pauses: Iterable[Pause], now: dt.datetime | None) -> list[tuple[dt.datetime, dt.datetime]]:
    spans = []
    for begin, end in pauses:
        begin = _aware(begin, "pause start")
        if end is None:
            if now is None:
                raise ValueError("an open pause (end None) needs `now`")
            end = now
        end = _aware(end, "pause end")
        if end > begin:
            spans.append((begin, end))
    spans.sort()
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for begin, end in spans:
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def _clock(plan: SlaPlan | BusinessHours | None, start: dt.datetime, pauses: Sequence[tuple[dt.datetime, dt.datetime]]
           ) -> Iterator[tuple[dt.datetime, dt.datetime]]:
    """Intervals when the clock runs: working time minus pauses."""
    hours = plan.hours if isinstance(plan, SlaPlan) else plan
    i = 0
    for begin, end in _working_intervals(hours, start):
        while i < len(pauses) and pauses[i][1] <= begin:
            i += 1
        j = i
        cursor = begin
        while j < len(pauses) and pauses[j][0] < end:
            p_begin, p_end = pauses[j]
            if p_begin > cursor:
                yield cursor, p_begin
            cursor = max(cursor, p_end)
            if p_end >= end:
                break
            j += 1
        if cursor < end:
            yield cursor, end


def working_minutes(
    plan: SlaPlan | BusinessHours | None,
    start: dt.datetime,
    end: dt.datetime,
    pauses: Iterable[Pause] = (),
) -> float:
    """Working minutes between two instants (0 if end <= start), pauses excluded.
    An open pause counts up to `end`."""
    start, end = _aware(start, "start"), _aware(end, "end")
    if end <= start:
        return 0.0
    total = dt.timedelta()
    for begin, finish in _clock(plan, start, _merge_pauses(pauses, end)):
        if begin >= end:
            break
        total += min(finish, end) - begin
    return total.total_seconds() / 60


def add_working_minutes(
    plan: SlaPlan | BusinessHours | None,
    start: dt.datetime,
    minutes: float,
    pauses: Iterable[Pause] = (),
    now: dt.datetime | None = None,
) -> dt.datetime:
    """The instant when `minutes` working minutes have run from `start` (pauses excluded)."""
    start = _aware(start, "start")
    now = _aware(now, "now") if now is not None else None
    remaining = dt.timedelta(minutes=minutes)
    if remaining <= dt.timedelta():
        return start
    for begin, finish in _clock(plan, start, _merge_pauses(pauses, now)):
        length = finish - begin
        if length >= remaining:
            return begin + remaining
        remaining -= length
    raise AssertionError("unreachable: the calendar is endless or raises")  # pragma: no cover


# ---------------------------------------------------------------- incidents


def pauses_from_history(
    status_changes: Iterable[tuple[dt.datetime, str]], pause_statuses: Iterable[str] = PAUSE_STATUSES
) -> list[Pause]:
    """Pause intervals from an incident's status changes [(at, new status), ...]."""
    paused_in = set(pause_statuses)
    out: list[Pause] = []
    began: dt.datetime | None = None
    for at, status in sorted(status_changes, key=lambda c: _aware(c[0], "status change")):
        if status in paused_in:
            if began is None:
                began = at
        elif began is not None:
            out.append((began, at))
            began = None
    if began is not None:
        out.append((began, None))
    return out


def _minutes(plan: SlaPlan, priority: str) -> tuple[int, int]:
    try:
        return plan.response_minutes[priority], plan.resolution_minutes[priority]
    except KeyError:
        raise ValueError(f"plan {plan.name!r} has no target for priority {priority!r}") from None


def due_times(
    plan: SlaPlan,
    priority: str,
    opened_at: dt.datetime,
    pauses: Iterable[Pause] = (),
    now: dt.datetime | None = None,
) -> DueTimes:
    response, resolution = _minutes(plan, priority)
    pauses = list(pauses)
    return DueTimes(
        add_working_minutes(plan, opened_at, response, pauses, now),
        add_working_minutes(plan, opened_at, resolution, pauses, now),
    )


def recompute_due_times(
    plan: SlaPlan,
    priority: str,
    opened_at: dt.datetime,
    status_changes: Iterable[tuple[dt.datetime, str]],
    now: dt.datetime,
) -> DueTimes:
    """Due times after a priority (or plan) change: from the start, with the new
    priority, the incident's own pauses taken from its status history."""
    return due_times(plan, priority, opened_at, pauses_from_history(status_changes), now)


def sla_status(
    plan: SlaPlan,
    priority: str,
    opened_at: dt.datetime,
    now: dt.datetime,
    pauses: Iterable[Pause] = (),
    first_response_at: dt.datetime | None = None,
    resolved_at: dt.datetime | None = None,
) -> SlaStatus:
    response, resolution = _minutes(plan, priority)
    pauses = list(pauses)
    due = due_times(plan, priority, opened_at, pauses, now)
    response_used = working_minutes(plan, opened_at, first_response_at or now, pauses)
    resolution_used = working_minutes(plan, opened_at, resolved_at or now, pauses)
    return SlaStatus(
        response_due=due.response_due,
        resolution_due=due.resolution_due,
        response_minutes_used=response_used,
        resolution_minutes_used=resolution_used,
        response_breached=response_used > response,
        resolution_breached=resolution_used > resolution,
        paused=any(end is None for _, end in pauses) and resolved_at is None,
    )


def _demand_key(plan: SlaPlan, priority: str) -> tuple:
    response, resolution = _minutes(plan, priority)
    return (resolution, response, 0 if plan.is_24x7 else 1, plan.name)


def most_demanding(
    plans: Iterable[SlaPlan | None], priority: str, opened_at: dt.datetime | None = None
) -> SlaPlan | None:
    """Among several clients' plans, the one that holds the incident to the strictest deadline."""
    candidates = [p for p in plans if p is not None and priority in p.resolution_minutes
                  and priority in p.response_minutes]
    if not candidates:
        return None
    if opened_at is None:
        return min(candidates, key=lambda p: _demand_key(p, priority))

    def key(plan: SlaPlan) -> tuple:
        due = due_times(plan, priority, opened_at)
        return (due.resolution_due, due.response_due) + _demand_key(plan, priority)

    return min(candidates, key=key)


def plan_ranks(plans: Mapping[Hashable, SlaPlan], priority: str = "P1") -> dict[Hashable, int]:
    """Dense rank of plans by how demanding they are (1 = most), by their `priority` targets."""
    keys = {k: _demand_key(p, priority)[:3] for k, p in plans.items()}
    distinct = sorted(set(keys.values()))
    return {k: distinct.index(v) + 1 for k, v in keys.items()}
