"""Organisers' meeting commands: add, list, update (everyone hears what changed), cancel; and the waiting list
moving up when a place comes free (a cancellation by mail, a larger capacity)."""
from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from base.config import Config
from base.errors import PioniersError
from db import registry
from db.app import App
from db.models import Meeting, Person, Registration
from db.states import MeetingStatus, RegistrationStatus
from mailer import format as fmt
from mailer.letters import send_letter


class UserError(PioniersError):
    """Something the user typed that we cannot do; one line says why."""


def parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UserError(f"{text!r} is not a date: write it as YYYY-MM-DD") from None


def parse_time(text: str) -> str:
    try:
        return dt.time.fromisoformat(text.replace(".", ":")).strftime("%H:%M")
    except ValueError:
        raise UserError(f"{text!r} is not a time: write it as HH:MM") from None


_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")  # as members.check_address reads one


def check_contact(text: str) -> str:
    """A host contact: one address (lower case), or "" for none."""
    email = text.strip().lower()
    if email and not _ADDRESS.match(email):
        raise UserError(f"--host-contact {text!r} is not an email address")
    return email


def add_meeting(app: App, day: dt.date, start: str, end: str, location: str, host: str,
                theme: str = "", capacity: int | None = None, *, past: bool = False,
                host_contact: str = "") -> Meeting:
    """Schedule a meeting. past: one that has taken place (the network's history, for hosts and figures);
    host_contact: who at the host gets the attendee list (network/hostlist.py)."""
    start, end = parse_time(start), parse_time(end)
    host_contact = check_contact(host_contact)
    location, host = location.strip(), host.strip()
    if end <= start:
        raise UserError("--end must be after --start")
    if day < app.today() and not past:
        raise UserError(f"{day} has passed: a meeting is added before it takes place")
    if not location or not host:
        raise UserError("--location and --host may not be empty: attendees need to know where to go")
    if capacity is not None and capacity < 1:
        raise UserError("--capacity must be at least 1")
    with app.sm.begin() as session:
        if registry.meeting_on(session, day) is not None:
            raise UserError(f"there is already a meeting on {day}; use 'meeting update'")
        meeting = Meeting(date=day, start=start, end=end, location=location, host=host, theme=theme,
                          capacity=capacity, uid=f"{uuid.uuid4()}@{app.cfg.domain}", sequence=0,
                          status=MeetingStatus.SCHEDULED, created_at=app.now(), host_contact=host_contact)
        session.add(meeting)
    return meeting


@dataclass(frozen=True)
class MeetingRow:
    meeting: Meeting
    confirmed: int
    waitlisted: int
    came: int | None = None  # checked in (pioniers checkin); None: no check-in recorded


def list_meetings(app: App) -> list[MeetingRow]:
    with app.sm.begin() as session:
        came: dict[int, int] = {meeting_id: n for meeting_id, n in session.execute(
            select(Registration.meeting_id, func.count(Registration.id))
            .where(Registration.attended_at.is_not(None)).group_by(Registration.meeting_id))}
        rows = []
        for m in session.scalars(select(Meeting).order_by(Meeting.date)):
            rows.append(MeetingRow(m, registry.count(session, m, RegistrationStatus.CONFIRMED),
                                   registry.count(session, m, RegistrationStatus.WAITLISTED), came.get(m.id)))
        return rows


def audience(app: App, day: dt.date) -> tuple[int, int]:
    """(confirmed, waiting) of the meeting on day: who a change or a cancellation mails."""
    with app.sm.begin() as session:
        meeting = _require(session, day, lock=False)
        return (registry.count(session, meeting, RegistrationStatus.CONFIRMED),
                registry.count(session, meeting, RegistrationStatus.WAITLISTED))


def _require(session: Session, day: dt.date, *, lock: bool = True) -> Meeting:
    meeting = registry.meeting_on(session, day, lock=lock)
    if meeting is None:
        raise UserError(f"no meeting on {day}: see 'pioniers meeting list'")
    return meeting


