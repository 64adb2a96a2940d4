"""Announcements: hold a post, preview it, approve or discard it, and queue one Delivery per member.

Used by the inbox handlers (posts by mail) and the command line (`pioniers announce`).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.message import EmailMessage

from sqlalchemy import func, insert, literal, select
from sqlalchemy.orm import Session

from base.config import Config
from base.dates import find_date_refs, resolve
from db import members, registry
from db.app import App
from db.models import Announcement, Delivery, Meeting, Member, UTCDateTime
from db.states import AnnouncementStatus, DeliveryStatus, MeetingStatus, MemberStatus, RegistrationStatus
from mailer import format as fmt
from mailer import listmail
from mailer.compose import render
from mailer.letters import meeting_ref, meeting_view, send_letter_to



def active_count(session: Session) -> int:
    return session.scalar(select(func.count(Member.id)).where(Member.status == MemberStatus.ACTIVE)) or 0


def referenced_meeting(session: Session, cfg: Config, subject: str, text: str, today: dt.date) -> Meeting | None:
    """The scheduled meeting a post names ("Pioniersnetwerk 17 juni 2027"), subject first."""
    meetings = list(session.scalars(select(Meeting).where(Meeting.status == MeetingStatus.SCHEDULED)))
    dates = [m.date for m in meetings]
    for where in (subject, text[:20000]):
        for ref in find_date_refs(where, cfg.network.name):
            day = resolve(ref, dates, today)
            match = next((m for m in meetings if m.date == day), None)
            if match is not None:
                return match
    return None


def create(session: Session, app: App, src: listmail.Source, posted_by: str,
           reply_to: str | None = None) -> Announcement:
    """A held announcement. A meeting reference makes replies register: Reply-To is the registration
    address and the subject keeps the reference; otherwise replies go to the organiser who posted.
    An explicit reply_to wins (a theme poll: replies are votes, see network/polls.py)."""
    cfg = app.cfg
    meeting = referenced_meeting(session, cfg, src.subject, src.text, app.today())
    if meeting is not None:
        ref = meeting_ref(cfg, meeting.date)
        subject_refs = find_date_refs(src.subject, cfg.network.name)
        if not any(resolve(r, [meeting.date], app.today()) == meeting.date for r in subject_refs):
            src.subject = f"{src.subject} - {ref}" if src.subject else ref
        default_reply_to = cfg.network.registration_address
    else:
        default_reply_to = posted_by
    reply_to = reply_to or default_reply_to
    ann = Announcement(status=AnnouncementStatus.HELD, subject=src.subject[:1000], posted_by=posted_by,
                       meeting_id=meeting.id if meeting else None, prepared=b"", recipients=0,
                       created_at=app.now())
    session.add(ann)
    session.flush()
    ann.prepared = listmail.prepare(cfg, src, announcement_id=ann.id, reply_to=reply_to, now=app.now())
    return ann


def sample(session: Session, cfg: Config, ann: Announcement, fallback: str) -> EmailMessage:
    """The announcement as one member will get it (the first member; the organiser when there is none)."""
    return listmail.as_message(member_copy(session, cfg, ann, fallback))


def member_copy(session: Session, cfg: Config, ann: Announcement, fallback: str) -> bytes:
    """sample(), the bytes as they go out."""
    member = session.scalar(select(Member).where(Member.status == MemberStatus.ACTIVE).order_by(Member.id).limit(1))
    compiled = listmail.compile_prepared(cfg, ann.prepared)
    if member is None:
        return compiled.fill(email=fallback, member_id=0, token="0" * 26, name="")
    registered = registry.registered_emails(session, ann.meeting_id).get(member.email, "")
    return compiled.fill(email=member.email, member_id=member.id, token=member.token, name=member.name,
                         registered=registered)


def text_of(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    return part.get_content().replace("\r\n", "\n") if part is not None else ""


def send_preview(session: Session, app: App, ann: Announcement, organiser: str, name: str, *,
                 in_reply_to: str = "", references: tuple[str, ...] = (), notes: tuple[str, ...] = ()) -> str:
    """Mail the organiser the preview with a single-use approval token; returns the token. notes: what the
    organiser should know before saying yes, one sentence each in the network's language."""
    cfg = app.cfg
    valid = dt.timedelta(hours=cfg.list.approval_hours)
    token = members.issue_token(session, "approve", organiser, app.now(), valid, ann.id)
    copy = member_copy(session, cfg, ann, organiser)
    member_msg = listmail.as_message(copy)
    expires = fmt.moment((app.now() + valid).astimezone(app.tz), cfg.network.language)
    send_letter_to(session, cfg, key=f"list-preview:{ann.id}", template="list_preview", to=organiser, name=name,
                   now=app.now(), reply_to=listmail.approve_address(cfg, token), attach=copy,
                   in_reply_to=in_reply_to, references=references, token=token, subject=ann.subject,
                   count=active_count(session), expires=expires, preview=text_of(member_msg),
                   reply_to_members=str(member_msg.get("Reply-To", "")), notes=list(notes))
    return token


