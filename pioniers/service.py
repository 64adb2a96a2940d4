"""The service: poll once, or run for ever (IMAP IDLE / embedded server), sending the outbox in between."""
from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from imapclient.exceptions import IMAPClientError
from sqlalchemy.exc import DBAPIError, OperationalError

from inbox.erase import purge_mail
from inbox.runner import RunStats, process_inbox
from inbox.sources import ImapSource, InboxUnavailable, MaildirSource, Source
from mailer.fanout import deliver_announcements
from mailer.outbox import DeliveryStats
from mailer.sending import deliver
from mailer.transport import MaildirTransport, SmtpTransport, Transport
from db.app import App
from db.session import explain, first_line, place
from pioniers.background import BackgroundDelivery
from pioniers.filemodes import readable_by_others
from db.locks import ServiceBusy, acquire_lock, refresh_lock, release_lock
from network.tasks import network_tasks
from base.oauth import imap_tokens, smtp_tokens
from network.privacy import purge_expired
from network.reminders import queue_reminders

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


Step = tuple[str, Callable[[], object]]


def reading_steps(app: App, source: Source, on_chunk: Callable[[int], None] | None = None) -> list[Step]:
    """What reads and decides: the inbox, and what the clock makes due."""
    return [
        ("inbox", lambda: process_inbox(app, source, on_chunk)),
        ("reminders", lambda: queue_reminders(app)),
        ("network", lambda: network_tasks(app)),  # theme polls past their closing date, participant and host lists
    ]


def sending_steps(app: App, transport: Transport, stop: threading.Event | None = None) -> list[Step]:
    """What sends: the outbox (replies, letters) and the list's fan-out."""
    return [
        ("outbox", lambda: deliver(app, transport)),
        ("list", lambda: deliver_announcements(app, lambda: make_transport(app), stop)),
    ]


def steps(app: App, source: Source, transport: Transport, stop: threading.Event | None = None,
          on_chunk: Callable[[int], None] | None = None) -> list[Step]:
    """One pass of the service, in order: `poll --once` runs them one after the other; `run` reads in one
    thread and sends in another, so that a slow or hanging mail server never delays reading."""
    return reading_steps(app, source, on_chunk) + sending_steps(app, transport, stop)


