"""Trying to break it: kills, outages, concurrent services, hostile headers, forged senders, AVG."""
from __future__ import annotations

import collections
import datetime as dt
import os
import random
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import func, select

from base.hashing import address_hash
from db.app import App
from db.locks import ServiceBusy
from db.models import Forgotten, InboundMessage, OutboundMessage, Person, Registration
from helpers import REG, World, mail, write_config
from pioniers.service import run


def count(world, model, *where) -> int:
    with world.app.sm.begin() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def test_sigkill_at_random_points_during_a_burst(tmp_path, db_url, mailbox, smtp_sink):
    """1,000 registrations; `poll --once` killed with SIGKILL at random moments, then run to the end."""
    world = World.create(tmp_path, db_url, mailbox, smtp_sink, extra="\n[limits]\nreplies_per_hour = 100000\n")
    world.meeting("2099-03-18")  # the subprocess uses the real clock: a meeting far in the future
    n = 1000
    client = mailbox.connect()
    for i in range(n):
        client.append("INBOX", mail(subject="Pioniersnetwerk 18 maart 2099", sender=f"p{i}@schiedam.nl"))
    client.logout()
    rng = random.Random(20270318)
    kills = 0
    for _ in range(4):
        proc = subprocess.Popen([sys.executable, "-m", "pioniers.cli", "--config", str(world.config_path),
                                 "poll", "--once"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 4.0))
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait()
    # Restart: claims by the killed processes expire after their lease; the clock moves past it.
    world.clock.now = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
    world.poll()
    assert kills >= 1
    assert count(world, Registration, Registration.status == "confirmed") == n
    assert count(world, InboundMessage) == n
    assert count(world, InboundMessage, InboundMessage.outcome == "processed") == n
    assert count(world, OutboundMessage) == n  # one confirmation row per registration
    assert count(world, OutboundMessage, OutboundMessage.status == "sent") == n
    assert mailbox.messages("INBOX") == []
    received = collections.Counter(m.rcpt_tos[0] for m in smtp_sink.messages)
    assert set(received) == {f"p{i}@schiedam.nl" for i in range(n)}
    repeats = sum(c - 1 for c in received.values())
    print(f"\n{db_url.split(':')[0]}: {n} registrations, {kills} SIGKILLs, {repeats} repeated confirmation(s)")
    assert repeats <= kills, f"{repeats} repeated confirmations after {kills} kills"


def test_smtp_outage_queues_and_retries_with_backoff(world):
    world.meeting()
    world.sink.stop()  # the SMTP server is down
    world.deliver(mail(sender="a@schiedam.nl"))
    world.deliver(mail(sender="b@schiedam.nl"))
    result = world.poll()
    assert result.inbox.processed == 2 and result.outbox.sent == 0 and result.outbox.retry == 2
    world.clock.advance(seconds=10)  # too early for the retry
    world.sink.start()
    assert world.poll().outbox.sent == 0
    world.sink.fail_with = 451  # back, but refusing temporarily
    world.clock.advance(minutes=1)
    assert world.poll().outbox.retry == 2
    with world.app.sm.begin() as s:
        # A temporary refusal: each row waits for the provider, with its answer, and is not failed.
        assert all(r.attempts >= 1 and r.status == "waiting" for r in s.scalars(select(OutboundMessage)))
        assert all("451" in r.last_error and r.claimed_by is None for r in s.scalars(select(OutboundMessage)))
    world.sink.fail_with = None
    world.clock.advance(minutes=5)
    assert world.poll().outbox.sent == 2
    assert sorted(m.rcpt_tos[0] for m in world.sink.messages) == ["a@schiedam.nl", "b@schiedam.nl"]


def test_permanent_smtp_failure_is_recorded(world):
    world.meeting()
    world.sink.fail_with = 550
    world.deliver(mail(sender="weg@schiedam.nl"))
    assert world.poll().outbox.failed == 1
    with world.app.sm.begin() as s:
        row = s.scalar(select(OutboundMessage))
        assert row.status == "failed" and row.last_error.startswith("550")


def _run_in_thread(app: App):
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(app, stop), kwargs={"install_signals": False}, daemon=True)
    thread.start()
    return stop, thread


