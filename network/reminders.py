"""Reminders: one per confirmed attendee, reminder_days before the meeting, never twice, and not to someone who
registered within those days (they just had the confirmation and its invite)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from db.app import App
from db.models import Meeting, Registration
from db.states import MeetingStatus, RegistrationStatus
from mailer.letters import send_letter


def queue_reminders(app: App) -> int:
    days = app.cfg.network.reminder_days
    if days <= 0:
        return 0
    today = app.today()
    queued = 0
    with app.sm.begin() as session:
        meetings = session.scalars(select(Meeting).where(
            Meeting.status == MeetingStatus.SCHEDULED, Meeting.date > today,
            Meeting.date <= today + dt.timedelta(days=days)))
        for meeting in meetings:
            regs = session.scalars(select(Registration).where(
                Registration.meeting_id == meeting.id, Registration.status == RegistrationStatus.CONFIRMED))
            window = meeting.date - dt.timedelta(days=days)
            for reg in regs:
                if reg.registered_at.astimezone(app.tz).date() >= window:
                    continue  # registered within the reminder's days: their confirmation is fresh, no second request
                # The key names the date, so a moved meeting gets one new reminder, an unchanged one never two.
                key = f"reminder:{meeting.id}:{meeting.date.isoformat()}:{reg.person_id}"
                queued += send_letter(session, app.cfg, key=key, template="reminder", person=reg.person,
                                      now=app.now(), meeting=meeting, invite_method="REQUEST",
                                      auto_reply=False, days=(meeting.date - today).days)
    return queued
