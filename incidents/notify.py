"""Notifications: webhooks (JSON, HMAC-SHA256 signature), chat targets
(Telegram bot, Slack/Mattermost incoming webhook; text from incidents.chat in
the target's language) and e-mail (SMTP via aiosmtplib) to the NOC and, for
public updates, to the affected clients' contacts — threaded per incident by
Message-ID (MailMessage), with the incident number in the subject.

The incident's transaction only writes an outbox row (`Notification`, see
services.enqueue). After commit, `run_once` — called by the background loop —
fans each row out into one `Delivery` per target and delivers the due ones,
outside any transaction, logging every attempt (`DeliveryAttempt`). A failed
delivery is retried with backoff; it never touches the incident.

Webhook requests carry:
    Content-Type: application/json
    X-Rackcard-Event: opened | escalated | breached | resolved | reopened | comment
    X-Rackcard-Delivery: <delivery id>   (the same on every retry: receivers dedup by it)
    X-Rackcard-Signature: sha256=<hex HMAC-SHA256 of the raw body with the endpoint's secret>
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json
import logging
import socket
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Sequence
from urllib.parse import urlparse

import aiosmtplib
import httpx

from accounts import secretbox
from database.transactions import atomic
from cmdb import addressing
from cmdb.tables import Contact
from incidents import admin, chat
from incidents.client_view import client_views
from incidents.services import add_entry
from incidents.tables import (
    AffectedClient,
    CheckState,
    Delivery,
    DeliveryAttempt,
    MailMessage,
    Notification,
    WebhookEndpoint,
)

log = logging.getLogger("rackcard.incidents.notify")
UTC = dt.timezone.utc
SIGNATURE_HEADER = "X-Rackcard-Signature"
BATTERY_MINUTES_KEY = "power:minutes_remaining"


@dataclass(frozen=True)
class NotifyConfig:
    smtp_host: str = ""  # "" = no e-mail
    smtp_port: int = 25
    mail_from: str = "rackcard@localhost"
    noc_email: str = ""
    public_url: str = ""
    backoff_s: tuple[float, ...] = (10, 30, 120, 600, 1800)  # wait after the 1st, 2nd, ... failure
    max_attempts: int = 10
    timeout_s: float = 10.0
    batch: int = 100
    lease_s: float = 120.0  # a claimed delivery is left alone this long by other workers

    @classmethod
    def from_settings(cls, settings) -> "NotifyConfig":
        """From rackcard.settings.Settings (read by attribute: incidents does not import rackcard)."""
        return cls(
            smtp_host=settings.smtp_host,
            smtp_port=settings.smtp_port,
            mail_from=settings.mail_from,
            noc_email=settings.noc_email,
            public_url=settings.public_url,
        )


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does (documented here, used by the tests)."""
    return hmac.compare_digest(sign(secret, body), header or "")


# ---------------------------------------------------------------- fan-out


async def expand(config: NotifyConfig, now: dt.datetime) -> int:
    """Turn new outbox rows into deliveries (one per webhook / e-mail address)."""
    rows = await Notification.select(Notification.id, Notification.incident, Notification.event,
                                     Notification.public).where(Notification.expanded == False).order_by(  # noqa: E712
        Notification.id).limit(config.batch)
    if not rows:
        return 0
    hooks = await WebhookEndpoint.select(WebhookEndpoint.id, WebhookEndpoint.events).where(
        WebhookEndpoint.active == True)  # noqa: E712
    made = 0
    for n in rows:
        targets: list[tuple[str, str]] = []
        for h in hooks:
            events = [e for e in h["events"].split(",") if e]
            if not events or n["event"] in events:
                targets.append(("webhook", str(h["id"])))
        if config.smtp_host:
            if config.noc_email:
                targets.append(("email", f"noc:{config.noc_email}"))
            if n["public"]:
                targets += [("email", t) for t in await _client_addresses(n["incident"])]
        async with atomic():
            claimed = await Notification.update({Notification.expanded: True}).where(
                (Notification.id == n["id"]) & (Notification.expanded == False)  # noqa: E712
            ).returning(Notification.id)
            if not claimed:
                continue  # another worker took it
            if targets:
                await Delivery.insert(*[
                    Delivery(notification=n["id"], channel=c, target=t, status="pending", attempts=0,
                             next_attempt_at=now)
                    for c, t in targets
                ])
        made += len(targets)
    return made


