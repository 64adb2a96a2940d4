"""The organiser's desk: register or cancel someone by hand, and act on what waits in the attention folder.

Used by the command line (pioniers/cli_desk.py) and by the desk by mail; both pass who acted (`by`, an organiser's
address, or "" for the command line). The person gets the letters self-service sends (network/signups.py, the one
path), each saying that an organiser did it, and not as automatic replies (a person asked for them). Registering
someone never puts them on the mailing list: that follows their own choice. Errors a user can cause are one-line
UserErrors; everything happens in the caller's transaction.
"""
from __future__ import annotations

import datetime as dt
import email
import logging
import re
import email.policy
import uuid
import zoneinfo
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from base.config import Config
from db import registry
from db.models import InboundMessage, Meeting, Person
from db.states import MeetingStatus, RegistrationStatus
from mailer.format import short_date
from mailer.letters import send_letter
from network import signups
from network.meetings import UserError
from network.members import check_address


@dataclass(frozen=True)
class Outcome:
    changed: bool  # False: nothing to do (already registered, not registered, ...); nobody was mailed
    said: str  # one English line for the command line
    dutch: str  # the same in one short Dutch sentence, for a mail to the organiser
    told: tuple[str, ...] = ()  # every address that got a mail because of it (the person, who moved up)


@dataclass(frozen=True)
class Waiting:
    """One message in the attention folder nobody resolved yet."""

    id: int
    sender: str
    subject: str
    reason: str
    received_at: dt.datetime


ACTIONS = ("register", "cancel", "done")
_MSGID = re.compile(r"<[^<>\s]+>")
log = logging.getLogger("pioniers.desk")


def _meeting(session: Session, cfg: Config, day: dt.date, now: dt.datetime) -> Meeting:
    """The open meeting on day, locked (capacity is counted under the lock)."""
    meeting = registry.meeting_on(session, day, lock=True)
    if meeting is None:
        raise UserError(f"no meeting on {day}: see 'pioniers meeting list'")
    if meeting.status != MeetingStatus.SCHEDULED:
        raise UserError(f"the meeting on {day} is cancelled")
    if day < now.astimezone(zoneinfo.ZoneInfo(cfg.network.timezone)).date():
        raise UserError(f"the meeting on {day} has passed")
    return meeting


def _address(session: Session, cfg: Config, text: str) -> str:
    address = check_address(text)
    if registry.is_forgotten(session, cfg.secret, address):
        raise UserError(f"{address} asked to be forgotten: they are on the do-not-mail list")
    return address


def _who(person: Person) -> str:
    return f"{person.name} ({person.email})" if person.name else person.email


def _teller(session: Session, cfg: Config, person: Person, meeting: Meeting, now: dt.datetime, key: str,
            in_reply_to: str, references: tuple[str, ...]) -> signups.Tell:
    def tell(*, template: str, invite: str | None, **context: Any) -> str:
        # a person asked for this letter: not an automatic reply (no reply budget; Auto-Submitted: auto-generated)
        send_letter(session, cfg, key=f"{key}:{template}", template=template, person=person, now=now,
                    meeting=meeting, invite_method=invite, in_reply_to=in_reply_to, references=references,
                    auto_reply=False, by_organiser=True, **context)
        return ""
    return tell


def _key(action: str, meeting: Meeting) -> str:
    # every change of a registration is a new letter (register, cancel, register again within one clock tick);
    # nothing is repeated because a second identical command changes nothing and mails nobody
    return f"desk:{action}:{meeting.id}:{uuid.uuid4().hex}"


def register_for(session: Session, cfg: Config, *, email: str, day: dt.date, now: dt.datetime, name: str = "",
                 organisation: str = "", by: str = "", in_reply_to: str = "", references: tuple[str, ...] = (),
                 key: str = "") -> Outcome:
    """Register someone for the meeting on day, as if they had mailed: confirmation with the invite, or the
    waiting-list letter. Already registered (confirmed or waiting): nothing changes, nobody is mailed.
    key: the letters' outbox key (default: a new one)."""
    meeting = _meeting(session, cfg, day, now)
    address = _address(session, cfg, email)
    person = registry.upsert_person(session, address, name.strip(), organisation.strip(), now)
    result = registry.register(session, meeting, person, now)
    when, who = short_date(day, "nl"), _who(person)
    if result.outcome.startswith("already_"):
        status = result.outcome.removeprefix("already_")
        place = f", place {result.position} on the waiting list" if result.position else ""
        was = (f"stond al op de wachtlijst voor de bijeenkomst van {when} (plaats {result.position})"
               if result.position else f"was al aangemeld voor de bijeenkomst van {when}")
        return Outcome(False, f"{address} is already registered for {day} ({status}{place}); nobody was mailed",
                       f"{who} {was}; er is niets veranderd.")
    tell = _teller(session, cfg, person, meeting, now, key or _key("register", meeting), in_reply_to, references)
    signups.tell_registered(result, tell)
    log.info("registered for %s by %s: %s", day, by or "the command line", result.outcome)  # no address in logs
    if result.outcome == RegistrationStatus.CONFIRMED:
        return Outcome(True, f"registered {address} for {day} (confirmed); they were mailed",
                       f"{who} is aangemeld voor de bijeenkomst van {when} en heeft de bevestiging met de "
                       "agenda-uitnodiging gekregen.", (address,))
    return Outcome(True, f"registered {address} for {day} (waitlisted, place {result.position}: the meeting is "
                         "full); they were mailed",
                   f"De bijeenkomst van {when} is vol: {who} staat op de wachtlijst (plaats {result.position}) en "
                   "heeft daarover een mail gekregen.",
                   (address,))


