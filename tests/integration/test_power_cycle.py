"""Remote power-cycle against real agents: a net-snmp `snmpd` PDU whose outlet
OIDs accept SET through a `pass_persist` script that records each SET (and SIGSTOPs the
`snmpd` of the device the outlet feeds while it is off), a live server and a
real probe worker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from _probe_support import make_site, wait_until
from probes.worker import Worker, WorkerConfig

PASS_SCRIPT = Path(__file__).resolve().parents[1] / "data" / "power" / "pdu_pass.py"
SNMPD = "/usr/sbin/snmpd"
PDU_HOST, DEVICE_HOST = "127.0.5.1", "127.0.5.2"

pytestmark = pytest.mark.skipif(not os.path.exists(SNMPD), reason="net-snmp snmpd is not installed")


def _free_udp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _snmpd_argv(conf: Path, host: str, pid_file: Path, port: int) -> list[str]:
    return [SNMPD, "-f", "-Lo", "-C", "-c", str(conf), "-p", str(pid_file), f"udp:{host}:{port}"]


def _uptime_ticks(host: str, port: int, community: str) -> int | None:
    done = subprocess.run(["snmpget", "-v2c", "-c", community, "-t", "0.5", "-r", "0", "-Oqvt", f"{host}:{port}",
                           "1.3.6.1.2.1.1.3.0"], capture_output=True, text=True)
    return int(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip().isdigit() else None


def _snmpd(conf: Path, host: str, pid_file: Path, community: str) -> tuple[subprocess.Popen, int]:
    port = _free_udp_port(host)
    proc = subprocess.Popen(_snmpd_argv(conf, host, pid_file, port), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    for _ in range(40):  # until it answers (it reads its MIBs first)
        if _uptime_ticks(host, port, community) is not None:
            break
    return proc, port


@pytest.fixture
def agents(tmp_path):
    """A PDU (outlets 1-4 on; outlet 3 feeds the device) and the device's own agent."""
    state = tmp_path / "pdu"
    state.mkdir()
    (state / "outlets.json").write_text(json.dumps({str(n): 2 for n in range(1, 5)}))
    pdu_conf = tmp_path / "pdu.conf"
    pdu_conf.write_text(f"rocommunity public\nrwcommunity private\npass_persist .1.3.6.1.4.1.318.1.1.26 /usr/bin/python3 {PASS_SCRIPT} {state}\n")
    dev_conf = tmp_path / "dev.conf"
    dev_conf.write_text("rocommunity public\n")
    pdu, pdu_port = _snmpd(pdu_conf, PDU_HOST, tmp_path / "pdu.pid", "private")
    dev, dev_port = _snmpd(dev_conf, DEVICE_HOST, tmp_path / "dev.pid", "public")
    (state / "fed-3.pid").write_text(str(dev.pid))
    try:
        yield {"state": state, "pdu_port": pdu_port, "dev_port": dev_port,
               "dev_argv": _snmpd_argv(dev_conf, DEVICE_HOST, tmp_path / "dev.pid", dev_port)}
    finally:
        for proc in (pdu, dev):
            os.kill(proc.pid, signal.SIGCONT)
            proc.terminate()
            proc.wait(5)
        restarted = int((state / "fed-3.pid").read_text())
        if restarted != dev.pid:  # the device the PDU started again (fed-3.cmd)
            try:
                os.kill(restarted, signal.SIGTERM)
            except ProcessLookupError:
                pass


@pytest.fixture
def fast(monkeypatch):
    for name, value in (("RACKCARD_POWER_OFF_S", "0.5"), ("RACKCARD_POWER_STEP_S", "0.3"),
                        ("RACKCARD_POWER_CONFIRM_S", "3"), ("RACKCARD_POWER_WATCH_S", "20")):
        monkeypatch.setenv(name, value)


