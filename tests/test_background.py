"""Sending while reading: a burst's confirmations go out from a second process; SQLite's sent log."""
from __future__ import annotations

import collections
import subprocess
import sys

from sqlalchemy import func, select

from db.models import OutboundMessage
from helpers import World, mail
from mailer.outbox import deliver_due, queue
from mailer.sentlog import SentLog, path_for
from mailer.transport import SmtpTransport


def test_burst_is_sent_while_the_inbox_is_read_each_once(tmp_path, db_url, mailbox, smtp_sink):
    world = World.create(tmp_path, db_url, mailbox, smtp_sink, extra="\n[limits]\nreplies_per_hour = 100000\n")
    world.meeting("2099-03-18")  # the subprocess uses the real clock
    n = 1200  # three chunks: the second process starts after the first
    client = mailbox.connect()
    client.multiappend("INBOX", [mail(subject="Pioniersnetwerk 18 maart 2099", sender=f"p{i}@schiedam.nl")
                                 for i in range(n)])
    client.logout()
    done = subprocess.run([sys.executable, "-m", "pioniers.cli", "--config", str(world.config_path),
                           "poll", "--once"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "background delivery started" in done.stderr
    assert f"sent: {n}," in done.stdout  # the second process's sending is counted in the report
    received = collections.Counter(m.rcpt_tos[0] for m in smtp_sink.messages)
    assert received == collections.Counter({f"p{i}@schiedam.nl": 1 for i in range(n)})
    with world.app.sm.begin() as s:
        assert s.scalar(select(func.count()).where(OutboundMessage.status == "sent")) == n


def test_a_noted_send_is_applied_and_never_sent_again(tmp_path, mailbox, smtp_sink):
    """A process killed after the server accepted a message but before the sent log was applied."""
    world = World.create(tmp_path, f"sqlite:///{tmp_path / 'pioniers.db'}", mailbox, smtp_sink)
    engine = world.app.sm.kw["bind"]
    now = world.clock()
    with world.app.sm.begin() as s:
        for i in range(3):
            queue(s, secret=b"s" * 32, key=f"k{i}", recipient=f"p{i}@schiedam.nl", kind="test", message=b"Subject: x\r\n\r\nx\r\n",
                  now=now, auto_reply=True)
    with world.app.sm.begin() as s:
        first = s.scalar(select(func.min(OutboundMessage.id)))
    path = path_for(engine)
    assert path is not None and path.name == "pioniers.db-sent"
    log = SentLog(path)
    log.note(first)  # accepted, then the process died
    log.close()
    stats = deliver_due(world.app.sm, SmtpTransport(smtp_sink.host, smtp_sink.port),
                        world.app.cfg.network.registration_address, world.clock)
    assert stats.sent == 2
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == ["p1@schiedam.nl", "p2@schiedam.nl"]
    with world.app.sm.begin() as s:
        assert list(s.scalars(select(OutboundMessage.status).order_by(OutboundMessage.id))) == ["sent"] * 3
    assert path.stat().st_size == 0  # applied, then emptied


def test_postgresql_marks_rows_directly():
    from conftest import PG_BASE
    from sqlalchemy import create_engine

    assert path_for(create_engine(PG_BASE)) is None
    assert path_for(create_engine("sqlite://")) is None  # in memory: nothing beside it
