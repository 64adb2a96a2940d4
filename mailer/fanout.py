"""Fan-out: every approved announcement to every member, one message each, exactly once.

The Delivery rows exist (queued) before anything is sent; their states and retry policy are the outbox's
(mailer/states.py). A worker claims a batch (a lease: next_attempt_at moves into the future, claimed_by names
the worker; PostgreSQL: FOR UPDATE SKIP LOCKED, so several `pioniers run` workers share the work), fills in
each member's copy from the announcement's prepared bytes, sends over several SMTP connections (threads), and
marks rows sent in small batches right after the server accepted them. A killed worker's claimed rows become
due again: at once when it ran on this host (its pid is gone), else when the lease ends. The one duplicate
possible is a message the server accepted in the last instant before the kill, whose mark was not committed yet
(at most one per connection).
"""
from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from base.config import Config
from base.process import holder_id
from db import registry
from db.models import Announcement, Delivery, Member
from db.states import AnnouncementStatus, DeliveryStatus, MemberStatus
from mailer import listmail, sentlog, states
from mailer.letters import send_letter_to
from mailer.states import OutboxState
from mailer.sending import tell_paused
from mailer.transport import LIMIT_SAID, SendError, Transport
from db.app import App

log = logging.getLogger("pioniers.fanout")

CLAIM = 500  # rows per claim; with a rate limit, fewer (a claim must be sent well within its lease)
MARK_EVERY = 0.05  # seconds: accepted messages are marked sent at least this often
MARK_BATCH = 200


@dataclass
class FanoutStats:
    sent: int = 0
    retry: int = 0
    failed: int = 0
    skipped: int = 0  # the member left before their copy went out

    def add(self, other: FanoutStats) -> None:
        self.sent += other.sent
        self.retry += other.retry
        self.failed += other.failed
        self.skipped += other.skipped


@dataclass(frozen=True)
class Job:
    id: int
    announcement_id: int
    member_id: int
    email: str
    attempts: int
    token: str
    name: str
    active: bool


def _claim(session: Session, worker: str, now: dt.datetime, limit: int) -> list[Job]:
    jobs: list[Job] = []
    for condition in states.due(Delivery, now):
        query = (
            select(Delivery.id, Delivery.announcement_id, Delivery.member_id, Delivery.email, Delivery.attempts,
                   Member.token, Member.name, Member.status)
            .join(Member, Member.id == Delivery.member_id)
            .where(*condition)
            .order_by(Delivery.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=Delivery)  # workers never claim the same rows
        jobs += [Job(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7] == MemberStatus.ACTIVE)
                 for r in session.execute(query)]
    jobs = sorted(jobs, key=lambda j: j.id)[:limit]
    if jobs:
        session.execute(update(Delivery).where(Delivery.id.in_([j.id for j in jobs]))
                        .values(**states.hold(worker, now)))
    return jobs


class _Pacer:
    """A shared rate limit for all connections (messages per second; 0 = none)."""

    def __init__(self, rate: int) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            slot = max(now, self.next)
            self.next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


@dataclass
class _Marks:
    """Outcomes waiting to be committed; flushed in small batches."""

    sent: list[int] = field(default_factory=list)
    refused: list[tuple[Job, str, bool]] = field(default_factory=list)  # (job, reply, temporary)
    untried: list[tuple[Job, str]] = field(default_factory=list)  # (job, why)
    skipped: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sent) + len(self.refused) + len(self.untried) + len(self.skipped)


