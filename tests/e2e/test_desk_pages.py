"""The reports page, the knowledge-base pages and the incident desk panel,
through a logged-in staff session (both engines), and in a real browser."""

from __future__ import annotations

import csv
import io
import re

import pytest
from conftest import page_csrf, screenshot

from tests.integration import incident_data as data
from tests.integration.test_kpi_report import DAY, _history

FIBER_ARTICLE = {"title": "Оптика: индикаторы медиаконвертера", "body": "Проверьте **патч-корды** медиаконвертеров.\n\n"
                 "<script>alert(1)</script> [x](javascript:alert(1))", "categories": ["fiber"],
                 "asset_kinds": ["media_converter"], "visibility": "internal", "language": "ru"}


def _metric(html: str, name: str) -> str:
    found = re.search(rf'data-metric="{name}">([^<]*)<', html)
    assert found, name
    return found.group(1).strip()


async def test_page_api_and_csv_totals_agree(db, api, session_as):
    await _history()
    page, _ = await session_as("noc")
    response = await page.get(f"/reports?{DAY}&group_by=category")
    assert response.status_code == 200, response.text
    html = response.text
    totals = (await api.get(f"/api/v1/reports/kpi?{DAY}&group_by=category")).json()["totals"]
    assert _metric(html, "incidents") == str(totals["incidents"])
    assert _metric(html, "resolved") == str(totals["resolved"])
    assert _metric(html, "first_contact_resolution_pct") == f"{totals['first_contact_resolution_pct']} %"
    assert _metric(html, "proactive_pct") == f"{totals['proactive_pct']} %"
    ttr = totals["time_to_resolve"]["calendar"]
    assert _metric(html, "time_to_resolve_calendar") == f"{ttr['mean']} / {ttr['median']} / {ttr['p90']}"
    assert html.count("<svg") >= 5 and "How each number is measured" in html
    # the page's CSV link gives the API's numbers
    link = re.search(r'href="(/reports/csv\?[^"]*table=groups[^"]*)"', html).group(1).replace("&amp;", "&")
    rows = list(csv.DictReader(io.StringIO((await page.get(link)).text)))
    assert rows[-1]["group"] == "TOTAL" and int(rows[-1]["incidents"]) == totals["incidents"]
    assert float(rows[-1]["proactive_pct"]) == totals["proactive_pct"]
    api_csv = (await api.get(f"/api/v1/reports/kpi/csv?{DAY}&group_by=category&table=groups")).text
    assert (await page.get(link)).text == api_csv


async def test_reports_page_in_russian_and_its_errors(db, session_as):
    page, _ = await session_as("noc")
    page.headers["Accept-Language"] = "ru-RU,ru;q=0.9"
    html = (await page.get("/reports")).text
    assert "Отчёт службы поддержки" in html and "Как считается каждая цифра" in html
    assert "Решено с первого обращения" in html
    bad = await page.get("/reports?from=yesterday")
    assert bad.status_code == 422 and "from" in bad.text


async def test_knowledge_base_pages(db, session_as):
    page, _ = await session_as("engineer")
    token = await page_csrf(page, "/kb/new")
    form = {**FIBER_ARTICLE, "categories": "fiber", "asset_kinds": "media_converter", "csrf_token": token}
    created = await page.post("/kb/new", data=form)
    assert created.status_code == 303, created.text
    article = created.headers["location"]
    html = (await page.get(article)).text
    assert "<strong>патч-корды</strong>" in html
    assert "<script>alert(1)" not in html and 'href="javascript' not in html
    found = (await page.get("/kb?q=медиаконвертер")).text
    assert FIBER_ARTICLE["title"] in found
    bad = await page.post("/kb/new", data={"title": "", "csrf_token": token})
    assert bad.status_code == 422 and 'data-field="title"' in bad.text
    # edit keeps the text and shows the change
    edit = await page.post(f"{article}/edit", data={**form, "title": "Оптика: FX и TP"})
    assert edit.status_code == 303
    assert "Оптика: FX и TP" in (await page.get(article)).text


async def test_client_users_are_kept_off_the_staff_pages(db, session_as):
    client_id = await data.client("Acme")
    page, _ = await session_as("client", client_id)
    for path in ("/reports", "/kb", "/reports/csv"):
        response = await page.get(path)
        assert response.status_code in (302, 303, 403), (path, response.status_code)


