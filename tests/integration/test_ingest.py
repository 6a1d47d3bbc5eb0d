"""Alerts from existing monitoring (issue 12): Alertmanager, LibreNMS and
Zabbix webhooks posted over HTTP with an ingest token become observations the
engine dedups, correlates and auto-resolves."""

from __future__ import annotations

import datetime as dt

import httpx
import incident_data as data
import pytest
from incident_data import T0

from accounts.services import create_token
from cmdb.tables import Asset
from incidents import engine
from incidents.tables import AffectedAsset, Incident
from integrations import alerts


@pytest.fixture
async def ingest_http(app):
    token = await create_token(ingest="prometheus")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rackcard.test",
                                 headers={"Authorization": f"Bearer {token}"}) as client:
        yield client


def am_payload(*alerts_: dict, status: str = "firing") -> dict:
    """An Alertmanager v4 webhook body."""
    return {"version": "4", "groupKey": "{}:{alertname=\"x\"}", "truncatedAlerts": 0, "status": status,
            "receiver": "rackcard", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager.test:9093", "alerts": list(alerts_)}


def am_alert(alertname: str, instance: str, status: str = "firing", severity: str = "critical",
             fingerprint: str | None = None, **labels) -> dict:
    return {"status": status, "labels": {"alertname": alertname, "instance": instance, "severity": severity, **labels},
            "annotations": {"summary": f"{alertname} on {instance}"},
            "startsAt": "2026-11-23T10:00:00Z",
            "endsAt": "2026-11-23T10:05:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.test/graph", "fingerprint": fingerprint or f"{alertname}-{instance}"}


async def _asset_with_ip(site_id: int, name: str, ip: str, **kw) -> int:
    asset_id = await data.asset(site_id, name, **kw)
    await Asset.update({Asset.mgmt_ip: ip}).where(Asset.id == asset_id)
    return asset_id


async def _post(client, source: str, body: dict, now: dt.datetime) -> dict:
    # The handler stamps observations with the time it received them; tests pin it.
    from integrations import ingest

    ingest_now = ingest.utcnow
    ingest.utcnow = lambda: now
    try:
        response = await client.post(f"/api/v1/ingest/{source}", json=body)
    finally:
        ingest.utcnow = ingest_now
    assert response.status_code == 200, response.text
    return response.json()


async def test_alertmanager_firing_then_resolved_opens_and_resolves_one_incident(ingest_http, api):
    acme = await data.client("Acme")
    site = await data.site("datacenter")
    router = await _asset_with_ip(site, "edge-router-1", "10.20.0.1", kind="router", client_id=acme)
    firing = am_payload(am_alert("InstanceDown", "10.20.0.1:9100"))
    result = await _post(ingest_http, "alertmanager", firing, T0)
    assert result["matched"] == 1 and result["applied"] == 1 and result["unmatched"] == []
    # Alertmanager repeats a firing group: the same alert again is the same incident.
    await _post(ingest_http, "alertmanager", firing, T0 + dt.timedelta(seconds=30))
    opened = (await api.get("/api/v1/incidents", params={"status": "open", "asset_id": router})).json()
    assert opened["count"] == 1
    incident = opened["results"][0]
    assert incident["category"] == "equipment" and [c["client_id"] for c in incident["affected_clients"]] == [acme]

    await _post(ingest_http, "alertmanager", am_payload(am_alert("InstanceDown", "10.20.0.1:9100", "resolved"),
                                                        status="resolved"), T0 + dt.timedelta(minutes=5))
    await engine.tick(T0 + dt.timedelta(minutes=5, seconds=121))  # the recovery hold (120 s by default)
    after = (await api.get(f"/api/v1/incidents/{incident['id']}")).json()
    assert after["status"] == "resolved"
    assert await Incident.count() == 1


async def test_a_hundred_alerts_behind_one_down_ups_are_one_incident(ingest_http, api):
    site = await data.site("remote")
    ups = await _asset_with_ip(site, "ups-remote-1", "10.30.0.2", kind="ups")
    converters = []
    for i in range(100):
        client = await data.client(f"Client{i}")
        a = await _asset_with_ip(site, f"mc-{i}", f"10.30.1.{i + 1}", client_id=client)
        await data.depends(a, ups, "power")
        converters.append(a)
    body = am_payload(am_alert("UPSOnBattery", "10.30.0.2:161", rackcard_check="power:source"),
                      *[am_alert("InstanceDown", f"10.30.1.{i + 1}:9100") for i in range(100)])
    result = await _post(ingest_http, "alertmanager", body, T0)
    assert result["matched"] == 101
    assert await Incident.count() == 1
    incident = await Incident.select().first()
    assert incident["category"] == "power"
    roles = {r["asset_id"]: r["role"] for r in await AffectedAsset.select()}
    assert roles[ups] == "root" and all(roles.get(a) == "impacted" for a in converters)


async def test_the_same_fault_from_a_probe_and_from_alertmanager_is_one_incident(ingest_http, app):
    site = await data.site("datacenter")
    switch = await _asset_with_ip(site, "core-sw-1", "10.40.0.1", kind="switch")
    probe_token = await create_token(probe="edge-1")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                 headers={"Authorization": f"Bearer {probe_token}"}) as probe:
        batch = {"batch_id": "probe-batch-1", "probe": "edge-1", "observations": [
            {"asset_id": switch, "key": "reachability", "state": "critical", "observed_at": T0.isoformat(),
             "source": "trap", "message": "no SNMP answer"}]}
        assert (await probe.post("/api/v1/probe/observations", json=batch)).status_code == 200
    assert await Incident.count() == 1
    # Prometheus sees it a minute later, by host name (blackbox exporter's instance label).
    await _post(ingest_http, "alertmanager", am_payload(am_alert("HostDown", "core-sw-1.dc1.example.net")),
                T0 + dt.timedelta(minutes=1))
    assert await Incident.count() == 1


