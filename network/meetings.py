"""Organisers' meeting commands: add, list, update (everyone hears what changed), cancel; and the waiting list
moving up when a place comes free (a cancellation by mail, a larger capacity)."""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from base.errors import PioniersError
from db import registry
from db.app import App
from db.models import Meeting, Registration
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


def add_meeting(app: App, day: dt.date, start: str, end: str, location: str, host: str,
                theme: str = "", capacity: int | None = None) -> Meeting:
    start, end = parse_time(start), parse_time(end)
    if end <= start:
        raise UserError("--end must be after --start")
    if capacity is not None and capacity < 1:
        raise UserError("--capacity must be at least 1")
    with app.sm.begin() as session:
        if registry.meeting_on(session, day) is not None:
            raise UserError(f"there is already a meeting on {day}; use 'meeting update'")
        meeting = Meeting(date=day, start=start, end=end, location=location, host=host, theme=theme,
                          capacity=capacity, uid=f"{uuid.uuid4()}@{app.cfg.domain}", sequence=0,
                          status="scheduled", created_at=app.now())
        session.add(meeting)
    return meeting


@dataclass(frozen=True)
class MeetingRow:
    meeting: Meeting
    confirmed: int
    waitlisted: int


def list_meetings(app: App) -> list[MeetingRow]:
    with app.sm.begin() as session:
        rows = []
        for m in session.scalars(select(Meeting).order_by(Meeting.date)):
            rows.append(MeetingRow(m, registry.count(session, m, registry.CONFIRMED),
                                   registry.count(session, m, registry.WAITLISTED)))
        return rows


def audience(app: App, day: dt.date) -> tuple[int, int]:
    """(confirmed, waiting) of the meeting on day: who a change or a cancellation mails."""
    with app.sm.begin() as session:
        meeting = _require(session, day, lock=False)
        return registry.count(session, meeting, registry.CONFIRMED), registry.count(session, meeting,
                                                                                   registry.WAITLISTED)


def _require(session: Session, day: dt.date, *, lock: bool = True) -> Meeting:
    meeting = registry.meeting_on(session, day, lock=lock)
    if meeting is None:
        raise UserError(f"no meeting on {day}: see 'pioniers meeting list'")
    return meeting


def _people(session: Session, meeting: Meeting, statuses: tuple[str, ...]) -> list[Registration]:
    return list(session.scalars(select(Registration).where(
        Registration.meeting_id == meeting.id, Registration.status.in_(statuses)
    ).order_by(Registration.registered_at, Registration.id)))


def _describe_changes(app: App, before: Mapping[str, object], after: Meeting) -> list[str]:
    nl = app.cfg.network.language == "nl"
    lang = app.cfg.network.language
    labels = {"date": "Datum" if nl else "Date", "time": "Tijd" if nl else "Time",
              "location": "Locatie" if nl else "Location", "host": "Gastheer" if nl else "Host",
              "theme": "Thema" if nl else "Theme"}
    now_values = {"date": fmt.long_date(after.date, lang), "time": fmt.time_range(after.start, after.end, lang),
                  "location": after.location, "host": after.host, "theme": after.theme or "-"}
    return [f"{labels[k]}: {before[k] or '-'} -> {now_values[k]}" for k in labels if before[k] != now_values[k]]


def update_meeting(app: App, day: dt.date, *, start: str | None = None, end: str | None = None,
                   location: str | None = None, host: str | None = None, theme: str | None = None,
                   new_date: dt.date | None = None, capacity: int | None = None) -> tuple[list[str], int]:
    """Apply the changes and queue one update per confirmed attendee, in one transaction. (changes, queued)."""
    lang = app.cfg.network.language
    with app.sm.begin() as session:
        m = _require(session, day)
        if m.status != "scheduled":
            raise UserError(f"the meeting on {day} is cancelled")
        before = {"date": fmt.long_date(m.date, lang), "time": fmt.time_range(m.start, m.end, lang),
                  "location": m.location, "host": m.host, "theme": m.theme or "-"}
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
        if capacity is not None:
            m.capacity = capacity
        changes = _describe_changes(app, before, m)
        queued = 0
        if changes:
            m.sequence += 1
            for reg in _people(session, m, (registry.CONFIRMED,)):
                queued += send_letter(session, app.cfg, key=f"update:{m.id}:{m.sequence}:{reg.person_id}",
                                      template="meeting_update", person=reg.person, now=app.now(), meeting=m,
                                      invite_method="REQUEST", auto_reply=False, changes=changes)
        if capacity is not None:
            promote_waitlisted(session, app, m)
        return changes, queued


def promote_waitlisted(session: Session, app: App, meeting: Meeting) -> int:
    """Fill free places from the waiting list; each promoted attendee gets the invite. Returns how many."""
    promoted = registry.fill_from_waitlist(session, meeting, app.now())
    for reg in promoted:
        send_letter(session, app.cfg, key=f"promoted:{reg.id}:{reg.updated_at.isoformat()}",
                    template="promoted", person=reg.person, now=app.now(), meeting=meeting, invite_method="REQUEST")
    return len(promoted)


def cancel_meeting(app: App, day: dt.date, reason: str) -> int:
    with app.sm.begin() as session:
        m = _require(session, day)
        if m.status != "cancelled":
            m.status = "cancelled"
            m.sequence += 1
        queued = 0
        for reg in _people(session, m, (registry.CONFIRMED, registry.WAITLISTED)):
            queued += send_letter(session, app.cfg, key=f"meeting-cancel:{m.id}:{reg.person_id}",
                                  template="meeting_cancelled", person=reg.person, now=app.now(), meeting=m,
                                  invite_method="CANCEL", auto_reply=False, reason=reason)
        return queued
