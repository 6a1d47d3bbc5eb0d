"""No page loads anything from outside the server: every http(s):// URL in the
served HTML, CSS and JavaScript is refused unless it is the server's own (the
browser tests also record every request the pages make)."""

from __future__ import annotations

import re

import pytest
from pages_data import fiber_cut, operator

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
