"""The embedded inbox server: aiosmtpd on loopback, delivering mail for our addresses into a Maildir."""
from __future__ import annotations

import threading
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from inbox.sources import open_maildir


class MaildirHandler:
    """Accepts mail for our own addresses only (and their +tags) and files it in the inbox Maildir."""

    def __init__(self, path: Path, addresses: frozenset[str], wakeup: threading.Event) -> None:
        self.box = open_maildir(path)
        self.addresses = addresses
        self.wakeup = wakeup

    def _ours(self, address: str) -> bool:
        local, _, domain = address.lower().partition("@")
        return f"{local.split('+', 1)[0]}@{domain}" in self.addresses

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if not self._ours(address):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        return_path = f"Return-Path: <{envelope.mail_from or ''}>\r\n".encode()
        self.box.add(return_path + data)
        self.wakeup.set()
        return "250 Message accepted for delivery"


def start_embedded_server(host: str, port: int, inbox: Path, addresses: frozenset[str],
                          wakeup: threading.Event) -> Controller:
    controller = Controller(MaildirHandler(inbox, addresses, wakeup), hostname=host, port=port,
                            server_kwargs={"data_size_limit": 40 * 1024 * 1024})
    controller.start()
    return controller
