"""The web foundation: login and logout, sessions, the page guard, CSRF on
every form, languages and time zones, in the HTTP client and in a real browser."""

from __future__ import annotations

import datetime as dt
from urllib.parse import unquote

import httpx
import pytest
from conftest import csrf_of, page_csrf, screenshot

from accounts.services import create_user
from accounts.tables import Session

PASSWORD = "correct horse battery"


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


async def _login(http, email: str, password: str = PASSWORD, next_: str = ""):
    token = csrf_of((await http.get("/login", follow_redirects=True)).text)
    return await http.post("/login", data={"email": email, "password": password, "csrf_token": token, "next": next_})


async def test_a_page_without_a_session_redirects_to_login_and_the_api_keeps_401(http):
    response = await http.get("/?site=3", headers={"accept": "text/html"})
    assert response.status_code == 303
    assert unquote(response.headers["location"]) == "/login?next=/?site=3"
    api = await http.get("/api/v1/me")
    assert api.status_code == 401 and api.headers["content-type"].startswith("application/problem+json")


async def test_htmx_fragment_without_a_session_asks_htmx_to_load_the_login_page(http):
    response = await http.get("/", headers={"hx-request": "true", "hx-current-url": "http://rackcard.test/?wall=1"})
    assert response.status_code == 401
    assert unquote(response.headers["hx-redirect"]) == "/login?next=/?wall=1"


async def test_login_sets_a_new_httponly_lax_session_and_logout_ends_it(app, db, http):
    await create_user("noc@example.test", "noc", PASSWORD)
    http.cookies.set("rc_session", "planted-by-someone-else", domain="rackcard.test")
    wrong = await _login(http, "noc@example.test", "not the password")
    assert wrong.status_code == 400 and "rc_session" not in _set_cookies(wrong)
    assert "Wrong e-mail or password" in wrong.text

    ok = await _login(http, "noc@example.test", next_="/?category=power")
    assert ok.status_code == 303 and ok.headers["location"] == "/?category=power"
    cookie = _set_cookies(ok)["rc_session"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Secure" not in cookie  # plain http here; see the https test
    key = http.cookies["rc_session"]
    assert key != "planted-by-someone-else" and len(key) >= 40
    assert "rc_csrf" in _set_cookies(ok)  # the CSRF value rotates with the session
    assert await Session.count() == 1

    board = await http.get("/")
    assert board.status_code == 200 and "noc@example.test" in board.text

    # logging in again (e.g. another tab) replaces this browser's session, never keeps the old key
    again = await _login(http, "noc@example.test")
    assert again.status_code == 303 and http.cookies["rc_session"] != key and await Session.count() == 1

    out = await http.post("/logout", data={"csrf_token": await page_csrf(http)})
    assert out.status_code == 303 and out.headers["location"] == "/login"
    assert await Session.count() == 0
    http.cookies.set("rc_session", key, domain="rackcard.test")
    assert (await http.get("/")).status_code == 303


async def test_session_cookie_is_secure_over_https(app, db):
    await create_user("eng@example.test", "engineer", PASSWORD)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://rackcard.test") as https:
        response = await _login(https, "eng@example.test")
        assert response.status_code == 303
        assert "Secure" in _set_cookies(response)["rc_session"]
        assert "Secure" in _set_cookies(response)["rc_csrf"]


async def test_no_open_redirect_after_login(app, db, http):
    await create_user("noc@example.test", "noc", PASSWORD)
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = await _login(http, "noc@example.test", next_=target)
        assert response.headers["location"] == "/", target


async def test_forms_without_a_csrf_token_are_refused_and_change_nothing(app, db, session_as):
    staff, _ = await session_as("noc")
    before = await Session.count()
    for path, data in (("/logout", {}), ("/preferences/language", {"language": "ru"}),
                       ("/preferences/theme", {"theme": "dark"})):
        response = await staff.post(path, data=data)
        assert response.status_code == 403, path
        assert "text/html" in response.headers["content-type"]
        wrong = await staff.post(path, data={**data, "csrf_token": "0" * 64})
        assert wrong.status_code == 403, path
    assert await Session.count() == before
    assert (await staff.get("/")).status_code == 200  # still logged in, still English
    assert 'lang="en"' in (await staff.get("/")).text
    # the login form too
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rackcard.test") as anon:
        assert (await anon.post("/login", data={"email": "x@example.test", "password": "y"})).status_code == 403
    # htmx sends the token as a header
    token = await page_csrf(staff)
    ok = await staff.post("/preferences/theme", data={"theme": "dark"}, headers={"X-CSRF-Token": token})
    assert ok.status_code == 303


async def test_a_client_user_is_kept_off_staff_pages(app, db, session_as):
    from cmdb.tables import Client

    acme = Client(code="acme", name="Acme", name_norm="acme")
    await acme.save()
    client_user, _ = await session_as("client", acme.id)
    response = await client_user.get("/")
    assert response.status_code in (303, 403)
    if response.status_code == 303:
        assert response.headers["location"] == "/portal"
    else:
        assert "Not allowed" in response.text and "Acme" not in response.text


async def test_language_from_accept_language_then_the_users_setting(app, db, session_as):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://rackcard.test") as anon:
        ru = await anon.get("/login", headers={"accept-language": "ru-RU,ru;q=0.9,en;q=0.5"})
        assert 'lang="ru"' in ru.text and "Войти" in ru.text and "Пароль" in ru.text
        en = await anon.get("/login", headers={"accept-language": "de-DE,en;q=0.7"})
        assert 'lang="en"' in en.text and "Log in" in en.text

    staff, user = await session_as("noc")
    staff.headers["accept-language"] = "en"
    assert "Board" in (await staff.get("/")).text
    response = await staff.post("/preferences/language", data={"language": "ru", "next": "/",
                                                               "csrf_token": await page_csrf(staff)})
    assert response.status_code == 303 and response.headers["location"] == "/"
    staff.cookies.delete("rc_lang")  # the user's setting alone decides now
    board = (await staff.get("/")).text
    assert 'lang="ru"' in board and "Табло" in board and "Открытых инцидентов нет." in board


def test_times_are_shown_in_the_viewers_zone_with_the_zone_named():
    from rackcard.i18n import format_local, zone_of

    moment = dt.datetime(2026, 1, 15, 21, 30, tzinfo=dt.timezone.utc)
    assert format_local(moment, zone_of("Europe/Moscow")) == "2026-01-16 00:30 MSK"
    assert format_local("2026-01-15T21:30:00+00:00", zone_of("UTC")) == "2026-01-15 21:30 UTC"
    assert format_local(moment, zone_of("Not/AZone")) == "2026-01-15 21:30 UTC"
    assert format_local(None, zone_of("UTC")) == ""


def test_accept_language_picks_the_best_shipped_language():
    from rackcard.i18n import parse_accept_language

    assert parse_accept_language("ru-RU,ru;q=0.9,en-US;q=0.8") == "ru"
    assert parse_accept_language("en;q=0.5, ru;q=0.8") == "ru"
    assert parse_accept_language("fr, de") is None
    assert parse_accept_language("ru;q=0, en") == "en"


@pytest.mark.slow
async def test_login_in_a_real_browser(app, db, browser_login):
    page, user = await browser_login("noc", timezone="Europe/Moscow")
    assert page.url.endswith("/")
    assert await page.title() == "Board · rackcard"
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert cookies["rc_session"]["httpOnly"] and cookies["rc_session"]["sameSite"] == "Lax"
    await screenshot(page, "board-empty-laptop")
    await page.click("form[action='/logout'] button")
    await page.wait_for_url("**/login")
    assert "Log in" in await page.content()