async def _created(api, path: str, body: dict) -> int:
    r = await api.post(path, json=body)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _inventory(api, agents) -> dict:
    site = await make_site()
    ids = {"site": site.id}
    ids["a"] = await _created(api, "/api/v1/clients", {"code": "ROM", "name": "Romashka", "self_service_power": True})
    ids["b"] = await _created(api, "/api/v1/clients", {"code": "VAS", "name": "Vasilek"})
    ids["pdu"] = await _created(api, "/api/v1/assets", {
        "name": "pdu-r1", "kind": "pdu", "site_id": site.id, "mgmt_ip": PDU_HOST, "snmp_port": agents["pdu_port"],
        "snmp_version": "2c", "snmp_community": "public", "snmp_write_community": "private", "profile": "apc_rpdu2",
        "poll_interval_s": 3600})
    ids["dead_pdu"] = await _created(api, "/api/v1/assets", {
        "name": "pdu-dead", "kind": "pdu", "site_id": site.id, "mgmt_ip": "127.0.5.9", "snmp_port": agents["pdu_port"],
        "snmp_version": "2c", "snmp_community": "public", "snmp_write_community": "private", "profile": "apc_rpdu2",
        "poll_interval_s": 3600})
    ids["mc"] = await _created(api, "/api/v1/assets", {
        "name": "mc-romashka", "kind": "media_converter", "site_id": site.id, "client_id": ids["a"],
        "mgmt_ip": DEVICE_HOST, "snmp_port": agents["dev_port"], "snmp_version": "2c", "snmp_community": "public",
        "poll_interval_s": 3600})
    for name, client in (("rt-romashka", ids["a"]), ("mc-vasilek", ids["b"]), ("sw-shared-a", ids["a"]),
                         ("sw-shared-b", ids["b"]), ("mc-dead", ids["a"])):
        ids[name] = await _created(api, "/api/v1/assets", {"name": name, "kind": "router", "site_id": site.id,
                                                           "client_id": client})
    for asset, pdu, outlet in (("mc", "pdu", 3), ("rt-romashka", "pdu", 1), ("mc-vasilek", "pdu", 2),
                               ("sw-shared-a", "pdu", 4), ("sw-shared-b", "pdu", 4), ("mc-dead", "dead_pdu", 1)):
        await _created(api, "/api/v1/dependencies", {"asset_id": ids[asset], "depends_on_id": ids[pdu],
                                                     "kind": "power", "outlet_number": outlet})
    return ids


async def _probe_token(name="edge") -> str:
    from accounts.services import create_token

    return await create_token(probe=name)


async def _job(job_id: int) -> dict:
    from incidents.tables import PowerJob

    return await PowerJob.select().where(PowerJob.id == job_id).first()


async def _finished(job_id: int) -> None:
    async def done():
        return (await _job(job_id))["status"] in ("done", "failed")

    await wait_until(done, attempts=300, delay=0.1)


async def _timeline(incident_id: int) -> list[dict]:
    from incidents.tables import TimelineEntry

    return await TimelineEntry.select().where(TimelineEntry.incident == incident_id).order_by(TimelineEntry.id)