def test_service_survives_imap_restart(world, dovecot):
    world.meeting()
    stop, thread = _run_in_thread(world.app)
    try:
        world.deliver(mail(sender="voor@schiedam.nl"))
        world.sink.wait_for(1, timeout=30)
        dovecot.restart()
        world.deliver(mail(sender="na@schiedam.nl"))
        world.sink.wait_for(2, timeout=60)
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert sorted(m.rcpt_tos[0] for m in world.sink.messages) == ["na@schiedam.nl", "voor@schiedam.nl"]
    assert count(world, Registration) == 2


def test_second_service_on_the_same_inbox_refuses(world):
    stop, thread = _run_in_thread(world.app)
    try:
        deadline = time.time() + 20
        from db.models import ServiceLock

        while count(world, ServiceLock) == 0 and time.time() < deadline:
            time.sleep(0.05)
        second = App.from_config(world.app.cfg, world.clock)
        with pytest.raises(ServiceBusy, match="already reading this inbox"):
            run(second, threading.Event(), install_signals=False)
    finally:
        stop.set()
        thread.join(timeout=60)
    # Once the first has stopped, another may start.
    assert count(world, ServiceLock) == 0


def test_reply_limits_per_address_and_per_hour(tmp_path, db_url, mailbox, smtp_sink):
    """Per address a loop guard (beyond it no reply, the reason says so); per hour a pace: a reply over it waits
    for the next hour, it is never dropped. Every handler's replies count alike (one gate)."""
    world = World.create(tmp_path, db_url, mailbox, smtp_sink,
                         extra="\n[limits]\nreplies_per_address_per_day = 2\nreplies_per_hour = 3\n")
    world.meeting()
    for _ in range(4):
        world.deliver(mail(sender="druk@schiedam.nl"))
    for who in ("een", "twee", "drie"):
        world.deliver(mail(sender=f"{who}@schiedam.nl"))
    world.deliver(mail(sender="druk@schiedam.nl", subject="aanmelden nieuwsbrief", to="nieuws@pioniers.test"))
    result = world.poll()
    assert result.inbox.processed == 8
    received = collections.Counter(m.rcpt_tos[0] for m in world.sink.messages)
    assert sum(received.values()) == 3  # the hourly pace
    with world.app.sm.begin() as s:
        reasons = [r.reason for r in s.scalars(select(InboundMessage))]
    assert sum("daily limit" in r for r in reasons) == 3  # druk's 3rd and 4th registration, and the list request
    assert count(world, Registration) == 4  # still registered
    assert world.poll().outbox.sent == 0  # the rest waits for the hour ...
    world.clock.advance(minutes=61)
    assert world.poll().outbox.sent == 2  # ... and is not lost
    received = collections.Counter(m.rcpt_tos[0] for m in world.sink.messages)
    assert received == {"druk@schiedam.nl": 2, "een@schiedam.nl": 1, "twee@schiedam.nl": 1, "drie@schiedam.nl": 1}


def test_header_injection_cannot_add_recipients_or_headers(world):
    world.meeting()
    raw = (b"From: =?utf-8?q?Jan=0D=0ABcc:_victim@evil.example=0D=0AX-Evil:_1?= <jan@schiedam.nl>\r\n"
           b"To: " + REG.encode() + b"\r\n"
           b"Subject: =?utf-8?q?Pioniersnetwerk_18_maart_2027=0D=0ABcc:_x@evil.example?=\r\n"
           b"Message-ID: <inj@client.example>\r\n\r\nAanmelden.\r\n")
    world.deliver(raw)
    world.poll()
    (sent,) = world.sink.messages
    assert sent.rcpt_tos == ["jan@schiedam.nl"]
    head = sent.data.split(b"\r\n\r\n", 1)[0]
    assert b"Bcc" not in head and b"X-Evil" not in head and b"evil.example" not in head


def test_dmarc_fail_from_our_receiving_server_is_held(tmp_path, db_url, mailbox, smtp_sink):
    world = World.create(tmp_path, db_url, mailbox, smtp_sink)  # trusts authserv_id mx.pioniers.test (helpers)
    world.meeting()
    world.deliver(mail(sender="burgemeester@schiedam.nl", headers={
        "Authentication-Results": "mx.pioniers.test; spf=fail smtp.mailfrom=schiedam.nl; "
                                  "dkim=none; dmarc=fail (p=reject) header.from=schiedam.nl"}))
    result = world.poll()
    assert result.inbox.attention == 1 and world.sink.messages == []
    with world.app.sm.begin() as s:
        assert "DMARC" in s.scalar(select(InboundMessage.reason))


