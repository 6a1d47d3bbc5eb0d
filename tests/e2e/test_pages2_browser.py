"""Staff pages II in a real browser (both engines): the asset page with its
graphs and dependencies, the site topology coloured by a check posted just
before, the rack elevation, the asset form placing an asset in a rack with the
free units offered, a form with two bad fields, the next free IP, a CSV import
with one bad row, a token created and revoked by an admin, Telegram and generic
webhooks made on the form, the maintenance list paged, filtered and sorted. Screenshots of each
go to tests/screenshots/."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from playwright.async_api import expect
from integration.cmdb_seed import seed
from conftest import screenshot

from accounts.viewer import Viewer
from cmdb.tables import Asset, RackUnit
from incidents.checks import record_observations
from probes.wire import Observation, ObservationBatch

PROBE = Viewer(user_id=None, email="probe:test", role="probe", probe_name="test")


async def observe(asset: int, key: str, state: str, *, number: float | None = None, at: dt.datetime | None = None,
                  source: str = "trap") -> None:
    at = at or dt.datetime.now(dt.timezone.utc)
    batch = ObservationBatch.new([Observation(asset, key, state, at.isoformat(), source=source, number=number)],
                                 probe="test")
    await record_observations(batch, PROBE, now=at)


async def test_asset_page_shows_graphs_and_dependencies(db, live_app, browser_login):
    ids = await seed()
    now = dt.datetime.now(dt.timezone.utc)
    for minutes, volts, left in ((50, 229.0, 40.0), (40, 231.0, 40.0), (30, 228.0, 38.0), (5, 0.0, 25.0)):
        at = now - dt.timedelta(minutes=minutes)
        await observe(ids["ups-remote-7"], "power:input_voltage", "ok", number=volts, at=at, source="poll")
        await observe(ids["ups-remote-7"], "power:minutes_remaining", "ok", number=left, at=at, source="poll")
    page, _ = await browser_login("engineer", viewport=(1366, 1000))
    await page.goto(f"{live_app.url}/assets/{ids['ups-remote-7']}")
    charts = page.locator("figure.chart-box")
    assert await charts.count() == 2
    voltage = page.locator('figure.chart-box[data-key="power:input_voltage"]')
    assert "Input voltage" in await voltage.inner_text()
    assert await voltage.locator("svg polyline").count() >= 1
    downstream = await page.locator("#downstream").inner_text()
    assert "mc-acme" in downstream and "mc-globex" in downstream
    assert "Acme Holdings" in await page.locator("#impact").inner_text()
    await screenshot(page, "pages2-asset")

    await page.goto(f"{live_app.url}/assets/{ids['mc-acme']}")
    upstream = await page.locator("#upstream").inner_text()
    assert "ups-remote-7" in upstream and "core-sw" in upstream and "pdu-dc" in upstream


async def test_site_topology_node_is_coloured_by_the_check_posted_just_before(db, live_app, browser_login):
    ids = await seed()
    page, _ = await browser_login("noc", viewport=(1600, 1000))
    await page.goto(f"{live_app.url}/sites/{ids['remote']}")
    ups = page.locator(f'#topology g.topo-node[data-id="asset-{ids["ups-remote-7"]}"]')
    assert "state-unknown" in (await ups.get_attribute("class")).split()

    await observe(ids["ups-remote-7"], "power:source", "critical")  # on battery: a trap confirms at once
    await page.reload()
    classes = (await ups.get_attribute("class")).split()
    assert "state-critical" in classes and "root" in classes
    mc = page.locator(f'#topology g.topo-node[data-id="asset-{ids["mc-globex"]}"]')
    assert {"impacted", "at-risk"} & set((await mc.get_attribute("class")).split())
    # a node is a link to its asset page
    await page.locator(f'#topology a[href="/assets/{ids["mc-acme"]}"]').click()
    await page.wait_for_url(f"**/assets/{ids['mc-acme']}")
    await page.go_back()
    await screenshot(page, "pages2-site-topology")


async def test_rack_elevation_shows_the_asset_at_its_u_and_the_free_units(db, live_app, browser_login):
    ids = await seed()
    await observe(ids["srv-globex"], "reachability", "critical")
    page, _ = await browser_login("noc", viewport=(1366, 1100))
    await page.goto(f"{live_app.url}/sites/{ids['dc']}")
    server = page.locator(f'#rack-{ids["r2"]} g.rack-asset[data-id="{ids["srv-globex"]}"]')
    assert await server.get_attribute("data-u") == "5"
    assert "state-critical" in (await server.get_attribute("class")).split()
    await page.goto(f"{live_app.url}/racks/{ids['r2']}")
    assert await page.locator("#elevation g.rack-free").count() == 2
    assert "U6–U42" in await page.locator("#free-units").inner_text()
    await screenshot(page, "pages2-rack")


async def test_create_an_asset_in_a_rack_through_the_form_with_the_free_units_offered(db, live_app, browser_login):
    ids = await seed()
    page, _ = await browser_login("engineer", viewport=(1366, 1200))
    await page.goto(f"{live_app.url}/assets/new?site_id={ids['dc']}")
    await page.fill("#f-name", "sw-new-1")
    await page.select_option("#f-kind", "switch")
    await page.fill("#f-height_u", "2")
    await page.select_option("#f-rack_id", str(ids["r2"]))
    await page.wait_for_selector("#rack-space .free-u")
    offered = await page.locator("#free-positions option").evaluate_all("els => els.map(e => e.value)")
    assert offered[:3] == ["3", "6", "7"] and "4" not in offered  # U3-U4 and U6 up fit 2 U; U5 is taken
    assert "U3–U4" in await page.locator("#rack-space").inner_text()
    await page.fill("#f-position_u", "3")
    await page.click("#save")
    await page.wait_for_url(re.compile(r"/assets/\d+$"))
    row = await Asset.select(Asset.id, Asset.rack, Asset.position_u).where(Asset.name == "sw-new-1").first()
    assert row["rack"] == ids["r2"] and row["position_u"] == 3
    assert sorted(r["unit"] for r in await RackUnit.select(RackUnit.unit).where(RackUnit.asset == row["id"])) == [3, 4]
    assert page.url.endswith(f"/assets/{row['id']}")


async def test_a_form_with_two_bad_fields_shows_both_errors_at_once(db, live_app, browser_login):
    ids = await seed()
    page, _ = await browser_login("engineer", viewport=(1366, 1400))
    await page.goto(f"{live_app.url}/assets/new?site_id={ids['dc']}")
    await page.fill("#f-name", "sw-bad")
    await page.select_option("#f-kind", "switch")
    await page.fill("#f-snmp_port", "70000")
    await page.fill("#f-poll_interval_s", "1")
    await page.click("#save")
    await page.wait_for_selector("#form-errors")
    port_error = await page.locator("#f-snmp_port-error").inner_text()
    interval_error = await page.locator("#f-poll_interval_s-error").inner_text()
    assert "65535" in port_error and "at least 5" in interval_error
    assert await page.locator("#f-name").input_value() == "sw-bad"  # what was typed stays
    assert not await Asset.exists().where(Asset.name == "sw-bad")
    await screenshot(page, "pages2-form-errors")


async def test_next_free_ip_button(db, live_app, browser_login):
    await seed()
    page, _ = await browser_login("engineer")
    await page.goto(f"{live_app.url}/ip-addresses/new")
    await page.select_option("#next-free-prefix", label="10.20.0.0/24")
    await page.click("#next-free-ip")
    await expect(page.locator("#f-address")).not_to_have_value("")  # no wait_for_function: the CSP forbids eval
    assert await page.locator("#f-address").input_value() == "10.20.0.1"


async def test_import_a_csv_with_one_bad_row_and_read_the_report(db, live_app, browser_login, tmp_path):
    await seed()
    csv = tmp_path / "assets.csv"
    csv.write_text("name,kind,site,rack,position_u\nsw-ok-1,switch,DC1,R2,20\nsw-bad-2,toaster,DC1,R2,21\n")
    page, _ = await browser_login("admin", viewport=(1366, 900))
    await page.goto(f"{live_app.url}/import?kind=assets")
    await page.uncheck("#dry_run")
    await page.set_input_files("#file", str(csv))
    await page.click("#import-submit")
    report = page.locator("#import-report")
    await report.wait_for()
    text = await report.inner_text()
    assert "nothing was imported" in text
    rows = page.locator("#import-report tr.bad-row")
    assert await rows.count() == 1
    first = await rows.first.inner_text()
    assert first.startswith("3") and "kind" in first
    assert not await Asset.exists().where(Asset.name == "sw-ok-1")
    await screenshot(page, "pages2-import-report")


async def test_admin_creates_and_revokes_a_token(db, live_app, browser_login, app):
    page, admin = await browser_login("admin")
    await page.goto(f"{live_app.url}/admin/tokens")
    await page.fill("#t-email", admin.email)
    await page.fill("#t-name", "integration")
    await page.click("#token-create")
    token = (await page.locator("#new-token").inner_text()).strip()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                 headers={"Authorization": f"Bearer {token}"}) as api:
        assert (await api.get("/api/v1/me")).status_code == 200
        row = page.locator(f'#tokens tr[data-prefix="{token[:10]}"]')
        await row.locator("button").click()
        await page.wait_for_load_state()
        assert (await page.locator(f'#tokens tr[data-prefix="{token[:10]}"] .token-state').inner_text()) == "revoked"
        assert (await api.get("/api/v1/me")).status_code == 401


async def test_a_list_page_filters_sorts_and_pages(db, live_app, browser_login):
    ids = await seed()
    page, _ = await browser_login("engineer", viewport=(1366, 900))
    await page.goto(f"{live_app.url}/assets?site_id={ids['dc']}&sort=-name")
    names = await page.locator("table.list-table tbody tr td:first-child").all_inner_texts()
    assert names == sorted(names, reverse=True) and "mc-acme" not in names
    await screenshot(page, "pages2-list")
    async with page.expect_download() as download:
        await page.click("#export")
    exported = await (await download.value).path()
    assert "mc-acme" not in open(exported, encoding="utf-8").read()


async def test_admin_makes_a_telegram_and_a_generic_webhook(db, live_app, browser_login):
    """Kind, bot token and chat on the form; a missing chat comes back next to its field; a
    generic webhook's generated secret is shown once."""
    from incidents.tables import WebhookEndpoint

    page, _ = await browser_login("admin", viewport=(1366, 1000))
    await page.goto(f"{live_app.url}/webhooks/new")
    await page.fill("#f-name", "noc-telegram")
    await page.select_option("#f-kind", "telegram")
    await page.fill("#f-secret", "123456:" + "T" * 35)
    await page.select_option("#f-language", "ru")
    await page.click("#save")
    await expect(page.locator("#f-chat_id-error")).to_contain_text("chat_id")
    assert await page.locator("#f-chat_id").get_attribute("aria-invalid") == "true"
    await screenshot(page, "pages2-webhook-form-errors")
    await page.fill("#f-secret", "123456:" + "T" * 35)  # a typed secret is not sent back to the browser
    await page.fill("#f-chat_id", "@noc_duty")
    await page.click("#save")
    await expect(page.locator("table.list-table")).to_contain_text("noc-telegram")
    row = await WebhookEndpoint.select().where(WebhookEndpoint.name == "noc-telegram").first()
    assert (row["kind"], row["chat_id"], row["language"]) == ("telegram", "@noc_duty", "ru")

    await page.goto(f"{live_app.url}/webhooks/new")
    await page.fill("#f-name", "billing")
    await page.fill("#f-url", "https://billing.example.test/hook")
    await page.click("#save")
    secret = (await page.locator("#new-secret").inner_text()).strip()
    assert len(secret) >= 16
    await screenshot(page, "pages2-webhook-secret")
    await page.click("#done")
    await expect(page.locator("table.list-table")).to_contain_text("billing")
    assert secret not in await page.content()


async def test_maintenance_list_second_page_filtered(db, live_app, browser_login):
    from test_pages2_records import _windows

    ids = await seed()
    await _windows(ids["remote"], ids["ups-remote-7"])
    page, _ = await browser_login("noc", viewport=(1366, 900))
    await page.goto(f"{live_app.url}/maintenance?sort=reason")
    await page.click('a[rel="next"]')
    await expect(page.locator("table.list-table")).to_contain_text("planned work 54")
    await page.goto(f"{live_app.url}/maintenance")
    await page.select_option("#f-when", "upcoming")
    await page.click("form.filters button[type=submit]")
    await expect(page).to_have_url(re.compile(r"when=upcoming"))
    await page.click("table.list-table thead a:text-is('Starts')")
    await expect(page).to_have_url(re.compile(r"sort=starts_at"))
    reasons = await page.locator("table.list-table tbody tr td:first-child").all_inner_texts()
    assert reasons == [f"planned work {i}" for i in range(31, 55)]
    await screenshot(page, "pages2-maintenance-list")