async def _client_addresses(incident_id: int) -> list[str]:
    """The affected clients' contacts that asked for incident e-mail ("notify me"),
    as `client:<client id>:<language>:<address>` targets."""
    client_ids = [r["client_id"] for r in await AffectedClient.select(AffectedClient.client_id).where(
        AffectedClient.incident == incident_id)]
    if not client_ids:
        return []
    seen: dict[str, str] = {}
    for r in await Contact.select(Contact.client, Contact.email_norm, Contact.language).where(
            Contact.client.is_in(client_ids) & (Contact.email_norm != "") & (Contact.notify == True)  # noqa: E712
    ).order_by(Contact.id):
        seen.setdefault(r["email_norm"], f"client:{r['client']}:{r['language'] or 'en'}:{r['email_norm']}")
    return list(seen.values())


# ---------------------------------------------------------------- delivery


async def deliver_due(config: NotifyConfig, now: dt.datetime, http: httpx.AsyncClient | None = None) -> int:
    """Attempt every delivery that is due; returns how many were attempted."""
    due = await Delivery.select(Delivery.id).where(
        (Delivery.status == "pending") & (Delivery.next_attempt_at <= now)
    ).order_by(Delivery.next_attempt_at).limit(config.batch)
    if not due:
        return 0
    own_client = http is None
    http = http or httpx.AsyncClient(timeout=config.timeout_s)
    attempted = 0
    try:
        for d in due:
            # Claim it (compare-and-set): several web replicas may run this loop.
            claimed = await Delivery.update(
                {Delivery.next_attempt_at: now + dt.timedelta(seconds=config.lease_s)}
            ).where((Delivery.id == d["id"]) & (Delivery.status == "pending")
                    & (Delivery.next_attempt_at <= now)).returning(Delivery.id)
            if not claimed:
                continue
            await _attempt(config, d["id"], now, http)
            attempted += 1
    finally:
        if own_client:
            await http.aclose()
    return attempted


async def _attempt(config: NotifyConfig, delivery_id: int, now: dt.datetime, http: httpx.AsyncClient) -> None:
    row = await Delivery.select(
        Delivery.id, Delivery.channel, Delivery.target, Delivery.attempts, Delivery.notification.event,
        Delivery.notification.payload, Delivery.notification.public, Delivery.notification.incident,
    ).where(Delivery.id == delivery_id).first()
    started = time.monotonic()
    status_code: int | None = None
    error = ""
    try:
        payload = json.loads(row["notification.payload"] or "{}")
        if row["channel"] == "webhook":
            status_code = await _post_webhook(http, int(row["target"]), row["id"], row["notification.event"], payload,
                                              config)
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        else:
            await _send_mail(config, row["target"], row["notification.event"], payload,
                             incident_id=row["notification.incident"], delivery_id=row["id"], now=now)
    except Exception as exc:  # noqa: BLE001 - any failure is logged and retried, never raised
        error = f"{type(exc).__name__}: {exc}" or type(exc).__name__
    ok = not error
    attempts = row["attempts"] + 1
    values = {Delivery.attempts: attempts, Delivery.last_error: error}
    if ok:
        values.update({Delivery.status: "delivered", Delivery.delivered_at: now})
    elif attempts >= config.max_attempts:
        values[Delivery.status] = "failed"
    else:
        wait = config.backoff_s[min(attempts - 1, len(config.backoff_s) - 1)] if config.backoff_s else 0
        values[Delivery.next_attempt_at] = now + dt.timedelta(seconds=wait)
    async with atomic():
        await Delivery.update(values).where(Delivery.id == delivery_id)
        await DeliveryAttempt.insert(DeliveryAttempt(
            delivery=delivery_id, at=now, ok=ok, status_code=status_code, error=error[:2000],
            duration_ms=int((time.monotonic() - started) * 1000)))
        if ok or values.get(Delivery.status) == "failed":
            # The incident's record says who was told what (an internal entry).
            await add_entry(
                row["notification.incident"], "notification",
                f"{row['notification.event']} {'sent' if ok else 'NOT delivered'} to {_describe(row['channel'], row['target'])}"
                + ("" if ok else f" after {attempts} attempts: {error}"),
                at=now, data={"delivery_id": delivery_id, "channel": row["channel"], "ok": ok, "attempts": attempts})
    if not ok:
        log.warning("delivery %s (%s %s) attempt %s failed: %s", delivery_id, row["channel"], row["target"],
                    attempts, error)


