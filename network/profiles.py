"""Who is who: what people say about themselves (role, topic, consent to share), and the participant list
that consenting attendees get a few days before a meeting (never an address).

Used by inbox/network_handlers.py (replies saying who someone is), the command line (roles per meeting, the
attendee export) and the service loop (network/tasks.py).
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from base.config import Config
from base.text import scrub
from db.app import App
from db.models import Meeting, Person, Registration
from db.states import MeetingStatus, RegistrationStatus
from mailer.letters import send_letter

ROLE_LABELS = {
    "nl": {"pioneer": "pionier", "learner": "lerende", "meedenker": "meedenker", "": "onbekend"},
    "en": {"pioneer": "pioneer", "learner": "learner", "meedenker": "meedenker", "": "unknown"},
}


def role_label(cfg: Config, role: str) -> str:
    return ROLE_LABELS[cfg.network.language].get(role, role)


@dataclass(frozen=True)
class Profile:
    role: str = ""  # pioneer | learner | meedenker
    topic: str = ""
    consent: bool | None = None  # True: share on the participant list; False: withdraw

    @property
    def empty(self) -> bool:
        return not self.role and not self.topic and self.consent is None

    def describe(self) -> str:
        parts = [f"role {self.role}"] if self.role else []
        parts += ["topic"] if self.topic else []
        parts += [] if self.consent is None else ["consent to share" if self.consent else "no consent to share"]
        return ", ".join(parts)


def apply_profile(person: Person, profile: Profile, now: dt.datetime) -> list[str]:
    """Record what the person said about themselves; returns what changed."""
    changed = []
    if profile.role and profile.role != person.role:
        person.role = profile.role
        changed.append("role")
    if profile.topic and profile.topic != person.topic:
        person.topic = profile.topic
        changed.append("topic")
    if profile.consent is not None and profile.consent != person.share_consent:
        person.share_consent, person.consent_at = profile.consent, now
        changed.append("consent" if profile.consent else "consent withdrawn")
    return changed


def profile_context(cfg: Config, person: Person) -> dict[str, Any]:
    return {"role": role_label(cfg, person.role) if person.role else "", "topic": person.topic,
            "consent": person.share_consent}


def role_counts(session: Session) -> dict[int, Counter[str]]:
    """Confirmed attendees per meeting by role ('' = not said)."""
    rows = session.execute(select(Registration.meeting_id, Person.role, func.count(Registration.id))
                           .join(Person, Person.id == Registration.person_id)
                           .where(Registration.status == RegistrationStatus.CONFIRMED)
                           .group_by(Registration.meeting_id, Person.role))
    out: dict[int, Counter[str]] = {}
    for meeting_id, role, n in rows:
        out.setdefault(meeting_id, Counter())[role or ""] += n
    return out


# --- the participant list --------------------------------------------------------------------------


def participant_view(cfg: Config, person: Person) -> dict[str, str]:
    """What others see: never an address."""
    return {"name": scrub(person.name) or ("(naam onbekend)" if cfg.network.language == "nl" else "(no name)"),
            "organisation": scrub(person.organisation), "role": role_label(cfg, person.role) if person.role else "",
            "topic": scrub(person.topic)}


def consenting_attendees(session: Session, meeting: Meeting) -> list[Person]:
    return list(session.scalars(
        select(Person).join(Registration, Registration.person_id == Person.id)
        .where(Registration.meeting_id == meeting.id, Registration.status == RegistrationStatus.CONFIRMED,
               Person.share_consent.is_(True))
        .order_by(Person.name, Person.id)))


def queue_participant_lists(app: App) -> int:
    """participant_list_days before a meeting, each consenting attendee gets the other consenting attendees.
    Someone who consents later still gets it (until the day before); nobody gets it twice."""
    cfg, days = app.cfg, app.cfg.network.participant_list_days
    if days <= 0:
        return 0
    today = app.today()
    queued = 0
    with app.sm.begin() as session:
        meetings = list(session.scalars(select(Meeting).where(
            Meeting.status == MeetingStatus.SCHEDULED, Meeting.date > today,
            Meeting.date <= today + dt.timedelta(days=days))))
        for meeting in meetings:
            people = consenting_attendees(session, meeting)
            for person in people:
                others = [participant_view(cfg, p) for p in people if p.id != person.id]
                if not others:
                    continue
                key = f"participants:{meeting.id}:{meeting.date.isoformat()}:{person.id}"
                queued += send_letter(session, cfg, key=key, template="participant_list", person=person,
                                      now=app.now(), meeting=meeting, auto_reply=False, participants=others,
                                      days=(meeting.date - today).days)
    return queued
