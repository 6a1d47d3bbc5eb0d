"""Notifications against real receivers on loopback: a tiny asyncio HTTP server
for webhooks (signature checked) and aiosmtpd for e-mail; a receiver that is
down is retried with backoff and the incident is unaffected."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import socket

import incident_data as data
import pytest
from incident_data import T0

from accounts.viewer import Viewer
from incidents import admin, notify, services
from incidents.tables import Delivery, DeliveryAttempt, Incident

NOC = Viewer(user_id=None, email="noc@example.test", role="noc")


@pytest.fixture
def settings(settings):
    """The receivers here listen on loopback, which webhooks may target only when allowed."""
    return dataclasses.replace(settings, allow_private_webhooks=True)


@pytest.fixture(autouse=True)
def allow_loopback_webhooks(monkeypatch):
    monkeypatch.setattr(admin, "ALLOW_PRIVATE_WEBHOOKS", True)


class Receiver:
    """A minimal HTTP/1.1 server: records each POST (and its path), answers `status` with `body`."""

    def __init__(self, status: int = 200, body: bytes = b""):
        self.status = status
        self.body = body
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.paths: list[str] = []
        self.server: asyncio.AbstractServer | None = None

    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server:
            self.server.close()
            await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((headers, body))
        self.paths.append(lines[0].split(" ")[1])
        writer.write(f"HTTP/1.1 {self.status} X\r\nContent-Length: {len(self.body)}\r\nConnection: close\r\n"
                     f"Content-Type: application/json\r\n\r\n".encode() + self.body)
        await writer.drain()
        writer.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _incident(client_id: int) -> dict:
    return await services.create_manual(
        NOC, services.ManualIncident(title="Fiber cut to Acme", category="fiber", client_id=client_id,
                                     source="phone", priority="P2"), now=T0)


async def test_webhook_delivered_with_a_valid_signature(api):
    receiver = Receiver()
    port = await receiver.start()
    try:
        hook = await api.post("/api/v1/webhooks", json={"name": "noc-bot", "url": f"http://127.0.0.1:{port}/hook"})
        assert hook.status_code == 201, hook.text
        secret = hook.json()["secret"]
        assert "secret" not in (await api.get(f"/api/v1/webhooks/{hook.json()['id']}")).json()
        incident = await _incident(await data.client("Acme"))
        result = await notify.run_once(notify.NotifyConfig(), now=T0)
        assert result == {"deliveries_created": 1, "attempted": 1}
    finally:
        await receiver.stop()
    (headers, body), = receiver.requests
    assert headers["x-rackcard-event"] == "opened"
    assert notify.verify(secret, body, headers["x-rackcard-signature"])
    assert not notify.verify("another secret value", body, headers["x-rackcard-signature"])
    sent = json.loads(body)
    assert sent["event"] == "opened" and sent["incident"]["id"] == incident["id"]
    assert sent["incident"]["affected_clients"][0]["name"] == "Acme"
    log = (await api.get("/api/v1/webhooks/deliveries", params={"incident_id": incident["id"]})).json()["results"]
    assert log[0]["status"] == "delivered" and log[0]["attempts"][0]["status_code"] == 200


async def test_receiver_down_is_retried_with_backoff_and_the_incident_is_unaffected(api):
    port = _free_port()  # nothing listens there yet
    await api.post("/api/v1/webhooks", json={"name": "down", "url": f"http://127.0.0.1:{port}/", "events": ["opened"]})
    incident = await _incident(await data.client("Acme"))
    config = notify.NotifyConfig(backoff_s=(5, 20), max_attempts=4, timeout_s=2)

    await notify.run_once(config, now=T0)
    (delivery,) = await Delivery.select()
    assert delivery["status"] == "pending" and delivery["attempts"] == 1 and delivery["last_error"]
    # not due again before the backoff
    assert (await notify.run_once(config, now=T0 + dt.timedelta(seconds=4)))["attempted"] == 0
    # a receiver that answers 500 is a failure too
    receiver = Receiver(status=500)
    await receiver.start(port)
    try:
        assert (await notify.run_once(config, now=T0 + dt.timedelta(seconds=5)))["attempted"] == 1
        receiver.status = 200
        assert (await notify.run_once(config, now=T0 + dt.timedelta(seconds=5 + 19)))["attempted"] == 0
        assert (await notify.run_once(config, now=T0 + dt.timedelta(seconds=5 + 20)))["attempted"] == 1
    finally:
        await receiver.stop()
    (delivery,) = await Delivery.select()
    assert delivery["status"] == "delivered" and delivery["attempts"] == 3
    attempts = await DeliveryAttempt.select(DeliveryAttempt.ok, DeliveryAttempt.status_code).order_by(DeliveryAttempt.id)
    assert [(a["ok"], a["status_code"]) for a in attempts] == [(False, None), (False, 500), (True, 200)]
    assert len(receiver.requests) == 2
    # the incident never noticed, except for the record of who was told
    row = await Incident.select(Incident.status, Incident.title).where(Incident.id == incident["id"]).first()
    assert row == {"status": "new", "title": "Fiber cut to Acme"}
    timeline = (await services.get_incident(NOC, incident["id"]))["timeline"]
    told = [e for e in timeline if e["kind"] == "notification"]
    assert len(told) == 1 and told[0]["body"].startswith("opened sent to webhook")
    assert told[0]["visibility"] == "internal"


async def test_gives_up_after_max_attempts(db):
    port = _free_port()
    from incidents import admin
    from accounts.viewer import SYSTEM

    await admin.create_webhook(SYSTEM, {"name": "gone", "url": f"http://127.0.0.1:{port}/"})
    await _incident(await data.client())
    config = notify.NotifyConfig(backoff_s=(1,), max_attempts=2, timeout_s=2)
    await notify.run_once(config, now=T0)
    await notify.run_once(config, now=T0 + dt.timedelta(seconds=1))
    (delivery,) = await Delivery.select()
    assert delivery["status"] == "failed" and delivery["attempts"] == 2
    (incident,) = await Incident.select(Incident.id)
    told = [e for e in (await services.get_incident(NOC, incident["id"]))["timeline"] if e["kind"] == "notification"]
    assert len(told) == 1 and "NOT delivered" in told[0]["body"] and "after 2 attempts" in told[0]["body"]


async def test_email_to_the_noc_and_public_updates_to_client_contacts(db):
    from smtp_inbox import smtp_server

    with smtp_server() as (inbox, port):
        acme = await data.client("Acme", email="ops@acme.example")
        other = await data.client("Other", email="it@other.example")
        site = await data.site("datacenter")
        shared = await data.asset(site, "mc-shared", client_id=other)
        incident = await services.create_manual(
            NOC, services.ManualIncident(title="Fiber cut", category="fiber", client_id=acme, source="phone",
                                         asset_ids=(shared,), priority="P2"), now=T0)
        await services.comment(NOC, incident["id"], "internal: splice at km 3", "internal", now=T0)
        await services.escalate(NOC, incident["id"], now=T0)  # internal event: NOC only
        config = notify.NotifyConfig(smtp_host="127.0.0.1", smtp_port=port, noc_email="noc@dc.example",
                                     mail_from="rackcard@dc.example")
        await notify.run_once(config, now=T0)
    received = {(m.rcpt_tos[0], m.content.decode().split("Subject: ", 1)[1].split("\r\n", 1)[0].split(":")[0])
                for m in inbox.messages}
    assert received == {
        ("noc@dc.example", "[rackcard] opened"),
        ("ops@acme.example", "[rackcard] opened"),
        ("it@other.example", "[rackcard] opened"),
        ("noc@dc.example", "[rackcard] escalated"),
    }
    for m in inbox.messages:
        text = m.content.decode()
        assert "splice" not in text  # internal comments never go out
        if m.rcpt_tos[0] == "ops@acme.example":
            assert "Other" not in text  # nor other clients' names
    statuses = {d["status"] for d in await Delivery.select(Delivery.status)}
    assert statuses == {"delivered"}


async def test_the_background_loop_delivers_after_commit(db, settings):
    from incidents import background

    receiver = Receiver()
    port = await receiver.start()
    try:
        from accounts.viewer import SYSTEM
        from incidents import admin

        await admin.create_webhook(SYSTEM, {"name": "loop", "url": f"http://127.0.0.1:{port}/"})
        await _incident(await data.client())  # committed: the outbox row waits for the loop
        async with background.background(None, settings):
            for _ in range(100):  # the loop wakes every NOTIFY_S seconds
                if receiver.requests:
                    break
                await asyncio.sleep(0.1)
    finally:
        await receiver.stop()
    events = [h["x-rackcard-event"] for h, _ in receiver.requests]
    # the opening, once; the timers running beside may already have escalated this
    # incident (opened at T0, long past its response time) and sent that too
    assert events[0] == "opened" and events.count("opened") == 1 and set(events) <= {"opened", "escalated"}, events