def _people(session: Session, meeting: Meeting, statuses: tuple[str, ...]) -> list[Registration]:
    return list(session.scalars(select(Registration).where(
        Registration.meeting_id == meeting.id, Registration.status.in_(statuses)
    ).order_by(Registration.registered_at, Registration.id)))


def in_text(host: str) -> str:
    """A host as running text writes it: "Gemeente Schiedam" -> "de gemeente Schiedam"."""
    return fmt.in_text(host, "nl")


def _describe_changes(app: App, before: Meeting, after: Meeting) -> list[str]:
    """What changed, as sentences a reader takes in at once ("De bijeenkomst begint nu om 13.30 uur in plaats van
    14.00 uur.")."""
    lang = app.cfg.network.language
    hour = (lambda t: f"{t.replace(':', '.')} uur") if lang == "nl" else (lambda t: t)
    was_theme, theme = before.theme, after.theme
    said = {
        "nl": [
            (before.date != after.date, f"De bijeenkomst is verplaatst naar {fmt.long_date(after.date, lang)} "
                                        f"(was {fmt.long_date(before.date, lang)})."),
            (before.start != after.start, f"De bijeenkomst begint nu om {hour(after.start)} in plaats van "
                                          f"{hour(before.start)}."),
            (before.end != after.end, f"De bijeenkomst eindigt nu om {hour(after.end)} in plaats van "
                                      f"{hour(before.end)}."),
            (before.location != after.location, f"De bijeenkomst is nu in {after.location} in plaats van in "
                                                f"{before.location}."),
            (before.host != after.host, f"Gastheer is nu {in_text(after.host)} in plaats van "
                                        f"{in_text(before.host)}."),
            (was_theme != theme, f"Het thema is gekozen: {theme}." if not was_theme else
             "Er is geen thema meer." if not theme else f"Het thema is nu {theme} in plaats van {was_theme}."),
        ],
        "en": [
            (before.date != after.date, f"The meeting moves to {fmt.long_date(after.date, lang)} "
                                        f"(was {fmt.long_date(before.date, lang)})."),
            (before.start != after.start, f"The meeting now starts at {after.start} instead of {before.start}."),
            (before.end != after.end, f"The meeting now ends at {after.end} instead of {before.end}."),
            (before.location != after.location, f"The meeting is now at {after.location} instead of "
                                                f"{before.location}."),
            (before.host != after.host, f"The host is now {after.host} instead of {before.host}."),
            (was_theme != theme, f"The theme has been chosen: {theme}." if not was_theme else
             "There is no theme any more." if not theme else f"The theme is now {theme} instead of {was_theme}."),
        ],
    }
    return [sentence for changed, sentence in said[lang] if changed]


@dataclass(frozen=True)
class Update:
    changes: list[str]  # as the attendees read them
    queued: int  # updates queued, one per confirmed attendee
    capacity: tuple[int | None, int | None] | None = None  # (before, after) when it changed; nobody is mailed
    promoted: tuple[str, ...] = ()  # who moved up from the waiting list (a larger capacity)
    host_contact: tuple[str, str] | None = None  # (before, after) when it changed; nobody is mailed


