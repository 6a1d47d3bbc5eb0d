"""Where mail comes in: an SMTP listener (aiosmtpd, on the app's own event
loop so it shares the database engine) or an IMAP poller (aioimaplib).
RACKCARD_MAIL_INTAKE chooses (`smtp`, `imap` or off). Both hand every message
to integrations.mail.process; the SMTP listener answers 451 (try again later)
when processing fails, so the sending server keeps the message; the IMAP
poller marks a message \\Seen only once it was processed.
"""

from __future__ import annotations

import asyncio
import logging
import re
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import AsyncIterator

from aiosmtpd.smtp import SMTP, Envelope, Session

from integrations import mail
from integrations.mail import MailConfig

log = logging.getLogger("rackcard.integrations.mail")

MAX_MESSAGE_BYTES = 50_000_000


class _Handler:
    def __init__(self, config: MailConfig):
        self.config = config
        self.outcomes: list[dict] = []  # the latest few, for tests and logs

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or (envelope.content if isinstance(envelope.content, bytes) else b"")
        try:
            outcome = await mail.process(raw, self.config, envelope_from=envelope.mail_from)
        except Exception:  # noqa: BLE001 - the sender retries; nothing is lost
            log.exception("could not process mail from %s", envelope.mail_from)
            return "451 4.3.0 Could not process the message now; try again later"
        self.outcomes = (self.outcomes + [outcome])[-100:]
        return "250 2.0.0 OK"


@asynccontextmanager
async def smtp_listener(config: MailConfig, host: str, port: int,
                        max_bytes: int = MAX_MESSAGE_BYTES) -> AsyncIterator[tuple[asyncio.AbstractServer, _Handler]]:
    """An SMTP server on the running loop. Yields (server, handler)."""
    handler = _Handler(config)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, data_size_limit=max_bytes, enable_SMTPUTF8=True, decode_data=False,
                     hostname="rackcard", ident="rackcard mail intake"),
        host=host, port=port)
    log.info("mail intake: SMTP listening on %s:%s", host, port)
    try:
        yield server, handler
    finally:
        server.close()
        await server.wait_closed()


@dataclass(frozen=True)
class ImapSettings:
    host: str
    port: int = 993
    user: str = ""
    password: str = ""
    ssl: bool = True
    mailbox: str = "INBOX"
    poll_s: float = 60.0
    timeout_s: float = 30.0


async def poll_imap_once(imap: ImapSettings, config: MailConfig) -> list[dict]:
    """Fetch every unseen message, process it, mark it seen. Returns the outcomes."""
    import aioimaplib

    cls = aioimaplib.IMAP4_SSL if imap.ssl else aioimaplib.IMAP4
    client = cls(host=imap.host, port=imap.port, timeout=imap.timeout_s)
    await client.wait_hello_from_server()
    outcomes: list[dict] = []
    try:
        _ok(await client.login(imap.user, imap.password), "LOGIN")
        _ok(await client.select(imap.mailbox), "SELECT")
        for uid in await _unseen(client):
            fetched = _ok(await client.uid("fetch", uid, "(RFC822)"), "FETCH")
            # aioimaplib returns the literal (the message) as the one bytearray among the lines.
            raw = next((bytes(line) for line in fetched.lines if isinstance(line, bytearray)), b"")
            if not raw:
                log.warning("IMAP message uid %s came back empty; left unseen", uid)
                continue
            outcomes.append(await mail.process(raw, config))
            _ok(await client.uid("store", uid, "+FLAGS", "(\\Seen)"), "STORE")
    finally:
        with suppress(Exception):
            await client.logout()
    return outcomes


_FLAGS_LINE = re.compile(rb"UID (\d+) FLAGS \(([^)]*)\)")


async def _unseen(client) -> list[str]:
    """UIDs without \\Seen, from the flags of every message (UID FETCH 1:* (FLAGS)):
    every IMAP server answers that the same way, where SEARCH support varies."""
    fetched = _ok(await client.uid("fetch", "1:*", "(FLAGS)"), "FETCH FLAGS")
    out = []
    for line in fetched.lines:
        m = _FLAGS_LINE.search(bytes(line)) if isinstance(line, (bytes, bytearray)) else None
        if m and b"\\seen" not in m.group(2).lower():
            out.append(m.group(1).decode())
    return out


def _ok(response, what: str):
    if response.result != "OK":
        raise RuntimeError(f"IMAP {what} failed: {response.result} {response.lines[-1:]!r}")
    return response


async def _poll_forever(imap: ImapSettings, config: MailConfig) -> None:
    while True:
        try:
            outcomes = await poll_imap_once(imap, config)
            if outcomes:
                log.info("mail intake: %d message(s) from IMAP %s", len(outcomes), imap.host)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a poll round must not end the loop
            log.exception("mail intake: IMAP poll of %s failed; retrying in %.0f s", imap.host, imap.poll_s)
        await asyncio.sleep(imap.poll_s)


@asynccontextmanager
async def imap_poller(imap: ImapSettings, config: MailConfig) -> AsyncIterator[asyncio.Task]:
    task = asyncio.create_task(_poll_forever(imap, config))
    log.info("mail intake: polling IMAP %s:%s every %.0f s", imap.host, imap.port, imap.poll_s)
    try:
        yield task
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