@dataclass(frozen=True)
class Recipient:
    audience: str  # noc | client
    address: str
    client_id: int | None = None
    language: str = "en"


def _recipient(target: str) -> Recipient:
    """An e-mail delivery's target: `noc:<address>` or `client:<id>:<language>:<address>`."""
    audience, _, rest = target.partition(":")
    if audience != "client":
        return Recipient(audience, rest)
    client_id, _, rest = rest.partition(":")
    language, _, address = rest.partition(":")
    return Recipient("client", address, int(client_id), language)


def _describe(channel: str, target: str) -> str:
    if channel == "webhook":
        return f"webhook #{target}"
    who = _recipient(target)
    return f"e-mail {who.address} ({who.audience})"


async def _post_webhook(http: httpx.AsyncClient, webhook_id: int, delivery_id: int, event: str, payload: dict,
                        config: NotifyConfig | None = None) -> int:
    """Post to one target; returns the HTTP status (2xx = delivered).

    webhook: the signed JSON payload · slack: `{"text": ...}` to a Slack or
    Mattermost incoming webhook · telegram: Bot API sendMessage to the chat
    (a 200 with `"ok": false` counts as a failure)."""
    hook = await WebhookEndpoint.select(
        WebhookEndpoint.url, WebhookEndpoint.secret, WebhookEndpoint.active, WebhookEndpoint.kind,
        WebhookEndpoint.chat_id, WebhookEndpoint.language,
    ).where(WebhookEndpoint.id == webhook_id).first()
    if hook is None or not hook["active"]:
        raise RuntimeError("webhook endpoint deleted or disabled")
    await _refuse_internal(hook["url"])
    secret = secretbox.open(hook["secret"])
    if hook["kind"] in ("slack", "telegram"):
        text = await _chat_text(config or NotifyConfig(), event, payload, hook["language"])
        if hook["kind"] == "slack":
            response = await http.post(hook["url"], json={"text": text})
            return response.status_code
        response = await http.post(f"{hook['url'].rstrip('/')}/bot{secret}/sendMessage", json={
            "chat_id": hook["chat_id"], "text": text, "disable_web_page_preview": True})
        if response.status_code == 200 and not _telegram_ok(response):
            return 502
        return response.status_code
    body = json.dumps(payload, default=str, separators=(",", ":")).encode()
    response = await http.post(hook["url"], content=body, headers={
        "Content-Type": "application/json",
        "X-Rackcard-Event": event,
        "X-Rackcard-Delivery": str(delivery_id),
        SIGNATURE_HEADER: sign(secret, body),
    })
    return response.status_code


async def _refuse_internal(url: str) -> None:
    """A webhook's host may have come to resolve to a loopback, link-local or
    metadata address since it was registered: checked again at every send."""
    if admin.ALLOW_PRIVATE_WEBHOOKS:
        return
    parsed = urlparse(url)
    host = parsed.hostname or ""
    reason = addressing.internal_host(host)
    if reason is None:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, parsed.port or 443, type=socket.SOCK_STREAM)
        except OSError:
            infos = []  # unresolvable: the send fails on its own
        reason = next((r for r in (addressing.internal_host(i[4][0]) for i in infos) if r), None)
    if reason:
        raise RuntimeError(f"refused: {host} is {reason} (RACKCARD_ALLOW_PRIVATE_WEBHOOKS)")


def _telegram_ok(response: httpx.Response) -> bool:
    try:
        return bool(response.json().get("ok"))
    except ValueError:
        return False


async def _chat_text(config: NotifyConfig, event: str, payload: dict, language: str) -> str:
    incident = payload.get("incident") or {}
    link = f"{config.public_url.rstrip('/')}/incidents/{incident.get('id')}" if config.public_url else ""
    minutes = await _battery_minutes(incident) if incident.get("category") == "power" else None
    return chat.message(event, payload, language, link=link, battery_minutes=minutes)


async def _battery_minutes(incident: dict) -> float | None:
    """The least battery time any UPS of the incident reports now (UPS-MIB
    upsEstimatedMinutesRemaining, check power:minutes_remaining); None if none says."""
    asset_ids = [a["asset_id"] for a in incident.get("affected_assets", []) if a.get("role") == "root"]
    if not asset_ids:
        return None
    values = []
    for r in await CheckState.select(CheckState.value).where(
            CheckState.asset.is_in(asset_ids) & (CheckState.key == BATTERY_MINUTES_KEY)):
        try:
            minutes = float(r["value"])
        except (TypeError, ValueError):
            continue
        if 0 < minutes < 65535:  # 65535 / 2^32-1 = "no estimate" on many agents
            values.append(minutes)
    return min(values) if values else None


