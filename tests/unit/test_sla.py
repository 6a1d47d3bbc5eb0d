"""incidents.sla: due times, working minutes, pauses, breaches, plan choice."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from incidents.sla import (
    BusinessHours,
    SlaPlan,
    add_working_minutes,
    due_times,
    most_demanding,
    pauses_from_history,
    plan_ranks,
    recompute_due_times,
    sla_status,
    working_minutes,
)

UTC = dt.timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
RESPONSE = {"P1": 15, "P2": 30, "P3": 120, "P4": 480}
RESOLUTION = {"P1": 240, "P2": 480, "P3": 1440, "P4": 4320}


def plan_24x7(**kw) -> SlaPlan:
    return SlaPlan("24x7", kw.get("response", RESPONSE), kw.get("resolution", RESOLUTION))


def business(tz="Europe/Berlin", **kw) -> SlaPlan:
    hours = BusinessHours(timezone=tz, **kw)
    return SlaPlan(f"business {tz}", RESPONSE, RESOLUTION, hours)


def at(y, mo, d, h=0, mi=0, tz=UTC) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=tz)


# ---------------------------------------------------------------- 24x7


def test_24x7_due_times_are_plain_additions():
    due = due_times(plan_24x7(), "P1", at(2026, 11, 21, 23, 0))  # a Saturday night: no matter
    assert due.response_due == at(2026, 11, 21, 23, 15)
    assert due.resolution_due == at(2026, 11, 22, 3, 0)


def test_24x7_results_are_utc_whatever_the_input_zone():
    due = due_times(plan_24x7(), "P2", at(2026, 11, 23, 12, 0, tz=BERLIN))
    assert due.response_due == at(2026, 11, 23, 11, 30) and due.response_due.tzinfo == UTC


# ---------------------------------------------------------------- business hours


def test_friday_1700_plus_4_business_hours_is_monday_1200():
    plan = business()
    assert add_working_minutes(plan, at(2026, 11, 20, 17, 0, tz=BERLIN), 240) == at(2026, 11, 23, 12, 0, tz=BERLIN)
    due = due_times(plan, "P1", at(2026, 11, 20, 17, 0, tz=BERLIN))
    assert due.resolution_due == at(2026, 11, 23, 12, 0, tz=BERLIN)
    assert due.response_due == at(2026, 11, 20, 17, 15, tz=BERLIN)


def test_business_hours_across_a_dst_weekend():
    # Europe/Berlin leaves summer time on Sunday 2026-10-25: Friday is UTC+2, Monday UTC+1.
    due = add_working_minutes(business(), at(2026, 10, 23, 17, 0, tz=BERLIN), 240)
    assert due == at(2026, 10, 26, 12, 0, tz=BERLIN)
    assert due == at(2026, 10, 26, 11, 0)  # 12:00 CET
    # New York enters summer time on Sunday 2026-03-08
    due = add_working_minutes(business("America/New_York"), at(2026, 3, 6, 17, 0, tz=NEW_YORK), 240)
    assert due == at(2026, 3, 9, 12, 0, tz=NEW_YORK) == at(2026, 3, 9, 16, 0)


def test_a_business_day_is_nine_hours_even_on_a_dst_change_day():
    plan = business(days=frozenset(range(1, 8)))  # every day, so the Sunday of the change counts
    sunday = dt.date(2026, 10, 25)
    minutes = working_minutes(plan, at(2026, 10, 25, 0, 0, tz=BERLIN), at(2026, 10, 26, 0, 0, tz=BERLIN))
    assert sunday.isoweekday() == 7 and minutes == 9 * 60


def test_opened_outside_business_hours_starts_at_the_next_opening():
    plan = business()
    saturday = at(2026, 11, 21, 10, 0, tz=BERLIN)
    assert due_times(plan, "P2", saturday).response_due == at(2026, 11, 23, 9, 30, tz=BERLIN)
    evening = at(2026, 11, 23, 20, 0, tz=BERLIN)
    assert due_times(plan, "P1", evening).response_due == at(2026, 11, 24, 9, 15, tz=BERLIN)


def test_holidays_are_skipped():
    plan = business(holidays=frozenset({dt.date(2026, 11, 23)}))
    assert add_working_minutes(plan, at(2026, 11, 20, 17, 0, tz=BERLIN), 240) == at(2026, 11, 24, 12, 0, tz=BERLIN)


def test_working_minutes_of_a_whole_week():
    plan = business()
    assert working_minutes(plan, at(2026, 11, 23, tz=BERLIN), at(2026, 11, 30, tz=BERLIN)) == 5 * 9 * 60
    assert working_minutes(plan, at(2026, 11, 21, 9, tz=BERLIN), at(2026, 11, 22, 18, tz=BERLIN)) == 0
    assert working_minutes(plan, at(2026, 11, 24, tz=BERLIN), at(2026, 11, 23, tz=BERLIN)) == 0


def test_overnight_shift():
    plan = business(tz="UTC", start=dt.time(22), end=dt.time(6), days=frozenset({1, 2, 3, 4, 5}))
    # Monday 23:00 + 8 h -> 1 h Monday night... shift Monday 22:00 - Tuesday 06:00 holds 7 of them
    assert add_working_minutes(plan, at(2026, 11, 23, 23), 8 * 60) == at(2026, 11, 24, 23)
    # Tuesday 03:00 is inside Monday's night shift
    assert add_working_minutes(plan, at(2026, 11, 24, 3), 60) == at(2026, 11, 24, 4)


# ---------------------------------------------------------------- pauses


def test_pending_client_time_is_excluded():
    plan = plan_24x7()
    opened = at(2026, 11, 23, 10)
    pauses = [(at(2026, 11, 23, 10, 30), at(2026, 11, 23, 11, 30))]
    assert due_times(plan, "P1", opened, pauses).resolution_due == at(2026, 11, 23, 15)
    assert working_minutes(plan, opened, at(2026, 11, 23, 12), pauses) == 60
    status = sla_status(plan, "P1", opened, at(2026, 11, 23, 14, 30), pauses)
    assert not status.resolution_breached  # 14:30 would be late without the hour paused
    assert status.resolution_minutes_used == 210


def test_a_pause_outside_business_hours_is_not_subtracted_twice():
    plan = business()
    opened = at(2026, 11, 20, 17, 0, tz=BERLIN)
    pauses = [(at(2026, 11, 20, 17, 30, tz=BERLIN), at(2026, 11, 23, 10, 0, tz=BERLIN))]
    assert working_minutes(plan, opened, at(2026, 11, 23, 11, 0, tz=BERLIN), pauses) == 30 + 60
    assert add_working_minutes(plan, opened, 240, pauses) == at(2026, 11, 23, 13, 30, tz=BERLIN)


def test_overlapping_pauses_are_merged():
    plan = plan_24x7()
    opened = at(2026, 11, 23, 10)
    pauses = [(at(2026, 11, 23, 10, 30), at(2026, 11, 23, 11)), (at(2026, 11, 23, 10, 45), at(2026, 11, 23, 11, 30))]
    assert working_minutes(plan, opened, at(2026, 11, 23, 12), pauses) == 60


def test_an_open_pause_stops_the_clock_now():
    plan = plan_24x7()
    opened = at(2026, 11, 23, 10)
    pauses = [(at(2026, 11, 23, 10, 30), None)]
    status = sla_status(plan, "P1", opened, at(2026, 11, 23, 20), pauses)
    assert status.paused and not status.resolution_breached and status.resolution_minutes_used == 30
    # due "if the clock restarted now": 210 minutes left from 20:00
    assert status.resolution_due == at(2026, 11, 23, 23, 30)
    with pytest.raises(ValueError):
        due_times(plan, "P1", opened, pauses)


def test_pauses_from_history():
    t = [at(2026, 11, 23, 10, m) for m in range(0, 60, 10)]
    history = [(t[0], "new"), (t[1], "acknowledged"), (t[2], "pending_client"), (t[3], "in_progress"),
               (t[5], "pending_client"), (t[4], "pending_client")]
    assert pauses_from_history(history) == [(t[2], t[3]), (t[4], None)]


# ---------------------------------------------------------------- breaches


def test_breach_is_flagged():
    plan = plan_24x7()
    opened = at(2026, 11, 23, 10)
    early = sla_status(plan, "P1", opened, at(2026, 11, 23, 10, 10))
    assert not early.response_breached and not early.resolution_breached
    late = sla_status(plan, "P1", opened, at(2026, 11, 23, 10, 16))
    assert late.response_breached and not late.resolution_breached
    answered = sla_status(plan, "P1", opened, at(2026, 11, 23, 15), first_response_at=at(2026, 11, 23, 10, 5))
    assert not answered.response_breached and answered.resolution_breached
    fixed = sla_status(plan, "P1", opened, at(2026, 11, 24), first_response_at=at(2026, 11, 23, 10, 5),
                       resolved_at=at(2026, 11, 23, 13))
    assert not fixed.resolution_breached


def test_business_hours_breach_not_flagged_over_the_weekend():
    plan = business()
    opened = at(2026, 11, 20, 17, 0, tz=BERLIN)
    assert not sla_status(plan, "P1", opened, at(2026, 11, 23, 11, 59, tz=BERLIN)).resolution_breached
    assert sla_status(plan, "P1", opened, at(2026, 11, 23, 12, 1, tz=BERLIN)).resolution_breached


def test_priority_change_recomputes_from_the_history():
    plan = plan_24x7()
    opened = at(2026, 11, 23, 10)
    history = [(opened, "new"), (at(2026, 11, 23, 10, 30), "pending_client"), (at(2026, 11, 23, 11), "in_progress")]
    now = at(2026, 11, 23, 12)
    p3 = recompute_due_times(plan, "P3", opened, history, now)
    p1 = recompute_due_times(plan, "P1", opened, history, now)
    assert p3.resolution_due == at(2026, 11, 24, 10, 30)
    assert p1.resolution_due == at(2026, 11, 23, 14, 30) and p1.response_due == at(2026, 11, 23, 10, 15)


# ---------------------------------------------------------------- choosing plans


def test_most_demanding_plan():
    gold = SlaPlan("gold", {**RESPONSE, "P1": 10}, {**RESOLUTION, "P1": 120}, BusinessHours())
    silver = plan_24x7(resolution={**RESOLUTION, "P1": 480})
    bronze = SlaPlan("bronze", RESPONSE, {**RESOLUTION, "P1": 960}, BusinessHours())
    assert most_demanding([bronze, None, silver, gold], "P1") is gold
    # opened on a Friday night the 24x7 plan is due long before Monday's business hours
    assert most_demanding([bronze, silver, gold], "P1", at(2026, 11, 20, 20, tz=BERLIN)) is silver
    assert most_demanding([None], "P1") is None
    ranks = plan_ranks({1: bronze, 2: silver, 3: gold, 4: gold})
    assert ranks == {3: 1, 4: 1, 2: 2, 1: 3}


def test_same_minutes_24x7_is_more_demanding():
    business_plan = SlaPlan("b", RESPONSE, RESOLUTION, BusinessHours())
    assert most_demanding([business_plan, plan_24x7()], "P2") is not business_plan


def test_from_record_reads_the_table_row():
    row = {"id": 4, "name": "business", "hours": "business", "timezone": "Europe/Berlin",
           "business_days": "1,2,3,4,5", "business_start": "09:00", "business_end": "18:00",
           **{f"response_p{n}": v for n, v in zip(range(1, 5), (15, 30, 120, 480))},
           **{f"resolution_p{n}": v for n, v in zip(range(1, 5), (240, 480, 1440, 4320))}}
    plan = SlaPlan.from_record(row)
    assert plan.id == 4 and not plan.is_24x7 and plan.resolution_minutes["P1"] == 240
    assert due_times(plan, "P1", at(2026, 11, 20, 17, tz=BERLIN)).resolution_due == at(2026, 11, 23, 12, tz=BERLIN)
    assert SlaPlan.from_record({**row, "hours": "24x7"}).is_24x7


def test_bad_input_fails_loudly():
    with pytest.raises(ValueError):
        working_minutes(plan_24x7(), dt.datetime(2026, 11, 23, 10), at(2026, 11, 23, 11))
    with pytest.raises(Exception):
        BusinessHours(timezone="Mars/Olympus")
    with pytest.raises(ValueError):
        BusinessHours(days=frozenset())
    with pytest.raises(ValueError):
        due_times(plan_24x7(), "P9", at(2026, 11, 23))
    every_monday_a_holiday = frozenset(dt.date(2026, 1, 1) + dt.timedelta(days=n) for n in range(4000))
    no_working_time = SlaPlan("x", RESPONSE, RESOLUTION, BusinessHours(days=frozenset({1}),
                                                                      holidays=every_monday_a_holiday))
    with pytest.raises(ValueError):
        add_working_minutes(no_working_time, at(2026, 11, 23), 60)