async def test_librenms_and_zabbix_alerts_reach_the_same_engine(ingest_http, api):
    site = await data.site("datacenter")
    sw = await _asset_with_ip(site, "access-sw-7", "10.50.0.7", kind="switch")
    rt = await _asset_with_ip(site, "border-1", "10.50.0.1", kind="router")
    librenms = {"hostname": "10.50.0.7", "sysName": "access-sw-7", "name": "Devices up/down",
                "title": "Device Down", "severity": "critical", "state": 1, "uid": 812, "timestamp": "2026-11-23 10:00:00"}
    assert (await _post(ingest_http, "librenms", librenms, T0))["applied"] == 1
    zabbix = {"event_id": "4711", "event_name": "Unavailable by ICMP ping", "host": "border-1", "host_ip": "10.50.0.1",
              "severity": "High", "event_value": "1", "event_date": "2026.11.23", "event_time": "10:00:00"}
    assert (await _post(ingest_http, "zabbix", zabbix, T0))["applied"] == 1
    rows = (await api.get("/api/v1/incidents", params={"status": "open"})).json()["results"]
    assert sorted(a["asset_id"] for r in rows for a in r["affected_assets"]) == sorted([sw, rt])
    # Recoveries
    await _post(ingest_http, "librenms", {**librenms, "state": 0}, T0 + dt.timedelta(minutes=3))
    await _post(ingest_http, "zabbix", {**zabbix, "event_value": "0"}, T0 + dt.timedelta(minutes=3))
    await engine.tick(T0 + dt.timedelta(minutes=6))
    assert (await api.get("/api/v1/incidents", params={"status": "open"})).json()["count"] == 0


async def test_unknown_hosts_are_counted_and_listed_and_open_nothing(ingest_http, api):
    body = am_payload(am_alert("InstanceDown", "10.99.0.1:9100"), am_alert("InstanceDown", "10.99.0.1:9100", fingerprint="b"),
                      am_alert("DiskFull", "ghost.example:9100", severity="warning"))
    result = await _post(ingest_http, "alertmanager", body, T0)
    assert result["matched"] == 0 and result["unmatched"] == ["10.99.0.1", "ghost.example"]
    listed = (await api.get("/api/v1/ingest/unmatched")).json()
    assert listed["hosts"] == 2 and listed["alerts"] == 3
    by_host = {r["host"]: r for r in listed["results"]}
    assert by_host["10.99.0.1"]["count"] == 2 and by_host["ghost.example"]["last_alert"] == "DiskFull"
    assert await Incident.count() == 0


async def test_ingest_refuses_bad_payloads_and_other_tokens(ingest_http, api, client_as):
    bad = await ingest_http.post("/api/v1/ingest/alertmanager", json={"alerts": [{"status": "firing", "labels": {}}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "alerts[0].labels.alertname"
    not_json = await ingest_http.post("/api/v1/ingest/zabbix", content=b"{nope", headers={"content-type": "application/json"})
    assert not_json.status_code in (400, 422)
    # Staff tokens cannot post alerts; ingest tokens can read nothing.
    assert (await api.post("/api/v1/ingest/alertmanager", json=am_payload())).status_code == 403
    assert (await ingest_http.get("/api/v1/incidents")).status_code == 403
    assert (await ingest_http.get("/api/v1/ingest/unmatched")).status_code == 403


def test_alert_names_map_to_the_probes_check_keys():
    assert alerts.check_key("InstanceDown") == "reachability"
    assert alerts.check_key("Unavailable by ICMP ping") == "reachability"
    assert alerts.check_key("UPS on battery") == "power:source"
    assert alerts.check_key("HighCPU load") == "alert:HighCPU_load"
    assert alerts.check_key("whatever", "link:3") == "link:3"
    assert alerts.host_of("[2001:db8::1]:9100") == "2001:db8::1"
    assert alerts.host_of("http://sw1.example:80/metrics") == "sw1.example"
