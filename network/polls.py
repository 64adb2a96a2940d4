"""Themes chosen together: theme polls, votes and proposals, the tally, and closing a poll.

Used by inbox/network_handlers.py (mail), pioniers/cli_network.py (commands) and the service loop
(network/tasks.py: polls past their closing date are closed).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from base.config import Config
from base.text import scrub
from db import registry
from db.app import App
from db.models import Announcement, Meeting, Poll, PollOption, Proposal, Vote
from db.session import rowcount
from db.states import AnnouncementStatus, MeetingStatus, MemberStatus, PollStatus
from mailer import format as fmt
from mailer import listmail
from mailer.compose import environment, render
from mailer.letters import meeting_view, send_letter_to
from network import announcements as ann_ops
from network.meetings import UserError, update_meeting

log = logging.getLogger("pioniers.network")

MAX_OPTIONS = 20
MAX_OPTION = 200


def poll_address(cfg: Config, poll_id: int) -> str:
    """nieuws+poll-ID@domain: the Reply-To of a poll's announcement; whatever the subject becomes, a reply
    to it names the poll."""
    local, _, domain = cfg.post_address.partition("@")
    return f"{local}+poll-{poll_id}@{domain}"


def options_of(session: Session, poll: Poll) -> list[PollOption]:
    return list(session.scalars(select(PollOption).where(PollOption.poll_id == poll.id)
                                .order_by(PollOption.position)))


def is_live(session: Session, poll: Poll) -> bool:
    """Open, and its announcement was not discarded by the organiser."""
    if poll.status != PollStatus.OPEN:
        return False
    if poll.announcement_id is None:
        return True
    ann = session.get(Announcement, poll.announcement_id)
    return ann is None or ann.status != AnnouncementStatus.DISCARDED


def accepting_votes(session: Session, poll: Poll, today: dt.date) -> bool:
    return is_live(session, poll) and (poll.closes_on is None or today <= poll.closes_on)


def poll_for_meeting(session: Session, meeting: Meeting) -> Poll | None:
    """The meeting's live poll, else its most recent closed one."""
    polls = list(session.scalars(select(Poll).where(Poll.meeting_id == meeting.id).order_by(Poll.id.desc())))
    live = [p for p in polls if p.status == PollStatus.CLOSING or (p.status == PollStatus.OPEN and is_live(session, p))]
    if live:
        return live[0]
    return next((p for p in polls if p.status == PollStatus.CLOSED), None)


def default_closes(cfg: Config, meeting_day: dt.date, today: dt.date) -> dt.date:
    return max(today, meeting_day - dt.timedelta(days=cfg.network.poll_close_days))


def _howto(cfg: Config, kind: str, **context: Any) -> str:
    return environment(cfg.network.language, cfg.templates).get_template(f"_poll_howto.{kind}").render(
        network=cfg.network, **context).strip()


class PollRefused(UserError):
    """A poll that cannot open: one English line for the command line, a Dutch one for the organiser's mail."""

    def __init__(self, english: str, dutch: str) -> None:
        super().__init__(english)
        self.dutch = dutch

    def said(self, lang: str) -> str:
        return self.dutch if lang == "nl" else str(self)


