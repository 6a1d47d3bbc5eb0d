"""incidents.kpi on hand-built histories with answers worked out by hand:
each test pins one definition of DEFINITIONS."""

from __future__ import annotations

import datetime as dt

import pytest

from incidents import kpi, sla
from incidents.kpi import Entry, History

UTC = dt.timezone.utc
T0 = dt.datetime(2026, 11, 2, 10, 0, tzinfo=UTC)  # a Monday
NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def m(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def st(minutes: float, frm: str, to: str, at: dt.datetime | None = None) -> Entry:
    return Entry(at or m(minutes), "status", to=to, frm=frm)


def reply(minutes: float, public: bool = True, staff: bool = True) -> Entry:
    return Entry(m(minutes), "comment", public=public, staff=staff)


def esc(minutes: float, frm: str, to: str) -> Entry:
    return Entry(m(minutes), "escalation", to=to, frm=frm)


PLAN = sla.SlaPlan("gold", {"P1": 15, "P2": 30, "P3": 15, "P4": 60}, {"P1": 60, "P2": 90, "P3": 90, "P4": 240}, id=7)
BERLIN = sla.SlaPlan("office", {p: 60 for p in sla.PRIORITIES}, {p: 600 for p in sla.PRIORITIES},
                     hours=sla.BusinessHours("Europe/Berlin", frozenset({1, 2, 3, 4, 5}), dt.time(9), dt.time(18)), id=8)


def hist(entries, *, id=1, status="resolved", line="L1", source="phone", category="fiber", plan=PLAN,
         self_healed=False, opened=T0, priority="P3", linked_to=(), calls=()) -> History:
    return History(id=id, opened_at=opened, category=category, priority=priority, source=source, status=status,
                   line=line, entries=tuple(entries), self_healed=self_healed, plan=plan, linked_to=linked_to,
                   calls=calls)


def simple(id=1, **kw) -> History:
    """ack 5, in_progress 5, one public reply at 20, resolved at 60."""
    return hist([st(5, "new", "acknowledged"), st(5, "acknowledged", "in_progress"), reply(20),
                 st(60, "in_progress", "resolved")], id=id, **kw)


def test_times_of_a_plain_incident():
    f = kpi.facts(simple(), NOW)
    assert (f.ttfr, f.tta, f.ttr, f.aht) == (5, 5, 60, 60)
    assert f.resolved_at == m(60)
    assert f.fcr is True
    assert (f.response_breached, f.resolution_breached) == (False, False)


def test_first_response_is_a_public_staff_reply_when_it_comes_before_the_acknowledgement():
    f = kpi.facts(hist([reply(3, public=False), reply(4, staff=False), reply(7), st(9, "new", "acknowledged"),
                        st(9, "acknowledged", "in_progress"), st(30, "in_progress", "resolved")]), NOW)
    # internal notes and client comments are not a response
    assert f.ttfr == 7
    assert f.tta == 9


def test_pending_client_is_not_handling_time_nor_sla_time():
    f = kpi.facts(hist([st(10, "new", "acknowledged"), st(10, "acknowledged", "in_progress"),
                        st(30, "in_progress", "pending_client"), st(150, "pending_client", "in_progress"),
                        st(180, "in_progress", "resolved")]), NOW)
    assert f.ttr == 180  # MTTR is elapsed time
    assert f.aht == 60  # 180 minus 120 waiting for the client
    # resolution target 90: 180 calendar minutes, but only 60 on the SLA clock
    assert f.resolution_breached is False
    late = kpi.facts(hist([st(10, "new", "acknowledged"), st(120, "acknowledged", "resolved")]), NOW)
    assert late.resolution_breached is True and late.response_breached is False


def test_response_breach_counts_from_opening_to_the_first_response():
    f = kpi.facts(hist([st(20, "new", "acknowledged"), st(20, "acknowledged", "in_progress"),
                        st(40, "in_progress", "resolved")]), NOW)
    assert (f.response_breached, f.resolution_breached) == (True, False)
    assert kpi.facts(simple(plan=None), NOW).response_breached is None  # no plan: not measured


def test_reopen_counts_and_the_time_spent_resolved_is_not_handling_time():
    f = kpi.facts(hist([st(5, "new", "acknowledged"), st(5, "acknowledged", "in_progress"),
                        st(30, "in_progress", "resolved"), st(60, "resolved", "in_progress"),
                        st(90, "in_progress", "resolved")]), NOW)
    assert (f.resolutions, f.reopens) == (2, 1)
    assert f.ttr == 90  # to the final resolution
    assert f.aht == 60  # 90 minus the 30 minutes it stood resolved
    assert f.fcr is False
    report = kpi.metrics([f, kpi.facts(simple(id=2), NOW)])
    assert report["reopen_rate_pct"] == 50.0


def test_escalation_breaks_first_contact_resolution_and_counts_per_line():
    escalated = kpi.facts(hist([st(5, "new", "acknowledged"), st(5, "acknowledged", "in_progress"),
                                esc(20, "L1", "L2"), st(50, "in_progress", "resolved")], line="L2"), NOW)
    assert escalated.fcr is False and escalated.escalated_from == "L1"
    to_l3 = kpi.facts(hist([esc(20, "L1", "L2"), esc(40, "L2", "L3")], id=3, status="in_progress", line="L3"), NOW)
    plain = kpi.facts(simple(id=2), NOW)
    lines = {r["line"]: r for r in kpi.escalation_by_line([escalated, to_l3, plain])}
    assert (lines["L1"]["reached"], lines["L1"]["escalated"], lines["L1"]["escalation_rate_pct"]) == (3, 2, 66.7)
    assert (lines["L2"]["reached"], lines["L2"]["escalated"]) == (2, 1)
    assert (lines["L3"]["reached"], lines["L3"]["escalated"]) == (1, 0)
    assert kpi.metrics([escalated, to_l3, plain])["escalation_rate_pct"] == 66.7


def test_two_public_replies_before_resolution_are_not_first_contact_resolution():
    one = kpi.facts(simple(), NOW)
    two = kpi.facts(hist([st(5, "new", "acknowledged"), st(5, "acknowledged", "in_progress"), reply(20), reply(40),
                          st(60, "in_progress", "resolved"), reply(70)], id=2), NOW)
    assert one.fcr is True and two.fcr is False
    out = kpi.metrics([one, two, kpi.facts(simple(id=3, self_healed=True, source="probe"), NOW)])
    # the self-healed one is not eligible (nobody handled it)
    assert (out["fcr_eligible"], out["first_contact_resolution_pct"]) == (2, 50.0)


def test_business_time_across_the_dst_change():
    # Friday 27 March 2026 17:00 in Berlin (CET, 16:00 UTC); the clocks go forward
    # on Sunday 29th; acknowledged Monday 09:30 and resolved 10:00 (CEST, 08:00 UTC).
    opened = dt.datetime(2026, 3, 27, 16, 0, tzinfo=UTC)
    ack = dt.datetime(2026, 3, 30, 7, 30, tzinfo=UTC)
    done = dt.datetime(2026, 3, 30, 8, 0, tzinfo=UTC)
    f = kpi.facts(hist([st(0, "new", "acknowledged", ack), st(0, "acknowledged", "in_progress", ack),
                        st(0, "in_progress", "resolved", done)], opened=opened, plan=BERLIN), NOW)
    assert f.ttr == 64 * 60  # calendar: 64 real hours (the lost hour is not counted twice)
    assert f.ttr_bus == 120  # 17:00-18:00 Friday + 09:00-10:00 Monday
    assert f.tta == 63.5 * 60 and f.tta_bus == 90
    assert f.aht_bus == 120
    assert f.response_breached is True  # 90 working minutes against 60


def test_without_a_plan_business_time_is_calendar_time():
    f = kpi.facts(simple(plan=None), NOW)
    assert (f.ttr_bus, f.tta_bus) == (f.ttr, f.tta)


def test_open_incidents_breach_as_of_now_and_age_into_buckets():
    now = m(300)
    ages = [30, 90, 300]  # opened 30, 90 and 300 minutes before now
    items = [kpi.facts(hist([], id=i, status="new", opened=now - dt.timedelta(minutes=a)), now)
             for i, a in enumerate(ages)]
    assert [f.resolved_at for f in items] == [None, None, None]
    assert [f.response_breached for f in items] == [True, True, True]  # no response after 15 minutes
    assert [f.resolution_breached for f in items] == [False, False, True]  # 90-minute target
    snap = kpi.backlog(items, now)
    assert snap["open"] == 3 and snap["overdue_now"] == 3
    assert {r["age"]: r["incidents"] for r in snap["ageing"]} == {"<1h": 1, "1-4h": 1, "4-24h": 1, "1-3d": 0, ">3d": 0}


def test_a_paused_open_incident_is_not_overdue_while_waiting_for_the_client():
    now = m(120)
    f = kpi.facts(hist([st(5, "new", "acknowledged"), st(10, "acknowledged", "in_progress"),
                        st(20, "in_progress", "pending_client")], status="pending_client"), now)
    assert (f.response_breached, f.resolution_breached) == (False, False)  # 20 minutes on the clock


def test_summary_mean_median_p90_nearest_rank():
    assert kpi.summary(range(1, 11)) == {"n": 10, "mean": 5.5, "median": 5.5, "p90": 9}
    assert kpi.summary([7]) == {"n": 1, "mean": 7, "median": 7, "p90": 7}
    assert kpi.summary([]) == {"n": 0, "mean": None, "median": None, "p90": None}


def test_proactive_share_and_minutes_to_the_first_call():
    a = kpi.facts(simple(id=1, source="probe", calls=(m(30), m(12))), NOW)  # detected at T0; first call 12 min later
    b = kpi.facts(simple(id=2, source="trap", opened=m(30), calls=(m(20),)), NOW)  # called 10 minutes before the trap
    c = kpi.facts(simple(id=3, source="phone", opened=m(12), linked_to=(1,)), NOW)  # the call about a
    d = kpi.facts(simple(id=4, source="phone"), NOW)  # an unrelated call
    e = kpi.facts(simple(id=5, source="probe", self_healed=True), NOW)  # nobody ever called
    call_b = kpi.facts(simple(id=6, source="email", opened=m(20), linked_to=(2,)), NOW)
    assert kpi.facts(simple(id=7, source="probe", linked_to=(1,)), NOW).linked_to == ""  # only calls link
    assert (a.first_call, b.first_call) == (12, -10)
    out = kpi.metrics([a, b, c, d, e, call_b])
    assert out["auto_opened"] == 3
    assert out["problems"] == 4  # a, b, d, e: the linked calls c and 6 are the same problems
    assert out["proactive"] == 2 and out["proactive_pct"] == 50.0  # a and e
    assert out["self_healed_pct"] == 33.3
    assert out["detection_to_first_call"]["incidents"] == [{"incident_id": 1, "minutes": 12.0}]
    assert out["detection_to_first_call"]["mean"] == 12.0


def test_series_incoming_vs_resolved_per_day_and_week():
    start, end = T0.replace(hour=0), T0.replace(hour=0) + dt.timedelta(days=3)
    items = [kpi.facts(simple(id=1), NOW), kpi.facts(simple(id=2, opened=T0 + dt.timedelta(days=1)), NOW)]
    resolved = [m(60), T0 - dt.timedelta(days=1), T0 + dt.timedelta(days=2)]  # one before the period
    rows = kpi.series(items, resolved, start, end)
    assert rows == [{"period": "2026-11-02", "incoming": 1, "resolved": 1},
                    {"period": "2026-11-03", "incoming": 1, "resolved": 0},
                    {"period": "2026-11-04", "incoming": 0, "resolved": 1}]
    weeks = kpi.series(items, resolved, start, end + dt.timedelta(days=7), bucket="week")
    assert weeks[0] == {"period": "2026-11-02", "incoming": 2, "resolved": 2} and len(weeks) == 2


def test_incoming_counts_the_cohort_opened_in_from_to():
    """The cohort's half-open period in the pure series: opened at `from` is
    incoming, opened at `to` or before `from` is not (kpi_store selects the
    cohort with the same bounds; tests/integration/test_kpi_report.py pins it there)."""
    start, end = T0.replace(hour=0), T0.replace(hour=0) + dt.timedelta(days=1)
    at = {"at from": start, "inside": T0, "at to": end, "before from": start - dt.timedelta(seconds=1)}
    items = [kpi.facts(simple(id=i, opened=when), NOW) for i, when in enumerate(at.values())]
    assert kpi.series(items, [], start, end) == [{"period": "2026-11-02", "incoming": 2, "resolved": 0}]


def test_call_mix_covers_every_category():
    items = [kpi.facts(simple(id=i, category=c), NOW) for i, c in enumerate(["fiber", "power", "power", "equipment"])]
    mix = {r["category"]: (r["incidents"], r["share_pct"]) for r in kpi.call_mix(items)}
    assert mix["power"] == (2, 50.0) and mix["fiber"] == (1, 25.0) and mix["reboot"] == (0, 0.0)


def test_closed_share_and_groups_count_an_incident_in_each_of_its_groups():
    closed = kpi.facts(hist([st(5, "new", "acknowledged"), st(5, "acknowledged", "in_progress"),
                             st(60, "in_progress", "resolved"), st(90, "resolved", "closed")], id=1,
                            status="closed"), NOW)
    assert closed.resolved_at == m(60)
    other = kpi.facts(simple(id=2, category="power"), NOW)
    clients = {1: ["acme", "globex"], 2: ["acme"]}
    out = kpi.report([closed, other], [], start=T0, end=T0 + dt.timedelta(days=1), now=NOW, group_by="client",
                     groups_of=lambda f: clients[f.id], labels={"acme": "Acme"})
    assert out["totals"]["incidents"] == 2 and out["totals"]["closed_pct"] == 50.0
    groups = {g["key"]: g for g in out["groups"]}
    assert groups["acme"]["incidents"] == 2 and groups["acme"]["label"] == "Acme"
    assert groups["globex"]["incidents"] == 1
    by_cat = kpi.report([closed, other], [], start=T0, end=T0 + dt.timedelta(days=1), now=NOW, group_by="category")
    assert [(g["key"], g["incidents"]) for g in by_cat["groups"]] == [("fiber", 1), ("power", 1)]


@pytest.mark.parametrize("name", list(kpi.DEFINITIONS))
def test_every_definition_is_in_the_module_docstring(name):
    assert f"{name}:" in kpi.__doc__


def test_down_spans_and_availability_count_overlaps_once():
    start, end = T0, T0 + dt.timedelta(days=1)
    # reachability: down 10:30-11:00 and from 23:00 to past the end; it was down before start too
    reach = kpi.down_spans([(m(30), "critical"), (m(60), "ok"), (m(13 * 60), "critical")], start, end)
    assert reach == [(m(30), m(60)), (m(13 * 60), end)]
    link = kpi.down_spans([(m(50), "ok"), (m(-100), "critical")], start, end, state_before="critical")
    assert link == [(start, m(50))]
    warn = kpi.down_spans([(m(5), "warning"), (m(9), "ok")], start, end)  # a warning is not down
    assert warn == []
    got = kpi.availability(reach + link, start, end)
    # union: 10:00-11:00 (60) + 23:00-10:00 next day (11 h = 660) = 720 of 1440 minutes
    assert got == {"downtime_minutes": 720.0, "availability_pct": 50.0}
    assert kpi.availability([], start, end) == {"downtime_minutes": 0.0, "availability_pct": 100.0}


def test_the_kpi_core_and_the_charts_are_pure():
    import subprocess
    import sys

    code = ("import sys, incidents.kpi, pages.charts; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'piccolo', 'litestar', 'asyncpg', 'aiosqlite', 'httpx', 'pysnmp', 'jinja2', 'sqlite3'}); "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
