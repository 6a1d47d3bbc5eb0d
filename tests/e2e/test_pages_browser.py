"""The staff pages in a real browser (Debian's chromium through Playwright):
the acceptance path of a shift, the languages, wall and dark mode, a phone,
and nothing loaded from outside the server. Screenshots go to tests/screenshots/."""

from __future__ import annotations

import re
from urllib.parse import urlparse

import pytest
from playwright.async_api import expect
from conftest import screenshot
from pages_data import fiber_cut, operator, switch_down_with_a_redundant_neighbour

from incidents.tables import Incident

pytestmark = pytest.mark.slow


@pytest.fixture
async def data(api):
    return await operator(api)


def _watch_requests(page, base_url: str) -> list[str]:
    """Every URL the page asks for that is not the server's own."""
    outside: list[str] = []
    own = urlparse(base_url).netloc

    def seen(request):
        parts = urlparse(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != own:
            outside.append(request.url)

    page.on("request", seen)
    return outside


async def test_a_shift_watches_an_incident_arrive_acknowledges_comments_and_resolves(data, browser_login, live_app):
    page, _ = await browser_login("noc", timezone="Europe/Moscow")
    outside = _watch_requests(page, live_app.url)
    await page.goto(live_app.url + "/")
    assert await page.locator("tr[data-incident]").count() == 0
    assert await page.title() == "Board · rackcard"
    await page.evaluate("window.sameDocument = true")  # gone if the page reloads
    await screenshot(page, "board-light-empty")

    await fiber_cut(data)  # what a probe worker posts
    row = page.locator("tr[data-incident]").first
    await row.wait_for(timeout=15_000)  # htmx polling brings it in, no reload
    assert "Romashka LLC" in await row.inner_text()
    assert "Not acknowledged" in await row.inner_text()
    # Waits use Playwright's own assertions: a wait_for_function string is eval'd, which the CSP forbids.
    await expect(page).to_have_title(re.compile(r"^\(P[12]: 1\) Board"), timeout=15_000)  # P1/P2 count
    assert await page.evaluate("window.sameDocument === true"), "the board reloaded instead of refreshing in place"
    await screenshot(page, "board-light")

    # keyboard: j selects, a acknowledges, Enter opens
    await page.keyboard.press("j")
    assert await row.get_attribute("aria-selected") == "true"
    await page.keyboard.press("a")
    await expect(page.locator("tr[data-incident]").first).not_to_have_class(re.compile(r"\bunacked\b"), timeout=15_000)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r"/incidents/\d+$"))
    incident_id = int(page.url.rsplit("/", 1)[1])
    assert (await Incident.select(Incident.status).where(Incident.id == incident_id).first())["status"] == "acknowledged"
    assert "MSK" in await page.locator(".facts").first.inner_text()  # the viewer's zone, named

    await page.fill("#comment-body", "We see a fiber cut at Khimki; a crew is on the way.")
    await page.check("input[name=visibility][value=public]")
    await page.click("button[data-action=comment]")
    await page.wait_for_load_state()
    public = page.locator(".timeline .entry-public", has_text="crew is on the way")
    assert await public.count() == 1
    await page.click("button[data-action=to-in_progress]")
    await page.wait_for_load_state()
    await page.click("summary:has-text('Resolve')")
    await page.fill("textarea[name=note]", "Fiber spliced, link up.")
    await page.click("button[data-action=resolve]")
    await page.wait_for_load_state()
    assert "Resolved" in await page.locator(".facts .status").inner_text()
    await screenshot(page, "incident-laptop")
    await page.goto(live_app.url + "/")
    assert await page.locator(f"[data-resolved='{incident_id}']").count() == 1
    assert outside == []


