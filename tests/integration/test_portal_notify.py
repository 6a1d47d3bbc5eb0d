"""E-mail to clients through a real SMTP server (aiosmtpd on loopback): the
opening of an incident and public updates go only to the affected clients'
contacts who asked for them ("notify me"), in each contact's language, with
only their own equipment named; a client's own comment goes to the NOC only."""

from __future__ import annotations

import two_clients
from smtp_inbox import smtp_server

from accounts.viewer import Viewer
from incidents import notify, services
from incidents.tables import Notification

NOC = Viewer(user_id=None, email="noc@op.test", role="noc")


async def _deliver(port: int) -> None:
    config = notify.NotifyConfig(smtp_host="127.0.0.1", smtp_port=port, noc_email="noc@dc.example",
                                 public_url="https://desk.example")
    await notify.run_once(config)


async def test_public_updates_reach_only_contacts_who_asked_in_their_language(db, client_as):
    w = await two_clients.build()
    await Notification.delete(force=True)  # the world's own setup is not under test
    with smtp_server() as (inbox, port):
        await services.comment(NOC, w.shared_incident, "Power is back at Khimki node; rtr-bravo-1 is up",
                               "public")
        await services.comment(NOC, w.shared_incident, "INTERNAL-NOTE-4711 generator fuel", "internal")
        await _deliver(port)
    mail = inbox.by_recipient()
    assert set(mail) == {"noc@dc.example", "alice@alpha.test", "bob@bravo.test"}  # not andrew: no "notify me"
    (alice,) = mail["alice@alpha.test"]
    (bob,) = mail["bob@bravo.test"]
    alice_text, bob_text = alice.get_content(), bob.get_content()
    assert "Инцидент" in alice_text and "Ваше оборудование: rtr-alpha-1" in alice_text
    assert "Your equipment: rtr-bravo-1" in bob_text and "Incident" in bob_text
    for text, subject, other in ((alice_text, alice["Subject"], w.bravo_markers),
                                 (bob_text, bob["Subject"], w.alpha_markers)):
        leaked = [m for m in other if m.lower() in (text + subject).lower()]
        assert not leaked, leaked
        assert "https://desk.example/portal/incidents/" in text
    assert "rtr-bravo-1" in "".join(m.get_content() for m in mail["noc@dc.example"])  # the NOC sees it all


async def test_a_portal_request_is_mailed_to_its_own_client_only_and_client_comments_to_the_noc(db, client_as):
    w = await two_clients.build()
    await Notification.delete(force=True)
    alpha = await client_as("client", w.alpha)
    with smtp_server() as (inbox, port):
        r = await alpha.post("/api/v1/portal/requests", json={"category": "reboot", "asset_id": w.alpha_asset})
        assert r.status_code == 201, r.text
        await alpha.post(f"/api/v1/portal/incidents/{w.shared_incident}/comments", json={"body": "our office is dark"})
        await _deliver(port)
    mail = inbox.by_recipient()
    assert set(mail) == {"noc@dc.example", "alice@alpha.test"}
    assert [m["Subject"].split(":")[0] for m in mail["alice@alpha.test"]] == ["[rackcard] открыт"]
    assert any("our office is dark" in m.get_content() for m in mail["noc@dc.example"])
