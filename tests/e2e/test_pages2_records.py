"""The list and form pages of incidents, maintenance windows, SLA plans and
webhooks over HTTP (both engines): filters, sorting, CSV export, a form whose
error comes back next to its field, admin-only writes."""

from __future__ import annotations

from conftest import page_csrf
from integration.cmdb_seed import seed

from accounts.viewer import SYSTEM
from incidents import services
from incidents.tables import MaintenanceWindow, SlaPlan, WebhookEndpoint


async def _incident(title: str, client_id: int, priority: str) -> int:
    row = await services.create_manual(SYSTEM, services.ManualIncident(
        title=title, category="request", client_id=client_id, source="phone", priority=priority))
    return row["id"]


async def test_incident_list_filters_sorts_and_exports(db, session_as, api):
    ids = await seed()
    await _incident("reboot my router", ids["acme"], "P3")
    await _incident("no internet", ids["acme"], "P1")
    await _incident("globex question", ids["globex"], "P4")
    noc, _ = await session_as("noc")
    page = await noc.get("/incidents", params={"client_id": ids["acme"], "sort": "priority"})
    assert page.status_code == 200
    text = page.text
    assert "no internet" in text and "reboot my router" in text and "globex question" not in text
    assert text.index("no internet") < text.index("reboot my router")  # P1 before P3
    exported = await noc.get("/incidents/export.csv", params={"client_id": ids["acme"]})
    assert exported.headers["content-type"].startswith("text/csv") and len(exported.text.strip().splitlines()) == 3
    by_api = (await api.get("/api/v1/incidents", params={"sort": "-priority"})).json()["results"]
    assert [i["priority"] for i in by_api] == ["P4", "P3", "P1"]
    assert (await api.get("/api/v1/incidents", params={"sort": "nope"})).status_code == 422


async def test_maintenance_window_form(db, session_as):
    ids = await seed()
    engineer, _ = await session_as("engineer")
    token = await page_csrf(engineer, "/maintenance/new")
    bad = await engineer.post("/maintenance/new", data={
        "csrf_token": token, "site_id": str(ids["remote"]), "starts_at": "2026-12-01T10:00", "ends_at": "2026-12-01T09:00",
        "reason": "UPS battery swap"})
    assert bad.status_code == 422 and "f-ends_at-error" in bad.text and not await MaintenanceWindow.exists()
    ok = await engineer.post("/maintenance/new", data={
        "csrf_token": token, "site_id": str(ids["remote"]), "starts_at": "2026-12-01T10:00", "ends_at": "2026-12-01T12:00",
        "reason": "UPS battery swap"})
    assert ok.status_code == 303
    window = await MaintenanceWindow.select().first()
    assert window["site_id"] == ids["remote"]
    listing = await engineer.get("/maintenance")
    assert "UPS battery swap" in listing.text
    edit = await engineer.get(f"/maintenance/{window['id']}/edit")
    assert 'value="2026-12-01T10:00"' in edit.text


async def test_sla_plans_and_webhooks_are_written_by_admins(db, session_as):
    noc, _ = await session_as("noc")
    token = await page_csrf(noc)
    refused = await noc.post("/webhooks/new", data={"csrf_token": token, "name": "x", "url": "https://example.test/h"})
    assert refused.status_code == 403 and not await WebhookEndpoint.exists()
    admin, _ = await session_as("admin")
    token = await page_csrf(admin)
    made = await admin.post("/webhooks/new", data={"csrf_token": token, "name": "chat", "url": "https://example.test/h",
                                                   "events": "opened, resolved", "active": "true"})
    assert made.status_code == 200 and 'id="new-secret"' in made.text  # the generated secret, shown once
    assert (await WebhookEndpoint.select(WebhookEndpoint.events).first())["events"] == "opened,resolved"
    bad_url = await admin.post("/webhooks/new", data={"csrf_token": token, "name": "x", "url": "ftp://nope"})
    assert bad_url.status_code == 422 and "f-url-error" in bad_url.text
    plan = await admin.post("/sla-plans/new", data={"csrf_token": token, "name": "Gold", "hours": "24x7",
                                                    "timezone": "Europe/Moscow", "response_p1": "10"})
    assert plan.status_code == 303
    assert (await SlaPlan.select(SlaPlan.response_p1).where(SlaPlan.name == "Gold").first())["response_p1"] == 10
    listing = await noc.get("/sla-plans", params={"sort": "-name"})
    assert listing.status_code == 200 and "Gold" in listing.text


