"""E-mail in and out as one thread per incident (issue 12), over real SMTP on
loopback: aiosmtplib sends to rackcard's aiosmtpd listener; rackcard's replies
go to a second aiosmtpd server acting as the client's mailbox. The IMAP path
runs against aioimaplib's loopback IMAP server."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import socket
from email.message import EmailMessage

import aiosmtplib
import incident_data as data
import pytest
import schema_check
from incident_data import T0

from accounts.viewer import Viewer
from incidents import notify, services
from incidents.tables import Incident, TimelineEntry
from integrations.mail import MailConfig
from integrations.mail_intake import ImapSettings, poll_imap_once, smtp_listener
from integrations.tables import MailAttachment, QuarantinedMail

NOC = Viewer(user_id=None, email="noc@dc.example", role="noc")
OURS = "rackcard@dc.example"
CONFIG = MailConfig(own_addresses=(OURS,), max_attachment_bytes=50_000)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """The client's mail server: keeps what rackcard sends."""

    def __init__(self):
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content,
                                                      policy=email.policy.default))
        return "250 OK"


@pytest.fixture
def mailbox():
    from aiosmtpd.controller import Controller

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=_free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
async def intake(db):
    port = _free_port()
    async with smtp_listener(CONFIG, "127.0.0.1", port) as (_, handler):
        handler.port = port
        yield handler