def create_poll(session: Session, app: App, meeting: Meeting, options: list[str], closes_on: dt.date | None,
                created_by: str, src: listmail.Source | None = None) -> tuple[Poll, Announcement]:
    """A poll and its held announcement (approved like any post, or sent by the command line).

    src: the organiser's own post (mail); None renders the standard poll announcement. Everything is checked
    before anything is written: a UserError leaves the session untouched."""
    cfg, today = app.cfg, app.today()
    options = [" ".join(o.split())[:MAX_OPTION] for o in options if o.strip()]
    when = fmt.long_date(meeting.date, "nl")
    if meeting.status != MeetingStatus.SCHEDULED:
        raise PollRefused(f"the meeting on {meeting.date} is cancelled", f"de bijeenkomst van {when} gaat niet door")
    if meeting.date <= today:
        raise PollRefused(f"the meeting on {meeting.date} is not in the future",
                          f"de bijeenkomst van {when} is al geweest")
    if not 2 <= len(options) <= MAX_OPTIONS:
        raise PollRefused(f"a theme poll needs 2 to {MAX_OPTIONS} options (got {len(options)})",
                          f"een stemming heeft 2 tot {MAX_OPTIONS} genummerde thema's nodig, en we vonden er "
                          f"{len(options)}")
    if len({o.casefold() for o in options}) != len(options):
        raise PollRefused("two options are the same", "twee thema's zijn hetzelfde")
    closes_on = closes_on or default_closes(cfg, meeting.date, today)
    if closes_on < today or closes_on >= meeting.date:
        last = meeting.date - dt.timedelta(days=1)
        raise PollRefused(f"the poll must close between today ({today}) and the day before the meeting ({last})",
                          f"de stemming moet sluiten tussen vandaag en {fmt.long_date(last, 'nl')}, de dag voor de "
                          "bijeenkomst")
    existing = poll_for_meeting(session, meeting)
    if existing is not None and existing.status in (PollStatus.OPEN, PollStatus.CLOSING):
        raise PollRefused(f"there is already a theme poll for {meeting.date} (#{existing.id}): "
                          "close it first with 'pioniers themes close'",
                          f"er loopt al een stemming over het thema van de bijeenkomst van {when}; een tweede kan "
                          "pas als die gesloten is")
    for stale in session.scalars(select(Poll).where(Poll.meeting_id == meeting.id, Poll.status == PollStatus.OPEN)):
        stale.status = PollStatus.DISCARDED  # its announcement was discarded
    poll = Poll(meeting_id=meeting.id, status=PollStatus.OPEN, subject="", created_by=created_by, closes_on=closes_on,
                created_at=app.now())
    session.add(poll)
    session.flush()
    rows = [PollOption(poll_id=poll.id, position=i, text=text) for i, text in enumerate(options, 1)]
    session.add_all(rows)
    view = meeting_view(cfg, meeting)
    context = {"meeting": view, "options": rows, "closes": fmt.long_date(closes_on, cfg.network.language),
               "registration_address": cfg.network.registration_address}
    if src is None:
        rendered = render(cfg.network.language, "poll_announcement", cfg.templates, network=cfg.network, name="",
                          **context)
        src = listmail.Source(subject=rendered.subject, text=rendered.text, html=rendered.html)
    else:  # the organiser's own words, with how to vote below them
        src.text = src.text.rstrip() + "\n\n" + _howto(cfg, "txt", **context) + "\n"
        if src.html:
            html = _howto(cfg, "html", **context)
            end = src.html.lower().rfind("</body>")
            src.html = src.html[:end] + html + src.html[end:] if end >= 0 else src.html + html
    ann = ann_ops.create(session, app, src, posted_by=created_by, reply_to=poll_address(cfg, poll.id))
    poll.announcement_id, poll.subject = ann.id, ann.subject
    session.flush()
    return poll, ann


def may_vote(session: Session, cfg: Config, email: str) -> bool:
    """List members, people who registered for a meeting, and organisers."""
    from db import members

    if email in cfg.network.organisers:
        return True
    member = members.find(session, email)
    if member is not None and member.status == MemberStatus.ACTIVE:
        return True
    return registry.find_person(session, email) is not None


@dataclass
class VoteResult:
    option: PollOption
    previous: PollOption | None
    changed: bool  # a new vote, or a different option than before


def record_vote(session: Session, poll: Poll, email: str, option: PollOption, now: dt.datetime) -> VoteResult:
    vote = session.scalar(select(Vote).where(Vote.poll_id == poll.id, Vote.email == email).with_for_update())
    if vote is None:
        session.add(Vote(poll_id=poll.id, option_id=option.id, email=email, revision=1, created_at=now,
                         updated_at=now))
        session.flush()
        return VoteResult(option, None, True)
    if vote.option_id == option.id:
        return VoteResult(option, None, False)
    previous = session.get(PollOption, vote.option_id)
    vote.option_id, vote.updated_at, vote.revision = option.id, now, vote.revision + 1
    return VoteResult(option, previous, True)


