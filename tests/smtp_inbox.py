"""A real SMTP server on loopback for the e-mail tests (aiosmtpd): collects
every message it is sent."""

from __future__ import annotations

import contextlib
import socket
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope)
        return "250 OK"

    def by_recipient(self) -> dict[str, list]:
        out: dict[str, list] = {}
        for m in self.messages:
            out.setdefault(m.rcpt_tos[0], []).append(message_from_bytes(m.content, policy=policy.default))
        return out


@contextlib.contextmanager
def smtp_server():
    """(inbox, port): an SMTP server running for the block."""
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
