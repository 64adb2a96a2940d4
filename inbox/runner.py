"""The runner: for each waiting message, record it, decide, act, commit, then move it. Never loses one.

Order per message (what makes a crash at any point safe):
  1. its identity (hash, Message-ID, folder, UIDVALIDITY, UID) is committed as 'received';
  2. decision, database changes and outbox rows commit together with its final outcome;
  3. only then is it moved out of the inbox. A message seen again finds its outcome and is only moved.
"""
from __future__ import annotations

import hashlib
import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from db import lookups, pending
from db.models import FolderState, InboundMessage, Meeting, table
from inbox import decide as d
from inbox.decision import Context, MeetingInfo
from inbox.handlers import HANDLERS
from inbox.job import Job, ReplyBudget
from inbox.message import Incoming, parse_message
from inbox.sources import RawMessage, Source
from db.app import App
from base.hashing import address_hashes

log = logging.getLogger("pioniers.inbox")

CHUNK = 500  # messages per transaction: fewer commits and per-chunk lookups; a failure still parks one alone
MAX_STORED = 5 * 1024 * 1024  # raw copies above this stay only in the mailbox's processed folder


@dataclass
class RunStats:
    processed: int = 0
    attention: int = 0
    skipped: int = 0  # seen before: only moved
    outcomes: list[tuple[str, str]] = field(default_factory=list)


def context_for(app: App, session: Session) -> Context:
    meetings = [MeetingInfo(m.date, m.uid, m.status) for m in session.scalars(select(Meeting))]
    cfg = app.cfg
    return Context(
        network_name=cfg.network.name,
        own_addresses=cfg.own_addresses,
        own_domain=cfg.domain,
        meetings=meetings,
        today=app.today(),
        authserv_id=cfg.imap.authserv_id or None,
        post_address=cfg.post_address,
        desk_address=cfg.desk_address,
        bounce_address=cfg.bounce_address,
        organisers=frozenset(cfg.network.organisers),
        secret=cfg.secret,
    )


def _parse(raw: bytes) -> tuple[Incoming | None, str]:
    try:
        return parse_message(raw), ""
    except Exception as exc:  # the parser is lenient; this is the last line of defence
        return None, f"unreadable message: {type(exc).__name__}: {exc}"


@dataclass
class _Item:
    raw: RawMessage
    msg: Incoming | None
    problem: str
    row_id: int = 0
    outcome: str = "received"
    reason: str = ""


def _record(app: App, folder: str, uidvalidity: int, items: list[_Item]) -> None:
    """Step 1: the identity rows, committed before anything is acted on (one query and one INSERT per chunk)."""
    now = app.now()
    digests = [hashlib.sha256(item.raw.data).hexdigest() for item in items]
    with app.sm.begin() as session:
        known = {sha: (row_id, outcome) for row_id, sha, outcome in session.execute(
            select(InboundMessage.id, InboundMessage.sha256, InboundMessage.outcome)
            .where(InboundMessage.sha256.in_(set(digests))))}
        new: dict[str, dict] = {}
        for item, digest in zip(items, digests):
            if digest in known or digest in new:
                continue
            msg, data = item.msg, item.raw.data
            new[digest] = dict(
                sha256=digest, message_id=storable(msg.message_id, 1000) if msg else "", folder=folder,
                uidvalidity=uidvalidity, uid=item.raw.uid, sender=storable(msg.sender, 320) if msg else "",
                subject=storable(msg.subject, 1000) if msg else "", outcome="received", reason="", received_at=now,
                raw=data if len(data) <= MAX_STORED else None,
            )
        if new:  # Core, not ORM objects: nothing here is read back but the ids
            ids = session.connection().scalars(_INSERT_RECEIVED, list(new.values())).all()
            known.update((digest, (row_id, "received")) for digest, row_id in zip(new, ids))
        for item, digest in zip(items, digests):
            item.row_id, item.outcome = known[digest]


_TABLE = table(InboundMessage)
_INSERT_RECEIVED = insert(_TABLE).returning(_TABLE.c.id, sort_by_parameter_order=True)
_SET_OUTCOME = (update(_TABLE).where(_TABLE.c.id == bindparam("row_id"))
                .values(outcome=bindparam("new_outcome"), reason=bindparam("new_reason"),
                        processed_at=bindparam("at")))


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL and lone surrogates: PostgreSQL refuses either in text


