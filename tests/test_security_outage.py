"""One poisoned message never stops the service: it is that message's outcome, and everything behind it goes on.

Real servers throughout: Dovecot for the inbox, aiosmtpd for the relay (with and without SMTPUTF8), both databases.
"""
from __future__ import annotations

import dataclasses
import threading
import time

from aiosmtpd.controller import Controller
from sqlalchemy import select

from db.app import App
from db.models import InboundMessage, OutboundMessage, Registration
from helpers import REG, World, mail
from mailer.outbox import deliver_due, queue
from mailer.transport import SmtpTransport
from pioniers.service import run
from servers import LOOPBACK, free_port


def _statuses(world) -> dict[str, tuple[str, str]]:
    with world.app.sm.begin() as s:
        return {r.recipient: (r.status, r.last_error) for r in s.scalars(select(OutboundMessage))}


def test_non_ascii_sender_is_answered_with_smtputf8_and_nothing_behind_it_waits(world):
    world.meeting()
    for address in ("jöhn@schiedam.nl", "piet@bücher.example"):  # raw UTF-8, as an SMTPUTF8 client writes it
        world.deliver(mail(sender="X <placeholder@schiedam.nl>").replace(
            b"placeholder@schiedam.nl", address.encode()))
    world.deliver(mail(sender="Anna <anna@schiedam.nl>"))
    result = world.poll()
    assert result.inbox.processed == 3
    got = sorted(m.rcpt_tos[0] for m in world.sink.wait_for(3))
    assert got == ["anna@schiedam.nl", "jöhn@schiedam.nl", "piet@bücher.example"]  # exactly as written
    assert all(status == "sent" for status, _ in _statuses(world).values())


class _AsciiOnlySink:
    """A relay that does not offer SMTPUTF8 (as many still do not)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.rcpts: list[str] = []

        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
                sink.rcpts.extend(envelope.rcpt_tos)
                return "250 OK"

        self.controller = Controller(Handler(), hostname=LOOPBACK, port=self.port, enable_SMTPUTF8=False)

    def __enter__(self) -> _AsciiOnlySink:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def test_non_ascii_address_without_smtputf8_fails_alone_with_its_reason(world):
    with _AsciiOnlySink() as relay:
        now = world.app.now()
        with world.app.sm.begin() as s:
            for i, rcpt in enumerate(["eerst@schiedam.nl", "jöhn@schiedam.nl", "daarna@schiedam.nl"]):
                queue(s, secret=b"s" * 32, key=f"t{i}", recipient=rcpt, kind="test", message=b"Subject: x\r\n\r\nx\r\n", now=now)
        transport = SmtpTransport(LOOPBACK, relay.port)
        try:
            stats = deliver_due(world.app.sm, transport, REG, world.app.now)
        finally:
            transport.close()
    assert (stats.sent, stats.failed) == (2, 1)
    assert relay.rcpts == ["eerst@schiedam.nl", "daarna@schiedam.nl"]
    status, reason = _statuses(world)["jöhn@schiedam.nl"]
    assert status == "failed" and "SMTPUTF8" in reason


def test_an_address_with_a_newline_never_reaches_the_wire(world):
    """Pipelined commands are written raw: a recipient with CR LF would have added a recipient of its own."""
    now = world.app.now()
    with world.app.sm.begin() as s:
        queue(s, secret=b"s" * 32, key="bad", recipient="a@schiedam.nl\r\nRCPT TO:<x@evil.example>", kind="test",
              message=b"Subject: x\r\n\r\nx\r\n", now=now)
        queue(s, secret=b"s" * 32, key="good", recipient="goed@schiedam.nl", kind="test", message=b"Subject: y\r\n\r\ny\r\n",
              now=now)
    stats = world.poll().outbox
    assert (stats.sent, stats.failed) == (1, 1)
    assert [m.rcpt_tos for m in world.sink.messages] == [["goed@schiedam.nl"]]
    bad = next(v for k, v in _statuses(world).items() if k.startswith("a@"))
    assert bad[0] == "failed" and "not a usable address" in bad[1]


class _BuggyTransport(SmtpTransport):
    """The real SMTP transport with a fault injected: an unforeseen error for one recipient (a bug, a library
    raising what it never raised before). Before, any such exception ended deliver_due and the service, and the
    row was claimed first again after every restart."""

    def send(self, mail_from: str, rcpt: str, data: bytes) -> None:
        if rcpt.startswith("boem@"):
            raise RuntimeError("injected fault")
        super().send(mail_from, rcpt, data)


def test_an_unexpected_error_while_sending_fails_that_message_only(world):
    now = world.app.now()
    with world.app.sm.begin() as s:
        for i, rcpt in enumerate(["voor@schiedam.nl", "boem@schiedam.nl", "na@schiedam.nl"]):
            queue(s, secret=b"s" * 32, key=f"k{i}", recipient=rcpt, kind="test", message=b"Subject: x\r\n\r\nx\r\n", now=now)
    transport = _BuggyTransport(world.sink.host, world.sink.port)
    try:
        stats = deliver_due(world.app.sm, transport, REG, world.app.now)
        assert (stats.sent, stats.failed) == (2, 1)
        assert deliver_due(world.app.sm, transport, REG, world.app.now).sent == 0  # never claimed again
    finally:
        transport.close()
    assert sorted(m.rcpt_tos[0] for m in world.sink.messages) == ["na@schiedam.nl", "voor@schiedam.nl"]
    status, reason = _statuses(world)["boem@schiedam.nl"]
    assert status == "failed" and "injected fault" in reason


def test_nul_in_a_header_parks_that_message_and_keeps_the_others(world):
    """On PostgreSQL a reason that quoted a header with a NUL byte rolled back the whole chunk, at every restart."""
    world.meeting()
    poisoned = mail(sender="auto@schiedam.nl", headers={"Auto-Submitted": "auto-replied"})
    poisoned = poisoned.replace(b"Auto-Submitted: auto-replied", b"Auto-Submitted: auto-\x00replied")
    world.deliver(mail(sender="voor@schiedam.nl"))
    world.deliver(poisoned)
    world.deliver(mail(sender="na@schiedam.nl"))
    result = world.poll()
    assert result.inbox.processed + result.inbox.attention == 3
    with world.app.sm.begin() as s:
        rows = list(s.scalars(select(InboundMessage)))
        assert all(r.outcome in ("processed", "attention") for r in rows)
        assert s.scalar(select(Registration).where(Registration.id.is_not(None)).limit(1)) is not None
    assert sorted(m.rcpt_tos[0] for m in world.sink.wait_for(2)) == ["na@schiedam.nl", "voor@schiedam.nl"]
    assert world.mailbox.messages("INBOX") == []


def test_the_service_keeps_running_when_a_step_fails(world):
    """An unreachable inbox (a wrong password) does not stop outgoing mail, and the loop goes on."""
    now = world.app.now()
    with world.app.sm.begin() as s:
        queue(s, secret=b"s" * 32, key="q", recipient="wacht@schiedam.nl", kind="test", message=b"Subject: q\r\n\r\nq\r\n", now=now)
    cfg = world.app.cfg
    app = App.from_config(dataclasses.replace(cfg, imap=dataclasses.replace(cfg.imap, password="wrong")),
                          world.clock)
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(app, stop), kwargs={"install_signals": False}, daemon=True)
    thread.start()
    try:
        world.sink.wait_for(1, timeout=30)
        time.sleep(1.5)  # at least one more pass, with the inbox still failing
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert [m.rcpt_tos for m in world.sink.messages] == [["wacht@schiedam.nl"]]
