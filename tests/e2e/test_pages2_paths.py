"""Page paths of the asset and admin pages over HTTP (both engines): users
created and disabled on /admin/users, "poll now" against a real snmpsim
agent, the asset page's checks, ports and incidents, and the import page's
dry run."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import _logged_in, page_csrf
from integration.cmdb_seed import seed
from pages_data import fiber_cut, observe, operator

from accounts.tables import User
from cmdb.tables import Asset
from incidents.tables import Incident
from probes.simulator import SimAgent

RECORDINGS = Path(__file__).resolve().parents[1] / "data" / "snmprec"


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    agent = SimAgent(root=tmp_path_factory.mktemp("snmpsim"))
    shutil.copy(RECORDINGS / "apc-smartups.snmprec", agent.data_dir / "apc.snmprec")
    agent.start()
    yield agent
    agent.close()


def _section(html: str, heading_id: str) -> str:
    """The <section> whose heading has `heading_id`."""
    start = html.index(f'aria-labelledby="{heading_id}"')
    return html[start:html.index("</section>", start)]


async def test_admin_creates_and_disables_a_user(db, app, session_as):
    admin, _ = await session_as("admin")
    token = await page_csrf(admin, "/admin/users")
    bad = await admin.post("/admin/users", data={"csrf_token": token, "email": "", "name": "Nobody", "role": "boss",
                                                 "password": "x"})
    assert bad.status_code == 422
    assert bad.text.count('aria-invalid="true"') >= 2 and "role must be one of" in bad.text
    made = await admin.post("/admin/users", data={"csrf_token": token, "email": "Anna@Example.test", "name": "Anna K",
                                                  "role": "engineer", "client_id": "",
                                                  "password": "a long enough passphrase"})
    assert made.status_code == 303 and made.headers["location"] == "/admin/users"
    anna = await User.select().where(User.email == "anna@example.test").first()
    assert anna["role"] == "engineer" and anna["active"]
    listing = (await admin.get("/admin/users")).text
    assert "anna@example.test" in listing and f'action="/admin/users/{anna["id"]}/active"' in listing
    session = await _logged_in(app, "anna@example.test", "a long enough passphrase")
    assert (await session.get("/")).status_code == 200

    disabled = await admin.post(f"/admin/users/{anna['id']}/active", data={"csrf_token": token, "active": "0"})
    assert disabled.status_code == 303
    assert not (await User.select(User.active).where(User.id == anna["id"]).first())["active"]
    row = re.search(r"<tr><td>anna@example.test</td>.*?</tr>", (await admin.get("/admin/users")).text, re.S).group(0)
    assert ">no<" in row and "Enable" in row
    assert (await session.get("/")).status_code == 303  # the disabled user's session ends
    await session.aclose()


async def test_a_new_token_page_is_not_cached(db, session_as):
    admin, _ = await session_as("admin")
    token = await page_csrf(admin, "/admin/tokens")
    made = await admin.post("/admin/tokens", data={"csrf_token": token, "probe": "edge-1", "name": "edge"})
    assert made.status_code == 200 and 'id="new-token"' in made.text and made.headers["cache-control"] == "no-store"


async def test_poll_now_reads_a_real_agent(db, session_as, api, agent):
    ids = await seed()
    made = await api.post("/api/v1/assets", json={
        "name": "ups-polled", "kind": "ups", "site_id": ids["remote"], "mgmt_ip": agent.host, "snmp_port": agent.port,
        "snmp_version": "2c", "snmp_community": "apc"})
    assert made.status_code == 201, made.text
    asset_id = made.json()["id"]
    noc, _ = await session_as("noc")
    token = await page_csrf(noc, f"/assets/{asset_id}")
    polled = await noc.post(f"/assets/{asset_id}/poll", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert polled.status_code == 200 and 'class="poll-result"' in polled.text
    assert "<code>reachability</code>" in polled.text and "<code>power:input_voltage</code>" in polled.text
    page = (await noc.get(f"/assets/{asset_id}")).text
    checks = _section(page, "checks-h")
    assert "<code>power:input_voltage</code>" in checks and "No check results yet" not in checks
    assert 'data-key="power:input_voltage"' in _section(page, "graphs-h")  # the poll's sample is graphed
    unpolled = await noc.post(f"/assets/{ids['core-sw']}/poll", data={"csrf_token": token})
    assert unpolled.status_code == 200 and "this asset is not polled" in unpolled.text


async def test_asset_page_shows_ports_checks_and_incidents(db, session_as, api):
    data = await operator(api)
    await fiber_cut(data)
    await observe(data["mc"]["id"], "power:source", "ok", message="on mains")
    incident = await Incident.select(Incident.id, Incident.title).first()
    noc, _ = await session_as("noc")
    page = (await noc.get(f"/assets/{data['mc']['id']}")).text
    ports = _section(page, "ports-h")
    fiber = re.search(r"<tr><td>3</td>.*?</tr>", ports, re.S).group(0)
    assert "slot_1_fx" in fiber and "Romashka LLC" in fiber and "fiber link down" in fiber and "critical" in fiber
    copper = re.search(r"<tr><td>2</td>.*?</tr>", ports, re.S).group(0)
    assert "slot_1_tp" in copper and "critical" not in copper
    checks = _section(page, "checks-h")
    assert "<code>link:3</code>" in checks and "<code>power:source</code>" in checks and "on mains" in checks
    incidents = _section(page, "incidents-h")
    assert f'href="/incidents/{incident["id"]}"' in incidents and incident["title"] in incidents
    quiet = (await noc.get(f"/assets/{data['router']['id']}")).text
    assert "No interfaces recorded." in _section(quiet, "ports-h") and "No incidents." in _section(quiet, "incidents-h")


async def test_import_dry_run_writes_nothing_and_reports(db, session_as):
    await seed()
    admin, _ = await session_as("admin")
    token = await page_csrf(admin, "/import")
    csv = b"name,kind,site,rack,position_u\nsw-dry-1,switch,DC1,R2,20\nsw-dry-2,switch,DC1,R2,21\n"
    before = await Asset.count()
    checked = await admin.post("/import", data={"csrf_token": token, "kind": "assets", "dry_run": "1"},
                               files={"file": ("assets.csv", csv, "text/csv")})
    assert checked.status_code == 200
    report = checked.text[checked.text.index('id="import-report"'):]
    assert "Dry run: 2 rows checked, all good. Nothing was written." in report
    assert await Asset.count() == before and not await Asset.exists().where(Asset.name == "sw-dry-1")
    assert re.search(r'id="dry_run"[^>]*checked', checked.text)  # the form stays on dry run
    written = await admin.post("/import", data={"csrf_token": token, "kind": "assets"},
                               files={"file": ("assets.csv", csv, "text/csv")})
    assert written.status_code == 200 and "2 rows imported." in written.text
    assert await Asset.count() == before + 2
