"""GET /api/v1/reports/kpi and its CSV on a small real history (both engines):
the loader feeds incidents.kpi the right histories, links a client call to
the probe incident on the same asset, keeps facts fresh after a change, and
the CSV carries the same numbers as the JSON."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest

from accounts.viewer import SYSTEM
from incidents import services
from tests.integration import incident_data as data

T0 = data.T0
DAY = "from=2026-11-23&to=2026-11-23"


def at(minutes: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


async def _history() -> dict:
    gold = await data.plan("Gold", response=30, resolution=240)  # P3: respond in 90, resolve in 720
    acme = await data.client("Acme", plan_id=gold)
    globex = await data.client("Globex")
    site = await data.site("remote", name="Khimki")
    mc = await data.asset(site, "mc-khimki-1", client_id=acme)
    ups = await data.asset(site, "ups-khimki", kind="ups")

    # The probe saw the fiber go down at 09:50; Acme called at 10:00 about the same converter.
    auto = await services.store_incident(fingerprint="link:mc", title="fiber down on mc-khimki-1", category="fiber",
                                         priority="P3", source="probe", at=at(-10))
    await services.store_assets(auto, {mc: "root"}, at(-10))
    await services.store_clients(auto, [acme], at(-10))
    call = await services.create_manual(SYSTEM, services.ManualIncident(
        title="no internet", category="fiber", client_id=acme, source="phone", asset_ids=(mc,), priority="P3"),
        now=at(0))
    call = call["id"]
    await services.transition(SYSTEM, call, "acknowledged", now=at(5))
    await services.transition(SYSTEM, call, "in_progress", now=at(5))
    await services.comment(SYSTEM, call, "Rebooting the converter now", "public", now=at(20))
    await services.transition(SYSTEM, call, "resolved", now=at(60))
    await services.set_status(auto, "new", "resolved", at(55), author="engine", fields={"resolved_at": at(55)})

    # Globex: a power call escalated to L2 and still open; a UPS trap incident that healed by itself.
    power = await services.create_manual(SYSTEM, services.ManualIncident(
        title="site dark", category="power", client_id=globex, source="email", priority="P2"), now=at(30))
    await services.escalate(SYSTEM, power["id"], now=at(45))
    healed = await services.store_incident(fingerprint="power:ups", title="UPS on battery", category="power",
                                           priority="P3", source="trap", at=at(120))
    await services.store_assets(healed, {ups: "root"}, at(120))
    await services.set_status(healed, "new", "resolved", at(130), author="engine",
                              fields={"resolved_at": at(130), "self_healed": True})
    return {"acme": acme, "globex": globex, "auto": auto, "call": call, "power": power["id"], "healed": healed,
            "site": site}


async def test_kpi_report_over_a_real_history(db, api):
    ids = await _history()
    response = await api.get(f"/api/v1/reports/kpi?{DAY}&group_by=client")
    assert response.status_code == 200, response.text
    body = response.json()
    totals = body["totals"]
    assert totals["incidents"] == 4 and totals["resolved"] == 3
    # the call: acknowledged at 5, resolved at 60 at L1 with one public reply
    # eligible: the call and the probe incident (resolved with no reply); the self-healed one is not
    assert totals["fcr_eligible"] == 2 and totals["first_contact_resolution_pct"] == 100.0
    assert totals["time_to_acknowledge"]["calendar"]["n"] == 1
    assert totals["time_to_acknowledge"]["calendar"]["mean"] == 5.0
    assert totals["escalation_rate_pct"] == 25.0
    # problems: the probe incident, the power call, the healed trap (the call is the probe incident's problem)
    assert totals["problems"] == 3 and totals["proactive"] == 2 and totals["proactive_pct"] == 66.7
    assert totals["detection_to_first_call"]["incidents"] == [{"incident_id": ids["auto"], "minutes": 10.0}]
    assert totals["self_healed_pct"] == 50.0
    assert body["backlog"]["open"] == 1
    assert {r["age"]: r["incidents"] for r in body["backlog"]["ageing"]}[">3d"] == 1
    groups = {g["label"]: g for g in body["groups"]}
    assert groups["Acme"]["incidents"] == 2 and groups["Globex"]["incidents"] == 1
    assert groups["(none)"]["incidents"] == 1  # the UPS trap touched no client
    assert body["series"] == [{"period": "2026-11-23", "incoming": 4, "resolved": 3}]
    assert "first_contact_resolution_pct" in body["definitions"]


async def test_the_cohort_is_the_incidents_opened_in_from_to(db, api):
    """Cohort: opened in [from, to). One opened exactly at `from` counts; one
    opened exactly at `to` does not; one opened before `from` and resolved
    inside does not (its resolution shows in the series' resolved only)."""
    start, end = dt.datetime(2026, 11, 23, tzinfo=dt.timezone.utc), dt.datetime(2026, 11, 24, tzinfo=dt.timezone.utc)
    second = dt.timedelta(seconds=1)
    acme = await data.client("Acme")

    async def opened(title: str, when: dt.datetime) -> int:
        return (await services.create_manual(SYSTEM, services.ManualIncident(
            title=title, category="fiber", client_id=acme, source="phone", priority="P3"), now=when))["id"]

    at_start, inside = await opened("at from", start), await opened("inside", at(0))
    at_end, before = await opened("at to", end), await opened("before from", start - second)
    for incident, resolved in ((inside, at(30)), (before, at(60)), (at_end, end + second)):
        await services.transition(SYSTEM, incident, "acknowledged", now=resolved - second)
        await services.transition(SYSTEM, incident, "in_progress", now=resolved - second)
        await services.transition(SYSTEM, incident, "resolved", now=resolved)
    body = (await api.get(f"/api/v1/reports/kpi?{DAY}&group_by=category")).json()
    totals = body["totals"]
    assert totals["incidents"] == 2  # at from, inside
    assert totals["resolved"] == 1  # inside; `before` is resolved in the period but not of the cohort
    assert totals["time_to_resolve"]["calendar"]["n"] == 1 and totals["time_to_resolve"]["calendar"]["mean"] == 30.0
    assert [(g["key"], g["incidents"]) for g in body["groups"]] == [("fiber", 2)]
    assert body["series"] == [{"period": "2026-11-23", "incoming": 2, "resolved": 2}]
    assert body["backlog"]["open"] == 1  # at from is still open: the snapshot is not the cohort
    the_next_day = (await api.get("/api/v1/reports/kpi?from=2026-11-24&to=2026-11-24")).json()["totals"]
    assert the_next_day["incidents"] == 1 and the_next_day["resolved"] == 1  # at to opens the next day's cohort


async def test_facts_follow_a_change_of_the_history(db, api):
    ids = await _history()
    first = (await api.get(f"/api/v1/reports/kpi?{DAY}")).json()["totals"]
    assert first["closed"] == 0 and first["reopened"] == 0
    await services.transition(SYSTEM, ids["call"], "in_progress", now=at(200))  # reopened
    second = (await api.get(f"/api/v1/reports/kpi?{DAY}")).json()["totals"]
    assert second["reopened"] == 1 and second["resolved"] == 2
    await services.transition(SYSTEM, ids["call"], "resolved", now=at(210))
    await services.transition(SYSTEM, ids["call"], "closed", now=at(220))
    third = (await api.get(f"/api/v1/reports/kpi?{DAY}")).json()["totals"]
    assert third["closed"] == 1 and third["time_to_resolve"]["calendar"]["n"] == 3


async def test_facts_measured_again_replace_the_kept_ones_by_their_key(db, api, monkeypatch):
    """Facts measured again are written as one upsert on the unique incident
    key, with no DELETE first: PostgreSQL plans each statement once per
    connection, and a DELETE of the chunk planned while the facts table was
    still empty scanned it once per id, so a first report over 100,000
    incidents took 324 s instead of ~4 s per 20,000 (bench/kpi_report.py)."""
    from database import rawsql

    ids = await _history()
    await api.get(f"/api/v1/reports/kpi?{DAY}")  # every fact kept
    sent: list[str] = []
    fetch, insert = rawsql.Sql.fetch, rawsql.insert

    async def fetching(self, sql):
        sent.append(sql)
        return await fetch(self, sql)

    async def inserting(table, columns, kinds, rows, suffix=""):
        sent.append(f"INSERT INTO {table} {suffix}")
        return await insert(table, columns, kinds, rows, suffix)

    monkeypatch.setattr(rawsql.Sql, "fetch", fetching)
    monkeypatch.setattr(rawsql, "insert", inserting)
    await services.transition(SYSTEM, ids["call"], "in_progress", now=at(200))  # the facts of a resolved one change
    totals = (await api.get(f"/api/v1/reports/kpi?{DAY}")).json()["totals"]
    assert totals["reopened"] == 1
    assert any(s.startswith("INSERT INTO inc_kpi_fact ON CONFLICT (incident) DO UPDATE") for s in sent), sent
    assert not any("DELETE FROM inc_kpi_fact" in s for s in sent), sent


async def test_filters_by_client_and_category(db, api):
    ids = await _history()
    acme = (await api.get(f"/api/v1/reports/kpi?{DAY}&client_id={ids['acme']}")).json()
    assert acme["totals"]["incidents"] == 2 and acme["backlog"]["open"] == 0
    power = (await api.get(f"/api/v1/reports/kpi?{DAY}&category=power&group_by=site")).json()
    assert power["totals"]["incidents"] == 2
    assert {g["label"]: g["incidents"] for g in power["groups"]} == {"Khimki": 1, "(none)": 1}


def _csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def _cell(value) -> str:
    """A JSON value as the CSV writes it."""
    return "" if value is None else str(value)


def _flat(row: dict, header: list[str]) -> dict[str, str]:
    """A JSON report row as CSV cells; `{metric}_{clock}_{stat}` columns read row[metric][clock][stat]."""
    out = {}
    for key in header:
        if key in row:
            out[key] = _cell(row[key])
        else:
            name, clock, stat = key.rsplit("_", 2)
            out[key] = _cell(row[name][clock][stat])
    return out


def _expected_csv(body: dict, table: str, header: list[str]) -> list[dict[str, str]]:
    """Every row of one CSV table, from the JSON report alone."""
    if table == "groups":
        rows = [{**g, "group": g["key"]} for g in body["groups"]] + [{**body["totals"], "group": "TOTAL", "label": ""}]
    elif table == "backlog":
        rows = [*body["backlog"]["ageing"], {"age": "TOTAL open", "incidents": body["backlog"]["open"]},
                {"age": "overdue now", "incidents": body["backlog"]["overdue_now"]}]
    elif table == "detection_to_first_call":
        rows = body["totals"]["detection_to_first_call"]["incidents"]
    else:
        rows = body[table]
    return [_flat(r, header) for r in rows]


@pytest.mark.parametrize("group_by", ["category", "priority", "source", "line"])
async def test_csv_carries_the_same_numbers_as_the_api(db, api, group_by):
    """Every cell of every CSV table equals the JSON report's number."""
    from incidents import kpi_store

    await _history()
    query = f"{DAY}&group_by={group_by}"
    body = (await api.get(f"/api/v1/reports/kpi?{query}")).json()
    for table in kpi_store.TABLES:
        response = await api.get(f"/api/v1/reports/kpi/csv?{query}&table={table}")
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv"), table
        rows = _csv(response.text)
        header = next(csv.reader(io.StringIO(response.text)))
        assert rows == _expected_csv(body, table, header), table
        assert rows, table  # the history fills every table, so the comparison compares something
    groups = _csv((await api.get(f"/api/v1/reports/kpi/csv?{query}&table=groups")).text)
    assert groups[-1]["group"] == "TOTAL" and int(groups[-1]["incidents"]) == body["totals"]["incidents"] == 4
    assert sum(int(r["incidents"]) for r in groups[:-1]) == body["totals"]["incidents"]
    escalation = {r["line"]: r for r in _csv((await api.get(f"/api/v1/reports/kpi/csv?{query}&table="
                                                             "escalation_by_line")).text)}
    assert escalation["L1"]["escalated"] == "1"  # the power call went to L2
    delays = _csv((await api.get(f"/api/v1/reports/kpi/csv?{query}&table=detection_to_first_call")).text)
    assert delays == [{"incident_id": str(body["totals"]["detection_to_first_call"]["incidents"][0]["incident_id"]),
                      "minutes": "10.0"}]


@pytest.mark.parametrize("query, field", [
    ("from=yesterday", "from"), ("from=2026-11-23T10:00", "from"), ("from=2026-11-24&to=2026-11-20", "from"),
    ("group_by=colour", "group_by"), ("category=tea", "category"), ("bucket=hour", "bucket"),
    ("client_id=0", "client_id"),
])
async def test_bad_report_parameters_are_422_naming_the_field(db, api, query, field):
    response = await api.get(f"/api/v1/reports/kpi?{query}")
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field
    csv_bad = await api.get("/api/v1/reports/kpi/csv?table=nope")
    assert csv_bad.status_code == 422 and csv_bad.json()["errors"][0]["field"] == "table"


def _kind(values) -> str:
    sample = next((v for v in values if v is not None), "")
    if isinstance(sample, bool):
        return "bool"
    if isinstance(sample, int):
        return "int"
    if isinstance(sample, float):
        return "float"
    if isinstance(sample, dt.datetime):
        return "time"
    return "text"


@pytest.mark.parametrize("group_by", [None, "category", "priority", "source", "line", "client"])
async def test_sql_aggregation_equals_the_pure_reference(db, api, group_by):
    """A generated history (bench/kpi_report.py's generator, 400 incidents): the
    report aggregated in SQL gives exactly kpi.report over the same facts."""
    import sys
    from pathlib import Path

    from database.transactions import atomic
    from database import rawsql
    from incidents import kpi, kpi_store

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import kpi_report as generator

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    tables = generator.generate(400, now, seed=3)
    async with atomic():
        for name, rows in tables.items():
            columns = generator.COLUMNS[name]
            kinds = ["json" if c == "data" else _kind([r[i] for r in rows]) for i, c in enumerate(columns)]
            await rawsql.insert(name, columns, kinds, rows)
    query = kpi_store.Query(now - dt.timedelta(days=366), now + dt.timedelta(seconds=1), group_by=group_by)
    from accounts.viewer import SYSTEM

    got = await kpi_store.report(SYSTEM, query, now=now, delay_list=None)
    q = rawsql.Sql()
    cols = ", ".join(f'"{c}"' for c in ("incident", *kpi_store.FACT_COLUMNS[1:]))
    facts = [kpi_store._fact_of(tuple(r) if q.sqlite else r.values())
             for r in await q.fetch(f"SELECT {cols} FROM inc_kpi_fact")]
    assert len(facts) == 400
    members: dict[int, list] = {}
    for r in await rawsql.fetch("SELECT incident, client_id FROM inc_affected_client"):
        members.setdefault(r["incident"], []).append(r["client_id"])
    want = kpi.report(facts, [f for f in facts if f.resolved_at is None], start=query.start, end=query.end, now=now,
                      resolved_times=[f.resolved_at for f in facts if f.resolved_at is not None],
                      group_by=group_by, groups_of=(lambda f: members[f.id]) if group_by == "client" else None)
    assert want["totals"]["incidents"] == 400 and want["totals"]["auto_opened"] > 50
    want_delays = want["totals"]["detection_to_first_call"].pop("incidents")
    got_delays = got["totals"]["detection_to_first_call"].pop("incidents")
    assert sorted(d["incident_id"] for d in got_delays) == sorted(d["incident_id"] for d in want_delays)
    assert got["totals"] == want["totals"]
    for key in ("series", "call_mix", "escalation_by_line", "backlog"):
        assert got[key] == want[key], key
    strip = lambda g: {k: v for k, v in g.items() if k not in ("label", "detection_to_first_call")}  # noqa: E731
    assert [strip(g) for g in got["groups"]] == [strip(g) for g in want["groups"]]


async def test_per_client_sla_report_availability_and_incidents(db, api, client_as):
    from cmdb.tables import Interface
    from incidents.tables import CheckEvent

    ids = await _history()
    mc = (await data.asset(ids["site"], "mc-extra", client_id=ids["acme"]))
    service = await data.service(ids["acme"], ids["site"], mc)
    await Interface(asset=mc, if_index=2, name="fx", role="fiber", client=ids["acme"], service=service).save()
    events = [(mc, "reachability", "critical", at(-600 - 60)),  # 23:00 the day before: down when the day begins
              (mc, "reachability", "ok", at(-540)),  # 01:00
              (mc, "reachability", "critical", at(-120)),  # 08:00 (saved out of order: ordering is by time)
              (mc, "reachability", "ok", at(30)),  # back at 10:30
              (mc, "link:2", "critical", at(600)), (mc, "link:2", "ok", at(660)),  # 20:00-21:00
              (mc, "reachability", "warning", at(700))]  # not down
    for asset, key, state, when in events:
        await CheckEvent(asset=asset, key=key, to_state=state, at=when).save()
    response = await api.get(f"/api/v1/reports/sla?client_id={ids['acme']}&{DAY}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["client"]["name"] == "Acme" and body["plan"]["name"] == "Gold"
    by_id = {s["id"]: s for s in body["services"]}
    # 00:00-01:00 (60) + 08:00-10:30 (150) + 20:00-21:00 (60) of 1440 minutes
    assert by_id[service]["downtime_minutes"] == 270.0
    assert by_id[service]["availability_pct"] == round(100 * (1 - 270 / 1440), 3)
    assert body["incidents"]["incidents"] == 2 and body["incidents"]["response_breach_pct"] == 0.0
    assert "availability_pct" in body["definitions"]
    client = await client_as("client", ids["acme"])
    assert (await client.get(f"/api/v1/reports/sla?client_id={ids['acme']}")).status_code == 403
    missing = await api.get("/api/v1/reports/sla?client_id=999999")
    assert missing.status_code == 404


async def test_the_server_timers_measure_queued_incidents_before_any_report(db, settings):
    import asyncio

    from incidents import background
    from incidents.desk_tables import KpiDirty, KpiFact

    await _history()
    assert await KpiDirty.count() > 0 and await KpiFact.count() == 0
    async with background.background(None, settings):
        for _ in range(100):
            if await KpiFact.count() >= 4 and await KpiDirty.count() == 0:  # the queue is emptied after the facts land
                break
            await asyncio.sleep(0.1)
    assert await KpiFact.count() == 4 and await KpiDirty.count() == 0  # the three resolved and the open one