def poll_once(app: App, source: Source | None = None, transport: Transport | None = None) -> PollResult:
    """Process every waiting message, queue due reminders, send everything due. A mailbox that cannot be read
    still lets what is queued go out; then its one line is raised (the command exits 2)."""
    own_source = source is None
    source = source or make_source(app)
    transport = transport or make_transport(app)
    background = BackgroundDelivery(app, lambda: make_transport(app))  # a burst: replies go out meanwhile
    done: dict[str, object] = {}
    unreadable: InboxUnavailable | None = None
    try:
        try:
            source.open()
        except InboxUnavailable as exc:
            unreadable = exc
        for name, step in steps(app, source, transport, on_chunk=background.nudge):
            if unreadable is not None and name == "inbox":
                continue  # reading needs the mailbox; reminders and sending do not
            try:
                done[name] = step()
            finally:
                if name == "inbox":
                    early = background.finish()
    finally:
        if own_source:
            source.close()
        transport.close()
    if unreadable is not None:
        raise unreadable
    sent = cast(DeliveryStats, done["outbox"])
    sent.add(early)
    return PollResult(cast(RunStats, done["inbox"]), sent, cast(int, done["reminders"]))


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
            + (f"Replies are sent through {cfg.smtp.host}:{cfg.smtp.port}." if cfg.smtp.host else
               f"Replies are written to {cfg.path(cfg.embedded.outbox)} (a Maildir)."))


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
    due = threading.Event()  # set after each pass of reading: the sender looks at once
    sender = threading.Thread(target=_send_until_stopped, args=(app, stop, due), name="pioniers-sender",
                              daemon=True)
    sender.start()
    last_purge: dt.datetime | None = None
    log.info("service started; inbox %s", source.name)
    for line in readable_by_others(cfg):
        log.warning("%s", line)
    failures: dict[str, int] = {}
    down_since: dt.datetime | None = None  # the database has not answered since then
    try:
        while not stop.is_set():
            problem = database_problem(app)
            if problem is not None:  # every step needs it: wait for it, one line when it goes and one when it is back
                if down_since is None:
                    down_since = app.now()
                    log.warning("database unreachable (%s): waiting for it, nothing is lost", problem)
                failures["database"] = failures.get("database", 0) + 1
                stop.wait(min(2.0 ** (failures["database"] - 1), 60.0))
                continue
            if down_since is not None:
                log.info("database reachable again after %d s", (app.now() - down_since).total_seconds())
                down_since = None
                failures.pop("database", None)
            for name, step in reading_steps(app, source):
                if stop.is_set():
                    break
                _guarded(app, name, step, source, failures)  # a part that is down never stops the others
            due.set()
            try:
                refresh_lock(app, "inbox", holder)
                if last_purge is None or app.now() - last_purge >= PURGE_EVERY:
                    report = purge_expired(app)
                    mail = purge_mail(cfg, app.now(), source if isinstance(source, ImapSource) else None)
                    last_purge = app.now()
                    log.info("retention: %s; kept mail %s", report, mail)
            except OperationalError as exc:  # the database went away meanwhile: the next pass waits for it
                log.warning("service: lock refresh or retention purge failed: %s", first_line(exc))
            except Exception:  # noqa: BLE001 - tried again next pass
                log.exception("service: lock refresh or retention purge failed")
            if stop.is_set():
                break
            if failures:  # back off: 1 s doubling to 5 minutes, for the part failing longest
                stop.wait(min(2.0 ** (max(failures.values()) - 1), 300.0))
            else:
                try:
                    source.wait(min(float(cfg.imap.poll_seconds), WAIT), stop)
                except (InboxUnavailable, IMAPClientError, OSError) as exc:
                    log.warning("inbox unavailable: %s", exc)
                    source.close()
    finally:
        stop.set()
        due.set()
        sender.join(timeout=120)  # a send in progress ends with its SMTP timeout at the latest
        source.close()
        if controller is not None:
            controller.stop()
        release_lock(app, "inbox", holder)
        log.info("service stopped")


def _send_until_stopped(app: App, stop: threading.Event, due: threading.Event) -> None:
    """`run`'s sending thread: the outbox and the list's fan-out, when reading says so and at least every WAIT
    seconds (retries, paced replies). A server that hangs holds up only this thread."""
    transport = make_transport(app)
    failures: dict[str, int] = {}
    try:
        while not stop.is_set():
            due.clear()
            if database_problem(app) is None:  # else the reading loop says so, once
                for name, step in sending_steps(app, transport, stop):
                    if stop.is_set():
                        break
                    _guarded(app, name, step, None, failures)
            wait = min(2.0 ** (max(failures.values()) - 1), 300.0) if failures else WAIT
            due.wait(wait)
    finally:
        transport.close()


def database_problem(app: App) -> str | None:
    """None when the database answers; else the driver's first line (a restart, a network problem)."""
    try:
        with app.sm.kw["bind"].connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except DBAPIError as exc:
        return first_line(exc)
    return None


def _guarded(app: App, name: str, step: Callable[[], object], source: Source | None,
             failures: dict[str, int]) -> None:
    """Run one step of the service, counting its failures in a row. A failure never ends the service: an
    unreachable inbox still lets the outbox send, and an unexpected error is logged and tried again next pass."""
    try:
        if name == "inbox" and source is not None:
            source.open()
        step()
    except Exception as exc:  # noqa: BLE001 - see the docstring
        failures[name] = failures.get(name, 0) + 1
        # a server away (the mailbox, or the database between the check and the step): one line, no traceback
        expected = isinstance(exc, (InboxUnavailable, IMAPClientError, OSError, OperationalError))
        said = explain(exc, place(app.cfg.database.url, app.cfg.base_dir)) if isinstance(exc, OperationalError) \
            else exc
        log.log(logging.WARNING, "%s step failed (%d in a row): %s", name, failures[name], said,
                exc_info=not expected)
        if name == "inbox" and source is not None:
            source.close()
        return
    failures.pop(name, None)


__all__ = ["ServiceBusy", "poll_once", "run", "make_source", "make_transport", "time"]