async def test_webhooks_of_every_kind_from_the_page(db, session_as, api):
    """Generic, Slack/Mattermost and Telegram webhooks are made on the form; a
    secret the server generated is shown on that answer only (not cached); a
    bad field comes back next to itself, as the API names it."""
    from accounts import secretbox

    admin, _ = await session_as("admin")
    token = await page_csrf(admin, "/webhooks/new")
    form = (await admin.get("/webhooks/new")).text
    for name in ("kind", "url", "secret", "chat_id", "language", "events", "active"):
        assert f'id="f-{name}"' in form, name
    assert 'value="telegram"' in form and 'value="slack"' in form and 'type="password"' in form

    generic = await admin.post("/webhooks/new", data={
        "csrf_token": token, "name": "billing", "kind": "webhook", "url": "https://billing.example.test/hook",
        "secret": "", "chat_id": "", "language": "en", "events": "opened", "active": "true"})
    assert generic.status_code == 200 and generic.headers["cache-control"] == "no-store"
    shown = generic.text.split('id="new-secret">')[1].split("<")[0]
    stored = await WebhookEndpoint.select().where(WebhookEndpoint.name == "billing").first()
    assert len(shown) >= 16 and secretbox.open(stored["secret"]) == shown and stored["kind"] == "webhook"
    for path in ("/webhooks", f"/webhooks/{stored['id']}/edit"):
        assert shown not in (await admin.get(path)).text, path

    typed = await admin.post("/webhooks/new", data={
        "csrf_token": token, "name": "signed", "kind": "webhook", "url": "https://signed.example.test/hook",
        "secret": "a-secret-we-chose-ourselves", "language": "en", "active": "true"})
    assert typed.status_code == 303  # the user typed it: nothing to show
    assert secretbox.open((await WebhookEndpoint.select().where(WebhookEndpoint.name == "signed").first())["secret"]
                          ) == "a-secret-we-chose-ourselves"

    slack = await admin.post("/webhooks/new", data={
        "csrf_token": token, "name": "noc-mattermost", "kind": "slack", "url": "https://chat.example.test/hooks/abc",
        "secret": "", "language": "ru", "events": "opened,resolved", "active": "true"})
    assert slack.status_code == 200 and 'id="new-secret"' in slack.text

    bot_token = "123456:" + "A" * 35
    bad = await admin.post("/webhooks/new", data={
        "csrf_token": token, "name": "noc-telegram", "kind": "telegram", "url": "", "secret": "not-a-bot-token",
        "chat_id": "", "language": "ru", "active": "true"})
    assert bad.status_code == 422 and "f-chat_id-error" in bad.text and "f-secret-error" in bad.text
    assert "not-a-bot-token" not in bad.text  # a typed secret is not sent back either
    by_api = await api.post("/api/v1/webhooks", json={"name": "noc-telegram", "kind": "telegram",
                                                      "secret": "not-a-bot-token", "language": "ru"})
    assert by_api.status_code == 422 and {e["field"] for e in by_api.json()["errors"]} >= {"chat_id", "secret"}
    telegram = await admin.post("/webhooks/new", data={
        "csrf_token": token, "name": "noc-telegram", "kind": "telegram", "url": "", "secret": bot_token,
        "chat_id": "@noc_duty", "language": "ru", "events": "", "active": "true"})
    assert telegram.status_code == 303, telegram.text
    rows = {r["name"]: r for r in await WebhookEndpoint.select()}
    assert (rows["noc-mattermost"]["kind"], rows["noc-mattermost"]["language"]) == ("slack", "ru")
    assert (rows["noc-telegram"]["kind"], rows["noc-telegram"]["chat_id"], rows["noc-telegram"]["url"]) == \
        ("telegram", "@noc_duty", "https://api.telegram.org")
    assert secretbox.open(rows["noc-telegram"]["secret"]) == bot_token

    # an edit with the secret left empty keeps it; a bad field on an edit names itself too
    edit = f"/webhooks/{rows['noc-telegram']['id']}/edit"
    assert "set — leave empty to keep" in (await admin.get(edit)).text
    kept = await admin.post(edit, data={"csrf_token": token, "name": "noc-telegram", "kind": "telegram", "url": "",
                                        "secret": "", "chat_id": "-100200300", "language": "en", "active": "true"})
    assert kept.status_code == 303
    row = await WebhookEndpoint.select().where(WebhookEndpoint.name == "noc-telegram").first()
    assert secretbox.open(row["secret"]) == bot_token and row["chat_id"] == "-100200300"
    wrong = await admin.post(edit, data={"csrf_token": token, "name": "noc-telegram", "kind": "telegram", "url": "",
                                         "secret": "", "chat_id": "", "language": "en", "active": "true"})
    assert wrong.status_code == 422 and "f-chat_id-error" in wrong.text


