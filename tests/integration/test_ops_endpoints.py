"""/healthz, /readyz and /metrics on both engines: what a load balancer and
Prometheus read from a web replica."""

from __future__ import annotations

import datetime as dt
import re

from prometheus_client.parser import text_string_to_metric_families


def _families(text: str) -> dict[str, list]:
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


async def test_healthz_answers_without_a_token(http):
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_database_and_migrations(http):
    response = await http.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "database": "ok", "migrations": "ok"}


async def test_readyz_is_503_with_a_pending_migration(http, db):
    from piccolo.apps.migrations.tables import Migration

    applied = await Migration.select().where(Migration.app_name == "incidents").order_by(Migration.name, ascending=False).first()
    await Migration.delete().where(Migration.id == applied["id"])
    try:
        response = await http.get("/readyz")
        assert response.status_code == 503
        body = response.json()
        assert body["status"] == "not ready"
        assert body["migrations"] == f"pending: incidents:{applied['name']}"
    finally:
        await Migration.insert(Migration(name=applied["name"], app_name="incidents", ran_on=applied["ran_on"]))


async def test_readyz_is_503_when_the_embedded_worker_died(app, http):
    class Exited:
        returncode = 1

    app.state.probe_process = Exited()
    response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["embedded_probe"] == "exited with 1"


async def test_metrics_count_requests_by_route_and_report_domain_gauges(api, http):
    from cmdb.tables import Asset, Site
    from incidents.tables import CheckState, Incident

    site = Site(code="KHM", name="Khimki node", name_norm="khimki node", kind="remote")
    await site.save()
    asset = Asset(name="ups-khm", name_norm="ups-khm", kind="ups", site=site.id)
    await asset.save()
    observed = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=90)
    await CheckState(asset=asset.id, key="power:source", state="ok", since=observed, last_observed_at=observed).save()
    now = dt.datetime.now(dt.timezone.utc)
    for n, priority in enumerate(("P1", "P2", "P2")):
        await Incident(fingerprint=f"metrics-{n}", title="t", category="power",
                       priority=priority, status="new", opened_at=now, line_since=now).save()

    for asset_id in (asset.id, asset.id):
        assert (await api.get(f"/api/v1/assets/{asset_id}")).status_code == 200

    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = _families(response.text)

    requests = [s for s in families["rackcard_requests"] if s.name == "rackcard_requests_total"]
    by_path = {s.labels["path"]: s.value for s in requests if s.labels.get("method") == "GET"}
    # Grouped by route template, not by id: one series for every asset.
    templates = [p for p in by_path if re.fullmatch(r"/api/v1/assets/\{[^}/]+\}", p)]
    assert len(templates) == 1 and by_path[templates[0]] >= 2
    assert not any(path.endswith(f"/assets/{asset.id}") for path in by_path)
    timed = {s.labels["path"]: s.value for s in families["rackcard_request_duration_seconds"]
             if s.name == "rackcard_request_duration_seconds_count" and s.labels["method"] == "GET"
             and s.labels["status_code"] == "200"}
    assert timed[templates[0]] >= 2
    in_progress = [s for s in families["rackcard_requests_in_progress"]
                   if s.labels["path"] == templates[0] and s.labels["method"] == "GET"]
    assert [s.value for s in in_progress] == [0]  # both answered
    assert not any(p.startswith(("/metrics", "/static")) for p in by_path)

    open_by_priority = {s.labels["priority"]: s.value for s in families["rackcard_open_incidents"]}
    assert open_by_priority == {"P1": 1, "P2": 2, "P3": 0, "P4": 0}
    ages = {s.labels["site"]: s.value for s in families["rackcard_site_last_observation_age_seconds"]}
    assert 85 <= ages["KHM"] < 3600
    deliveries = {s.labels["status"] for s in families["rackcard_notification_deliveries"]}
    assert deliveries == {"pending", "delivered", "failed"}