async def test_a_phone_in_another_format_lands_on_the_client_card(data, browser_login, live_app):
    page, _ = await browser_login("engineer")
    outside = _watch_requests(page, live_app.url)
    await page.keyboard.press("/")
    await page.keyboard.type("8 495 123-45-67")
    suggestion = page.locator("#search-results a", has_text="Romashka")
    await suggestion.first.wait_for(timeout=10_000)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/clients/{data['client']['id']}")
    assert "Romashka LLC" in await page.locator("h1").inner_text()
    assert await page.locator("a[href^='tel:']").count() >= 1
    await screenshot(page, "card-laptop")
    await page.emulate_media(media="print")
    await screenshot(page, "card-print")
    assert not await page.locator(".topbar").is_visible()
    assert outside == []


async def test_russian_board_and_card(data, browser_login, live_app):
    page, _ = await browser_login("noc")
    await fiber_cut(data)
    await page.click("button[name=language][value=ru]")
    await page.wait_for_load_state()
    assert await page.locator("html").get_attribute("lang") == "ru"
    assert "Табло" in await page.title()
    assert "Не подтверждён" in await page.locator("#board-body").inner_text()
    await screenshot(page, "board-ru")
    await page.goto(f"{live_app.url}/clients/{data['client']['id']}")
    body = await page.locator("main").inner_text()
    assert "Контакты" in body and "Оборудование" in body
    await screenshot(page, "card-ru")


async def test_clients_down_and_at_risk_on_the_board_and_the_incident(api, data, browser_login, live_app):
    page, _ = await browser_login("noc")
    await switch_down_with_a_redundant_neighbour(api, data)
    await page.goto(live_app.url + "/")
    clients = page.locator("tr[data-incident] .c-num")
    assert (await clients.inner_text()).split() == ["1", "+1"]
    assert "1 client at risk" in await page.locator("tr[data-incident] .c-title").inner_text()
    await screenshot(page, "board-at-risk")
    await page.click("tr[data-incident] .c-title a")
    await page.wait_for_url(re.compile(r"/incidents/\d+$"))
    assert "at risk" in await page.locator(".call-client.at-risk").inner_text()
    await page.click(f"a[href='/assets/{data['mc_other']['id']}']")
    await page.wait_for_url(re.compile(rf"/assets/{data['mc_other']['id']}$"))
    await page.go_back()
    await screenshot(page, "incident-at-risk")


async def test_wall_dark_and_phone(data, browser_login, live_app, browser):
    await fiber_cut(data)
    page, _ = await browser_login("noc", viewport=(1920, 1080))
    await page.goto(live_app.url + "/?wall=1")
    assert await page.locator(".topbar").count() == 0
    assert "wall" in await page.locator("body").get_attribute("class")
    big = await page.locator("tr[data-incident] .c-title a").evaluate("e => parseFloat(getComputedStyle(e).fontSize)")
    assert big >= 20
    await screenshot(page, "board-wall")

    page, _ = await browser_login("noc", color_scheme="dark")
    await page.click("[data-theme-toggle]")
    assert await page.locator("html").get_attribute("data-theme") in ("dark", "light")
    await page.goto(live_app.url + "/")  # the choice is kept (cookie) and rendered by the server
    theme = await page.locator("html").get_attribute("data-theme")
    if theme != "dark":
        await page.click("[data-theme-toggle]")
        await page.goto(live_app.url + "/")
    assert await page.locator("html").get_attribute("data-theme") == "dark"
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(255, 255, 255)"
    await screenshot(page, "board-dark")

    phone, _ = await browser_login("noc", viewport=(390, 844))
    await screenshot(phone, "board-phone")
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, "the board scrolls sideways on a phone"
    await phone.click("tr[data-incident] .c-title a")
    await phone.wait_for_url(re.compile(r"/incidents/\d+$"))
    await screenshot(phone, "incident-phone")
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 400
    await phone.click("button[data-action=acknowledge]")
    await phone.wait_for_load_state()
    assert "Acknowledged" in await phone.locator(".facts .status").inner_text()
    await phone.goto(f"{live_app.url}/clients/{data['client']['id']}")
    await screenshot(phone, "card-phone")