async def _windows(site_id: int, asset_id: int) -> None:
    """55 windows over a past, present and future: more than one page of the list."""
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    rows = []
    for i in range(55):
        start = now + dt.timedelta(days=i - 30)
        rows.append(MaintenanceWindow(site_id=site_id, starts_at=start, ends_at=start + dt.timedelta(hours=2),
                                      reason=f"planned work {i:02d}", created_by="seed"))
    rows.append(MaintenanceWindow(asset_id=asset_id, starts_at=now - dt.timedelta(hours=1),
                                  ends_at=now + dt.timedelta(hours=1), reason="ups swap now", created_by="seed"))
    await MaintenanceWindow.insert(*rows)


async def test_maintenance_list_pages_sorts_and_filters(db, session_as, api):
    ids = await seed()
    await _windows(ids["remote"], ids["ups-remote-7"])
    noc, _ = await session_as("noc")
    first = await noc.get("/maintenance", params={"sort": "reason"})
    assert first.status_code == 200 and "planned work 00" in first.text and "planned work 49" in first.text
    assert "planned work 50" not in first.text and 'href="/maintenance?sort=reason&amp;page=2"' in first.text
    second = await noc.get("/maintenance", params={"sort": "reason", "page": "2"})
    assert "planned work 50" in second.text and "planned work 54" in second.text and "ups swap now" in second.text
    assert "planned work 49" not in second.text
    newest_end = (await noc.get("/maintenance", params={"sort": "-ends_at"})).text
    assert newest_end.index("planned work 54") < newest_end.index("planned work 53")
    by_start = (await noc.get("/maintenance", params={"sort": "starts_at"})).text
    assert by_start.index("planned work 00") < by_start.index("planned work 01")

    active = (await noc.get("/maintenance", params={"when": "active"})).text
    assert "ups swap now" in active and "planned work 29" not in active and "planned work 31" not in active
    upcoming = (await noc.get("/maintenance", params={"when": "upcoming", "sort": "starts_at"})).text
    assert "planned work 31" in upcoming and "planned work 29" not in upcoming and "ups swap now" not in upcoming
    past = (await noc.get("/maintenance", params={"when": "past"})).text
    assert "planned work 29" in past and "planned work 31" not in past
    on_asset = (await noc.get("/maintenance", params={"asset_id": ids["ups-remote-7"]})).text
    assert "ups swap now" in on_asset and "planned work" not in on_asset
    on_site = await noc.get("/maintenance", params={"site_id": ids["remote"], "when": "active"})
    assert "ups swap now" in on_site.text  # a window on one of the site's assets is on the site
    exported = await noc.get("/maintenance/export.csv", params={"when": "past"})
    assert len(exported.text.strip().splitlines()) == 1 + 30
    bad = await noc.get("/maintenance", params={"when": "someday"})
    assert bad.status_code == 200 and "when must be one of" in bad.text
    # the API lists with the same service
    soonest = (await api.get("/api/v1/maintenance-windows", params={"when": "upcoming", "sort": "starts_at",
                                                                    "limit": 3})).json()
    assert soonest["count"] == 24 and [w["reason"] for w in soonest["results"]] == [
        "planned work 31", "planned work 32", "planned work 33"]
    refused = await api.get("/api/v1/maintenance-windows", params={"sort": "created_by"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "sort"


async def test_sla_plan_and_webhook_lists_filter_by_text(db, session_as, api):
    for name in ("Gold", "Silver", "Bronze"):
        assert (await api.post("/api/v1/sla-plans", json={"name": name, "hours": "24x7"})).status_code == 201
    for name, url in (("billing", "https://billing.example.test/h"), ("crm", "https://crm.example.test/h")):
        assert (await api.post("/api/v1/webhooks", json={"name": name, "url": url})).status_code == 201
    telegram = await api.post("/api/v1/webhooks", json={"name": "duty-bot", "kind": "telegram", "chat_id": "@duty",
                                                       "secret": "123456:" + "B" * 35})
    assert telegram.status_code == 201 and telegram.json()["url"] == "https://api.telegram.org"
    admin, _ = await session_as("admin")
    plans = (await admin.get("/sla-plans", params={"q": "sil"})).text
    assert "Silver" in plans and "Gold" not in plans and "Bronze" not in plans
    hooks = (await admin.get("/webhooks", params={"q": "CRM.example"})).text
    assert "crm" in hooks and "billing" not in hooks
    assert 'name="q"' in hooks and 'value="CRM.example"' in hooks