def cancel_for(session: Session, cfg: Config, *, email: str, day: dt.date, now: dt.datetime, by: str = "",
               in_reply_to: str = "", references: tuple[str, ...] = (), key: str = "") -> Outcome:
    """Cancel someone's registration for the meeting on day: they get the cancellation (with a calendar CANCEL
    only when they were confirmed), and whoever moves up from the waiting list gets their confirmation. Not
    registered: nothing changes, nobody is mailed."""
    meeting = _meeting(session, cfg, day, now)
    address = _address(session, cfg, email)
    when = short_date(day, "nl")
    person = registry.find_person(session, address)
    done = None
    if person is not None:
        tell = _teller(session, cfg, person, meeting, now, key or _key("cancel", meeting), in_reply_to, references)
        done = signups.cancel_and_tell(session, cfg, meeting, person, now, tell)
    if person is None or done is None:
        return Outcome(False, f"{address} was not registered for {day}; nobody was mailed",
                       f"{address} was niet aangemeld voor de bijeenkomst van {when}; er is niets veranderd.")
    log.info("cancelled for %s by %s (was %s); %d moved up", day, by or "the command line", done.previous,
             len(done.promoted))
    moved = [p.email for p in done.promoted]
    said = f"cancelled {address} for {day} (was {done.previous}); they were mailed"
    dutch = f"{_who(person)} is afgemeld voor de bijeenkomst van {when} en heeft daarover een mail gekregen."
    if moved:
        said += f"; moved up from the waiting list (they get the invite): {', '.join(moved)}"
        names = ", ".join(_who(p) for p in done.promoted)
        dutch += (f" {names} schuift door van de wachtlijst en krijgt de bevestiging." if len(moved) == 1 else
                  f" {names} schuiven door van de wachtlijst en krijgen de bevestiging.")
    return Outcome(True, said, dutch, (address, *moved))


def waiting_for_person(session: Session) -> list[Waiting]:
    """The attention folder's messages nobody resolved yet, oldest first."""
    rows = session.scalars(select(InboundMessage).where(
        InboundMessage.outcome == "attention", InboundMessage.resolved_at.is_(None))
        .order_by(InboundMessage.received_at, InboundMessage.id))
    return [Waiting(m.id, m.sender, m.subject, m.reason, m.received_at) for m in rows]


def _thread(message: InboundMessage) -> tuple[str, tuple[str, ...], str]:
    """(Message-ID, References, display name) of the stored message, to answer it in its thread."""
    if not message.raw:  # purged with its retention: the recorded Message-ID still threads the reply
        return message.message_id, (), ""
    parsed = email.message_from_bytes(message.raw, policy=email.policy.default)
    msgid = " ".join(str(parsed.get("Message-ID", "") or message.message_id).split())
    refs = tuple(_MSGID.findall(str(parsed.get("References", ""))))
    name = parseaddr(str(parsed.get("From", "")))[0].strip()
    return msgid, refs, name if "@" not in name else ""  # an address as the name tells nothing


def resolve(session: Session, cfg: Config, *, message_id: int, action: str, day: dt.date | None, now: dt.datetime,
            by: str = "") -> Outcome:
    """Act on a message in the attention folder: register or cancel its sender for day (their letter is a reply
    to their message), or just mark it done. Either way it leaves the work list, with who did what."""
    if action not in ACTIONS:
        raise UserError(f"{action!r} is not an action: register DATE, cancel DATE or done")
    message = session.scalar(select(InboundMessage).where(InboundMessage.id == message_id).with_for_update())
    if message is None or message.outcome != "attention":
        raise UserError(f"no message #{message_id} waits for a person: see 'pioniers messages --attention'")
    if message.resolved_at is not None:
        raise UserError(f"message #{message_id} was already resolved: {message.resolution}")
    subject = " ".join(message.subject.split())
    if action == "done":
        inner = Outcome(True, "nobody was mailed", "Er is niemand gemaild.")
    else:
        if day is None:
            raise UserError(f"{action} needs the meeting's date: {action} YYYY-MM-DD")
        if not message.sender:
            raise UserError(f"message #{message_id} has no sender address to act for")
        msgid, refs, name = _thread(message)
        key = f"resolve:{message.id}"  # one message is resolved once
        if action == "register":
            inner = register_for(session, cfg, email=message.sender, day=day, now=now, name=name, by=by,
                                 in_reply_to=msgid, references=refs, key=key)
        else:
            inner = cancel_for(session, cfg, email=message.sender, day=day, now=now, by=by, in_reply_to=msgid,
                               references=refs, key=key)
    message.resolved_at = now
    message.resolution = " ".join([action, *([day.isoformat()] if day and action != "done" else []),
                                   *([f"by {by}"] if by else ["by the command line"])])
    return Outcome(True, f"message #{message.id} resolved ({message.resolution}): {inner.said}",
                   f'Het bericht van {message.sender or "onbekend"} ("{subject}") is afgehandeld. {inner.dutch}',
                   inner.told)