async def _fiber_incident(api) -> int:
    from tests.integration.test_kb import _fiber_incident as make

    incident_id, _ = await make(api)
    return incident_id


async def test_incident_desk_panel_suggests_and_refuses_a_reply_with_a_missing_value(db, api, session_as):
    incident_id = await _fiber_incident(api)
    article = (await api.post("/api/v1/kb", json=FIBER_ARTICLE)).json()
    reply = (await api.post("/api/v1/canned-replies", json={
        "name": "battery", "category": "fiber", "language": "en",
        "body": "{client_name}: {battery_minutes} minutes of battery left (incident {incident_number})."})).json()
    page, _ = await session_as("noc")
    panel = (await page.get(f"/incidents/{incident_id}/desk")).text
    assert f'data-article="{article["id"]}"' in panel and "battery" in panel
    token = await page_csrf(page, "/kb")
    missing = await page.post(f"/incidents/{incident_id}/canned-reply",
                              data={"reply_id": reply["id"], "action": "send", "csrf_token": token})
    assert missing.status_code == 422 and 'data-missing="battery_minutes"' in missing.text
    assert 'name="value_battery_minutes"' in missing.text
    timeline = (await api.get(f"/api/v1/incidents/{incident_id}")).json()["timeline"]
    assert not [t for t in timeline if t["kind"] == "comment"]  # nothing was sent
    preview = await page.post(f"/incidents/{incident_id}/canned-reply",
                              data={"reply_id": reply["id"], "action": "preview", "value_battery_minutes": "25",
                                    "csrf_token": token})
    assert preview.status_code == 200 and f"Acme: 25 minutes of battery left (incident {incident_id})." in preview.text
    sent = await page.post(f"/incidents/{incident_id}/canned-reply",
                           data={"reply_id": reply["id"], "action": "send", "value_battery_minutes": "25",
                                 "csrf_token": token})
    assert sent.status_code == 303
    timeline = (await api.get(f"/api/v1/incidents/{incident_id}")).json()["timeline"]
    assert [t["body"] for t in timeline if t["kind"] == "comment"] == [
        f"Acme: 25 minutes of battery left (incident {incident_id})."]
    used = await page.post(f"/incidents/{incident_id}/kb-use", data={"article_id": article["id"], "csrf_token": token})
    assert used.status_code == 303
    assert (await api.get(f"/api/v1/kb/{article['id']}")).json()["used_in"] == 1


@pytest.mark.slow
async def test_reports_and_knowledge_base_in_a_real_browser(db, api, browser_login, live_app):
    await _history()
    await api.post("/api/v1/kb", json=FIBER_ARTICLE)
    page, _ = await browser_login("noc", locale="ru-RU")
    await page.goto(live_app.url + f"/reports?{DAY}&group_by=client")
    assert await page.locator("svg.chart").count() >= 5
    assert "Отчёт службы поддержки" in await page.locator("h1").inner_text()
    assert await page.locator("[data-metric=incidents]").first.inner_text() == "4"
    await screenshot(page, "reports-ru")
    await page.emulate_media(media="print")
    assert not await page.locator("form.period-picker").is_visible()  # the picker is not printed
    await page.emulate_media(media="screen")
    await page.goto(live_app.url + "/kb")
    await page.fill("#kb-q", "медиаконвертеров")
    await page.press("#kb-q", "Enter")
    await page.wait_for_load_state()
    await page.click("ul.kb-articles a")
    await page.wait_for_load_state()
    assert await page.locator(".markdown strong").inner_text() == "патч-корды"
    assert await page.locator(".markdown script").count() == 0
    await screenshot(page, "kb-article-ru")


async def test_client_sla_page(db, session_as):
    from tests.integration.test_kpi_report import _history as history

    ids = await history()
    page, _ = await session_as("noc")
    html = (await page.get(f"/reports/clients/{ids['acme']}?{DAY}")).text
    assert "SLA report" in html and "Acme" in html and "Gold" in html
    assert _metric(html, "incidents") == "2"
    assert (await page.get(f"/reports/clients/999999?{DAY}")).status_code == 404