def _sets(agents) -> list[str]:
    log = agents["state"] / "sets.log"
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
async def worker(db, live_app, tmp_path):
    w = Worker(WorkerConfig(server=live_app.url, token=await _probe_token(), spool_dir=tmp_path / "spool",
                            probe="edge", trap_host=None, refresh_s=60, flush_s=0.2, timeout_s=0.5, long_poll_s=1))
    task = asyncio.create_task(w.run())
    yield w
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_the_right_outlet_goes_off_then_on_once_and_the_device_returns(
        db, live_app, api, client_as, agents, fast, worker):
    from incidents.tables import CheckEvent

    ids = await _inventory(api, agents)
    await _created(api, "/api/v1/interfaces", {"asset_id": ids["mc"], "if_index": 1, "name": "lo", "role": "uplink"})
    r = await api.post(f"/api/v1/assets/{ids['mc']}/power-cycle", json={"reason": "no internet", "dry_run": True})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "dry_run" and r.json()["outlet_number"] == 3 and r.json()["job_id"] is None
    assert _sets(agents) == []

    r = await api.post(f"/api/v1/assets/{ids['mc']}/power-cycle", json={"reason": "no internet since 9:00"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["pdu_name"] == "pdu-r1" and body["outlet_number"] == 3 and body["status"] == "queued"
    await _finished(body["job_id"])
    job = await _job(body["job_id"])
    errors = agents["state"] / "errors.log"
    assert job["status"] == "done", (job["result"], errors.read_text() if errors.exists() else "")
    assert _sets(agents) == ["3 off", "3 on"]  # the right outlet, off then on, once

    events = [(e["from_state"], e["to_state"]) for e in await CheckEvent.select().where(
        (CheckEvent.asset == ids["mc"]) & (CheckEvent.key == "reachability")).order_by(CheckEvent.at)]
    assert ("ok", "critical") in events or (None, "critical") in events
    assert events[-1][1] == "ok"

    timeline = await _timeline(body["incident_id"])
    steps = [e["data"] if isinstance(e["data"], dict) else json.loads(e["data"]) for e in timeline]
    names = [s.get("step") for s in steps if s.get("power_job") == body["job_id"]]
    for step in ("requested", "outlet_read", "sent_off", "outlet_off", "sent_on", "outlet_on", "asset_back"):
        assert step in names, names
    assert names.index("outlet_off") < names.index("outlet_on") < names.index("asset_back")
    back = next(e["body"] for e, st in zip(timeline, steps) if st.get("step") == "asset_back" and e["visibility"] != "public")
    assert "1 link(s) up" in back, back
    # a SIGSTOPped agent keeps its uptime: said, not passed off as a restart
    assert "uptime_not_reset" in names and "uptime_reset" not in names, names

    # the client sees the public steps in the portal, without the PDU's internals
    client = await client_as("client", client_id=ids["a"])
    r = await client.get(f"/api/v1/portal/incidents/{body['incident_id']}")
    assert r.status_code == 200, r.text
    text = json.dumps(r.json())
    assert "Power to mc-romashka switched off" in text and "mc-romashka answers again" in text
    assert "pdu-r1" not in text and "private" not in text

    # a second request inside the cool-down is refused with the time left
    r = await api.post(f"/api/v1/assets/{ids['mc']}/power-cycle", json={"reason": "again"})
    assert r.status_code == 429, r.text
    assert "try again in" in r.json()["detail"] and int(r.headers["retry-after"]) > 0
    assert _sets(agents) == ["3 off", "3 on"]

    # every attempt audited: who, from where, result
    from accounts.tables import AuditLog

    rows = await AuditLog.select().where((AuditLog.action == "power_cycle") & (AuditLog.entity_id == ids["mc"]))
    results = [json.loads(r["changes"])["result"] for r in rows]
    assert sorted(results) == ["dry_run", "queued", "refused"]


async def test_guards_refuse_shared_outlets_foreign_assets_and_clients_without_self_service(
        db, live_app, api, client_as, agents, fast):
    ids = await _inventory(api, agents)
    r = await api.post(f"/api/v1/assets/{ids['sw-shared-a']}/power-cycle", json={"reason": "x"})
    assert r.status_code == 409 and "sw-shared-b (Vasilek)" in r.json()["detail"], r.text

    client_a = await client_as("client", client_id=ids["a"])
    r = await client_a.post(f"/api/v1/portal/assets/{ids['mc-vasilek']}/power-cycle", json={"reason": "x"})
    assert r.status_code == 404, r.text
    r = await client_a.post(f"/api/v1/portal/assets/{ids['sw-shared-a']}/power-cycle", json={"reason": "x"})
    assert r.status_code == 409, r.text
    r = await client_a.post(f"/api/v1/portal/assets/{ids['mc']}/power-cycle", json={"reason": "x", "dry_run": True})
    assert r.status_code == 202 and "pdu" not in json.dumps(r.json()), r.text

    client_b = await client_as("client", client_id=ids["b"])  # Vasilek's contract has no self-service
    r = await client_b.post(f"/api/v1/portal/assets/{ids['mc-vasilek']}/power-cycle", json={"reason": "x"})
    assert r.status_code == 403, r.text
    r = await api.post(f"/api/v1/assets/{ids['mc']}/power-cycle", json={"reason": ""})
    assert r.status_code == 422 and r.json().get("field", "reason") == "reason", r.text
    assert _sets(agents) == []


async def test_a_pdu_that_refuses_or_does_not_answer_fails_clearly_without_retries(
        db, live_app, api, agents, fast, worker):
    from incidents.tables import Incident, PowerJob

    ids = await _inventory(api, agents)
    (agents["state"] / "refuse").write_text("")
    r = await api.post(f"/api/v1/assets/{ids['rt-romashka']}/power-cycle", json={"reason": "hung"})
    assert r.status_code == 202, r.text
    refused = r.json()
    r = await api.post(f"/api/v1/assets/{ids['mc-dead']}/power-cycle", json={"reason": "hung"})
    assert r.status_code == 202, r.text
    silent = r.json()
    for job in (refused, silent):
        await _finished(job["job_id"])
        row = await _job(job["job_id"])
        assert row["status"] == "failed"
        incident = await Incident.select(Incident.status).where(Incident.id == job["incident_id"]).first()
        assert incident["status"] not in ("resolved", "closed")
        bodies = [e["body"] for e in await _timeline(job["incident_id"])]
        assert any("did not complete" in b for b in bodies)
    assert "did not take the off command" in (await _job(refused["job_id"]))["result"]
    assert "did not answer" in (await _job(silent["job_id"]))["result"]
    # no retry storm: one job each, still failed, nothing switched, the refused SET sent once
    assert await PowerJob.count() == 2
    assert _sets(agents) == ["1 refused off"]


async def test_pages_offer_the_button_and_confirm_naming_device_outlet_and_what_else_loses_power(
        db, app, api, session_as, agents, fast):
    from conftest import csrf_of
    from incidents.tables import PowerJob

    ids = await _inventory(api, agents)
    # a second device of the same client on outlet 3: it loses power too, and is named
    extra = await _created(api, "/api/v1/assets", {"name": "rt-behind-mc", "kind": "router",
                                                   "site_id": ids["site"], "client_id": ids["a"]})
    await _created(api, "/api/v1/dependencies", {"asset_id": extra, "depends_on_id": ids["pdu"], "kind": "power",
                                                 "outlet_number": 3})
    staff, _ = await session_as("engineer")
    for path in (f"/assets/{ids['mc']}", f"/clients/{ids['a']}"):
        page = await staff.get(path)
        assert page.status_code == 200 and f'/assets/{ids["mc"]}/power-cycle' in page.text, path
    page = await staff.get(f"/assets/{ids['mc-vasilek']}")
    assert "/power-cycle" in page.text  # one known outlet: offered (the guard runs on the confirmation)
    page = await staff.get(f"/assets/{ids['sw-shared-a']}/power-cycle")
    assert page.status_code == 200 and "sw-shared-b (Vasilek)" in page.text and "power-confirm" not in page.text

    page = await staff.get(f"/assets/{ids['mc']}/power-cycle")
    assert page.status_code == 200
    for shown in ("mc-romashka", "pdu-r1", "outlet 3", "rt-behind-mc"):
        assert shown in page.text, shown
    assert f'<option value="{ids["rt-romashka"]}">rt-romashka</option>' in page.text  # may follow it
    r = await staff.post(f"/assets/{ids['mc']}/power-cycle", data={"reason": "", "csrf_token": csrf_of(page.text)})
    assert r.status_code == 422 and "say why" in r.text
    r = await staff.post(f"/assets/{ids['mc']}/power-cycle", data={"reason": "from the card"})
    assert r.status_code == 403  # no CSRF token
    assert await PowerJob.count() == 0
    r = await staff.post(f"/assets/{ids['mc']}/power-cycle",
                         data={"reason": "caller says no internet", "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303, r.text
    incident_path = r.headers["location"].split("#")[0]
    page = await staff.get(incident_path)
    assert "Power-cycle of mc-romashka requested: caller says no internet" in page.text
    assert f'/assets/{ids["mc"]}/power-cycle?incident_id=' in page.text  # the incident page's own button

    # the portal: a button next to each eligible device of a self-service client, a confirmation without the PDU
    client, _ = await session_as("client", client_id=ids["a"])
    page = await client.get("/portal")
    assert f'/portal/assets/{ids["rt-romashka"]}/power-cycle' in page.text
    # an outlet shared with another client is not offered to a client (staff see it, and why it is refused)
    assert f'/portal/assets/{ids["sw-shared-a"]}/power-cycle' not in page.text
    page = await client.get(f"/portal/assets/{ids['rt-romashka']}/power-cycle")
    assert page.status_code == 200 and "outlet 1" in page.text and "pdu-r1" not in page.text
    r = await client.post(f"/portal/assets/{ids['rt-romashka']}/power-cycle",
                          data={"reason": "router hangs", "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"].startswith("/portal/incidents/"), r.text
    page = await client.get(r.headers["location"].split("#")[0])
    assert "Power-cycle of rt-romashka requested: router hangs" in page.text
    assert (await client.get(f"/portal/assets/{ids['mc-vasilek']}/power-cycle")).status_code == 404
    other, _ = await session_as("client", client_id=ids["b"])  # no self-service: no button
    assert "/power-cycle" not in (await other.get("/portal")).text


async def test_jobs_go_only_to_the_worker_serving_the_pdus_site_and_one_nobody_takes_fails_once(
        db, app, api, client_as, agents, fast, monkeypatch):
    from accounts.services import create_token
    from incidents import power
    from incidents.tables import Incident, PowerJob

    ids = await _inventory(api, agents)  # the PDU is at site rs1
    await _created(api, "/api/v1/sites", {"code": "far", "name": "Far away", "kind": "remote"})
    r = await api.post(f"/api/v1/assets/{ids['mc']}/power-cycle", json={"reason": "no internet"})
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]

    import httpx

    async def probe(token):
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rackcard.test",
                                 headers={"Authorization": f"Bearer {token}"})

    async with await probe(await create_token(probe="far-probe", site_code="far")) as far_probe:
        r = await far_probe.post("/api/v1/probe/power-jobs/claim")
        assert r.status_code == 200 and r.json() == {"job": None}
        r = await far_probe.post("/api/v1/probe/power-jobs/claim", params={"site": "rs1"})
        assert r.status_code == 403
    staff = await client_as("engineer")
    r = await staff.get(f"/api/v1/assets/{ids['pdu']}")
    assert "private" not in r.text  # the write secret is not in staff answers
    r = await api.post(f"/api/v1/assets/{ids['rt-romashka']}/power-cycle", json={"reason": "x", "dry_run": True})
    assert "private" not in r.text
    async with await probe(await create_token(probe="rs1-probe", site_code="rs1")) as rs1_probe:
        r = await rs1_probe.post("/api/v1/probe/power-jobs/claim")
        job = r.json()["job"]
        assert job["job_id"] == job_id and job["outlet"] == 3 and job["pdu"]["community"] == "private"
        r = await rs1_probe.post("/api/v1/probe/power-jobs/claim")
        assert r.json() == {"job": None}  # taken once
        # the polling targets every worker reads carry the PDU's read community, never its write one
        r = await rs1_probe.get("/api/v1/probe/targets", params={"lease": "false"})
        assert r.status_code == 200 and "private" not in r.text, r.text
        assert any(t["name"] == "pdu-r1" and t["community"] == "public" for t in r.json()), r.text

    # a job nobody takes ends failed on the timeline, once; the incident stays open
    monkeypatch.setenv("RACKCARD_POWER_COOLDOWN_S", "0")
    monkeypatch.setenv("RACKCARD_POWER_CLAIM_TIMEOUT_S", "0")
    r = await api.post(f"/api/v1/assets/{ids['rt-romashka']}/power-cycle", json={"reason": "hung"})
    assert r.status_code == 202, r.text
    second = r.json()
    assert await power.expire(power.services.utcnow() + power.dt.timedelta(seconds=1)) >= 1
    row = await PowerJob.select().where(PowerJob.id == second["job_id"]).first()
    assert row["status"] == "failed" and "no probe worker serving site rs1" in row["result"]
    incident = await Incident.select(Incident.status).where(Incident.id == second["incident_id"]).first()
    assert incident["status"] not in ("resolved", "closed")
    bodies = [e["body"] for e in await _timeline(second["incident_id"])]
    assert sum("did not complete" in b for b in bodies) == 1


@pytest.mark.slow
async def test_a_client_reboots_its_media_converter_from_the_portal_in_a_browser(
        db, live_app, api, agents, fast, worker, browser_login):
    import re

    from playwright.async_api import expect

    from conftest import screenshot

    ids = await _inventory(api, agents)
    page, _ = await browser_login("client", client_id=ids["a"])
    await page.wait_for_url(re.compile(r"/portal$"))
    await page.locator(f"tr[data-asset='{ids['mc']}'] a.power-cycle").click()
    await expect(page.locator("#power-device")).to_have_text("mc-romashka")
    await expect(page.locator("#power-outlet")).to_contain_text("outlet 3")
    await expect(page.locator("#power-also")).to_have_text("nothing else")
    await screenshot(page, "portal-power-cycle-confirm")
    await page.fill("#power-reason", "no internet since the morning")
    await page.click("#power-confirm")
    await page.wait_for_url(re.compile(r"/portal/incidents/\d+"))
    for _ in range(60):  # the public steps arrive as the worker reports them
        if "mc-romashka answers again" in await page.locator("main").inner_text():
            break
        await page.wait_for_timeout(500)
        await page.reload()
    text = await page.locator("main").inner_text()
    assert "Power to mc-romashka switched off" in text and "mc-romashka answers again" in text
    assert "pdu-r1" not in text
    await screenshot(page, "portal-power-cycle-timeline")
    assert _sets(agents) == ["3 off", "3 on"]


async def test_media_converter_first_then_the_router_after_it_came_back(db, live_app, api, agents, fast, worker):
    from incidents.tables import PowerJob

    ids = await _inventory(api, agents)
    r = await api.post(f"/api/v1/assets/{ids['mc']}/power-cycle",
                       json={"reason": "no internet", "then_asset_id": ids["mc"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "then_asset_id", r.text
    r = await api.post(f"/api/v1/assets/{ids['mc']}/power-cycle",
                       json={"reason": "no internet", "then_asset_id": ids["sw-shared-a"]})
    assert r.status_code == 409 and "then_asset_id" in r.json()["detail"], r.text
    r = await api.post(f"/api/v1/assets/{ids['mc']}/power-cycle",
                       json={"reason": "no internet", "then_asset_id": ids["rt-romashka"], "then_after_s": 1})
    assert r.status_code == 202, r.text
    body = r.json()
    assert (await _job(body["then_job_id"]))["status"] == "waiting"
    await _finished(body["job_id"])
    await _finished(body["then_job_id"])
    assert (await _job(body["then_job_id"]))["status"] == "done"
    assert _sets(agents) == ["3 off", "3 on", "1 off", "1 on"]  # the converter, then the router
    first = await _job(body["job_id"])
    second = await _job(body["then_job_id"])
    assert second["claimed_at"] >= first["finished_at"]
    assert await PowerJob.count() == 2


async def test_an_snmpv3_authpriv_set_switches_the_outlet_once(tmp_path):
    """The PDU's v3 authPriv write user: the SET goes through the engine's own
    command generator (the v3 path of probes.snmp), reaches the outlet once, and
    a wrong key writes nothing."""
    from probes.snmp import SnmpPoller
    from probes.wire import Target

    state = tmp_path / "pdu"
    state.mkdir()
    (state / "outlets.json").write_text(json.dumps({str(n): 2 for n in range(1, 5)}))
    conf = tmp_path / "pdu-v3.conf"
    conf.write_text('rocommunity public\ncreateUser pduadmin SHA "pdu-auth-key-1" AES "pdu-priv-key-1"\n'
                    f"rwuser pduadmin priv\npass_persist .1.3.6.1.4.1.318.1.1.26 /usr/bin/python3 {PASS_SCRIPT} {state}\n")
    pdu, port = _snmpd(conf, PDU_HOST, tmp_path / "pdu.pid", "public")
    try:
        target = Target(asset_id=1, name="pdu-v3", kind="pdu", host=PDU_HOST, port=port, version="3",
                        v3_user="pduadmin", v3_auth_protocol="SHA", v3_auth_key="pdu-auth-key-1",
                        v3_priv_protocol="AES", v3_priv_key="pdu-priv-key-1")
        poller = SnmpPoller(timeout=2.0)
        control = ".1.3.6.1.4.1.318.1.1.26.9.2.4.1.5."
        done = await poller.set(target, [(control.lstrip(".") + "2", 2)])  # rPDU2 command 2 = off
        assert done.status == "ok", done.message
        assert (state / "sets.log").read_text().split("\n")[0] == "2 off"
        wrong = Target(**{**target.__dict__, "v3_auth_key": "not-the-key-1"})
        refused = await SnmpPoller(timeout=1.0).set(wrong, [(control.lstrip(".") + "3", 2)])
        assert refused.status != "ok"
        assert (state / "sets.log").read_text().strip().split("\n") == ["2 off"]
    finally:
        pdu.terminate()
        pdu.wait(5)


#: The rPDU2 outlet table of the test PDU with only its reboot command (3): a PDU
#: without separate off and on commands.
REBOOT_ONLY = {"reboot_only_rpdu2": {"checks": [{
    "key": "power:outlets", "rule": "outlets",
    "walk": {"state": "1.3.6.1.4.1.318.1.1.26.9.2.3.1.5", "name": "1.3.6.1.4.1.318.1.1.26.9.2.3.1.3"},
    "params": {"control": "1.3.6.1.4.1.318.1.1.26.9.2.4.1.5", "commands": {"reboot": 3},
               "states": {"1": ["off", "off"], "2": ["on", "on"]}}}]}}


async def _run_on_the_pdu(agents, profile: str, outlet: int, profile_data: dict | None = None,
                          asset=None) -> tuple[bool, list[tuple]]:
    """One job run by the worker's code against the real PDU agent: (its result, the steps it reported)."""
    from probes.power import PowerJob, run_job
    from probes.profiles import builtin_profiles
    from probes.snmp import SnmpPoller
    from probes.wire import Target

    reports: list[tuple] = []

    async def report(step, ok, message, final):
        reports.append((step, ok, message, final))

    async def emit(observations):
        pass

    pdu = Target(asset_id=1, name="pdu-r1", kind="pdu", host=PDU_HOST, port=agents["pdu_port"], version="2c",
                 community="private", profile=profile)
    job = PowerJob(job_id=1, outlet=outlet, pdu=pdu, asset=asset, off_s=0.1, confirm_s=1.0, watch_s=3.0, step_s=0.2)
    done = await run_job(job, SnmpPoller(timeout=1.0), builtin_profiles(profile_data), report, emit)
    return done, reports


async def test_a_reboot_only_pdu_confirms_the_outlet_went_off_before_it_came_back(agents):
    (agents["state"] / "reboot_reads").write_text("2")  # off for the next two reads of its state
    done, reports = await _run_on_the_pdu(agents, "reboot_only_rpdu2", 2, REBOOT_ONLY)
    steps = [r[0] for r in reports]
    assert done and steps == ["outlet_read", "sent_reboot", "outlet_off", "outlet_on", "done"], reports
    assert _sets(agents) == ["2 reboot"]


async def test_a_reboot_too_short_to_see_is_reported_unconfirmed_not_passed_off_as_a_cycle(agents):
    done, reports = await _run_on_the_pdu(agents, "reboot_only_rpdu2", 2, REBOOT_ONLY)  # back on before any read
    steps = [r[0] for r in reports]
    assert "outlet_off" not in steps and steps[:3] == ["outlet_read", "sent_reboot", "off_unconfirmed"], reports
    unconfirmed = reports[2]
    assert unconfirmed[1] is False and unconfirmed[3] is False and "did not confirm" in unconfirmed[2]
    assert _sets(agents) == ["2 reboot"]


async def _failed_job(api, asset_id: int) -> tuple[dict, list[str], list[str]]:
    """Request a power-cycle, wait for the worker to end it: (the job, internal and public timeline bodies)."""
    from incidents.tables import Incident

    r = await api.post(f"/api/v1/assets/{asset_id}/power-cycle", json={"reason": "hung"})
    assert r.status_code == 202, r.text
    body = r.json()
    await _finished(body["job_id"])
    incident = await Incident.select(Incident.status).where(Incident.id == body["incident_id"]).first()
    assert incident["status"] not in ("resolved", "closed")  # a person decides it is fixed
    timeline = await _timeline(body["incident_id"])
    return (await _job(body["job_id"]), [e["body"] for e in timeline if e["visibility"] != "public"],
            [e["body"] for e in timeline if e["visibility"] == "public"])


async def test_an_outlet_that_never_shows_off_fails_the_job_and_is_switched_on_again_once(
        db, live_app, api, agents, fast, worker):
    (agents["state"] / "stuck").write_text("")  # takes commands, its state never changes
    ids = await _inventory(api, agents)
    job, internal, public = await _failed_job(api, ids["mc"])
    assert job["status"] == "failed" and job["step"] == "confirm_off_failed", job
    assert "still on 3 s after the off command; switched it on again" in job["result"]
    assert any("switched it on again" in b for b in internal)
    assert sum("did not complete" in b for b in public) == 1 and not any("pdu-r1" in b for b in public)
    assert _sets(agents) == ["3 off", "3 on"]  # off once, on once to restore: no retries


async def test_an_on_command_refused_after_the_off_says_the_device_is_left_off(
        db, live_app, api, agents, fast, worker):
    from incidents.tables import PowerJob

    (agents["state"] / "refuse-on").write_text("")
    ids = await _inventory(api, agents)
    job, internal, public = await _failed_job(api, ids["mc"])
    assert job["status"] == "failed" and job["step"] == "on_failed", job
    assert "did not take the on command" in job["result"] and "could not switch it on again" in job["result"]
    assert any("did not complete" in b for b in public)
    # the off, the on, the one restoring on: nothing more, and no second job
    assert _sets(agents) == ["3 off", "3 refused on", "3 refused on"]
    assert await PowerJob.count() == 1


async def test_a_clients_hourly_allowance_is_refused_429_through_the_api(db, live_app, api, agents, monkeypatch):
    monkeypatch.setenv("RACKCARD_POWER_PER_CLIENT_HOUR", "2")
    monkeypatch.setenv("RACKCARD_POWER_COOLDOWN_S", "0")
    ids = await _inventory(api, agents)
    r = await api.post(f"/api/v1/assets/{ids['mc']}/power-cycle",
                       json={"reason": "no internet", "then_asset_id": ids["rt-romashka"]})
    assert r.status_code == 202, r.text  # two jobs of Romashka's this hour
    r = await api.post(f"/api/v1/assets/{ids['sw-shared-a']}/power-cycle", json={"reason": "x", "dry_run": True})
    assert r.status_code != 429  # refused for the shared outlet, not counted
    extra = await _created(api, "/api/v1/assets", {"name": "rt-romashka-2", "kind": "router",
                                                   "site_id": ids["site"], "client_id": ids["a"]})
    await _created(api, "/api/v1/dependencies", {"asset_id": extra, "depends_on_id": ids["pdu"], "kind": "power",
                                                 "outlet_number": 5})
    r = await api.post(f"/api/v1/assets/{extra}/power-cycle", json={"reason": "x"})
    assert r.status_code == 429, r.text
    assert "Romashka has had 2 power-cycles this hour" in r.json()["detail"] and int(r.headers["retry-after"]) > 0
    r = await api.post(f"/api/v1/assets/{extra}/power-cycle", json={"reason": "x", "dry_run": True})
    assert r.status_code == 429, r.text  # a dry run says so too
    r = await api.post(f"/api/v1/assets/{ids['mc-vasilek']}/power-cycle", json={"reason": "x"})
    assert r.status_code == 202, r.text  # another client's allowance is its own


async def test_a_step_the_job_goes_on_from_stays_internal(db, app, api, agents, fast):
    """A failed step that is not final (a reboot no read caught off) is on the timeline
    for staff; the client's "did not complete" comes only with the job's end."""
    import httpx

    ids = await _inventory(api, agents)
    r = await api.post(f"/api/v1/assets/{ids['mc']}/power-cycle", json={"reason": "no internet"})
    incident_id = r.json()["incident_id"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rackcard.test",
                                 headers={"Authorization": f"Bearer {await _probe_token('rs1-probe')}"}) as probe:
        job = (await probe.post("/api/v1/probe/power-jobs/claim")).json()["job"]
        r = await probe.post(f"/api/v1/probe/power-jobs/{job['job_id']}/steps",
                             json={"step": "off_unconfirmed", "ok": False, "message": "not seen off", "final": False})
        assert r.status_code == 200 and r.json()["status"] == "running", r.text
        timeline = await _timeline(incident_id)
        assert any("not seen off" in e["body"] for e in timeline if e["visibility"] != "public")
        assert not any("did not complete" in e["body"] for e in timeline)
        r = await probe.post(f"/api/v1/probe/power-jobs/{job['job_id']}/steps",
                             json={"step": "asset_not_back", "ok": False, "message": "silent", "final": True})
        assert r.json()["status"] == "failed"


async def test_a_pdu_without_write_credentials_is_refused_and_v3_writes_with_its_write_user(db, app, api, agents):
    """The write user of a v3 PDU reaches the claiming worker only; a PDU without write
    credentials is refused before anything is queued."""
    import httpx

    from incidents.tables import PowerJob

    ids = await _inventory(api, agents)
    ro = await _created(api, "/api/v1/assets", {
        "name": "pdu-ro", "kind": "pdu", "site_id": ids["site"], "mgmt_ip": PDU_HOST, "snmp_port": agents["pdu_port"],
        "snmp_version": "2c", "snmp_community": "public", "profile": "apc_rpdu2"})
    v3 = await _created(api, "/api/v1/assets", {
        "name": "pdu-v3", "kind": "pdu", "site_id": ids["site"], "mgmt_ip": PDU_HOST, "snmp_port": agents["pdu_port"],
        "snmp_version": "3", "snmp_v3_user": "pdumon", "snmp_v3_auth_protocol": "SHA", "snmp_v3_auth_key": "read-auth-k1",
        "snmp_v3_priv_protocol": "AES", "snmp_v3_priv_key": "read-priv-k1", "snmp_v3_write_user": "pduadmin",
        "snmp_v3_write_auth_key": "write-auth-k1", "snmp_v3_write_priv_key": "write-priv-k1", "profile": "apc_rpdu2"})
    fed = {}
    for name, pdu in (("mc-on-ro", ro), ("mc-on-v3", v3)):
        fed[name] = await _created(api, "/api/v1/assets", {"name": name, "kind": "router", "site_id": ids["site"],
                                                           "client_id": ids["a"]})
        await _created(api, "/api/v1/dependencies", {"asset_id": fed[name], "depends_on_id": pdu, "kind": "power",
                                                     "outlet_number": 1})
    r = await api.post(f"/api/v1/assets/{fed['mc-on-ro']}/power-cycle", json={"reason": "x"})
    assert r.status_code == 409 and "no SNMP write credentials" in r.json()["detail"], r.text
    assert await PowerJob.count() == 0
    r = await api.get(f"/api/v1/assets/{v3}")
    assert "write-auth-k1" not in r.text and r.json().get("snmp_v3_write_user_set") is True, r.text

    r = await api.post(f"/api/v1/assets/{fed['mc-on-v3']}/power-cycle", json={"reason": "x"})
    assert r.status_code == 202, r.text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rackcard.test",
                                 headers={"Authorization": f"Bearer {await _probe_token('rs1-probe')}"}) as probe:
        targets = (await probe.get("/api/v1/probe/targets", params={"lease": "false"})).text
        assert "pdumon" in targets and not any(w in targets for w in ("pduadmin", "write-auth-k1", "write-priv-k1"))
        job = (await probe.post("/api/v1/probe/power-jobs/claim")).json()["job"]
        assert (job["pdu"]["v3_user"], job["pdu"]["v3_auth_key"], job["pdu"]["v3_priv_key"]) == (
            "pduadmin", "write-auth-k1", "write-priv-k1")
        assert job["pdu"]["v3_auth_protocol"] == "SHA"


async def test_the_watch_reports_the_uptime_reset_of_a_device_that_really_restarted(
        db, live_app, api, agents, fast, worker):
    (agents["state"] / "fed-3.cmd").write_text(json.dumps(agents["dev_argv"]))
    for _ in range(100):  # up long enough that a fresh start reads lower
        ticks = _uptime_ticks(DEVICE_HOST, agents["dev_port"], "public")
        if ticks is not None and ticks > 500:
            break
        await asyncio.sleep(0.1)
    ids = await _inventory(api, agents)
    r = await api.post(f"/api/v1/assets/{ids['mc']}/power-cycle", json={"reason": "no internet"})
    assert r.status_code == 202, r.text
    body = r.json()
    await _finished(body["job_id"])
    assert (await _job(body["job_id"]))["status"] == "done", (await _job(body["job_id"]))["result"]
    timeline = await _timeline(body["incident_id"])
    steps = [(e["data"] if isinstance(e["data"], dict) else json.loads(e["data"])).get("step") for e in timeline]
    assert "uptime_reset" in steps and steps.index("uptime_reset") < steps.index("asset_back"), steps
    assert any("mc-romashka restarted: uptime" in e["body"] for e in timeline)


async def test_a_device_that_answers_with_a_link_still_down_ends_the_watch_in_bounds(
        db, live_app, api, agents, fast, worker, monkeypatch):
    monkeypatch.setenv("RACKCARD_POWER_WATCH_S", "2")
    ids = await _inventory(api, agents)
    await _created(api, "/api/v1/interfaces", {"asset_id": ids["mc"], "if_index": 1, "name": "lo", "role": "uplink"})
    await _created(api, "/api/v1/interfaces", {"asset_id": ids["mc"], "if_index": 9999, "name": "fx-gone",
                                               "role": "fiber"})
    r = await api.post(f"/api/v1/assets/{ids['mc']}/power-cycle", json={"reason": "no internet"})
    assert r.status_code == 202, r.text
    body = r.json()
    await _finished(body["job_id"])
    job = await _job(body["job_id"])
    assert job["status"] == "failed" and job["step"] == "links_not_up", job
    assert "link:9999" in job["result"] and "link:1 " not in job["result"]
    public = [e["body"] for e in await _timeline(body["incident_id"]) if e["visibility"] == "public"]
    assert "mc-romashka answers again but its link is not up yet: an engineer is looking into it" in public
    assert not any("did not complete" in b for b in public)
