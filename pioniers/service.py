"""The service: poll once, or run for ever (IMAP IDLE / embedded server), sending the outbox in between."""
from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass

from imapclient.exceptions import IMAPClientError

from inbox.runner import RunStats, process_inbox
from inbox.sources import ImapSource, InboxUnavailable, MaildirSource, Source
from mailer.fanout import deliver_announcements
from mailer.outbox import DeliveryStats, deliver_due
from mailer.transport import MaildirTransport, SmtpTransport, Transport
from pioniers.app import App
from pioniers.background import BackgroundDelivery
from pioniers.locks import ServiceBusy, acquire_lock, refresh_lock, release_lock
from pioniers.network import network_tasks
from pioniers.oauth import imap_tokens, smtp_tokens
from pioniers.privacy import purge_expired
from pioniers.reminders import queue_reminders

log = logging.getLogger("pioniers.service")
PURGE_EVERY = dt.timedelta(days=1)
WAIT = 30.0  # longest quiet wait: IDLE is re-issued, due retries and reminders are looked at, this often


def make_source(app: App, wakeup: threading.Event | None = None) -> Source:
    cfg = app.cfg
    if cfg.imap.host:
        return ImapSource(cfg.imap, tokens=imap_tokens(cfg))  # tokens: [imap] auth = "oauth2"
    return MaildirSource(cfg.path(cfg.embedded.inbox), cfg.imap.processed_folder, cfg.imap.attention_folder,
                         wakeup)


def make_transport(app: App) -> Transport:
    s = app.cfg.smtp
    if s.host:
        return SmtpTransport(s.host, s.port, use_ssl=s.ssl, starttls=s.starttls, username=s.username,
                             password=s.password, tokens=smtp_tokens(app.cfg))
    return MaildirTransport(app.cfg.path(app.cfg.embedded.outbox))


@dataclass
class PollResult:
    inbox: RunStats
    outbox: DeliveryStats
    reminders: int


def poll_once(app: App, source: Source | None = None, transport: Transport | None = None) -> PollResult:
    """Process every waiting message, queue due reminders, send everything due."""
    own_source = source is None
    source = source or make_source(app)
    transport = transport or make_transport(app)
    background = BackgroundDelivery(app, lambda: make_transport(app))  # a burst: replies go out meanwhile
    try:
        source.open()
        try:
            stats = process_inbox(app, source, background.nudge)
        finally:
            early = background.finish()
        reminders = queue_reminders(app)
        network_tasks(app)  # theme polls past their closing date, participant lists
        sent = deliver_due(app.sm, transport, app.cfg.network.registration_address, app.now)
        sent.add(early)
        deliver_announcements(app, lambda: make_transport(app))  # the mailing list's fan-out
    finally:
        if own_source:
            source.close()
        transport.close()
    return PollResult(stats, sent, reminders)


def _embedded_banner(app: App) -> str:
    """How to try it: a command that works wherever Python does, for the next open meeting."""
    from mailer.letters import open_meetings

    cfg = app.cfg
    with app.sm.begin() as session:
        upcoming = open_meetings(session, cfg, app.today())
    subject = upcoming[0]["ref"] if upcoming else f"{cfg.network.name} <datum>"
    host, port = cfg.embedded.smtp_host, cfg.embedded.smtp_port
    hint = "" if upcoming else "  (add a meeting first: pioniers meeting add YYYY-MM-DD ...)\n"
    return (f"Embedded mail server listening on {host}:{port}.\n"
            f"Send a test registration:\n{hint}"
            f"  python3 -c \"import smtplib; smtplib.SMTP('{host}', {port}).sendmail('jan@schiedam.nl', "
            f"['{cfg.network.registration_address}'], 'From: Jan <jan@schiedam.nl>\\\\nSubject: {subject}"
            f"\\\\n\\\\nIk meld me aan.')\"\n"
            f"Replies are written to {cfg.path(cfg.embedded.outbox)} (a Maildir).")


def run(app: App, stop: threading.Event | None = None, *, install_signals: bool = True,
        embedded_ready: threading.Event | None = None) -> None:
    """The long-running service; returns when stop is set (SIGTERM / Ctrl-C set it)."""
    stop = stop or threading.Event()
    if install_signals:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    cfg = app.cfg
    holder = f"{socket.gethostname()}:{os.getpid()}:{id(stop)}"
    acquire_lock(app, "inbox", holder)
    wakeup = threading.Event()
    controller = None
    if not cfg.imap.host:
        from pioniers.embedded import start_embedded_server

        try:
            controller = start_embedded_server(cfg.embedded.smtp_host, cfg.embedded.smtp_port,
                                               cfg.path(cfg.embedded.inbox),
                                               frozenset(cfg.own_addresses), wakeup)
        except (OSError, RuntimeError) as exc:
            release_lock(app, "inbox", holder)
            raise InboxUnavailable(f"cannot start the embedded SMTP server on {cfg.embedded.smtp_host}:"
                                   f"{cfg.embedded.smtp_port} ({exc}): change [embedded] smtp_port") from None
        print(_embedded_banner(app), flush=True)
        if embedded_ready is not None:
            embedded_ready.set()
    source = make_source(app, wakeup)
    transport = make_transport(app)
    delay = 1.0
    last_purge: dt.datetime | None = None
    log.info("service started; inbox %s", source.name)
    try:
        while not stop.is_set():
            try:
                source.open()
                process_inbox(app, source)
                queue_reminders(app)
                network_tasks(app)
                deliver_due(app.sm, transport, cfg.network.registration_address, app.now)
                deliver_announcements(app, lambda: make_transport(app), stop)  # the mailing list's fan-out
                refresh_lock(app, "inbox", holder)
                if last_purge is None or app.now() - last_purge >= PURGE_EVERY:
                    report = purge_expired(app)
                    last_purge = app.now()
                    log.info("retention: %s", report)
                delay = 1.0
                if stop.is_set():
                    break
                source.wait(min(float(cfg.imap.poll_seconds), WAIT), stop)
            except (InboxUnavailable, IMAPClientError, OSError) as exc:
                log.warning("inbox unavailable, retrying in %.0f s: %s", delay, exc)
                source.close()
                stop.wait(delay)
                delay = min(delay * 2, 300.0)
    finally:
        source.close()
        transport.close()
        if controller is not None:
            controller.stop()
        release_lock(app, "inbox", holder)
        log.info("service stopped")


__all__ = ["ServiceBusy", "poll_once", "run", "make_source", "make_transport", "time"]
