"""Registering and cancelling with the letters that go with them: the one path for a person's own mail
(inbox/registration_handlers.py) and for an organiser acting for them (network/desk.py).

How a letter leaves differs (a reply through the inbox's reply gate, or a letter an organiser caused), so the
caller passes `tell`; which letter, with which invite, and who moves up is decided here once.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.orm import Session

from base.config import Config
from db import registry
from db.models import Meeting, Person
from db.states import RegistrationStatus
from network.meetings import promote


class Tell(Protocol):
    """Queue one letter about the meeting to the person; returns a note for the log ('' when sent)."""

    def __call__(self, *, template: str, invite: str | None, **context: Any) -> str: ...


def tell_registered(result: registry.RegisterResult, tell: Tell, **context: Any) -> str:
    """The letter that answers a registration: confirmed (with the invite), already registered, or waitlisted
    (now or before, with the place). context goes to the confirmation and the waiting-list letter."""
    if result.outcome == RegistrationStatus.CONFIRMED:
        return tell(template="confirmation", invite="REQUEST", **context)
    if result.outcome == f"already_{RegistrationStatus.CONFIRMED}":
        return tell(template="already_registered", invite="REQUEST")
    return tell(template="waitlisted", invite=None, position=result.position, **context)


@dataclass(frozen=True)
class Cancelled:
    previous: str  # the status it had: confirmed | waitlisted
    note: str  # tell's note on the cancellation letter
    promoted: tuple[Person, ...]  # who moved up from the waiting list (each got their letter and invite)


def cancel_and_tell(session: Session, cfg: Config, meeting: Meeting, person: Person, now: dt.datetime, tell: Tell,
                    *, invite: bool = True, **context: Any) -> Cancelled | None:
    """Cancel (caller holds the meeting lock), tell the person, fill the freed place. None: nothing to cancel.
    Only a confirmed attendee has the meeting in their calendar, so only they get a CANCEL (unless invite is
    False: they declined in their calendar, where it is gone already)."""
    previous = registry.cancel(session, meeting, person, now)
    if previous is None:
        return None
    in_calendar = invite and previous == RegistrationStatus.CONFIRMED
    if in_calendar:
        meeting.sequence += 1  # a CANCEL must outrank every REQUEST they hold; a later one outranks it again
    note = tell(template="cancelled", invite="CANCEL" if in_calendar else None, with_invite=in_calendar, **context)
    return Cancelled(previous, note, tuple(promote(session, cfg, meeting, now)))