class Fanout:
    """One worker's sending machinery: N connections, a pacer, and the marker (the calling thread)."""

    def __init__(self, app: App, make_transport: Callable[[], Transport], *, connections: int | None = None,
                 progress: Callable[[FanoutStats], None] | None = None) -> None:
        self.app = app
        self.cfg = app.cfg
        self.limits = states.ProviderLimits(app.cfg.limits.messages_per_minute, app.cfg.limits.recipients_per_day)
        self.make_transport = make_transport
        self.connections = connections or self.cfg.list.connections
        self.transports: list[Transport | None] = [None] * self.connections
        self.pacer = _Pacer(self.cfg.list.rate)
        self.worker = holder_id()
        # per announcement: the compiled copy, when it was approved, and who is registered for the meeting it names
        self.compiled: dict[int, tuple[listmail.Compiled, dt.datetime, dict[str, str]]] = {}
        self.progress = progress
        rate = self.cfg.list.rate
        self.claim_size = CLAIM if rate <= 0 else max(self.connections, min(CLAIM, rate * 30))
        log_path = sentlog.list_path(app.sm.kw["bind"], self.cfg.path("var/pioniers-list.sent"))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        # each accepted copy noted at once by its connection's thread (marks in the database come in batches): a
        # kill repeats at most the copy in flight on each connection
        self.sent_log = sentlog.SentLog(log_path, Delivery)
        self.limited = ""  # why the send paused for the provider, when it did

    def close(self) -> None:
        for i, t in enumerate(self.transports):
            if t is not None:
                t.close()
            self.transports[i] = None
        self.sent_log.close()

    def _apply_sent_log(self) -> None:
        """What this or a killed sender on this machine noted is marked sent before anything is claimed."""
        with self.app.sm.kw["bind"].connect() as conn:
            self.sent_log.apply(conn, self.app.now())

    def _compiled(self, ann_id: int) -> tuple[listmail.Compiled, dt.datetime, dict[str, str]]:
        if ann_id not in self.compiled:
            with self.app.sm.begin() as session:
                ann = session.get(Announcement, ann_id)
                assert ann is not None
                self.compiled[ann_id] = (listmail.compile_prepared(self.cfg, ann.prepared),
                                         ann.approved_at or self.app.now(),
                                         registry.registered_emails(session, ann.meeting_id))
        return self.compiled[ann_id]

    def _sender(self, index: int, jobs: queue.SimpleQueue[Job | None], results: queue.SimpleQueue,
                down: threading.Event, stop: threading.Event | None) -> None:
        while True:
            job = jobs.get()
            if job is None:
                return
            if stop is not None and stop.is_set():
                results.put((OutboxState.QUEUED, job, states.NOT_TRIED_STOPPING))
                continue
            if down.is_set():
                results.put((OutboxState.QUEUED, job, states.NOT_TRIED_DOWN))
                continue
            if not job.active:
                results.put((OutboxState.SKIPPED, job, ""))
                continue
            try:
                compiled, _, registered = self.compiled[job.announcement_id]
                data = compiled.fill(email=job.email, member_id=job.member_id, token=job.token, name=job.name,
                                     registered=registered.get(job.email, ""))
                self.pacer.wait()
                if self.transports[index] is None:
                    self.transports[index] = self.make_transport()
                transport = self.transports[index]
                assert transport is not None
                transport.send(listmail.envelope_sender(self.cfg, job.token), job.email, data)
                self.sent_log.note(job.id)
                results.put((OutboxState.SENT, job, ""))
            except SendError as exc:
                results.put((OutboxState.WAITING if exc.temporary else OutboxState.FAILED, job, exc.reply))
                if exc.connection:
                    down.set()
                if exc.reply.startswith(LIMIT_SAID):
                    self.limited = exc.reply
            except Exception as exc:  # noqa: BLE001 - one message's failure is that message's outcome
                log.exception("fanout: delivery %s could not be sent", job.id)
                if (broken := self.transports[index]) is not None:
                    broken.abort()  # what the connection was in the middle of is unknown
                results.put((OutboxState.FAILED, job, f"could not be sent: {type(exc).__name__}: {exc}"))

    def _flush(self, marks: _Marks, stats: FanoutStats) -> None:
        if not len(marks):
            return
        now = self.app.now()
        with self.app.sm.begin() as session:
            if marks.sent:
                session.execute(update(Delivery).where(Delivery.id.in_(marks.sent)).values(
                    **states.sent(Delivery, now)))
            if marks.skipped:
                session.execute(update(Delivery).where(Delivery.id.in_(marks.skipped)).values(
                    status=DeliveryStatus.SKIPPED, claimed_by=None, last_error="member left before sending"))
            for job, reply, temporary in marks.refused:
                _, approved, _ = self.compiled[job.announcement_id]  # a list copy's age counts from the approval
                values = states.refused(reply, temporary=temporary, attempts=job.attempts + 1, since=approved,
                                        now=now)
                session.execute(update(Delivery).where(Delivery.id == job.id).values(**values))
                if values["status"] == OutboxState.FAILED:
                    stats.failed += 1
                    log.warning("fanout: delivery %s failed permanently: %s", job.id, values["last_error"])
                else:
                    stats.retry += 1
            for job, why in marks.untried:
                session.execute(update(Delivery).where(Delivery.id == job.id).values(
                    **states.not_tried(why, attempts=job.attempts, now=now)))
            stats.retry += len(marks.untried)
        stats.sent += len(marks.sent)
        stats.skipped += len(marks.skipped)
        marks.sent, marks.refused, marks.untried, marks.skipped = [], [], [], []
        if self.progress is not None:
            self.progress(stats)

    def _send_batch(self, batch: list[Job], stats: FanoutStats, stop: threading.Event | None) -> bool:
        """Send one claimed batch; False when the SMTP server is unreachable (try again later)."""
        for ann_id in {j.announcement_id for j in batch}:
            self._compiled(ann_id)
        jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        results: queue.SimpleQueue = queue.SimpleQueue()
        for job in batch:
            jobs.put(job)
        threads = min(self.connections, len(batch))
        for _ in range(threads):
            jobs.put(None)
        down = threading.Event()
        workers = [threading.Thread(target=self._sender, args=(i, jobs, results, down, stop), daemon=True,
                                    name=f"fanout-{i}") for i in range(threads)]
        for w in workers:
            w.start()
        marks = _Marks()
        done, last = 0, time.monotonic()
        while done < len(batch):
            try:
                outcome, job, reply = results.get(timeout=MARK_EVERY)
            except queue.Empty:
                pass
            else:
                done += 1
                if outcome == OutboxState.SENT:
                    marks.sent.append(job.id)
                elif outcome == OutboxState.SKIPPED:
                    marks.skipped.append(job.id)
                elif outcome == OutboxState.QUEUED:
                    marks.untried.append((job, reply))
                else:
                    marks.refused.append((job, reply, outcome == OutboxState.WAITING))
            if len(marks) >= MARK_BATCH or (len(marks) and time.monotonic() - last >= MARK_EVERY):
                self._flush(marks, stats)
                last = time.monotonic()
        self._flush(marks, stats)
        for w in workers:
            w.join()
        if down.is_set():
            for i, t in enumerate(self.transports):  # reconnect next time
                if t is not None:
                    t.close()
                self.transports[i] = None
        return not down.is_set()

    def run(self, stop: threading.Event | None = None) -> FanoutStats:
        """Send every due delivery; returns when none is due (or SMTP is down, or stop is set)."""
        stats = FanoutStats()
        self._apply_sent_log()
        with self.app.sm.begin() as session:
            states.release_dead_claims(session, Delivery, self.app.now())
        while stop is None or not stop.is_set():
            self._apply_sent_log()
            with self.app.sm.begin() as session:
                allowed = states.provider_room(session, self.limits, self.app.now())
                if allowed == 0:
                    log.info("fanout: the provider's limit reached; list copies wait for it")
                    self.limited = "[limits] messages_per_minute, recipients_per_day"
                    break
                size = self.claim_size if allowed is None else min(self.claim_size, allowed)
                batch = _claim(session, self.worker, self.app.now(), size)
            if not batch:
                break
            if not self._send_batch(batch, stats, stop):
                log.warning("fanout: SMTP unavailable; %d list message(s) will be retried", stats.retry)
                break
        if self.limited:
            tell_paused(self.app, self.limited)
        self._apply_sent_log()
        finish_announcements(self.app.sm, self.app.now(), self.cfg)
        return stats


