"""The network's history stored: past meetings, and who attended them (`pioniers meeting import`).

All or nothing (one transaction), and safe to run twice: a meeting on a date that exists is merged (its non-empty
fields are kept, and a difference is said), an attendee already recorded is not added again. Nobody is mailed and
nobody joins the mailing list: these people registered long ago, not today. Someone who asked to be forgotten is
never brought back. A meeting older than [network] retention_days keeps only its figures, as the purge leaves
them (network/privacy.py): its attendees are counted into a MeetingSummary and no name or address is stored.
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from db import registry
from db.app import App
from db.models import Meeting, MeetingSummary, Person, Registration
from db.states import MeetingStatus, RegistrationStatus
from network import stats
from network.history import History, PastMeeting, Skipped


@dataclass
class ImportReport:
    added: list[dt.date] = field(default_factory=list)  # meetings
    merged: list[dt.date] = field(default_factory=list)
    attendees: int = 0  # added (or their attendance recorded)
    known: int = 0  # already recorded: nothing to do
    figures_only: list[dt.date] = field(default_factory=list)  # older than the retention: counts, no names
    cutoff: dt.date | None = None
    skipped: list[Skipped] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)  # the file's columns not read
    notes: list[str] = field(default_factory=list)  # what was kept where the file says otherwise


def import_history(app: App, history: History, progress: Callable[[int], None] | None = None) -> ImportReport:
    """Store the history in one transaction; progress(rows done) after each meeting."""
    cutoff = app.today() - dt.timedelta(days=app.cfg.network.retention_days)
    report = ImportReport(cutoff=cutoff, skipped=list(history.skipped), notes=list(history.notes),
                          unread=list(history.unread))
    done = 0
    with app.sm.begin() as session:
        for past in history.meetings:
            meeting = _meeting(session, app, past, report)
            if meeting is not None:
                if past.date < cutoff:
                    _figures_only(session, app, meeting, past, report)
                else:
                    _attendees(session, app, meeting, past, report)
            done += max(len(past.attendees), 1)
            if progress is not None:
                progress(done)
    report.skipped.sort(key=lambda s: s.row)
    return report


def _meeting(session: Session, app: App, past: PastMeeting, report: ImportReport) -> Meeting | None:
    """The meeting on that date: a new past meeting, or the one there merged (empty fields filled)."""
    start, end = past.times()
    meeting = registry.meeting_on(session, past.date, lock=True)
    if meeting is None:
        meeting = Meeting(date=past.date, start=start, end=end, location=past.location, host=past.host,
                          theme=past.theme, capacity=None, uid=f"{uuid.uuid4()}@{app.cfg.domain}", sequence=0,
                          status=MeetingStatus.SCHEDULED, created_at=app.now())  # as a held meeting is stored
        session.add(meeting)
        session.flush()
        report.added.append(past.date)
        return meeting
    if meeting.status == MeetingStatus.CANCELLED:
        report.skipped += [Skipped(a.row, f"the meeting on {past.date} was cancelled") for a in past.attendees]
        report.notes.append(f"{past.date}: the meeting there was cancelled; left as it is")
        return None
    given = {"host": past.host, "location": past.location, "theme": past.theme,
             "start": past.start, "end": past.end}
    for name, value in given.items():
        kept = getattr(meeting, name)
        if value and not kept:
            setattr(meeting, name, value)
        elif value and value != kept:
            report.notes.append(f"{past.date}: kept {name} {kept!r} (the file says {value!r})")
    report.merged.append(past.date)
    return meeting


def start_of(app: App, meeting: Meeting) -> dt.datetime:
    hour, minute = (int(x) for x in meeting.start.split(":"))
    local = dt.datetime.combine(meeting.date, dt.time(hour, minute), tzinfo=app.tz)
    return local.astimezone(dt.timezone.utc)


def _attendees(session: Session, app: App, meeting: Meeting, past: PastMeeting, report: ImportReport) -> None:
    """Within the retention: people and confirmed registrations, marked as attended at the meeting's start."""
    secret, now, came = app.cfg.secret, app.now(), start_of(app, meeting)
    for a in past.attendees:
        if registry.is_forgotten(session, secret, a.email):
            report.skipped.append(Skipped(a.row, "this person asked to be forgotten"))
            continue
        person = registry.find_person(session, a.email)
        if person is None:
            person = Person(email=a.email, name=a.name, organisation=a.organisation, created_at=now)
            session.add(person)
            session.flush()
        else:  # what we know from their own mail is newer than an old spreadsheet: only fill gaps
            person.name = person.name or a.name
            person.organisation = person.organisation or a.organisation
        reg = registry.registration_of(session, meeting, person)
        if reg is None:
            session.add(Registration(meeting_id=meeting.id, person=person, status=RegistrationStatus.CONFIRMED,
                                     registered_at=came, updated_at=now, attended_at=came))
            report.attendees += 1
        elif reg.status == RegistrationStatus.CONFIRMED and reg.attended_at is not None:
            report.known += 1
        else:
            if reg.status != RegistrationStatus.CONFIRMED:
                report.notes.append(f"row {a.row}: was {reg.status} for {meeting.date}; the file says they came")
            reg.status, reg.updated_at = RegistrationStatus.CONFIRMED, now
            reg.attended_at = reg.attended_at or came
            report.attendees += 1
    session.flush()


def _figures_only(session: Session, app: App, meeting: Meeting, past: PastMeeting, report: ImportReport) -> None:
    """Older than the retention: count the attendees into the meeting's summary at once, as the purge would have;
    no person or registration is written. A meeting already summarised keeps its figures (a second run)."""
    report.figures_only.append(meeting.date)
    if session.get(MeetingSummary, meeting.id) is not None:
        report.known += len(past.attendees)
        return
    registrations, attended, roles, organisations, _ = stats.live_figures(session, meeting)
    registered = {p.email for p in session.scalars(
        select(Person).join(Registration, Registration.person_id == Person.id)
        .where(Registration.meeting_id == meeting.id, Registration.status == RegistrationStatus.CONFIRMED))}
    secret = app.cfg.secret
    for a in past.attendees:
        if registry.is_forgotten(session, secret, a.email):
            report.skipped.append(Skipped(a.row, "this person asked to be forgotten"))
            continue
        if a.email in registered:
            report.known += 1
            continue
        known = registry.find_person(session, a.email)  # their role, if they told us since
        registrations, attended = registrations + 1, attended + 1
        roles[known.role if known is not None else ""] += 1
        organisations[" ".join((a.organisation or (known.organisation if known else "")).split())] += 1
        report.attendees += 1
    # the file names who came: a record of attendance, as check-ins are
    stats.keep_figures(session, meeting, registrations, attended, Counter(roles), Counter(organisations),
                       True, app.now())
    session.flush()
