"""The client portal in a real browser (Debian's chromium through Playwright):
a client logs in with the staff login, sees its own equipment with live state
and a shared incident with only public updates and only itself, files a
reboot request, and the request is on the staff side; in Russian too.
Screenshots go to tests/screenshots/."""

from __future__ import annotations

import re

import pytest
import two_clients
from conftest import screenshot

from incidents.services import utcnow
from incidents.tables import CheckState, Incident

pytestmark = pytest.mark.slow


@pytest.fixture
async def world(db):
    w = await two_clients.build()
    now = utcnow()
    await CheckState.insert(
        CheckState(asset=w.alpha_asset, key="reachability", state="ok", since=now, last_observed_at=now),
        CheckState(asset=w.chassis, key="link:3", state="critical", since=now, last_observed_at=now),
    )
    return w


async def test_a_client_sees_its_own_world_and_files_a_reboot_request(world, browser_login, live_app, api):
    w = world
    page, user = await browser_login("client", client_id=w.alpha)
    await page.wait_for_url(re.compile(r"/portal$"))  # the same login form lands a client on the portal
    text = await page.locator("main").inner_text()
    assert "Alpha LLC" in text and "rtr-alpha-1" in text
    row = page.locator(f"tr[data-asset='{w.alpha_asset}']")
    assert "OK" in await row.locator(".asset-state").inner_text()  # live state
    assert "slot_1_fx" in text  # its port on our shared chassis
    assert "192.0.2.10" in text and "Gold" in text
    assert await page.locator(f"tr[data-incident='{w.shared_incident}']").count() == 1
    assert await page.locator(f"tr[data-incident='{w.bravo_incident}']").count() == 0
    html = await page.content()
    assert not [m for m in w.bravo_markers if m.lower() in html.lower()]
    await screenshot(page, "portal-overview")

    # a client opening a staff page gets the portal
    await page.goto(live_app.url + "/")
    await page.wait_for_url(re.compile(r"/portal$"))

    # the shared incident: public updates only, only its own equipment
    await page.goto(live_app.url + f"/portal/incidents/{w.shared_incident}")
    text = await page.locator("main").inner_text()
    assert "Engineers are on the way to Khimki node" in text
    assert "INTERNAL-NOTE-4711" not in text and "rtr-bravo-1" not in text and "Bravo" not in text
    assert "rtr-alpha-1" in text and "[another client]" in text
    await page.fill("#body", "Our office lost power too")
    await page.click("form[action$='/comments'] button[type=submit]")
    await page.wait_for_url(re.compile(rf"/portal/incidents/{w.shared_incident}"))
    assert "Our office lost power too" in await page.locator("#timeline").inner_text()
    await screenshot(page, "portal-incident")

    # file a reboot request for its router
    await page.goto(live_app.url + f"/portal/assets/{w.alpha_asset}")
    await page.click("text=Ask for a reboot")
    await page.wait_for_url(re.compile(r"/portal/requests/new"))
    assert await page.locator("input[name=category][value=reboot]").is_checked()
    await page.fill("#description", "Please power-cycle it, it hangs")
    await page.click("form.request-form button[type=submit]")
    await page.wait_for_url(re.compile(r"/portal/incidents/\d+$"))
    request_id = int(page.url.rsplit("/", 1)[1])
    assert "Reboot request: rtr-alpha-1" in await page.locator("h1").inner_text()
    await screenshot(page, "portal-request-filed")

    # ... and it is on the staff side: an L1 request from the portal, on the NOC board and in the staff API
    incident = await Incident.select().where(Incident.id == request_id).first()
    assert (incident["category"], incident["source"], incident["line"]) == ("request", "portal", "L1")
    staff, _ = await browser_login("noc")
    await staff.goto(live_app.url + "/")
    assert "Reboot request: rtr-alpha-1" in await staff.locator("main").inner_text()
    detail = (await api.get(f"/api/v1/incidents/{request_id}")).json()
    assert [a["name"] for a in detail["affected_assets"]] == ["rtr-alpha-1"]
    assert any("Please power-cycle it" in e["body"] for e in detail["timeline"])


async def test_the_portal_in_russian(world, browser_login, live_app):
    page, _ = await browser_login("client", client_id=world.bravo, locale="ru-RU")
    await page.wait_for_url(re.compile(r"/portal$"))
    text = await page.locator("body").inner_text()
    assert "Моё оборудование и инциденты" in text and "Ваше оборудование" in text and "Оставить заявку" in text
    assert "rtr-bravo-1" in text and "rtr-alpha-1" not in text
    await screenshot(page, "portal-overview-ru")