def _mail(config: NotifyConfig, target: str, event: str, payload: dict,
          thread: "MailThread | None" = None) -> EmailMessage:
    """The NOC's mail: the whole summary. The subject carries the incident number
    (the e-mail intake threads replies by it, for the incident's own clients
    only) and `thread` the headers that make mail clients show every message of
    an incident as one conversation."""
    incident = payload.get("incident", {})
    subject = f"[rackcard] {event}: #{incident.get('id')} {incident.get('title', '')} ({incident.get('priority', '')})"
    lines = [
        f"Incident #{incident.get('id')}: {incident.get('title', '')}",
        f"Event: {event}",
        f"Status: {incident.get('status')}   Priority: {incident.get('priority')}   Category: {incident.get('category')}",
        f"Opened: {incident.get('opened_at')}",
    ]
    if incident.get("resolved_at"):
        lines.append(f"Resolved: {incident.get('resolved_at')}")
    if payload.get("comment"):
        lines += ["", payload["comment"]]
    lines += ["", f"Line: {incident.get('line')}   Source: {incident.get('source')}",
              "Affected assets: " + ", ".join(f"{a['name']} ({a['role']})" for a in incident.get("affected_assets", [])),
              "Affected clients: " + ", ".join(c["name"] for c in incident.get("affected_clients", []))]
    for key in ("breach", "from", "to"):
        if key in payload:
            lines.append(f"{key}: {payload[key]}")
    if config.public_url:
        lines += ["", f"{config.public_url.rstrip('/')}/incidents/{incident.get('id')}"]
    return _message(config, _recipient(target).address, subject, lines, event, thread)


def _message(config: NotifyConfig, address: str, subject: str, lines: list[str], event: str,
             thread: "MailThread | None") -> EmailMessage:
    message = EmailMessage()
    message["From"] = config.mail_from
    message["To"] = address
    message["Subject"] = subject
    if thread is not None:
        message["Message-ID"] = f"<{thread.message_id}>"
        message["In-Reply-To"] = f"<{thread.root}>"
        message["References"] = " ".join(f"<{m}>" for m in thread.references)
    if event != "comment":
        # Written by the machine, not by a person (RFC 3834): auto-responders must not answer it.
        message["Auto-Submitted"] = "auto-generated"
        message["X-Auto-Response-Suppress"] = "All"
    message.set_content("\n".join(lines) + "\n")
    return message


#: Client e-mail in the contact's language (cmdb.services.CONTACT_LANGUAGES).
CLIENT_TEXT = {
    "en": {
        "incident": "Incident", "event": "Event", "status": "Status", "priority": "Priority",
        "category": "Category", "opened_at": "Opened", "resolved_at": "Resolved", "assets": "Your equipment",
        "events": {"opened": "opened", "resolved": "resolved", "reopened": "reopened", "comment": "update"},
        "statuses": {"new": "new", "acknowledged": "acknowledged", "in_progress": "in progress",
                     "pending_client": "waiting for you", "resolved": "resolved", "closed": "closed"},
        "categories": {"fiber": "fiber line", "power": "power", "equipment": "equipment", "reboot": "reboot",
                       "request": "request", "other": "other"},
    },
    "ru": {
        "incident": "Инцидент", "event": "Событие", "status": "Статус", "priority": "Приоритет",
        "category": "Категория", "opened_at": "Открыт", "resolved_at": "Решён", "assets": "Ваше оборудование",
        "events": {"opened": "открыт", "resolved": "решён", "reopened": "открыт снова", "comment": "новости"},
        "statuses": {"new": "новый", "acknowledged": "принят", "in_progress": "в работе",
                     "pending_client": "ждёт вашего ответа", "resolved": "решён", "closed": "закрыт"},
        "categories": {"fiber": "оптическая линия", "power": "электропитание", "equipment": "оборудование",
                       "reboot": "перезагрузка", "request": "заявка", "other": "другое"},
    },
}


