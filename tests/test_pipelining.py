"""SmtpTransport pipelines MAIL/RCPT/DATA when the server offers PIPELINING (RFC 2920): the same results and
the same errors as smtplib's sendmail, and the connection stays usable after a refusal.

Real servers: Postfix's smtp-sink (it offers PIPELINING) for the happy path and throughput of a reused
connection, and an aiosmtpd server that announces PIPELINING and refuses what a test asks it to.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from mailer.transport import SendError, SmtpTransport
from servers import LOOPBACK, free_port


class _Refusing:
    """aiosmtpd handler: announces PIPELINING, refuses per address, records what it accepted."""

    def __init__(self) -> None:
        self.accepted: list[tuple[str, list[str], bytes]] = []
        self.commands: list[str] = []

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(self, server, session, envelope, address, options):  # noqa: N802
        self.commands.append(f"MAIL {address}")
        if address.startswith("refused-sender"):
            return "553 5.1.8 sender refused"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        self.commands.append(f"RCPT {address}")
        if address.startswith("gone"):
            return "550 5.1.1 no such user"
        if address.startswith("later"):
            return "450 4.2.1 try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if envelope.rcpt_tos[0].startswith("full"):
            return "452 4.3.1 mailbox full"
        self.accepted.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


@pytest.fixture
def refusing():
    handler = _Refusing()
    controller = Controller(handler, hostname=LOOPBACK, port=free_port(), ready_timeout=10)
    controller.start()
    yield controller, handler
    controller.stop()


MESSAGE = b"From: a@pioniers.test\r\nTo: b@example.org\r\nSubject: x\r\n\r\n.leading dot\r\nline\r\n"


def test_refusals_raise_like_sendmail_and_the_connection_stays_usable(refusing):
    controller, handler = refusing
    transport = SmtpTransport(controller.hostname, controller.port)
    try:
        transport.send("bounces@pioniers.test", "one@example.org", MESSAGE)
        assert transport._conn is not None and transport._conn.has_extn("pipelining")  # the pipelined path
        with pytest.raises(SendError) as gone:
            transport.send("bounces@pioniers.test", "gone@example.org", MESSAGE)
        assert gone.value.reply.startswith("550") and not gone.value.temporary and not gone.value.connection
        with pytest.raises(SendError) as later:
            transport.send("bounces@pioniers.test", "later@example.org", MESSAGE)
        assert later.value.reply.startswith("450") and later.value.temporary
        with pytest.raises(SendError) as full:
            transport.send("bounces@pioniers.test", "full@example.org", MESSAGE)
        assert full.value.reply.startswith("452") and full.value.temporary
        with pytest.raises(SendError) as sender:
            transport.send("refused-sender@pioniers.test", "two@example.org", MESSAGE)
        assert sender.value.reply.startswith("553") and not sender.value.temporary
        transport.send("bounces@pioniers.test", "three@example.org", MESSAGE)  # same connection, after RSETs
    finally:
        transport.close()
    assert [rcpts for _, rcpts, _ in handler.accepted] == [["one@example.org"], ["three@example.org"]]
    assert all(data == MESSAGE for _, _, data in handler.accepted)  # dot-stuffed on the wire, intact here
    assert handler.accepted[0][0] == "bounces@pioniers.test"


def test_smtp_sink_gets_every_message_intact_over_one_pipelined_connection():
    binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    port = free_port()
    where = Path(tempfile.mkdtemp(prefix="pioniers-test-sink-"))  # pytest's tmp dirs: 0700, closed to nobody
    where.chmod(0o777)
    dump = where / "dump"
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    proc = subprocess.Popen([binary, *user, "-D", str(dump), f"{LOOPBACK}:{port}", "100"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((LOOPBACK, port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        transport = SmtpTransport(LOOPBACK, port)
        try:
            for i in range(50):
                transport.send(f"bounces+{i}@pioniers.test", f"member{i}@example.org",
                               MESSAGE.replace(b"Subject: x", f"Subject: {i}".encode()))
            assert transport._conn is not None and transport._conn.has_extn("pipelining")
        finally:
            transport.close()
        time.sleep(0.2)
        text = dump.read_bytes()
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(where, ignore_errors=True)
    for i in range(50):
        assert text.count(f"X-Rcpt-Args: <member{i}@example.org>".encode()) == 1
        assert f"X-Mail-Args: <bounces+{i}@pioniers.test>".encode() in text
    assert text.count(b"\n..leading dot") == 0 and text.count(b"\n.leading dot") == 50  # dot-stuffed, unstuffed