async def test_the_incident_page_itself_suggests_the_fiber_article_and_offers_the_replies(db, api, session_as):
    incident_id = await _fiber_incident(api)
    fiber = (await api.post("/api/v1/kb", json=FIBER_ARTICLE)).json()
    power = (await api.post("/api/v1/kb", json={"title": "UPS on battery", "body": "runtime", "categories": ["power"],
                                                "asset_kinds": ["ups"]})).json()
    reply = (await api.post("/api/v1/canned-replies", json={"name": "fiber-check", "category": "fiber",
                                                            "language": "en", "body": "We are checking {asset}."})).json()
    page, _ = await session_as("noc")
    html = (await page.get(f"/incidents/{incident_id}")).text
    panel = html[html.index('id="desk-panel"'):]
    assert f'data-article="{fiber["id"]}"' in panel and f'data-article="{power["id"]}"' not in panel
    assert f'<option value="{reply["id"]}"' in panel and 'data-action="reply-preview"' in panel
    # the panel's own route answers htmx with the same panel
    alone = (await page.get(f"/incidents/{incident_id}/desk")).text
    assert f'data-article="{fiber["id"]}"' in alone and alone.count('id="desk-panel"') == 1


@pytest.mark.slow
async def test_the_incident_page_desk_panel_in_a_real_browser(db, api, browser_login, live_app):
    from playwright.async_api import expect

    incident_id = await _fiber_incident(api)
    fiber = (await api.post("/api/v1/kb", json=FIBER_ARTICLE)).json()
    await api.post("/api/v1/canned-replies", json={"name": "fiber-check", "category": "fiber", "language": "en",
                                                   "body": "We are checking {asset}."})
    page, _ = await browser_login("noc")
    await page.goto(live_app.url + f"/incidents/{incident_id}")
    await expect(page.locator(f'#desk-panel [data-article="{fiber["id"]}"] a')).to_have_text(FIBER_ARTICLE["title"])
    await page.click("[data-action=reply-preview]")  # htmx swaps the panel in place
    await expect(page.locator("#desk-panel [data-preview]")).to_contain_text("We are checking mc-khimki-1.")
    assert page.url.endswith(f"/incidents/{incident_id}")
    await screenshot(page, "incident-desk-panel")


# ---------------------------------------------------------------- the portal: help articles and the SLA report


async def test_portal_help_articles_are_the_public_ones_and_are_offered_before_filing(db, api, session_as):
    from tests.integration.test_kb import _fiber_incident as make

    _, acme = await make(api)
    mc = (await api.get("/api/v1/assets", params={"client_id": acme})).json()["results"][0]["id"]
    public = (await api.post("/api/v1/kb", json={
        "title": "No internet: reboot the media converter, then the router", "body": "Power the **converter** off.",
        "categories": ["fiber", "reboot"], "asset_kinds": ["media_converter"], "visibility": "public"})).json()
    internal = (await api.post("/api/v1/kb", json={**FIBER_ARTICLE, "title": "Internal: FX/TP LEDs"})).json()
    other = await data.client("Globex")
    foreign_site = await data.site("remote", name="Elsewhere")
    foreign_mc = await data.asset(foreign_site, "mc-globex", client_id=other)
    page, _ = await session_as("client", acme)
    listed = (await page.get("/portal/kb")).text
    assert f'data-article="{public["id"]}"' in listed and f'data-article="{internal["id"]}"' not in listed
    found = (await page.get("/portal/kb", params={"q": "converter"})).text
    assert f'data-article="{public["id"]}"' in found
    assert f'data-article="{internal["id"]}"' not in (await page.get("/portal/kb", params={"q": "медиаконвертеров"})).text
    article = await page.get(f"/portal/kb/{public['id']}")
    assert article.status_code == 200 and "<strong>converter</strong>" in article.text
    assert "used in" not in article.text  # no counts of other clients' incidents
    assert (await page.get(f"/portal/kb/{internal['id']}")).status_code == 404
    # "before you file": the request form and its htmx fragment
    form = (await page.get("/portal/requests/new", params={"category": "no_internet", "asset_id": mc})).text
    offered = form[form.index('id="before-you-file"'):]
    assert "Before you file: try this" in offered and f'data-article="{public["id"]}"' in offered
    assert f'data-article="{internal["id"]}"' not in form
    fragment = await page.get("/portal/requests/suggestions", params={"category": "reboot", "asset_id": mc})
    assert fragment.status_code == 200 and f'data-article="{public["id"]}"' in fragment.text
    # another client's asset adds nothing and says nothing
    foreign = await page.get("/portal/requests/suggestions", params={"category": "other", "asset_id": foreign_mc})
    assert foreign.status_code == 200 and "mc-globex" not in foreign.text
    assert f'data-article="{public["id"]}"' not in foreign.text
    page.headers["Accept-Language"] = "ru"
    assert "Прежде чем отправить заявку" in (await page.get("/portal/requests/suggestions",
                                                            params={"category": "reboot"})).text
    # staff are sent to the board, not shown the portal's pages
    staff, _ = await session_as("noc")
    assert (await staff.get("/portal/kb")).status_code in (302, 303)


