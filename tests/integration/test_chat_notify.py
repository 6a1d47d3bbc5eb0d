"""Chat notifications (issue 12): a Telegram bot target and a Slack/Mattermost
incoming-webhook target next to webhooks and e-mail — same outbox, retries and
per-event filters — against loopback HTTP servers speaking their APIs."""

from __future__ import annotations

import asyncio
import json

import incident_data as data
from incident_data import T0
from test_incident_notify import Receiver, _free_port

from accounts.viewer import SYSTEM
from incidents import chat, notify
from incidents.checks import record_observations
from incidents.tables import Delivery, Incident

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


async def _ups_on_battery() -> tuple[int, list[str]]:
    """A UPS on battery with 42 minutes left, feeding two clients' converters that went silent."""
    site = await data.site("remote", "Node Lenina 5")
    ups = await data.asset(site, "ups-lenina", kind="ups")
    names, silent = [], []
    for name in ("Acme", "Globex"):
        client = await data.client(name)
        mc = await data.asset(site, f"mc-{name.lower()}", client_id=client)
        await data.depends(mc, ups, "power")
        await data.service(client, site, mc)
        names.append(name)
        silent.append({"asset_id": mc, "key": "reachability", "state": "critical", "observed_at": T0.isoformat(),
                       "source": "trap", "message": "no answer"})
    await record_observations({"batch_id": "ups-1", "observations": [*silent,
        {"asset_id": ups, "key": "power:source", "state": "critical", "observed_at": T0.isoformat(), "source": "trap",
         "message": "on battery"},
        {"asset_id": ups, "key": "power:minutes_remaining", "state": "ok", "observed_at": T0.isoformat(),
         "value": "42", "number": 42},
    ]}, SYSTEM, now=T0)
    return ups, names


async def test_telegram_and_slack_targets_in_their_language_and_a_failing_target_blocks_nothing(api):
    telegram = Receiver(200, b'{"ok":true,"result":{"message_id":7}}')
    slack = Receiver(200, b"ok")
    broken_bot = Receiver(200, b'{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}')
    ports = [await r.start() for r in (telegram, slack, broken_bot)]

    async def never_answers(reader, writer):
        await asyncio.sleep(3600)

    silent = await asyncio.start_server(never_answers, "127.0.0.1", 0)
    silent_port = silent.sockets[0].getsockname()[1]
    try:
        targets = [
            {"name": "noc-telegram", "kind": "telegram", "url": f"http://127.0.0.1:{ports[0]}", "secret": TOKEN,
             "chat_id": "-100200300", "language": "ru"},
            {"name": "noc-slack", "kind": "slack", "url": f"http://127.0.0.1:{ports[1]}/hooks/T1/B2/x"},
            {"name": "wrong-chat", "kind": "telegram", "url": f"http://127.0.0.1:{ports[2]}", "secret": TOKEN,
             "chat_id": "@nowhere"},
            {"name": "mattermost-down", "kind": "slack", "url": f"http://127.0.0.1:{_free_port()}/hooks/abc"},
            {"name": "bot-api-hangs", "kind": "telegram", "url": f"http://127.0.0.1:{silent_port}", "secret": TOKEN,
             "chat_id": "42"},
            {"name": "only-resolved", "kind": "slack", "url": f"http://127.0.0.1:{ports[1]}/hooks/resolved",
             "events": ["resolved"]},
        ]
        for t in targets:
            created = await api.post("/api/v1/webhooks", json=t)
            assert created.status_code == 201, created.text
        _, names = await _ups_on_battery()
        assert await Incident.count() == 1
        # A target that accepts and never answers costs its own timeout, nothing more.
        config = notify.NotifyConfig(public_url="https://rackcard.example", timeout_s=0.5)
        result = await notify.run_once(config, now=T0)
    finally:
        for r in (telegram, slack, broken_bot):
            await r.stop()
        silent.close()
    assert result == {"deliveries_created": 5, "attempted": 5}  # only-resolved filtered out

    (incident,) = await Incident.select(Incident.id)
    (path,), ((_, body),) = telegram.paths, telegram.requests
    assert path == f"/bot{TOKEN}/sendMessage"
    sent = json.loads(body)
    assert sent["chat_id"] == "-100200300"
    assert f"Инцидент #{incident['id']} открыт" in sent["text"]
    assert "Батарея: осталось около 42 мин" in sent["text"] and "категория питание" in sent["text"]
    assert all(n in sent["text"] for n in names), sent["text"]
    assert f"https://rackcard.example/incidents/{incident['id']}" in sent["text"]

    (slack_path,), ((_, slack_body),) = slack.paths, slack.requests
    assert slack_path == "/hooks/T1/B2/x"
    text = json.loads(slack_body)["text"]
    assert f"Incident #{incident['id']} opened" in text and "Battery: about 42 min left" in text
    assert "Affected clients: Acme, Globex" in text

    by_status = {}
    for d in await Delivery.select(Delivery.status, Delivery.attempts, Delivery.last_error):
        by_status.setdefault(d["status"], []).append(d)
    assert len(by_status["delivered"]) == 2
    # The three failing targets wait for their retry; the others were delivered all the same.
    assert len(by_status["pending"]) == 3 and all(d["attempts"] == 1 for d in by_status["pending"])


async def test_chat_targets_are_validated(api):
    no_chat = await api.post("/api/v1/webhooks", json={"name": "t", "kind": "telegram", "secret": TOKEN})
    assert no_chat.status_code == 422 and no_chat.json()["errors"][0]["field"] == "chat_id"
    bad_token = await api.post("/api/v1/webhooks", json={"name": "t", "kind": "telegram", "chat_id": "1",
                                                         "secret": "not-a-token-at-all"})
    assert bad_token.status_code == 422 and bad_token.json()["errors"][0]["field"] == "secret"
    bad_language = await api.post("/api/v1/webhooks", json={"name": "s", "kind": "slack", "url": "https://x.example/h",
                                                            "language": "de"})
    assert bad_language.status_code == 422 and bad_language.json()["errors"][0]["field"] == "language"
    bad_kind = await api.post("/api/v1/webhooks", json={"name": "s", "kind": "irc", "url": "https://x.example/h"})
    assert bad_kind.status_code == 422


def test_chat_messages_without_battery_or_clients():
    payload = {"incident": {"id": 5, "title": "Fiber cut", "priority": "P2", "category": "fiber",
                            "status": "resolved", "affected_clients": []}}
    en = chat.message("resolved", payload, "en")
    assert en.splitlines()[0] == "✅ Incident #5 resolved: Fiber cut" and "No clients affected" in en
    assert "Battery" not in en
    ru = chat.message("resolved", payload, "ru")
    assert "Инцидент #5 решён" in ru and "категория оптика" in ru and "Клиенты не затронуты" in ru