def message(sender: str, subject: str, body: str, *, message_id: str, in_reply_to: str | None = None,
            references: str | None = None, **headers) -> EmailMessage:
    m = EmailMessage()
    m["From"] = sender
    m["To"] = "support@dc.example"
    m["Subject"] = subject
    m["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        m["In-Reply-To"] = in_reply_to
    if references:
        m["References"] = references
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    m.set_content(body)
    return m


async def send(intake, m: EmailMessage, sender: str | None = None) -> dict:
    await aiosmtplib.send(m, hostname="127.0.0.1", port=intake.port, sender=sender, start_tls=False)
    return intake.outcomes[-1]


async def _timeline(incident_id: int) -> list[dict]:
    return await TimelineEntry.select().where(TimelineEntry.incident == incident_id).order_by(TimelineEntry.id)


async def test_mail_opens_threads_and_replies_in_one_thread(intake, mailbox):
    acme = await data.client("Acme", email="ops@acme.example")
    await data.client("Other", email="it@other.example")
    config = notify.NotifyConfig(smtp_host="127.0.0.1", smtp_port=mailbox.port, mail_from=OURS)

    # 1. A known contact's mail opens an incident for that client.
    first = await send(intake, message("Ann <ops@acme.example>", "No internet at office 3",
                                       "Our link is down since 9:40.", message_id="m1@acme.example"))
    assert first["outcome"] == "opened"
    incident_id = first["incident_id"]
    incident = await services.get_incident(NOC, incident_id)
    assert incident["source"] == "email" and [c["client_id"] for c in incident["affected_clients"]] == [acme]

    # 2. rackcard's answer ("opened") reaches the client's mailbox threaded under their mail.
    await notify.run_once(config, now=T0)
    (opened,) = [m for m in mailbox.messages if m["To"] == "ops@acme.example"]
    assert f"#{incident_id}" in opened["Subject"]
    assert opened["In-Reply-To"] == "<m1@acme.example>"
    assert opened["References"].split()[0] == "<m1@acme.example>"
    assert opened["Message-ID"].startswith(f"<rackcard.{incident_id}.") and opened["Auto-Submitted"] == "auto-generated"

    # 3. Their reply to our mail appends to the same incident, quoted history stripped.
    reply = await send(intake, message(
        "ops@acme.example", "Re: " + opened["Subject"],
        "Still down, the LED on the converter is red.\n\nOn Mon, 23 Nov 2026 rackcard wrote:\n> Incident #1\n> old text\n",
        message_id="m2@acme.example", in_reply_to=opened["Message-ID"],
        references=f"<m1@acme.example> {opened['Message-ID']}"))
    assert reply == {**reply, "outcome": "appended", "incident_id": incident_id}
    bodies = [e["body"] for e in await _timeline(incident_id) if e["kind"] == "comment"]
    assert bodies == ["Still down, the LED on the converter is red."]

    # 4. A public comment by staff goes out threaded too.
    await services.comment(NOC, incident_id, "An engineer is on the way.", "public", now=T0)
    await notify.run_once(config, now=T0 + dt.timedelta(seconds=5))
    comment_mail = [m for m in mailbox.messages if m["To"] == "ops@acme.example"][-1]
    assert "An engineer is on the way." in comment_mail.get_content()
    assert comment_mail["In-Reply-To"] == "<m1@acme.example>"
    assert "<m2@acme.example>" in comment_mail["References"] and comment_mail["Auto-Submitted"] is None
    assert comment_mail["Message-ID"] != opened["Message-ID"]

    # 5. The client answering an incident that waits for them, or is resolved, puts it back in work.
    for to in ("acknowledged", "in_progress", "pending_client"):
        await services.transition(NOC, incident_id, to, now=T0)
    await send(intake, message("ops@acme.example", "Re: " + opened["Subject"], "Here is the photo you asked for.",
                               message_id="m3@acme.example", in_reply_to=comment_mail["Message-ID"]))
    assert (await services.get_incident(NOC, incident_id))["status"] == "in_progress"
    await services.transition(NOC, incident_id, "resolved", now=T0)
    await send(intake, message("ops@acme.example", "Re: " + opened["Subject"], "It broke again.",
                               message_id="m4@acme.example", in_reply_to="<m3@acme.example>"))
    assert (await services.get_incident(NOC, incident_id))["status"] == "in_progress"

    # 6. Another client's contact naming this incident (number in the subject, even a
    #    reply to our Message-ID) never touches it: a new incident for their own client.
    before = len(await _timeline(incident_id))
    foreign = await send(intake, message("it@other.example", f"Re: [rackcard] opened: #{incident_id} No internet",
                                         "Is this about us?", message_id="o1@other.example"))
    forged = await send(intake, message("it@other.example", "Re: something", "And this?", message_id="o2@other.example",
                                        in_reply_to=opened["Message-ID"]))
    assert foreign["outcome"] == forged["outcome"] == "opened"
    assert len({incident_id, foreign["incident_id"], forged["incident_id"]}) == 3
    assert len(await _timeline(incident_id)) == before
    notes = [e["body"] for e in await _timeline(foreign["incident_id"]) if e["kind"] == "event"]
    assert any(f"named incident #{incident_id}" in n and "not an incident of the sender's client" in n for n in notes)


async def test_auto_replies_and_bounces_open_nothing_and_are_never_answered(intake, mailbox):
    await data.client("Acme", email="ops@acme.example")
    out_of_office = message("ops@acme.example", "Automatic reply: No internet", "I am on holiday.",
                            message_id="ooo@acme.example", Auto_Submitted="auto-replied")
    assert (await send(intake, out_of_office))["outcome"] == "ignored"
    bulk = message("ops@acme.example", "Newsletter", "News.", message_id="n@acme.example", Precedence="bulk")
    assert (await send(intake, bulk))["outcome"] == "ignored"
    dsn = (b"From: MAILER-DAEMON@mx.acme.example\r\nTo: support@dc.example\r\n"
           b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn1@mx.acme.example>\r\n"
           b"MIME-Version: 1.0\r\n"
           b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n"
           b"--b1\r\nContent-Type: text/plain\r\n\r\nThis is the mail system.\r\n"
           b"--b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.example\r\n\r\n"
           b"--b1--\r\n")
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=intake.port, start_tls=False) as smtp:
        await smtp.sendmail("", ["support@dc.example"], dsn)  # MAIL FROM:<> (a bounce)
    result = intake.outcomes[-1]
    assert result["outcome"] == "ignored"
    ours = message(OURS, "[rackcard] opened: #1 x", "loop?", message_id="self@dc.example")
    assert (await send(intake, ours))["outcome"] == "ignored"
    assert await Incident.count() == 0 and await QuarantinedMail.count() == 0
    await notify.run_once(notify.NotifyConfig(smtp_host="127.0.0.1", smtp_port=mailbox.port, mail_from=OURS), now=T0)
    assert mailbox.messages == []


async def test_unknown_senders_are_quarantined_then_accepted_or_dropped(intake, api, app):
    acme = await data.client("Acme", email="ops@acme.example")
    q1 = await send(intake, message("new.person@acme.example", "Please reboot rack 12", "Thanks",
                                    message_id="u1@acme.example"))
    q2 = await send(intake, message("spam@elsewhere.example", "Cheap watches", "...", message_id="s1@elsewhere.example"))
    assert q1["outcome"] == q2["outcome"] == "quarantined"
    assert await Incident.count() == 0
    # The same message again (a resend) is not quarantined twice.
    assert (await send(intake, message("new.person@acme.example", "Please reboot rack 12", "Thanks",
                                       message_id="u1@acme.example")))["outcome"] == "duplicate"

    listed = (await api.get("/api/v1/mail/quarantine")).json()
    assert listed["count"] == 2 and "raw" not in listed["results"][0]
    bad = await api.post(f"/api/v1/mail/quarantine/{q1['quarantine_id']}/accept", json={"client_id": 999})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "client_id"
    assert (await api.get("/api/v1/contacts", params={"client_id": acme})).json()["count"] == 1  # nothing changed

    accepted = await api.post(f"/api/v1/mail/quarantine/{q1['quarantine_id']}/accept",
                              json={"client_id": acme, "name": "New Person"})
    assert accepted.status_code == 200, accepted.text
    schema_check.conforms(schema_check.document(app), accepted)  # the answer is what the document says
    (done,) = accepted.json()["processed"]
    assert done["outcome"] == "opened"
    incident = (await api.get(f"/api/v1/incidents/{done['incident_id']}")).json()
    assert incident["title"] == "Please reboot rack 12" and incident["affected_clients"][0]["client_id"] == acme
    assert accepted.json()["contact"]["email"] == "new.person@acme.example"

    dropped = await api.post(f"/api/v1/mail/quarantine/{q2['quarantine_id']}/drop")
    assert dropped.status_code == 200
    assert (await api.post(f"/api/v1/mail/quarantine/{q2['quarantine_id']}/drop")).status_code == 409
    assert await Incident.count() == 1
    assert (await api.get("/api/v1/mail/quarantine")).json()["count"] == 0


