"""The API docs page in a real browser (Debian's chromium through Playwright),
with every request that leaves the server refused: the vendored Swagger UI
must render the operations and the response models from our own files."""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

import pytest
import uvicorn
from conftest import BROWSER_ARGS as CHROMIUM_ARGS
from conftest import SCREENSHOTS

from rackcard.app import create_app
from rackcard.settings import Settings



@pytest.fixture(scope="module")
def docs_server(tmp_path_factory):
    """The app (no database needed for /schema) on a free loopback port."""
    var = tmp_path_factory.mktemp("var")
    settings = Settings.from_env({"RACKCARD_SECRET_KEY": "t" * 40, "RACKCARD_VAR_DIR": str(var),
                                  "RACKCARD_DATABASE_URL": f"sqlite:///{var}/x.sqlite"})
    app = create_app(settings, manage_db=False, background=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the test server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _scroll_to(page, locator, within=None, steps: int = 400) -> None:
    """Scroll down (the page, or the scroll box `within`) until `locator` is rendered:
    Swagger UI draws long lists as they come into view."""
    page.wait_for_selector(".opblock-summary-path", timeout=20000)
    if within is None:
        page.evaluate("window.scrollTo(0, 0)")  # operations are grouped by tag: what is looked for may be above
    for _ in range(steps):
        if locator.count():
            locator.scroll_into_view_if_needed()
            return
        if within is not None:
            within.scroll_into_view_if_needed()
            within.hover()
        page.mouse.wheel(0, 600)
        page.wait_for_timeout(25)
    raise AssertionError(f"never rendered: {locator}")


def test_api_docs_render_offline_with_real_response_models(docs_server):
    from playwright.sync_api import sync_playwright

    ours = urlsplit(docs_server).netloc
    outside: list[str] = []
    script_errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})

            def only_ours(route):
                if urlsplit(route.request.url).netloc == ours or route.request.url.startswith("data:"):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", only_ours)
            page.on("pageerror", lambda exc: script_errors.append(str(exc)))
            page.goto(f"{docs_server}/schema")
            # Swagger UI renders long lists virtualised (only what is near the viewport): scroll to each.
            for path in ("/api/v1/incidents/{incident_id}", "/api/v1/clients/{item_id}/card"):
                _scroll_to(page, page.locator(".opblock-summary-path", has_text=path).first)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "api-docs.png"))
            # The models section lists the typed responses, fields and all.
            card = page.locator("section.models article.json-schema-2020-12").filter(
                has=page.locator("strong.json-schema-2020-12__title", has_text="ClientCard")).first
            _scroll_to(page, card, within=page.locator("section.models .models-scroll").first)
            card.locator("button.json-schema-2020-12-expand-deep-button").first.click()
            page.wait_for_timeout(300)
            shown = card.inner_text()
            assert "open_incidents" in shown and "services_by_site" in shown
            card.scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOTS / "api-docs-models.png"))
        finally:
            browser.close()
    assert not outside, f"the docs page reached outside the server: {outside}"
    assert not script_errors, script_errors