def add_proposal(session: Session, poll: Poll, email: str, name: str, text: str,
                 now: dt.datetime) -> Proposal | None:
    """A new proposal; None when this member proposed the same before."""
    text = scrub(text)
    if not text:
        return None
    for earlier in session.scalars(select(Proposal).where(Proposal.poll_id == poll.id, Proposal.email == email)):
        if earlier.text.casefold() == text.casefold():
            return None
    proposal = Proposal(poll_id=poll.id, email=email, name=scrub(name), text=text, created_at=now)
    session.add(proposal)
    session.flush()
    return proposal


@dataclass
class TallyRow:
    position: int
    text: str
    votes: int
    option_id: int


@dataclass
class Tally:
    poll: Poll
    meeting: Meeting
    rows: list[TallyRow]
    proposals: list[Proposal]

    @property
    def voters(self) -> int:
        return sum(r.votes for r in self.rows)

    @property
    def winner(self) -> TallyRow | None:
        """Most votes; a tie goes to the option listed first. None when nobody voted."""
        best = max(self.rows, key=lambda r: (r.votes, -r.position), default=None)
        return best if best is not None and best.votes > 0 else None


def tally(session: Session, poll: Poll) -> Tally:
    counts = dict(session.execute(select(Vote.option_id, func.count(Vote.id)).where(Vote.poll_id == poll.id)
                                  .group_by(Vote.option_id)).all())
    rows = [TallyRow(o.position, o.text, counts.get(o.id, 0) if o.final_votes is None else o.final_votes, o.id)
            for o in options_of(session, poll)]
    proposals = list(session.scalars(select(Proposal).where(Proposal.poll_id == poll.id).order_by(Proposal.id)))
    meeting = session.get(Meeting, poll.meeting_id)
    assert meeting is not None
    return Tally(poll, meeting, rows, proposals)


def results_context(cfg: Config, t: Tally) -> dict[str, Any]:
    winner = t.winner
    return {
        "meeting": meeting_view(cfg, t.meeting),
        "rows": t.rows,
        "voters": t.voters,
        "winner": winner.text if winner else "",
        "closed": t.poll.status == PollStatus.CLOSED,
        "closes": fmt.long_date(t.poll.closes_on, cfg.network.language) if t.poll.closes_on else "",
        "proposals": [{"text": p.text, "who": p.name or p.email, "email": p.email} for p in t.proposals],
    }


def format_tally(cfg: Config, t: Tally) -> str:
    """The tally as the command line prints it."""
    state = PollStatus(t.poll.status).value  # a stored word outside the enum fails loudly, as the lookup did
    closes = f", closes after {t.poll.closes_on}" if t.poll.closes_on and t.poll.status == PollStatus.OPEN else ""
    lines = [f"theme poll #{t.poll.id} for {t.meeting.date} ({state}{closes}): {t.voters} vote(s)"]
    winner = t.winner
    for r in t.rows:
        chosen = t.poll.status == PollStatus.CLOSED and winner and r.option_id == winner.option_id
        mark = "  <- chosen" if chosen else ""
        lines.append(f"{r.position:>3}. {r.text:<50} {r.votes:>4}{mark}")
    lines.append(f"proposals ({len(t.proposals)}):" if t.proposals else "no proposals")
    lines += [f"  - {p.text}  ({p.name + ' ' if p.name else ''}<{p.email}>)" for p in t.proposals]
    return "\n".join(lines)