def start_sending(session: Session, app: App, ann: Announcement) -> int:
    """One queued Delivery per active member, in one INSERT ... SELECT (no member list in memory)."""
    now = app.now()
    columns = ["announcement_id", "member_id", "email", "status", "attempts", "next_attempt_at", "last_error"]
    rows = select(literal(ann.id), Member.id, Member.email, literal(DeliveryStatus.QUEUED), literal(0),
                  literal(now, UTCDateTime()), literal("")).where(Member.status == MemberStatus.ACTIVE)
    session.execute(insert(Delivery).from_select(columns, rows))
    ann.recipients = session.scalar(select(func.count(Delivery.id)).where(Delivery.announcement_id == ann.id)) or 0
    ann.status, ann.approved_at = AnnouncementStatus.SENDING, now
    if ann.recipients == 0:
        ann.status, ann.finished_at = AnnouncementStatus.SENT, now
    return ann.recipients


def discard(ann: Announcement) -> None:
    ann.status = AnnouncementStatus.DISCARDED


def draft_for_meeting(session: Session, app: App, meeting: Meeting) -> Announcement:
    """The standard announcement of a meeting (template 'announcement'), held like a post."""
    cfg = app.cfg
    rendered = render(cfg.network.language, "announcement", cfg.templates, network=cfg.network,
                      meeting=meeting_view(cfg, meeting), registration_address=cfg.network.registration_address, name="")
    src = listmail.Source(subject=rendered.subject, text=rendered.text, html=rendered.html)
    return create(session, app, src, posted_by="")


@dataclass(frozen=True)
class Counts:
    announcement: Announcement
    queued: int
    sent: int
    failed: int
    waiting: int  # refused for now by the server, due again later: not sent yet, like queued


def counts(session: Session, ann_id: int | None = None) -> list[Counts]:
    query = select(Announcement).order_by(Announcement.id.desc())
    if ann_id is not None:
        query = query.where(Announcement.id == ann_id)
    anns = list(session.scalars(query))
    tally: dict[tuple[int, str], int] = {}
    grouped = select(Delivery.announcement_id, Delivery.status, func.count(Delivery.id)).group_by(
        Delivery.announcement_id, Delivery.status)
    if ann_id is not None:
        grouped = grouped.where(Delivery.announcement_id == ann_id)
    for aid, status, n in session.execute(grouped):
        tally[(aid, status)] = n
    return [Counts(a, *(tally.get((a.id, s), 0) for s in (DeliveryStatus.QUEUED, DeliveryStatus.SENT,
                                                          DeliveryStatus.FAILED, DeliveryStatus.WAITING)))
            for a in anns]


@dataclass(frozen=True)
class Note:
    """Something an organiser should know before saying yes: in English for the command line, in Dutch for the
    preview by mail."""

    english: str
    dutch: str

    def said(self, lang: str) -> str:
        return self.dutch if lang == "nl" else self.english


def before_announcing(session: Session, meeting: Meeting, *, poll: bool = False) -> list[Note]:
    """A full meeting and an earlier announcement (announcing it), or a theme already set (a theme poll)."""
    day = fmt.long_date(meeting.date, "nl")
    if poll:
        if not meeting.theme:
            return []
        return [Note(f"the meeting on {meeting.date} already has a theme, {meeting.theme!r}; the winner of this "
                     "poll replaces it",
                     f'de bijeenkomst van {day} heeft al een thema, "{meeting.theme}"; de winnaar van deze '
                     "stemming komt daarvoor in de plaats.")]
    notes = []
    confirmed = registry.count(session, meeting, RegistrationStatus.CONFIRMED)
    if meeting.capacity is not None and confirmed >= meeting.capacity:
        notes.append(Note(f"the meeting is full ({confirmed} of {meeting.capacity}): who registers now joins the "
                          "waiting list",
                          f"de bijeenkomst van {day} is vol ({confirmed} van {meeting.capacity} plaatsen): wie "
                          "zich nu aanmeldt, komt op de wachtlijst."))
    earlier = session.scalars(select(Announcement).where(
        Announcement.meeting_id == meeting.id,
        Announcement.status.in_((AnnouncementStatus.SENDING, AnnouncementStatus.SENT)))).all()
    for ann in earlier:
        sent = ann.approved_at or ann.created_at
        notes.append(Note(f"this meeting was announced before (#{ann.id}, {sent.date().isoformat()}): every member "
                          "gets it again",
                          f"deze bijeenkomst is al eerder aangekondigd (op {fmt.long_date(sent.date(), 'nl')}): "
                          "alle leden krijgen dit bericht erbij."))
    return notes
