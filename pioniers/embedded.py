"""The embedded inbox server: aiosmtpd on loopback, delivering mail for our addresses into a Maildir."""
from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from base.maildir import open_maildir


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


MAX_CONNECTIONS = 20  # simultaneous SMTP sessions; mail clients and scripts need one or two
IDLE_TIMEOUT = 60  # seconds a session may say nothing before it is closed


class _Slots:
    def __init__(self, limit: int) -> None:
        self.limit, self.open = limit, 0


class _LimitedSMTP(SMTP):
    """aiosmtpd's SMTP with a cap on simultaneous sessions (it has none): beyond it a client is told 421 and
    closed, so nobody can hold all of the server's sockets or memory. Runs on the controller's one loop thread."""

    def __init__(self, handler: object, slots: _Slots, **kwargs: object) -> None:
        super().__init__(handler, **kwargs)  # type: ignore[arg-type]
        self.slots, self.counted = slots, False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self.counted and self.session is None and self.slots.open >= self.slots.limit:
            cast(asyncio.Transport, transport).write(b"421 4.7.0 Too many connections, try again later\r\n")
            transport.close()
            return
        if not self.counted:
            self.counted = True
            self.slots.open += 1
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if not self.counted:
            return  # refused above: nothing was set up
        self.slots.open -= 1
        self.counted = False
        super().connection_lost(error)


class _Controller(Controller):
    def __init__(self, *args: object, max_connections: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.slots = _Slots(max_connections)

    def factory(self) -> SMTP:
        return _LimitedSMTP(self.handler, self.slots, **self.SMTP_kwargs)


def start_embedded_server(host: str, port: int, inbox: Path, addresses: frozenset[str],
                          wakeup: threading.Event, max_connections: int = MAX_CONNECTIONS) -> Controller:
    controller = _Controller(MaildirHandler(inbox, addresses, wakeup), hostname=host, port=port,
                             max_connections=max_connections, data_size_limit=40 * 1024 * 1024,
                             timeout=IDLE_TIMEOUT)
    controller.start()
    return controller