async def test_portal_sla_report_is_the_clients_own_and_matches_the_staff_one(db, session_as):
    from tests.integration.test_kpi_report import _history as history

    ids = await history()
    staff, _ = await session_as("noc")
    staff_html = (await staff.get(f"/reports/clients/{ids['acme']}?{DAY}")).text
    acme, _ = await session_as("client", ids["acme"])
    response = await acme.get(f"/portal/sla?{DAY}&client_id={ids['globex']}")  # a foreign id in the query is ignored
    assert response.status_code == 200, response.text
    html = response.text
    assert "SLA report" in html and "Acme" in html and "Gold" in html and "Globex" not in html
    for metric in ("incidents", "open_now", "response_breach_pct", "resolution_breach_pct", "time_to_resolve"):
        assert _metric(html, metric) == _metric(staff_html, metric), metric
    assert "All KPIs for this client" not in html and "/reports" not in html.replace("/portal/", "")
    assert 'class="period-picker no-print"' in html  # printable: the picker is not printed
    globex, _ = await session_as("client", ids["globex"])
    other = (await globex.get(f"/portal/sla?{DAY}")).text
    assert "Globex" in other and "Acme" not in other and _metric(other, "incidents") == "1"
    globex.headers["Accept-Language"] = "ru"
    assert "Отчёт по SLA" in (await globex.get(f"/portal/sla?{DAY}")).text
    bad = await acme.get("/portal/sla?from=yesterday")
    assert bad.status_code == 422 and "from" in bad.text


async def test_sla_report_csv_carries_the_api_and_page_numbers_for_staff_and_the_clients_own(db, api, session_as):
    from incidents.tables import CheckEvent
    from tests.integration.test_kpi_report import _history as history, at

    ids = await history()
    mc = await data.asset(ids["site"], "mc-sla-csv", client_id=ids["acme"])
    service = await data.service(ids["acme"], ids["site"], mc)
    for state, when in (("critical", at(-120)), ("ok", at(30))):  # 150 minutes down
        await CheckEvent(asset=mc, key="reachability", to_state=state, at=when).save()
    body = (await api.get(f"/api/v1/reports/sla?client_id={ids['acme']}&{DAY}")).json()
    staff, _ = await session_as("noc")
    html = (await staff.get(f"/reports/clients/{ids['acme']}?{DAY}")).text
    links = {m.group(2): m.group(1).replace("&amp;", "&")
             for m in re.finditer(r'href="(/reports/clients/\d+/csv\?[^"]*table=(\w+)[^"]*)"', html)}
    assert set(links) == {"plan", "services", "incidents"}

    def rows(response) -> list[dict]:
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        assert "attachment" in response.headers["content-disposition"]
        return list(csv.DictReader(io.StringIO(response.text)))

    plan = rows(await staff.get(links["plan"]))
    assert {r["priority"]: (int(r["response_minutes"]), int(r["resolution_minutes"])) for r in plan} == {
        p: (m, body["plan"]["resolution_minutes"][p]) for p, m in body["plan"]["response_minutes"].items()}
    services = rows(await staff.get(links["services"]))
    assert [(int(r["service_id"]), float(r["availability_pct"]), float(r["downtime_minutes"])) for r in services] == [
        (s["id"], s["availability_pct"], s["downtime_minutes"]) for s in body["services"]]
    assert float(services[0]["downtime_minutes"]) == 150.0 and int(services[0]["service_id"]) == service
    [incidents] = rows(await staff.get(links["incidents"]))
    for key in ("incidents", "resolved", "response_breach_pct", "resolution_breach_pct"):
        assert float(incidents[key]) == body["incidents"][key], key
    assert int(incidents["open_now"]) == body["open_now"] == int(_metric(html, "open_now"))
    ttr = body["incidents"]["time_to_resolve"]["calendar"]
    assert [float(incidents[f"time_to_resolve_calendar_{s}"]) for s in ("mean", "median", "p90")] == \
        [ttr["mean"], ttr["median"], ttr["p90"]]
    assert _metric(html, "time_to_resolve") == f"{ttr['mean']} / {ttr['median']} / {ttr['p90']}"
    assert (await staff.get(f"/reports/clients/{ids['acme']}/csv?{DAY}&table=nope")).status_code == 422

    # the portal: the client's own CSV, the same text, whatever client_id the query names
    acme, _ = await session_as("client", ids["acme"])
    portal_html = (await acme.get(f"/portal/sla?{DAY}")).text
    portal_links = {m.group(2): m.group(1).replace("&amp;", "&")
                    for m in re.finditer(r'href="(/portal/sla/csv\?[^"]*table=(\w+)[^"]*)"', portal_html)}
    assert set(portal_links) == set(links)
    for table, link in portal_links.items():
        own = await acme.get(link + f"&client_id={ids['globex']}")
        assert own.text == (await staff.get(links[table])).text, table
    globex, _ = await session_as("client", ids["globex"])
    theirs = await globex.get(f"/portal/sla/csv?{DAY}&table=services&client_id={ids['acme']}")
    assert rows(theirs) == [] and "mc-sla-csv" not in theirs.text
    [globex_incidents] = rows(await globex.get(f"/portal/sla/csv?{DAY}&table=incidents&client_id={ids['acme']}"))
    assert globex_incidents["incidents"] == "1"  # Globex's own power call, not Acme's two
    assert (await globex.get(f"/reports/clients/{ids['acme']}/csv?{DAY}")).status_code in (302, 303)