def storable(text: str, limit: int) -> str:
    """Text any database takes: a reason may quote a hostile header, and one refused value would roll back the
    whole chunk with other people's registrations in it."""
    text = text[:limit]
    return _UNSTORABLE.sub("\ufffd", text) if _UNSTORABLE.search(text) else text


def _save_outcomes(session: Session, app: App, items: list[_Item]) -> None:
    """Step 2's last write: every message's outcome, in one statement for the chunk."""
    at = app.now()
    session.connection().execute(_SET_OUTCOME, [
        {"row_id": i.row_id, "new_outcome": i.outcome, "new_reason": storable(i.reason, 2000), "at": at}
        for i in items])


class _Seen:
    """Message-IDs already acted on, looked up once per chunk instead of once per message: the same Message-ID
    from the same sender, delivered twice (e.g. to two of our addresses), is acted on once."""

    def __init__(self, session: Session, items: list[_Item]) -> None:
        ids = {i.msg.message_id for i in items if i.msg is not None and i.msg.message_id}
        self.first: dict[tuple[str, str], int] = {}
        if ids:
            for row_id, mid, sender in session.execute(
                    select(InboundMessage.id, InboundMessage.message_id, InboundMessage.sender)
                    .where(InboundMessage.message_id.in_(ids), InboundMessage.outcome != "received")
                    .order_by(InboundMessage.id)):
                self.first.setdefault((mid, sender), row_id)

    def original(self, msg: Incoming, row_id: int) -> int | None:
        found = self.first.get((msg.message_id, msg.sender)) if msg.message_id else None
        return found if found != row_id else None

    def done(self, item: _Item) -> None:
        if item.msg is not None and item.msg.message_id:
            self.first.setdefault((item.msg.message_id, item.msg.sender), item.row_id)


def _act_one(app: App, session: Session, ctx: Context, budget: ReplyBudget, item: _Item,
             seen: _Seen) -> None:
    assert item.msg is not None
    original = seen.original(item.msg, item.row_id)
    if original is not None:
        outcome, reason = "processed", f"duplicate of message #{original}: not acted on again"
    else:
        decision = d.decide(item.msg, ctx)
        outcome, reason = HANDLERS[decision.action](Job(app, session, item.msg, decision, item.row_id, budget))
    item.outcome, item.reason = outcome, reason


def _act(app: App, items: list[_Item]) -> None:
    """Step 2: decide and act, one transaction per chunk.

    First the whole chunk without savepoints, its changes flushed together (fast). If anything fails, that
    transaction is rolled back and the chunk is done again with a savepoint per message: a message whose
    handling fails is rolled back alone and parked; the others in the chunk still commit.
    """
    todo = [i for i in items if i.outcome == "received"]
    if not todo:
        return
    if len(todo) > 1:
        try:
            _act_chunk(app, todo, savepoints=False)
            return
        except Exception as exc:  # noqa: BLE001 - done again below, message by message
            log.info("chunk of %d: %s: %s; handling it again message by message", len(todo),
                     type(exc).__name__, exc)
            _reset(todo)
    try:
        _act_chunk(app, todo, savepoints=True)
        return
    except Exception:  # noqa: BLE001 - a write outside any message's savepoint failed: one at a time
        if len(todo) == 1:
            _act_alone_failed(app, todo[0])
            return
        log.exception("chunk of %d failed outside a message; handling each in its own transaction", len(todo))
        _reset(todo)
    for item in todo:
        try:
            _act_chunk(app, [item], savepoints=True)
        except Exception:  # noqa: BLE001 - this message's outcome, never the service's
            _act_alone_failed(app, item)


def _reset(items: list[_Item]) -> None:
    for item in items:
        item.outcome, item.reason = "received", ""


def _act_alone_failed(app: App, item: _Item) -> None:
    """A message whose own transaction failed: parked, the reason recorded in a transaction of its own. If even
    that fails it is still moved to the attention folder (and logged), so it can never block the inbox."""
    log.exception("message #%s failed", item.row_id)
    exc = sys.exc_info()[1]
    _park(item, f"error while handling: {type(exc).__name__}: {exc}")
    try:
        with app.sm.begin() as session:
            _save_outcomes(session, app, [item])
    except Exception:  # noqa: BLE001
        log.exception("message #%s: its outcome could not be recorded; it goes to the attention folder",
                      item.row_id)