def finish_announcements(sm: sessionmaker[Session], now: dt.datetime, cfg: Config | None = None) -> int:
    """Announcements with nothing left queued are done; with cfg, the organiser who posted one hears how it went."""
    with sm.begin() as session:
        pending = exists().where(and_(Delivery.announcement_id == Announcement.id,
                                      Delivery.status.in_(states.UNSENT)))
        done = list(session.scalars(select(Announcement).where(
            Announcement.status == AnnouncementStatus.SENDING, ~pending).with_for_update()))
        for ann in done:
            ann.status, ann.finished_at = AnnouncementStatus.SENT, now
            if cfg is not None and ann.posted_by:
                counts = dict(session.execute(select(Delivery.status, func.count()).where(
                    Delivery.announcement_id == ann.id).group_by(Delivery.status)).all())
                send_letter_to(session, cfg, key=f"list-finished:{ann.id}", template="list_finished",
                               to=ann.posted_by, name="", now=now, auto_reply=False, subject=ann.subject,
                               sent=counts.get(DeliveryStatus.SENT, 0), failed=counts.get(DeliveryStatus.FAILED, 0))
        return len(done)


def deliver_announcements(app: App, make_transport: Callable[[], Transport],
                          stop: threading.Event | None = None,
                          progress: Callable[[FanoutStats], None] | None = None) -> FanoutStats:
    """The service's step next to deliver_due: send what is due of every announcement being sent."""
    fanout = Fanout(app, make_transport, progress=progress)
    try:
        return fanout.run(stop)
    finally:
        fanout.close()


def run_delivery_worker(app: App, stop: threading.Event, make_transport: Callable[[], Transport],
                        idle: float = 5.0) -> None:
    """`pioniers run --deliver-only`: one more worker sharing the list's deliveries (PostgreSQL), no inbox."""
    log.info("delivery worker %s started", holder_id())
    while not stop.is_set():
        try:
            stats = deliver_announcements(app, make_transport, stop)
        except Exception:  # a database hiccup must not end the worker
            log.exception("delivery worker: pass failed")
            stats = FanoutStats()
        if not stats.sent:
            stop.wait(idle)
    log.info("delivery worker stopped")
