"""No page loads anything from outside the server: every http(s):// URL in the
served HTML, CSS and JavaScript is refused unless it is the server's own (the
browser tests also record every request the pages make)."""

from __future__ import annotations

import re

import pytest
from pages_data import fiber_cut, operator
from test_authorization import world  # noqa: F401 - the two-client world fixture

from incidents.tables import Incident

OWN = "rackcard.test"
URL = re.compile(r"""(?:https?:)?//[A-Za-z0-9.\-]+(?::\d+)?[^\s"'<>)]*""")
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)""")
CSS_IMPORT = re.compile(r"""@import\s+(?:url\()?\s*['"]?([^'")\s;]+)""")
ASSET = re.compile(r"""(?:src|href)=["'](/static/[^"']+)["']""")
#: XML namespace names inside inline SVG data: URIs identify, they are never fetched.
NAMESPACES = ("http://www.w3.org/",)


def _outside_urls_in_html(html: str) -> list[str]:
    found = []
    for match in URL.finditer(html):
        url = match.group(0)
        if url.startswith(("http://", "https://", "//")) and f"//{OWN}" not in url:
            found.append(url)
    return found


def _outside_urls_in_css(css: str) -> list[str]:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)  # licence comments name their home page
    refs = CSS_URL.findall(css) + CSS_IMPORT.findall(css)
    return [r for r in refs if not r.startswith(("data:", "/", "#")) and f"//{OWN}" not in r]


def _outside_urls_in_js(js: str) -> list[str]:
    return [u for u in URL.findall(js) if u.startswith(("http://", "https://")) and not u.startswith(NAMESPACES)]


def test_the_checks_catch_outside_urls():
    assert _outside_urls_in_html('<script src="https://cdn.example/x.js">') == ["https://cdn.example/x.js"]
    assert _outside_urls_in_html('<link href="//fonts.example/css">') == ["//fonts.example/css"]
    assert _outside_urls_in_css("a{background:url(https://cdn.example/i.png)}") == ["https://cdn.example/i.png"]
    assert _outside_urls_in_css("@import 'https://fonts.example/f.css';") == ["https://fonts.example/f.css"]
    assert _outside_urls_in_css("/* https://picocss.com */ a{background:url(\"data:image/svg+xml,"
                                "%3Csvg xmlns='http://www.w3.org/2000/svg'%3E\")}") == []
    assert _outside_urls_in_js('fetch("https://api.example/x")') == ["https://api.example/x"]


@pytest.fixture
async def data(api):
    return await operator(api)


async def _assert_nothing_from_outside(pages: dict, http) -> set[str]:
    """Every page answered 200 and names nothing outside; nor do the CSS and JS files they load.
    -> the static files they load."""
    assets: set[str] = set()
    for path, response in pages.items():
        assert response.status_code == 200, path
        assert _outside_urls_in_html(response.text) == [], path
        assets.update(ASSET.findall(response.text))
    for path in sorted(assets):
        response = await http.get(path)
        assert response.status_code == 200, path
        if path.endswith(".css"):
            assert _outside_urls_in_css(response.text) == [], path
        elif path.endswith(".js"):
            assert _outside_urls_in_js(response.text) == [], path
    return assets


async def test_served_pages_css_and_js_load_nothing_from_outside(data, session_as, http):
    staff, _ = await session_as("noc")
    await fiber_cut(data)
    incident = (await Incident.select(Incident.id).first())["id"]
    pages = {"/login": await http.get("/login")}
    for path in ("/", "/?wall=1", f"/clients/{data['client']['id']}", f"/incidents/{incident}",
                 "/search?q=roma&all=1", "/search/suggest?q=roma"):
        pages[path] = await staff.get(path)
    assets = await _assert_nothing_from_outside(pages, http)
    assert {"/static/rackcard.css", "/static/rackcard.js", "/static/board.js"} <= assets
    assert any(a.startswith("/static/vendor/") for a in assets)


async def test_portal_pages_load_nothing_from_outside(data, session_as, http):
    client, _ = await session_as("client", client_id=data["client"]["id"])
    await fiber_cut(data)
    incident = (await Incident.select(Incident.id).first())["id"]
    pages = {}
    for path in ("/portal", f"/portal/assets/{data['router']['id']}", f"/portal/incidents/{incident}",
                 "/portal/requests/new", f"/portal/requests/suggestions?category=reboot&asset_id={data['router']['id']}",
                 "/portal/kb", "/portal/sla"):
        pages[path] = await client.get(path)
    assets = await _assert_nothing_from_outside(pages, http)
    assert "/static/rackcard.css" in assets and any(a.startswith("/static/vendor/") for a in assets)


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>")
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=")


def _inline_code(html: str) -> list[str]:
    """What the CSP would block: inline <script>, on*= handlers, hx-on."""
    found = [m.group(0) for m in INLINE_SCRIPT.finditer(html)] + [m.group(0) for m in EVENT_HANDLER.finditer(html)]
    return found + (["hx-on"] if "hx-on" in html else [])


def test_the_inline_check_catches_scripts_and_handlers():
    assert _inline_code('<script>alert(1)</script><script src="/static/x.js"></script>') == ["<script>"]
    assert _inline_code('<button onclick="go()">') == [" onclick="]
    assert _inline_code('<form hx-on::after-request="x">') == ["hx-on"]
    assert _inline_code('<p>conditions on=1</p><script src="/a.js" defer></script>') == []


async def test_every_page_of_the_route_table_has_no_inline_code(world, session_as):
    """Every GET page the authorization table lists (staff pages as an administrator,
    portal pages as a client user with their own ids), with real rows behind each id."""
    from test_authorization import CLIENT_PAGE, PAGES, ROUTES, Own, _concrete

    admin, _ = await session_as("admin")
    client, _ = await session_as("client", world.alpha)
    checked, failures = set(), []
    for (method, path), access in sorted(ROUTES.items()):
        if method != "GET" or access not in PAGES:
            continue
        portal = access == CLIENT_PAGE
        url = _concrete(path, Own(world, "client_a") if portal else world, mutating=False)
        response = await (client if portal else admin).get(url)
        if response.status_code != 200 or not response.headers.get("content-type", "").startswith("text/html"):
            continue  # CSV exports, redirects (a GET of a form's action), ids the route reads differently
        checked.add(path)
        found = _inline_code(response.text)
        if found:
            failures.append((url, found[:3]))
    assert not failures, failures
    must = {"/assets/{asset_id:int}", "/sites/{site_id:int}", "/racks/{rack_id:int}", "/assets",
            "/maintenance", "/webhooks", "/assets/new", "/assets/{item_id:int}/edit", "/webhooks/new", "/import",
            "/admin/users", "/admin/tokens", "/reports", "/kb", "/kb/{article_id:int}", "/portal",
            "/portal/assets/{asset_id:int}", "/portal/kb", "/portal/requests/new"}
    assert must <= checked, sorted(must - checked)


async def test_no_inline_scripts_or_event_handlers(data, session_as):
    """The CSP allows scripts from the server's files only: no inline <script>, no on*= and no hx-on."""
    staff, _ = await session_as("noc")
    await fiber_cut(data)
    incident = (await Incident.select(Incident.id).first())["id"]
    for path in ("/", f"/clients/{data['client']['id']}", f"/incidents/{incident}"):
        html = (await staff.get(path)).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\son[a-z]+\s*=", html), path
        assert "hx-on" not in html and "style=" not in html, path