def test_forget_removes_everything_and_keeps_only_a_hash(world):
    world.meeting()
    world.deliver(mail(sender="Jan <jan@schiedam.nl>"))
    world.deliver(mail(sender="Piet <piet@utrecht.nl>"))
    world.poll()
    from network.privacy import forget

    report = forget(world.app, "JAN@schiedam.nl")
    assert report.removed["person"] == 1 and report.removed["registrations"] == 1
    assert report.removed["incoming messages"] == 1 and report.removed["outgoing messages"] == 1
    assert report.removed["list membership"] == 1  # registrants join the list by default
    assert count(world, Person, Person.email == "jan@schiedam.nl") == 0
    assert count(world, Person) == 1 and count(world, Registration) == 1  # Piet untouched
    assert count(world, Forgotten) == 1
    with world.app.sm.begin() as s:
        stored = s.scalar(select(Forgotten.address_hash))
        assert stored == address_hash(world.app.cfg.secret, "jan@schiedam.nl")  # keyed: not reversible


def test_retention_removes_personal_data_after_the_meeting(tmp_path, db_url, mailbox, smtp_sink):
    world = World.create(tmp_path, db_url, mailbox, smtp_sink, extra="\n[list]\nsubscribe_registrants = false\n")
    world.meeting("2027-03-18")
    world.deliver(mail(sender="jan@schiedam.nl"))
    world.poll()
    from network.privacy import purge_expired

    world.clock.now = dt.datetime(2027, 4, 1, tzinfo=dt.timezone.utc)  # two weeks after: kept
    assert purge_expired(world.app).registrations == 0
    world.clock.now = dt.datetime(2027, 6, 20, tzinfo=dt.timezone.utc)  # 94 days after
    report = purge_expired(world.app)
    assert report.registrations == 1 and report.people == 1 and report.raw_messages == 1
    with world.app.sm.begin() as s:
        row = s.scalar(select(InboundMessage))
        assert row.raw is None and row.sender == "" and row.sha256  # identity stays: never processed twice
    assert count(world, Person) == 0


def test_forget_via_cli(tmp_path):
    cfg = write_config(tmp_path / "config.toml", f"sqlite:///{tmp_path}/p.db")
    run_cli = lambda *a: subprocess.run([sys.executable, "-m", "pioniers.cli", "--config", str(cfg), *a],  # noqa: E731
                                        capture_output=True, text=True, timeout=60)
    assert run_cli("init").returncode == 0
    out = run_cli("forget", "someone@schiedam.nl", "--yes")
    assert out.returncode == 1 and "no data found for someone@schiedam.nl" in out.stdout


def test_a_killed_service_on_this_host_frees_the_inbox_at_once(world):
    """After a kill -9 the lock's heartbeat is fresh, but its process is gone: a restart needs no 3-minute wait.
    A live holder still keeps it."""
    import socket
    import subprocess

    from db.locks import acquire_lock
    from db.models import ServiceLock

    gone = subprocess.Popen(["true"])
    gone.wait()
    with world.app.sm.begin() as session:
        session.add(ServiceLock(name="inbox", holder=f"{socket.gethostname()}:{gone.pid}:1",
                                heartbeat_at=world.clock()))
    acquire_lock(world.app, "inbox", "restarted")
    with world.app.sm.begin() as session:
        assert session.get(ServiceLock, "inbox").holder == "restarted"
        session.get(ServiceLock, "inbox").holder = f"{socket.gethostname()}:{os.getppid()}:1"  # alive
    with pytest.raises(ServiceBusy, match="already reading this inbox"):
        acquire_lock(world.app, "inbox", "third")


class _CuttableLink:
    """A TCP relay to PostgreSQL that can be cut (every connection dropped, new ones refused) and restored: the
    network side of a database restart, on the real server."""

    def __init__(self, port: int) -> None:
        import socket

        self.target, self.up, self.conns = port, True, []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.close()
            except OSError:
                pass

    def cut(self) -> None:
        import socket

        self.up = False
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conns = []