def update_meeting(app: App, day: dt.date, *, start: str | None = None, end: str | None = None,
                   location: str | None = None, host: str | None = None, theme: str | None = None,
                   new_date: dt.date | None = None, capacity: int | None = None,
                   host_contact: str | None = None, progress: Callable[[int], None] | None = None) -> Update:
    """Apply the changes and queue one update per confirmed attendee, in one transaction. A new host contact
    is the organisers' business: it mails nobody (the host's list goes to it when it is due). progress(queued so
    far): a command's progress while a thousand letters are written."""
    contact = check_contact(host_contact) if host_contact is not None else None
    with app.sm.begin() as session:
        m = _require(session, day)
        if m.status != MeetingStatus.SCHEDULED:
            raise UserError(f"the meeting on {day} is cancelled")
        before = Meeting(date=m.date, start=m.start, end=m.end, location=m.location, host=m.host, theme=m.theme)
        confirmed = registry.count(session, m, RegistrationStatus.CONFIRMED)
        if capacity is not None and capacity < confirmed:
            # nobody loses a seat they were promised by a typo: cancelling is one person at a time
            raise UserError(f"{confirmed} people are confirmed: a capacity of {capacity} would take seats away; "
                            f"choose at least {confirmed}")
        if capacity is not None and capacity < 1:
            raise UserError("--capacity must be at least 1")
        if location is not None and not location.strip() or host is not None and not host.strip():
            raise UserError("--location and --host may not be empty: attendees need to know where to go")
        if new_date is not None and new_date != m.date:
            if registry.meeting_on(session, new_date) is not None:
                raise UserError(f"there is already a meeting on {new_date}")
            m.date = new_date
        m.start = parse_time(start) if start else m.start
        m.end = parse_time(end) if end else m.end
        if m.end <= m.start:
            raise UserError("the end time must be after the start time")
        m.location = location if location is not None else m.location
        m.host = host if host is not None else m.host
        m.theme = theme if theme is not None else m.theme
        contact_change = (m.host_contact, contact) if contact is not None and contact != m.host_contact else None
        if contact_change is not None:
            m.host_contact = contact_change[1]
        before_capacity = m.capacity
        if capacity is not None:
            m.capacity = capacity
        changes = _describe_changes(app, before, m)
        queued = 0
        if changes:
            m.sequence += 1
            for reg in _people(session, m, (RegistrationStatus.CONFIRMED,)):
                queued += send_letter(session, app.cfg, key=f"update:{m.id}:{m.sequence}:{reg.person_id}",
                                      template="meeting_update", person=reg.person, now=app.now(), meeting=m,
                                      invite_method="REQUEST", auto_reply=False, changes=changes)
                if progress is not None:
                    progress(queued)
        promoted = promote_waitlisted(session, app, m) if capacity is not None else []
        resized = (before_capacity, capacity) if capacity is not None and capacity != before_capacity else None
        return Update(changes, queued, resized, tuple(promoted), contact_change)


def promote_waitlisted(session: Session, app: App, meeting: Meeting) -> list[str]:
    """Fill free places from the waiting list; each promoted attendee gets the invite. Returns who (addresses)."""
    return [person.email for person in promote(session, app.cfg, meeting, app.now())]


def promote(session: Session, cfg: Config, meeting: Meeting, now: dt.datetime) -> list[Person]:
    """promote_waitlisted for a caller with a configuration and a time rather than an App (network/desk.py);
    returns the people who moved up, first come first served."""
    promoted = registry.fill_from_waitlist(session, meeting, now)
    for reg in promoted:
        send_letter(session, cfg, key=f"promoted:{reg.id}:{reg.updated_at.isoformat()}",
                    template="promoted", person=reg.person, now=now, meeting=meeting, invite_method="REQUEST")
    return [reg.person for reg in promoted]


def cancel_meeting(app: App, day: dt.date, reason: str, progress: Callable[[int], None] | None = None) -> int:
    with app.sm.begin() as session:
        m = _require(session, day)
        if m.status != MeetingStatus.CANCELLED:
            m.status = MeetingStatus.CANCELLED
            m.sequence += 1
        queued = 0
        for reg in _people(session, m, (RegistrationStatus.CONFIRMED, RegistrationStatus.WAITLISTED)):
            in_calendar = reg.status == RegistrationStatus.CONFIRMED  # only they were sent the appointment
            queued += send_letter(session, app.cfg, key=f"meeting-cancel:{m.id}:{reg.person_id}",
                                  template="meeting_cancelled", person=reg.person, now=app.now(), meeting=m,
                                  invite_method="CANCEL" if in_calendar else None, auto_reply=False,
                                  reason=reason, in_calendar=in_calendar)
            if progress is not None:
                progress(queued)
        return queued