def _reply_groups(panel: str) -> list[tuple[str, list[int]]]:
    """The reply picker's groups in order: (data-language-group, [reply ids])."""
    return [(m.group(1), [int(v) for v in re.findall(r'<option value="(\d+)"', m.group(2))])
            for m in re.finditer(r'<optgroup label="[^"]*" data-language-group="([^"]*)">(.*?)</optgroup>', panel,
                                 re.S)]


async def test_the_desk_panel_offers_replies_in_the_clients_language_first(db, api, session_as):
    from accounts.tables import User
    from cmdb.tables import Contact
    from tests.integration.test_kb import _fiber_incident as make

    incident_id, acme = await make(api)

    async def reply(name: str, language: str, category: str = "fiber") -> int:
        return (await api.post("/api/v1/canned-replies", json={
            "name": name, "category": category, "language": language, "body": "{asset}"})).json()["id"]

    en_fiber, ru_fiber, en_any = await reply("fiber-check", "en"), await reply("оптика", "ru"), \
        await reply("generic", "en", "")
    page, _ = await session_as("noc")
    # no contact or portal user says: the viewer's language
    assert _reply_groups((await page.get(f"/incidents/{incident_id}/desk")).text) == [
        ("en", [en_fiber, en_any]), ("other", [ru_fiber])]
    page.headers["Accept-Language"] = "ru"
    assert _reply_groups((await page.get(f"/incidents/{incident_id}/desk")).text) == [
        ("ru", [ru_fiber]), ("other", [en_fiber, en_any])]
    page.headers["Accept-Language"] = "en"
    # the client's portal user reads Russian
    _, portal_user = await session_as("client", acme)
    await User.update({User.language: "ru"}).where(User.id == portal_user.id)
    assert _reply_groups((await page.get(f"/incidents/{incident_id}/desk")).text)[0] == ("ru", [ru_fiber])
    # a contact who gets the incident e-mail outranks the portal user and the other contacts
    for name, language, notify in (("Ivan", "ru", False), ("Jane", "en", True), ("Petr", "ru", False)):
        await Contact(client=acme, name=name, name_norm=name.lower(), language=language, notify=notify).save()
    html = (await page.get(f"/incidents/{incident_id}")).text
    panel = html[html.index('id="desk-panel"'):]
    assert _reply_groups(panel) == [("en", [en_fiber, en_any]), ("other", [ru_fiber])]