async def test_attachments_are_kept_within_the_size_and_type_limits(intake, api):
    await data.client("Acme", email="ops@acme.example")
    m = message("ops@acme.example", "Photo of the rack", "See attached.", message_id="a1@acme.example")
    m.add_attachment(b"\x89PNG fake image", maintype="image", subtype="png", filename="rack.png")
    m.add_attachment(b"MZ" + b"\0" * 100, maintype="application", subtype="x-msdownload", filename="tool.exe")
    m.add_attachment(b"%PDF" + b"x" * 60_000, maintype="application", subtype="pdf", filename="huge.pdf")
    result = await send(intake, m)
    assert result["outcome"] == "opened" and result["attachments"] == 1
    assert [r.split(":")[0] for r in result["refused"]] == ["tool.exe", "huge.pdf"]
    files = (await api.get(f"/api/v1/incidents/{result['incident_id']}/attachments")).json()
    assert [(f["filename"], f["content_type"], f["size"]) for f in files] == [("rack.png", "image/png", 15)]
    got = await api.get(f"/api/v1/incidents/{result['incident_id']}/attachments/{files[0]['id']}")
    assert got.content == b"\x89PNG fake image" and got.headers["content-type"].startswith("image/png")
    assert await MailAttachment.count() == 1


async def test_the_imap_poller_files_unseen_mail_once(db):
    from aioimaplib.imap_testing_server import Mail, MockImapServer

    await data.client("Acme", email="ops@acme.example")
    imap = MockImapServer()
    port = _free_port()
    server = await imap.run_server(host="127.0.0.1", port=port)
    try:
        imap.receive(Mail.create(["support@dc.example"], mail_from="ops@acme.example", subject="Router down",
                                 content="Router at site B is down.", message_id="i1@acme.example"),
                     imap_user="support")
        imap.receive(Mail.create(["support@dc.example"], mail_from="stranger@nowhere.example", subject="Hello",
                                 content="Who are you?", message_id="i2@nowhere.example"), imap_user="support")
        settings = ImapSettings(host="127.0.0.1", port=port, user="support", password="pw", ssl=False)
        outcomes = await poll_imap_once(settings, CONFIG)
        assert sorted(o["outcome"] for o in outcomes) == ["opened", "quarantined"]
        # Marked seen: the next round fetches nothing.
        assert await poll_imap_once(settings, CONFIG) == []
    finally:
        server.close()
        await server.wait_closed()
    (incident,) = await Incident.select(Incident.title, Incident.source)
    assert incident == {"title": "Router down", "source": "email"}


async def test_serve_starts_the_intake_the_settings_choose(db, settings):
    import dataclasses

    from integrations import background
    from rackcard.settings import Settings, SettingsError

    await data.client("Acme", email="ops@acme.example")
    port = _free_port()
    chosen = dataclasses.replace(settings, mail_intake="smtp", mail_listen_port=port, mail_from=OURS)
    async with background.background(None, chosen):
        await aiosmtplib.send(message("ops@acme.example", "Rack door broken", "Please fix.", message_id="b1@acme.example"),
                              hostname="127.0.0.1", port=port, start_tls=False)
    (incident,) = await Incident.select(Incident.title, Incident.source)
    assert incident == {"title": "Rack door broken", "source": "email"}
    with pytest.raises(SettingsError, match="RACKCARD_MAIL_INTAKE"):
        Settings.from_env({"RACKCARD_SECRET_KEY": "k" * 40, "RACKCARD_MAIL_INTAKE": "pop3"})
    with pytest.raises(SettingsError, match="RACKCARD_IMAP_HOST"):
        Settings.from_env({"RACKCARD_SECRET_KEY": "k" * 40, "RACKCARD_MAIL_INTAKE": "imap"})
