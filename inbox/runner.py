"""The runner: for each waiting message, record it, decide, act, commit, then move it. Never loses one.

Order per message (what makes a crash at any point safe):
  1. its identity (hash, Message-ID, folder, UIDVALIDITY, UID) is committed as 'received';
  2. decision, database changes and outbox rows commit together with its final outcome;
  3. only then is it moved out of the inbox. A message seen again finds its outcome and is only moved.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from sqlalchemy import select

from db.models import FolderState, InboundMessage, Meeting
from inbox import decide as d
from inbox.handlers import HANDLERS, Job
from inbox.message import Incoming, parse_message
from inbox.sources import RawMessage, Source
from pioniers.app import App

log = logging.getLogger("pioniers.inbox")

CHUNK = 200
MAX_STORED = 5 * 1024 * 1024  # raw copies above this stay only in the mailbox's processed folder


@dataclass
class RunStats:
    processed: int = 0
    attention: int = 0
    skipped: int = 0  # seen before: only moved
    outcomes: list[tuple[str, str]] = field(default_factory=list)


def context_for(app: App, session) -> d.Context:  # type: ignore[no-untyped-def]
    meetings = [d.MeetingInfo(m.date, m.uid, m.status) for m in session.scalars(select(Meeting))]
    cfg = app.cfg
    return d.Context(
        network_name=cfg.network.name,
        own_addresses=cfg.own_addresses,
        own_domain=cfg.domain,
        meetings=meetings,
        today=app.today(),
        authserv_id=cfg.imap.authserv_id or None,
    )


def _parse(raw: bytes) -> tuple[Incoming | None, str]:
    try:
        return parse_message(raw), ""
    except Exception as exc:  # the parser is lenient; this is the last line of defence
        return None, f"unreadable message: {type(exc).__name__}: {exc}"


def _record(app: App, folder: str, uidvalidity: int, raw: RawMessage, msg: Incoming | None) -> tuple[int, str]:
    """Step 1: the identity row. Returns (row id, outcome so far)."""
    digest = hashlib.sha256(raw.data).hexdigest()
    with app.sm.begin() as session:
        row = session.scalar(select(InboundMessage).where(InboundMessage.sha256 == digest))
        if row is not None:
            return row.id, row.outcome
        row = InboundMessage(
            sha256=digest, message_id=msg.message_id if msg else "", folder=folder, uidvalidity=uidvalidity,
            uid=raw.uid, sender=msg.sender if msg else "", subject=(msg.subject if msg else "")[:1000],
            outcome="received", received_at=app.now(), raw=raw.data if len(raw.data) <= MAX_STORED else None,
        )
        session.add(row)
        session.flush()
        return row.id, "received"


def _duplicate_of(session, msg: Incoming, row_id: int) -> int | None:  # type: ignore[no-untyped-def]
    """The same Message-ID from the same sender, delivered twice (e.g. to two of our addresses)."""
    if not msg.message_id:
        return None
    return session.scalar(
        select(InboundMessage.id).where(
            InboundMessage.message_id == msg.message_id,
            InboundMessage.sender == msg.sender,
            InboundMessage.id != row_id,
            InboundMessage.outcome != "received",
        )
    )


def _act(app: App, row_id: int, msg: Incoming) -> tuple[str, str]:
    """Step 2: decide and act in one transaction with the outcome."""
    with app.sm.begin() as session:
        row = session.get(InboundMessage, row_id)
        assert row is not None
        original = _duplicate_of(session, msg, row_id)
        if original is not None:
            outcome, reason = "processed", f"duplicate of message #{original}: not acted on again"
        else:
            decision = d.decide(msg, context_for(app, session))
            outcome, reason = HANDLERS[decision.action](Job(app, session, msg, decision, row))
        row.outcome, row.reason, row.processed_at = outcome, reason[:2000], app.now()
        return outcome, reason


def _park(app: App, row_id: int, reason: str) -> None:
    with app.sm.begin() as session:
        row = session.get(InboundMessage, row_id)
        assert row is not None
        row.outcome, row.reason, row.processed_at = "attention", reason[:2000], app.now()


def process_message(app: App, folder: str, uidvalidity: int, raw: RawMessage) -> str:
    """One message to its final outcome ('processed' or 'attention'); never raises for the message's sake."""
    msg, problem = _parse(raw.data)
    row_id, outcome = _record(app, folder, uidvalidity, raw, msg)
    if outcome != "received":
        return outcome
    if msg is None:
        _park(app, row_id, problem)
        outcome, reason = "attention", problem
    else:
        try:
            outcome, reason = _act(app, row_id, msg)
        except Exception as exc:  # one bad message must never stop the others
            log.exception("message #%s failed", row_id)
            reason = f"error while handling: {type(exc).__name__}: {exc}"
            _park(app, row_id, reason)
            outcome = "attention"
    log.info("message #%s from %s: %s (%s)", row_id, msg.sender if msg else "?", outcome, reason)
    return outcome


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


def process_inbox(app: App, source: Source) -> RunStats:
    """Process every waiting message in UID order, moving each to its folder."""
    cfg = app.cfg.imap
    folders = {"processed": cfg.processed_folder, "attention": cfg.attention_folder}
    stats = RunStats()
    uidvalidity, last_uid = _state(app, source.name)
    uidvalidity, uids = source.pending(uidvalidity, last_uid)
    for i in range(0, len(uids), CHUNK):
        chunk = uids[i:i + CHUNK]
        moves: dict[str, list[str]] = {"processed": [], "attention": []}
        for raw in source.fetch(chunk):
            outcome = process_message(app, source.name, uidvalidity, raw)
            moves[outcome].append(raw.uid)
            if outcome == "attention":
                stats.attention += 1
            else:
                stats.processed += 1
        for outcome, moved in moves.items():
            source.move(moved, folders[outcome])
        numeric = [int(u) for u in chunk if u.isdigit()]
        if numeric:
            _save_state(app, source.name, uidvalidity, max(numeric))
    return stats