def find_poll(session: Session, day: dt.date) -> Poll:
    meeting = registry.meeting_on(session, day)
    if meeting is None:
        raise UserError(f"no meeting on {day}: see 'pioniers meeting list'")
    poll = poll_for_meeting(session, meeting)
    if poll is None:
        raise UserError(f"no theme poll for {day}: open one with 'pioniers themes open'")
    return poll


def close_poll(app: App, poll_id: int,
               progress: Callable[[int], None] | None = None) -> tuple[Tally, list[str], int]:
    """Stop the votes, set the winning theme on the meeting (attendees get the updated invite), tell the
    organisers. Safe to repeat: a poll left 'closing' by a crash is finished by the next run."""
    with app.sm.begin() as session:
        poll = session.get(Poll, poll_id, with_for_update=True)
        assert poll is not None
        if poll.status == PollStatus.OPEN:
            poll.status = PollStatus.CLOSING  # from here no vote counts
        t = tally(session, poll)
        winner, day, cancelled = t.winner, t.meeting.date, t.meeting.status != MeetingStatus.SCHEDULED
    changes: list[str] = []
    queued = 0
    if winner is not None and not cancelled and poll.status == PollStatus.CLOSING:
        update = update_meeting(app, day, theme=winner.text, progress=progress)
        changes, queued = update.changes, update.queued
    with app.sm.begin() as session:
        poll = session.get(Poll, poll_id, with_for_update=True)
        assert poll is not None
        if poll.status == PollStatus.CLOSING:
            t = tally(session, poll)
            for option in options_of(session, poll):
                option.final_votes = next(r.votes for r in t.rows if r.option_id == option.id)
            poll.status, poll.closed_at = PollStatus.CLOSED, app.now()
            poll.winner_option_id = winner.option_id if winner else None
            t = tally(session, poll)
            for organiser in app.cfg.network.organisers:
                send_letter_to(session, app.cfg, key=f"poll-closed:{poll.id}:{organiser}",
                               template="poll_results", to=organiser, name="", now=app.now(),
                               auto_reply=False, **results_context(app.cfg, t))
        t = tally(session, poll)
    return t, changes, queued


def close_due_polls(app: App) -> int:
    """Polls past their closing date, and any a crash left half closed."""
    today = app.today()
    with app.sm.begin() as session:
        unfinished = select(Poll).where(Poll.status.in_((PollStatus.OPEN, PollStatus.CLOSING)))
        due = [p.id for p in session.scalars(unfinished)
               if p.status == PollStatus.CLOSING
               or (p.closes_on is not None and p.closes_on < today and is_live(session, p))]
    for poll_id in due:
        try:
            t, changes, _ = close_poll(app, poll_id)
            log.info("theme poll #%s closed: %s", poll_id, t.winner.text if t.winner else "no votes")
        except UserError as exc:  # e.g. the meeting moved onto another's date: a human decides
            log.warning("theme poll #%s not closed: %s", poll_id, exc)
    return len(due)


# --- privacy ---------------------------------------------------------------------------------------


def forget_address(session: Session, email: str) -> dict[str, int]:
    """pioniers forget: votes and proposals by this address."""
    return {"votes": rowcount(session, delete(Vote).where(Vote.email == email)),
            "theme proposals": rowcount(session, delete(Proposal).where(Proposal.email == email))}


def purge_votes(session: Session, old_meetings: Any) -> int:
    """Votes of polls whose meeting is past retention go (the tally stays in final_votes); proposals keep
    their text but lose who made them."""
    polls = select(Poll.id).where(Poll.meeting_id.in_(old_meetings))
    for option in session.scalars(select(PollOption).where(PollOption.poll_id.in_(polls),
                                                           PollOption.final_votes.is_(None))):
        option.final_votes = session.scalar(select(func.count(Vote.id)).where(Vote.option_id == option.id)) or 0
    removed = rowcount(session, delete(Vote).where(Vote.poll_id.in_(polls)))
    for proposal in session.scalars(select(Proposal).where(Proposal.poll_id.in_(polls), Proposal.email != "")):
        proposal.email, proposal.name = "", ""
    return removed