def test_service_rides_out_a_database_outage(tmp_path, mailbox, smtp_sink, caplog):
    """PostgreSQL away for a while (every connection dropped, new ones refused): `run` keeps running, says so in
    one line and again when it is back, and then processes what came in meanwhile."""
    import logging

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    schema = f"t_outage_{os.getpid()}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    link = _CuttableLink(make_url(base).port or 5432)
    url = (f"postgresql+psycopg://postgres@127.0.0.1:{link.port}/test?application_name={schema}"
           f"&options=-csearch_path%3D{schema}")
    caplog.set_level(logging.INFO, logger="pioniers.service")
    try:
        world = World.create(tmp_path, url, mailbox, smtp_sink)
        world.meeting()
        stop, thread = _run_in_thread(world.app)
        try:
            world.deliver(mail(sender="voor@schiedam.nl"))
            world.sink.wait_for(1, timeout=30)
            link.cut()
            world.deliver(mail(sender="tijdens@schiedam.nl"))
            deadline = time.time() + 20
            while not any("database unreachable" in r.message for r in caplog.records) and time.time() < deadline:
                time.sleep(0.1)
            time.sleep(2)  # a few passes while it is away
            link.up = True
            world.sink.wait_for(2, timeout=90)
            assert thread.is_alive()
        finally:
            stop.set()
            thread.join(timeout=60)
        world.close()
        messages = [r.getMessage() for r in caplog.records if r.name == "pioniers.service"]
        assert sum("database unreachable" in m for m in messages) == 1
        assert sum("database reachable again" in m for m in messages) == 1
        assert not [r for r in caplog.records if r.exc_info and r.name == "pioniers.service"]  # no tracebacks
        assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == ["tijdens@schiedam.nl", "voor@schiedam.nl"]
    finally:
        link.server.close()
        link.cut()  # every relayed connection ends; a session the cut left behind on the server is ended too
        with admin.begin() as conn:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
                         {"name": schema})
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def test_a_hanging_smtp_server_never_delays_reading(tmp_path, db_url, mailbox):
    """The relay accepts connections and never answers: registrations are recorded as they come all the same,
    and the replies wait for the relay."""
    import socket
    from types import SimpleNamespace

    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    threading.Thread(target=lambda: [held.append(server.accept()[0]) for _ in iter(int, 1)], daemon=True).start()
    relay = SimpleNamespace(host="127.0.0.1", port=server.getsockname()[1])
    world = World.create(tmp_path, db_url, mailbox, relay)
    world.meeting()
    stop, thread = _run_in_thread(world.app)
    try:
        for n, who in enumerate(("een@schiedam.nl", "twee@schiedam.nl"), start=1):
            world.deliver(mail(sender=who))
            deadline = time.time() + 10  # the relay's timeout is 30 s: reading never waits for it
            while count(world, Registration) < n:
                assert time.time() < deadline, f"registration {n} was not recorded while the relay hangs"
                time.sleep(0.1)
        assert count(world, OutboundMessage, OutboundMessage.status == "sent") == 0
    finally:
        stop.set()
        for conn in held:
            conn.close()  # the hanging connection ends: the sender sees it and stops
        server.close()
        thread.join(timeout=60)
        world.close()
    assert not thread.is_alive()


def test_poll_once_sends_what_is_queued_while_the_mailbox_refuses(world, dovecot):
    """A wrong IMAP password (or a mailbox away) must not hold back the replies already queued: they go out, and
    then the command says what is wrong in one line (exit 2)."""
    from inbox.sources import InboxUnavailable
    from pioniers.service import poll_once

    world.meeting()
    world.deliver(mail(sender="eerder@schiedam.nl"))
    with world.app.sm.begin() as s:  # a reply queued earlier, still waiting to go
        s.add(OutboundMessage(key="k-wait", recipient="wacht@schiedam.nl", kind="confirmation",
                              raw=b"From: aanmelden@pioniers.test\r\nTo: wacht@schiedam.nl\r\nSubject: x\r\n\r\nx\r\n",
                              status="queued", next_attempt_at=world.clock(), created_at=world.clock()))
    from dataclasses import replace

    from db.app import App

    broken = replace(world.app.cfg, imap=replace(world.app.cfg.imap, password="fout"))
    app = App(broken, world.app.sm, world.clock)
    try:
        with pytest.raises(InboxUnavailable, match="login refused"):
            poll_once(app)
    finally:
        dovecot.restart()  # forgets the refused login's penalty, which would slow every later login
    assert [m.rcpt_tos[0] for m in world.sink.messages] == ["wacht@schiedam.nl"]
    assert count(world, Registration) == 0  # nothing read
