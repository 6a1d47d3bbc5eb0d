"""E-mail intake: one message in -> an incident, a reply on one, the
quarantine, or nothing. The SMTP listener and the IMAP poller
(integrations.mail_intake) both hand every message to `process`.

The order of the rules, and why:
1. Machine mail (auto-replies, bounces, lists) and our own mail: ignored —
   never an incident, never answered, so no loops.
2. A Message-ID seen before: ignored (a poller that fetches twice, a resend).
3. The sender must be a contact (-> their client). Unknown senders go to the
   quarantine: staff accept (-> a contact of a client, then the mail is
   processed) or drop; they never open incidents.
4. A reply is threaded by In-Reply-To / References (Message-IDs of the
   incident's mail, both directions), else by the incident number our
   subjects carry — either way ONLY if the sender belongs to a client of that
   incident. Otherwise it opens a new incident for the sender's own client and
   notes the mismatch (one client's mail never lands on another's incident).
5. The new text (quoted history stripped) becomes a public timeline entry;
   attachments within the size and type limits are kept, the others noted.
   A reply on an incident waiting for the client, or resolved, puts it back
   in work (in_progress).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from database.transactions import atomic
from accounts.errors import Conflict, Forbidden, Invalid, NotFound
from accounts.viewer import Viewer
from cmdb import services as cmdb
from cmdb.tables import Contact
from incidents import services, workflow
from incidents.tables import AffectedClient, Incident, MailMessage
from integrations import mailparse
from integrations.mailparse import ParsedMail
from integrations.tables import MailAttachment, QuarantinedMail

log = logging.getLogger("rackcard.integrations.mail")
UTC = dt.timezone.utc
QUARANTINE_LIST_LIMIT = 500


@dataclass(frozen=True)
class MailConfig:
    own_addresses: tuple[str, ...] = ()  # our From address(es): mail from them is our own, ignored
    max_attachment_bytes: int = 10_000_000
    max_attachments: int = 20
    attachment_types: tuple[str, ...] = ("image/*", "application/pdf", "text/plain", "text/csv")

    @classmethod
    def from_settings(cls, settings) -> "MailConfig":
        """From rackcard.settings.Settings (read by attribute)."""
        return cls(
            own_addresses=tuple(a.strip().lower() for a in (settings.mail_from, settings.noc_email) if a),
            max_attachment_bytes=settings.mail_max_attachment_bytes,
            attachment_types=settings.mail_attachment_types,
        )


def _intake_viewer(sender: str) -> Viewer:
    """Who the service layer sees when mail opens an incident: the sender's
    address, with the rights to open one (checked here, not by a role)."""
    return Viewer(user_id=None, email=sender, role="noc")


async def process(raw: bytes, config: MailConfig, *, envelope_from: str | None = None,
                  now: dt.datetime | None = None) -> dict:
    """Handle one message. Returns {"outcome": opened|appended|quarantined|ignored|duplicate, ...}."""
    now = now or dt.datetime.now(UTC)
    mail = mailparse.parse(raw, envelope_from)
    if mail.automatic:
        log.info("mail from %s ignored: %s", mail.sender or "?", mail.automatic)
        return {"outcome": "ignored", "reason": mail.automatic}
    if not mail.sender:
        return {"outcome": "ignored", "reason": "no From address"}
    if mail.sender in config.own_addresses:
        return {"outcome": "ignored", "reason": "our own address"}
    async with atomic():
        if mail.message_id and (
            await MailMessage.exists().where(MailMessage.message_id == mail.message_id)
            or await QuarantinedMail.exists().where((QuarantinedMail.message_id == mail.message_id)
                                                    & (QuarantinedMail.status != "accepted"))):
            return {"outcome": "duplicate", "message_id": mail.message_id}
        clients = await _clients_of(mail.sender)
        if not clients:
            row = await QuarantinedMail.insert(QuarantinedMail(
                message_id=mail.message_id, sender=mail.sender, subject=mail.subject, body=mail.text[:20000],
                raw=raw, received_at=now, status="pending")).returning(QuarantinedMail.id)
            log.info("mail from unknown sender %s quarantined (#%s)", mail.sender, row[0]["id"])
            return {"outcome": "quarantined", "quarantine_id": row[0]["id"]}
        return await _file(mail, clients, config, now)


async def _clients_of(address: str) -> list[int]:
    rows = await Contact.select(Contact.client).where(Contact.email_norm == address).order_by(Contact.id)
    return list(dict.fromkeys(r["client"] for r in rows))


async def _thread(mail: ParsedMail, clients: list[int]) -> tuple[int | None, str]:
    """(incident to append to, or None; a note when a named incident was refused)."""
    candidates: list[tuple[int, str]] = []
    if mail.replies_to:
        known = {r["message_id"]: r["incident"] for r in await MailMessage.select(
            MailMessage.message_id, MailMessage.incident).where(MailMessage.message_id.is_in(mail.replies_to))}
        candidates += [(known[m], f"reply to <{m}>") for m in mail.replies_to if m in known]
    if mail.incident_number is not None:
        candidates.append((mail.incident_number, f"incident number #{mail.incident_number} in the subject"))
    for incident_id, how in candidates:
        row = await Incident.select(Incident.id, Incident.status).where(Incident.id == incident_id).first()
        if row is None:
            continue
        theirs = {r["client_id"] for r in await AffectedClient.select(AffectedClient.client_id).where(
            AffectedClient.incident == incident_id)}
        if not theirs & set(clients):
            return None, (f"The mail named incident #{incident_id} ({how}), which is not an incident of the "
                          f"sender's client: a new incident was opened instead.")
        if row["status"] == workflow.CLOSED:
            return None, f"The mail replied to incident #{incident_id}, which is closed: a new incident was opened."
        return incident_id, ""
    return None, ""


async def _file(mail: ParsedMail, clients: list[int], config: MailConfig, now: dt.datetime) -> dict:
    incident_id, note = await _thread(mail, clients)
    text = mail.text or "(no text)"
    if incident_id is not None:
        await services.add_entry(incident_id, "comment", text, at=now, visibility="public", author=mail.sender,
                                 data={"channel": "email", "message_id": mail.message_id, "subject": mail.subject})
        await Incident.update({Incident.updated_at: now}).where(Incident.id == incident_id)
        await _client_answered(incident_id, mail.sender, now)
        # The NOC hears of it; the client is not sent back their own words.
        await services.enqueue(incident_id, "comment", now, public=False,
                               extra={"comment": f"e-mail from {mail.sender}: {text[:2000]}"})
        outcome = "appended"
    else:
        created = await services.create_manual(_intake_viewer(mail.sender), services.ManualIncident(
            title=mail.subject or text.split("\n", 1)[0][:200] or "(no subject)", category="request",
            client_id=clients[0], source="email", description=text[:20000]), now=now)
        incident_id = created["id"]
        outcome = "opened"
        if len(clients) > 1:
            note = (note + " " if note else "") + (
                f"The sender is a contact of {len(clients)} clients; the incident was opened for the first one.")
        if note:
            await services.add_entry(incident_id, "event", note, at=now, data={"channel": "email", "mismatch": True})
    if mail.message_id:
        await MailMessage.insert(MailMessage(message_id=mail.message_id, incident=incident_id, direction="in",
                                             address=mail.sender, at=now))
    kept, refused = await _attachments(incident_id, mail, config, now)
    if refused:
        await services.add_entry(incident_id, "event", "Attachments not kept: " + "; ".join(refused), at=now,
                                 data={"channel": "email", "refused": refused})
    log.info("mail from %s %s incident #%s", mail.sender, outcome, incident_id)
    return {"outcome": outcome, "incident_id": incident_id, "attachments": kept, "refused": refused,
            "note": note}


async def _client_answered(incident_id: int, sender: str, now: dt.datetime) -> None:
    """A client's mail on an incident waiting for them, or resolved, puts it back in work
    (pending_client -> in_progress restarts the SLA clock; resolved -> in_progress reopens)."""
    status = (await Incident.select(Incident.status).where(Incident.id == incident_id).first())["status"]
    if status not in (workflow.PENDING_CLIENT, workflow.RESOLVED):
        return
    try:
        await services.transition(_intake_viewer(sender), incident_id, workflow.IN_PROGRESS, now=now,
                                  reason=f"{sender} replied by e-mail")
    except Conflict:
        pass  # the same fault is open in another incident: the reply stays on this one's record


async def _attachments(incident_id: int, mail: ParsedMail, config: MailConfig, now: dt.datetime
                       ) -> tuple[int, list[str]]:
    kept = 0
    refused: list[str] = []
    for a in mail.attachments:
        if kept >= config.max_attachments:
            refused.append(f"{a.filename}: more than {config.max_attachments} attachments")
        elif len(a.data) > config.max_attachment_bytes:
            refused.append(f"{a.filename}: {len(a.data)} bytes is over the {config.max_attachment_bytes}-byte limit")
        elif not mailparse.type_allowed(a.content_type, config.attachment_types):
            refused.append(f"{a.filename}: type {a.content_type} is not accepted")
        else:
            await MailAttachment.insert(MailAttachment(
                incident=incident_id, message_id=mail.message_id, filename=a.filename, content_type=a.content_type,
                size=len(a.data), data=a.data, received_at=now))
            kept += 1
    return kept, refused


# ---------------------------------------------------------------- quarantine (staff)


def _staff(viewer: Viewer) -> None:
    if not viewer.is_staff:
        raise Forbidden("the mail quarantine is for staff")


def _quarantine_dict(r: dict) -> dict:
    return {k: r[k] for k in ("id", "message_id", "sender", "subject", "body", "received_at", "status",
                              "decided_by", "decided_at", "incident_id")}


async def quarantine(viewer: Viewer, status: str | None = "pending", limit: int = 100, offset: int = 0) -> dict:
    _staff(viewer)
    if status not in (None, "", "pending", "accepted", "dropped"):
        raise Invalid("status must be pending, accepted or dropped", field="status")
    columns = [c for c in QuarantinedMail.all_columns() if c._meta.name != "raw"]
    query = QuarantinedMail.select(*columns)
    count = QuarantinedMail.count()
    if status:
        query = query.where(QuarantinedMail.status == status)
        count = count.where(QuarantinedMail.status == status)
    rows = await query.order_by(QuarantinedMail.received_at, ascending=False).order_by(
        QuarantinedMail.id, ascending=False).limit(min(limit, QUARANTINE_LIST_LIMIT)).offset(offset)
    return {"count": await count, "results": [_quarantine_dict(r) for r in rows]}


async def _pending(quarantine_id: int) -> dict:
    row = await QuarantinedMail.select().where(QuarantinedMail.id == quarantine_id).first()
    if row is None:
        raise NotFound(f"no quarantined mail {quarantine_id}", field="id")
    if row["status"] != "pending":
        raise Conflict(f"quarantined mail {quarantine_id} is already {row['status']}", field="id")
    return row


async def accept(viewer: Viewer, quarantine_id: int, data: Any, config: MailConfig,
                 now: dt.datetime | None = None) -> dict:
    """Make the sender a contact of a client (through the CMDB service, so the
    same validation applies), then process every pending mail of that sender."""
    _staff(viewer)
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object with client_id", field="body")
    now = now or dt.datetime.now(UTC)
    async with atomic():
        row = await _pending(quarantine_id)
        contact = await cmdb.contacts.create(viewer, {
            "client_id": data.get("client_id"), "name": data.get("name") or row["sender"].split("@", 1)[0],
            "email": row["sender"], **({"phone": data["phone"]} if data.get("phone") else {}),
            **({"role": data["role"]} if data.get("role") else {}),
        })
        same_sender = await QuarantinedMail.select(QuarantinedMail.id, QuarantinedMail.raw).where(
            (QuarantinedMail.sender == row["sender"]) & (QuarantinedMail.status == "pending")
        ).order_by(QuarantinedMail.received_at).order_by(QuarantinedMail.id)
        processed = []
        for q in same_sender:
            await QuarantinedMail.update({QuarantinedMail.status: "accepted", QuarantinedMail.decided_by: viewer.email,
                                          QuarantinedMail.decided_at: now}).where(QuarantinedMail.id == q["id"])
            result = await process(bytes(q["raw"]), config, now=now)
            await QuarantinedMail.update({QuarantinedMail.incident_id: result.get("incident_id")}).where(
                QuarantinedMail.id == q["id"])
            processed.append({"quarantine_id": q["id"], **result})
    return {"contact": contact, "processed": processed}


async def drop(viewer: Viewer, quarantine_id: int, now: dt.datetime | None = None) -> dict:
    _staff(viewer)
    now = now or dt.datetime.now(UTC)
    async with atomic():
        await _pending(quarantine_id)
        await QuarantinedMail.update({QuarantinedMail.status: "dropped", QuarantinedMail.decided_by: viewer.email,
                                      QuarantinedMail.decided_at: now}).where(QuarantinedMail.id == quarantine_id)
    return {"id": quarantine_id, "status": "dropped"}


async def attachments(viewer: Viewer, incident_id: int) -> list[dict]:
    """The files that came with an incident's mail (metadata; staff)."""
    _staff(viewer)
    if not await Incident.exists().where(Incident.id == incident_id):
        raise NotFound(f"no incident {incident_id}", field="id")
    rows = await MailAttachment.select(MailAttachment.id, MailAttachment.filename, MailAttachment.content_type,
                                       MailAttachment.size, MailAttachment.message_id, MailAttachment.received_at
                                       ).where(MailAttachment.incident == incident_id).order_by(MailAttachment.id)
    return [dict(r) for r in rows]


async def attachment(viewer: Viewer, incident_id: int, attachment_id: int) -> dict:
    _staff(viewer)
    row = await MailAttachment.select().where((MailAttachment.id == attachment_id)
                                              & (MailAttachment.incident == incident_id)).first()
    if row is None:
        raise NotFound(f"no attachment {attachment_id} on incident {incident_id}", field="id")
    return row