async def _client_mail(config: NotifyConfig, who: Recipient, event: str, payload: dict,
                       thread: "MailThread | None" = None) -> EmailMessage:
    """A client contact's mail: public facts only, in the contact's language, with
    other clients' names and their equipment masked and only this client's assets
    listed (never internal notes, support lines or other clients). The subject
    keeps `#<id>` so that a reply threads to the incident."""
    incident = payload.get("incident", {})
    text = CLIENT_TEXT.get(who.language, CLIENT_TEXT["en"])
    view = (await client_views([incident["id"]], who.client_id))[incident["id"]] if incident.get("id") else None
    mask = view.mask if view else (lambda t: t or "")
    title = mask(incident.get("title", ""))
    label = text["events"].get(event, event)
    lines = [
        f"{text['incident']} #{incident.get('id')}: {title}",
        f"{text['event']}: {label}",
        f"{text['status']}: {text['statuses'].get(incident.get('status'), incident.get('status'))}   "
        f"{text['priority']}: {incident.get('priority')}   "
        f"{text['category']}: {text['categories'].get(incident.get('category'), incident.get('category'))}",
        f"{text['opened_at']}: {incident.get('opened_at')}",
    ]
    if incident.get("resolved_at"):
        lines.append(f"{text['resolved_at']}: {incident.get('resolved_at')}")
    if view and view.own_assets:
        lines.append(f"{text['assets']}: " + ", ".join(a["name"] for a in view.own_assets))
    if payload.get("comment"):
        lines += ["", mask(payload["comment"])]
    if config.public_url:
        lines += ["", f"{config.public_url.rstrip('/')}/portal/incidents/{incident.get('id')}"]
    return _message(config, who.address, f"[rackcard] {label}: #{incident.get('id')} {title}", lines, event, thread)


@dataclass(frozen=True)
class MailThread:
    """Threading headers of one outgoing mail of an incident."""

    message_id: str  # this mail's id (no angle brackets)
    root: str  # the incident's first mail: the client's own, or a fixed id per incident
    references: tuple[str, ...]  # root first, then the latest messages of the thread


def _mail_domain(config: NotifyConfig) -> str:
    return config.mail_from.rsplit("@", 1)[-1].strip(" >") or "localhost"


async def _thread(config: NotifyConfig, incident_id: int, delivery_id: int) -> MailThread:
    """Every mail of an incident refers to the same root: the first mail that came
    in for it (so the client's own mail client threads our answers under their
    message), or `<rackcard.incident.N@domain>` when it did not start by mail."""
    domain = _mail_domain(config)
    known = await MailMessage.select(MailMessage.message_id, MailMessage.direction).where(
        MailMessage.incident == incident_id).order_by(MailMessage.at).order_by(MailMessage.id)
    incoming = [r["message_id"] for r in known if r["direction"] == "in"]
    root = incoming[0] if incoming else f"rackcard.incident.{incident_id}@{domain}"
    latest = [r["message_id"] for r in known[-5:] if r["message_id"] != root]
    return MailThread(message_id=f"rackcard.{incident_id}.{delivery_id}@{domain}", root=root,
                      references=(root, *latest))


async def _send_mail(config: NotifyConfig, target: str, event: str, payload: dict, *, incident_id: int,
                     delivery_id: int, now: dt.datetime) -> None:
    if not config.smtp_host:
        raise RuntimeError("RACKCARD_SMTP_HOST is not set")
    thread = await _thread(config, incident_id, delivery_id)
    who = _recipient(target)
    message = await _client_mail(config, who, event, payload, thread) if who.audience == "client" \
        else _mail(config, target, event, payload, thread)
    await aiosmtplib.send(message, hostname=config.smtp_host,
                          port=config.smtp_port, timeout=config.timeout_s, start_tls=False, use_tls=False)
    # Remembered: a reply naming this Message-ID threads to the incident (mail intake).
    await MailMessage.insert(MailMessage(message_id=thread.message_id, incident=incident_id, direction="out",
                                         address=who.address[:254], at=now)).on_conflict(action="DO NOTHING")


async def run_once(config: NotifyConfig, now: dt.datetime | None = None,
                   http: httpx.AsyncClient | None = None) -> dict:
    now = now or dt.datetime.now(UTC)
    made = await expand(config, now)
    attempted = await deliver_due(config, now, http)
    return {"deliveries_created": made, "attempted": attempted}


async def pending(incident_id: int | None = None) -> Sequence[dict]:
    q = Delivery.select().where(Delivery.status == "pending")
    if incident_id is not None:
        q = q.where(Delivery.notification.incident == incident_id)
    return await q
