"""Started by `rackcard serve` (rackcard.app BACKGROUND_MODULES): the mail
intake RACKCARD_MAIL_INTAKE chooses — an SMTP listener or an IMAP poller."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from integrations.mail import MailConfig
from integrations.mail_intake import ImapSettings, imap_poller, smtp_listener


@asynccontextmanager
async def background(app_state, settings) -> AsyncIterator[None]:
    config = MailConfig.from_settings(settings)
    if settings.mail_intake == "smtp":
        async with smtp_listener(config, settings.mail_listen_host, settings.mail_listen_port):
            yield
    elif settings.mail_intake == "imap":
        imap = ImapSettings(host=settings.imap_host, port=settings.imap_port, user=settings.imap_user,
                            password=settings.imap_password, ssl=settings.imap_ssl, mailbox=settings.imap_mailbox,
                            poll_s=settings.imap_poll_s)
        async with imap_poller(imap, config):
            yield
    else:
        yield
