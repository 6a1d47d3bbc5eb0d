"""The integrations' staff pages (issue 12): the mail quarantine and the
NetBox import, over HTTP with a real session and in a real browser."""

from __future__ import annotations

from integration import incident_data as data
from conftest import page_csrf, screenshot
from integration.test_netbox import TOKEN, FakeNetbox

from incidents.tables import Incident
from integrations import mail
from integrations.mail import MailConfig
from integrations.tables import QuarantinedMail

RAW = (b"From: new.person@acme.example\r\nTo: support@dc.example\r\nSubject: Please reboot rack 12\r\n"
       b"Message-ID: <q1@acme.example>\r\n\r\nThanks!\r\n")


async def test_quarantine_page_accepts_and_drops(session_as):
    acme = await data.client("Acme", email="ops@acme.example")
    queued = await mail.process(RAW, MailConfig())
    assert queued["outcome"] == "quarantined"
    noc, _ = await session_as("noc")
    page = await noc.get("/mail/quarantine")
    assert page.status_code == 200 and "new.person@acme.example" in page.text and "Please reboot rack 12" in page.text
    token = await page_csrf(noc, "/mail/quarantine")
    refused = await noc.post(f"/mail/quarantine/{queued['quarantine_id']}/accept", data={"client_id": ""})
    assert refused.status_code == 403  # no CSRF token
    bad = await noc.post(f"/mail/quarantine/{queued['quarantine_id']}/accept",
                         data={"client_id": "", "csrf_token": token})
    assert bad.status_code == 422 and await Incident.count() == 0
    done = await noc.post(f"/mail/quarantine/{queued['quarantine_id']}/accept",
                          data={"client_id": str(acme), "name": "New Person", "csrf_token": token})
    assert done.status_code == 303 and await Incident.count() == 1
    spam = await mail.process(RAW.replace(b"new.person@acme", b"spam@elsewhere").replace(b"q1@", b"q2@"), MailConfig())
    dropped = await noc.post(f"/mail/quarantine/{spam['quarantine_id']}/drop", data={"csrf_token": token})
    assert dropped.status_code == 303
    assert {r["status"] for r in await QuarantinedMail.select(QuarantinedMail.status)} == {"accepted", "dropped"}
    assert "Nothing in the quarantine." in (await noc.get("/mail/quarantine")).text


async def test_netbox_page_dry_run_for_admins_only(session_as):
    netbox = FakeNetbox()
    try:
        noc, _ = await session_as("noc")
        assert (await noc.get("/admin/netbox")).status_code == 403
        admin, _ = await session_as("admin")
        token = await page_csrf(admin, "/admin/netbox")
        report = await admin.post("/admin/netbox", data={"url": netbox.url, "token": TOKEN, "dry_run": "on",
                                                         "csrf_token": token})
        assert report.status_code == 200, report.text
        assert "Dry run: nothing was written" in report.text and "+ device mc-acme-1" in report.text
        wrong = await admin.post("/admin/netbox", data={"url": netbox.url, "token": "nope", "csrf_token": token})
        assert "refused the token" in wrong.text
    finally:
        netbox.close()


async def test_quarantine_in_a_real_browser_in_russian(browser_login, live_app):
    acme = await data.client("Acme", email="ops@acme.example")
    await mail.process(RAW, MailConfig())
    page, _ = await browser_login("noc", locale="ru-RU")
    await page.goto(live_app.url + "/mail/quarantine")
    assert "Карантин почты" in await page.title()
    await page.select_option("select[name=client_id]", str(acme))
    await page.click("form.accept-form button[type=submit]")
    await page.wait_for_load_state()
    assert "Карантин пуст." in await page.content()
    await screenshot(page, "mail-quarantine-ru")
    assert await Incident.count() == 1
