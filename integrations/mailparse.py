"""Reading one incoming e-mail (pure: standard library only, no I/O).

- who sent it, its Message-ID and the ids it replies to (In-Reply-To, References);
- whether a machine sent it (auto-replies, bounces, lists): those never open
  incidents and are never answered, or two help desks would mail each other forever;
- the new text without the quoted history below it;
- the incident number our own subjects carry ("[rackcard] opened: #12 ...").
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import getaddresses

#: "[rackcard] comment: #12 Fiber cut" -> 12 (the subject incidents.notify writes).
SUBJECT_NUMBER = re.compile(r"\[rackcard\][^#\r\n]*#(\d{1,9})\b", re.I)
_MSGID = re.compile(r"<([^<>\s]{1,298})>")
_AUTO_PRECEDENCE = {"bulk", "junk", "list", "auto_reply", "auto-reply"}
_DAEMONS = ("mailer-daemon@", "postmaster@")

#: Where the quoted history starts (the first match cuts the rest).
_QUOTE_HEADERS = re.compile(
    r"^\s*(on\b.{0,200}\bwrote:\s*$"  # On Mon, 23 Nov 2026, Ann <ann@x> wrote:
    r"|-{2,}\s*original message\s*-{2,}"  # Outlook
    r"|-{2,}\s*исходное сообщение\s*-{2,}"
    r"|.{0,200}\bпишет:\s*$"  # 23.11.2026, Анна <ann@x> пишет:
    r"|_{20,}\s*$"  # Outlook's rule line before From:/Sent:
    r"|from:\s.+\r?\n\s*sent:\s)",
    re.I | re.M,
)


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class ParsedMail:
    message_id: str
    sender: str  # lower-case address from From:
    subject: str
    text: str  # the new text, quoted history stripped
    replies_to: list[str] = field(default_factory=list)  # In-Reply-To first, then References newest first
    attachments: list[Attachment] = field(default_factory=list)
    automatic: str = ""  # why a machine sent it ("" = a person)

    @property
    def incident_number(self) -> int | None:
        m = SUBJECT_NUMBER.search(self.subject or "")
        return int(m.group(1)) if m else None


def message_ids(value: str | None) -> list[str]:
    return _MSGID.findall(value or "")


def automatic_reason(msg: EmailMessage, envelope_from: str | None = None) -> str:
    """Why this mail came from a machine (RFC 3834 Auto-Submitted, Precedence,
    a delivery status notification, a null return path, a mailer daemon), or ""."""
    auto = str(msg.get("Auto-Submitted", "")).strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = str(msg.get("Precedence", "")).strip().lower()
    if precedence in _AUTO_PRECEDENCE:
        return f"Precedence: {precedence}"
    for header in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if msg.get(header) is not None:
            return header
    if msg.get("List-Id") or msg.get("List-Unsubscribe"):
        return "a mailing list"
    content_type = msg.get_content_type()
    if content_type == "multipart/report" or msg.get_param("report-type", header="content-type"):
        return "a delivery status notification"
    if envelope_from is not None and envelope_from.strip() in ("", "<>"):
        return "null return path (a bounce)"
    if str(msg.get("Return-Path", "")).strip() == "<>":
        return "null return path (a bounce)"
    sender = _address(msg.get("From"))
    if sender.startswith(_DAEMONS):
        return f"sent by {sender}"
    return ""


def _address(value) -> str:
    pairs = getaddresses([str(value or "")])
    return pairs[0][1].strip().lower() if pairs and pairs[0][1] else ""


def strip_quoted(text: str) -> str:
    """The new text of a reply: cut at the quoted-history header, drop '>' lines
    and trailing blank lines."""
    text = (text or "").replace("\r\n", "\n")
    m = _QUOTE_HEADERS.search(text)
    if m:
        text = text[: m.start()]
    lines = [line for line in text.split("\n") if not line.lstrip().startswith(">")]
    return "\n".join(lines).strip()


def _html_to_text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style).*?</\1>", "", markup)
    markup = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>", "\n", markup)
    markup = re.sub(r"(?i)<blockquote.*?</blockquote>", "", markup, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def _body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, UnicodeError, AssertionError):
        content = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
    return _html_to_text(content) if part.get_content_type() == "text/html" else content


def parse(raw: bytes, envelope_from: str | None = None) -> ParsedMail:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    ids = message_ids(str(msg.get("Message-ID", "")))
    replies = message_ids(str(msg.get("In-Reply-To", ""))) + list(reversed(message_ids(str(msg.get("References", "")))))
    attachments = []
    for part in msg.iter_attachments():
        data = part.get_payload(decode=True) or b""
        attachments.append(Attachment(filename=(part.get_filename() or "attachment")[:255],
                                      content_type=part.get_content_type()[:100], data=data))
    return ParsedMail(
        message_id=ids[0] if ids else "",
        sender=_address(msg.get("From")),
        subject=str(msg.get("Subject", "")).strip()[:300],
        text=strip_quoted(_body(msg)),
        replies_to=list(dict.fromkeys(replies)),
        attachments=attachments,
        automatic=automatic_reason(msg, envelope_from),
    )


def type_allowed(content_type: str, allowed: tuple[str, ...]) -> bool:
    """`image/*` style patterns; an empty list allows every type."""
    if not allowed:
        return True
    major = content_type.split("/", 1)[0]
    return any(p == content_type or p == f"{major}/*" or p == "*/*" for p in allowed)