def _act_chunk(app: App, todo: list[_Item], *, savepoints: bool) -> None:
    with app.sm.begin() as session:
        ctx = context_for(app, session)
        budget = ReplyBudget(app, session)
        senders = [i.msg.sender for i in todo if i.msg is not None and i.msg.sender]
        budget.preload(senders)
        seen = _Seen(session, todo)
        lookups.load(session, senders, [f"reply:{i.row_id}" for i in todo], 
                     [h for s in senders for h in address_hashes(app.cfg.secret, s)])
        for item in todo:
            if item.msg is None:
                _park(item, item.problem)
                continue
            if not savepoints:
                _act_one(app, session, ctx, budget, item, seen)  # any exception: the caller starts over
                budget.settle()
                seen.done(item)
                continue
            pending.write(session)  # earlier messages' rows are not this savepoint's to roll back
            savepoint = session.begin_nested()
            try:
                _act_one(app, session, ctx, budget, item, seen)
                savepoint.commit()
                budget.settle()
            except Exception as exc:  # one bad message must never stop the others
                savepoint.rollback()
                lookups.drop(session)  # it may hold what was just rolled back: the rest of the chunk queries
                log.exception("message #%s failed", item.row_id)
                budget.forget_pending()
                _park(item, f"error while handling: {type(exc).__name__}: {exc}")
            seen.done(item)
        lookups.drop(session)
        _save_outcomes(session, app, todo)


def _park(item: _Item, reason: str) -> None:
    item.outcome, item.reason = "attention", reason


def process_batch(app: App, folder: str, uidvalidity: int, raws: list[RawMessage]) -> list[_Item]:
    """Messages to their final outcome ('processed' or 'attention'); never raises for a message's sake."""
    items = [_Item(raw, *_parse(raw.data)) for raw in raws]
    _record(app, folder, uidvalidity, items)
    fresh = {i.row_id for i in items if i.outcome == "received"}
    _act(app, items)
    for item in items:
        if item.row_id in fresh:
            log.info("message #%s: %s (%s)", item.row_id, item.outcome, item.reason)  # no address: see messages
    return items


def process_message(app: App, folder: str, uidvalidity: int, raw: RawMessage) -> str:
    """One message to its final outcome."""
    return process_batch(app, folder, uidvalidity, [raw])[0].outcome


def _state(app: App, folder: str) -> tuple[int, int]:
    with app.sm.begin() as session:
        st = session.get(FolderState, folder)
        return (st.uidvalidity, st.last_uid) if st else (0, 0)


def _save_state(app: App, folder: str, uidvalidity: int, last_uid: int) -> None:
    with app.sm.begin() as session:
        st = session.get(FolderState, folder)
        if st is None:
            session.add(FolderState(folder=folder, uidvalidity=uidvalidity, last_uid=last_uid))
        else:
            st.uidvalidity, st.last_uid = uidvalidity, last_uid


def process_inbox(app: App, source: Source, on_chunk: Callable[[int], None] | None = None) -> RunStats:
    """Process every waiting message in UID order, moving each to its folder. on_chunk(messages still waiting)
    is called after each chunk is committed and moved (the outbox may send its replies)."""
    cfg = app.cfg.imap
    folders = {"processed": cfg.processed_folder, "attention": cfg.attention_folder}
    stats = RunStats()
    uidvalidity, last_uid = _state(app, source.name)
    uidvalidity, uids = source.pending(uidvalidity, last_uid)
    for i in range(0, len(uids), CHUNK):
        chunk = uids[i:i + CHUNK]
        moves: dict[str, list[str]] = {"processed": [], "attention": []}
        for item in process_batch(app, source.name, uidvalidity, source.fetch(chunk)):
            moves[item.outcome].append(item.raw.uid)
            if item.outcome == "attention":
                stats.attention += 1
            else:
                stats.processed += 1
        for outcome, moved in moves.items():
            source.move(moved, folders[outcome])
        numeric = [int(u) for u in chunk if u.isdigit()]
        if numeric:
            _save_state(app, source.name, uidvalidity, max(numeric))
        if on_chunk is not None:
            on_chunk(len(uids) - i - len(chunk))
    return stats
