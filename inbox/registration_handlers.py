"""Handlers for registering and cancelling (inbox/registration_rules.py), calendar replies, and what needs no
action or a person. Each changes the database and queues the reply, inside the caller's transaction; the table
at the bottom is merged into inbox/handlers.py HANDLERS.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import delete, select

from base.hashing import address_hashes
from db import lookups, registry
from db.models import Forgotten, Meeting, Person
from db.states import MeetingStatus, RegistrationStatus
from inbox import decision as d
from inbox import intent
from inbox.job import Job, proven, reply_allowed
from inbox.message import Incoming
from inbox.proof import REPLY
from inbox.text import organisation_from_domain, organisation_from_signature, strip_prefixes
from mailer.format import long_date
from mailer.letters import meeting_ref, open_meetings, send_letter
from mailer.msgid import is_own, sent_to
from network import signups
from network.members import subscribe_registrant

log = logging.getLogger("pioniers.inbox")


def _declines(msg: Incoming) -> bool:
    """A reply to our confirm request that says no: proven, but not a yes."""
    return intent.approval(msg.own_text).has(intent.DISCARD)


def organisation_of(msg: Incoming) -> str:
    return organisation_from_signature(msg.own_text) or organisation_from_domain(msg.sender.rpartition("@")[2]) or ""


def _reply(job: Job, person: Person, template: str, meeting: Meeting | None = None,
           invite: str | None = None, key: str = "", **context: Any) -> str:  # forwarded as send_letter's **context
    """Queue the one reply to this message (if allowed; key names another, e.g. for a second meeting); returns a
    note for the reason column."""
    allowed, note = reply_allowed(job)
    if not allowed:
        if note != "; no reply sent":
            log.warning("reply to message %s suppressed%s", job.row_id, note)
        return note
    send_letter(
        job.session, job.app.cfg, key=key or f"reply:{job.row_id}", template=template, person=person, now=job.now,
        meeting=meeting, invite_method=invite, in_reply_to=job.msg.message_id, references=job.msg.references,
        **context,
    )
    return ""


def _person(job: Job) -> Person:
    return registry.upsert_person(job.session, job.msg.sender, job.msg.name, organisation_of(job.msg), job.now)


def _transient_person(job: Job) -> Person:
    """Someone we answer but do not store (no registration: nothing to keep under the AVG)."""
    existing = registry.find_person(job.session, job.msg.sender)
    return existing or Person(email=job.msg.sender, name=job.msg.name, organisation="")


def answers_our_mail(msg: Incoming, secret: bytes, domain: str) -> bool:
    """In-Reply-To / References name one of our own Message-IDs: told by our mark (or, for a letter sent before
    the mark, by its MAC for this sender), never by the domain, which an organiser's own mail client uses too."""
    return any(is_own(secret, ref) or sent_to(secret, domain, ref, msg.sender) for ref in msg.references[-20:])


def handle_register(job: Job) -> tuple[str, str]:
    assert job.decision.meeting_date is not None  # decide sets it for REGISTER; the meeting is asserted below
    meeting = registry.meeting_on(job.session, job.decision.meeting_date, lock=True)
    assert meeting is not None
    digests = address_hashes(job.app.cfg.secret, job.msg.sender)  # keyed, and the legacy unkeyed one
    lk = lookups.get(job.session)
    # known not to be there (False): nothing to look up or delete
    if (lk is None or any(lk.forgotten.get(d, True) for d in digests)) and \
            registry.is_forgotten(job.session, job.app.cfg.secret, job.msg.sender):
        how = proven(job)
        if not how:
            # One forged registration must not undo a forget: store nothing, ask the address itself.
            return _ask_forgotten(job, meeting, digests[0])
        if how == REPLY and _declines(job.msg):
            return "processed", f"register for {meeting.date} declined in reply to our mail: still forgotten"
        # Writing to us again after being forgotten, proven, is a new request: they may be mailed again.
        job.session.execute(delete(Forgotten).where(Forgotten.address_hash.in_(digests)))
    if declines_our_letter(job):
        return "processed", f"register for {meeting.date} declined in reply to our mail: not registered"
    person = _person(job)
    flag = for_person(job.decision.detail)
    result = registry.register(job.session, meeting, person, job.now, note=flag.need if flag else "")
    if result.outcome.startswith("already_") and answers_our_mail(job.msg, job.app.cfg.secret, job.app.cfg.domain):
        # Someone already registered replying to our mail has a question or remark, not a second sign-up:
        # a person should read it (an "already registered" auto-reply would leave it unanswered); they hear so.
        note = _reply(job, person, "person_ack", subject=strip_prefixes(job.msg.subject))
        return "attention", f"{result.outcome} for {meeting.date}: a reply to our mail, for a person to read{note}"
    on_list = subscribe_registrant(job.session, job.app.cfg, person, job.now)
    note = _confirm(job, person, meeting, result, list_subscribed=on_list) + register_also(job, person, meeting)
    if flag is not None:  # registered, and a person reads the question or need too
        return "attention", f"{result.outcome} for {meeting.date}{note}; also for a person: {flag.why}"
    return "processed", f"{result.outcome} for {meeting.date}{note}"


def for_person(detail: d.Detail) -> d.ForPerson | None:
    """What a registration also holds for a person (a question, a need), alone or beside more meetings."""
    if isinstance(detail, d.AlsoMeetings):
        return detail.for_person
    return detail if isinstance(detail, d.ForPerson) else None


def _teller(job: Job, person: Person, meeting: Meeting, key: str = "") -> signups.Tell:
    """How the shared register / cancel path (network/signups.py) answers this message: a reply through the gate."""
    def tell(*, template: str, invite: str | None, **context: Any) -> str:
        return _reply(job, person, template, meeting, invite, key=key, **context)
    return tell


def _confirm(job: Job, person: Person, meeting: Meeting, result: registry.RegisterResult, key: str = "",
             **context: Any) -> str:
    """The letter that answers a registration: confirmed (with the invite), already registered, or waitlisted."""
    return signups.tell_registered(result, _teller(job, person, meeting, key), **context)


def declines_our_letter(job: Job) -> bool:
    """A "nee" in reply to one of our letters (its Message-ID carries our mark): a colleague's invitation
    turned down, say. Its subject still names the meeting, but it registers no one."""
    cfg = job.app.cfg
    return _declines(job.msg) and answers_our_mail(job.msg, cfg.secret, cfg.domain)


def register_also(job: Job, person: Person, meeting: Meeting) -> str:
    """What more the registration names (d.AlsoMeetings): the other meetings, each registered with its own
    confirmation and invite (its own outbox key), and colleagues, each invited to confirm by reply."""
    detail = job.decision.detail
    if not isinstance(detail, d.AlsoMeetings):
        return ""
    notes = []
    for day in detail.dates:
        other = registry.meeting_on(job.session, day, lock=True)
        if other is None or other.status != MeetingStatus.SCHEDULED or day < job.app.today():
            notes.append(f"; {day} is no open meeting")
            continue
        result = registry.register(job.session, other, person, job.now)
        notes.append(f"; also {result.outcome} for {day}"
                     + _confirm(job, person, other, result, key=f"reply:{job.row_id}:{day.isoformat()}"))
    notes += [invite_colleague(job, person, colleague, meeting) for colleague in detail.colleagues]
    return "".join(notes)


def invite_colleague(job: Job, sender: Person, colleague: d.Colleague, meeting: Meeting) -> str:
    """A colleague the sender signed up: not registered on the sender's word, but invited, in a letter whose
    subject names the meeting, so that their own "ja" registers them (and proves their address). One per
    address and meeting, ever (the outbox key holds the address's keyed hash, not the address); never to a
    forgotten address; through the reply gate, counted for the sender and for the colleague. The sender is
    named only when proven: a From header alone must not speak to someone else."""
    cfg = job.app.cfg
    if registry.is_forgotten(job.session, cfg.secret, colleague.email):
        return "; a colleague not invited: the address asked to be forgotten"
    known = registry.find_person(job.session, colleague.email)
    reg = registry.registration_of(job.session, meeting, known) if known is not None else None
    if reg is not None and reg.status != RegistrationStatus.CANCELLED:
        return f"; a colleague already {reg.status}"
    allowed, note = reply_allowed(job)
    if allowed and job.budget is not None:
        note = job.budget.take(colleague.email)
        allowed = not note
    if not allowed:
        return f"; a colleague not invited{note}"
    key = f"invite:{meeting.date.isoformat()}:{address_hashes(cfg.secret, colleague.email)[0]}"
    inviter = (sender.name or sender.email) if proven(job) else ""
    sent = send_letter(job.session, cfg, key=key, template="colleague_invitation",
                       person=Person(email=colleague.email, name=colleague.name), now=job.now, meeting=meeting,
                       inviter=inviter)
    # no address in the reason: the colleague has agreed to nothing yet (nor to being kept in our logs)
    return "; a colleague invited" if sent else "; a colleague was invited before"


def ask_confirmation(job: Job, person: Person, template: str, key: str, what: str, meeting: Meeting | None = None,
                     **context: Any) -> str:
    """Do nothing yet: mail the address itself, whose reply to that mail (its Message-ID is marked for this
    address) is the proof. key names the request with its day: one such mail per address, action and day, so a
    forger cannot flood the victim. Returns the reason."""
    allowed, note = reply_allowed(job)
    if allowed and not send_letter(job.session, job.app.cfg, key=key, template=template, person=person,
                                   now=job.now, meeting=meeting, **context):
        note = "; confirmation already asked today"
    return f"{what} asked: waiting for confirmation by reply (sender not proven){note}"


def ask_to_confirm(job: Job, person: Person, template: str, what: str, meeting: Meeting | None = None,
                   **context: Any) -> tuple[str, str]:
    key = f"confirm:{template}:{what}:{person.email.lower()}:{job.now.date()}"
    return "processed", ask_confirmation(job, person, template, key, what, meeting, **context)


def _ask_forgotten(job: Job, meeting: Meeting, digest: str) -> tuple[str, str]:
    """A forgotten address asks to register: nothing is stored (no person, no registration); the confirm mail's
    Message-ID, marked for this address, is the token. The outbox key holds only the address's hash."""
    return "processed", ask_confirmation(
        job, Person(email=job.msg.sender, name=""), "confirm_register", f"confirm:register:{digest}:{job.now.date()}",
        f"register for {meeting.date} from a forgotten address", meeting)


def handle_cancel(job: Job) -> tuple[str, str]:
    assert job.decision.meeting_date is not None  # decide sets it for CANCEL; the meeting is asserted below
    meeting = registry.meeting_on(job.session, job.decision.meeting_date, lock=True)
    assert meeting is not None
    person = registry.find_person(job.session, job.msg.sender)
    reg = registry.registration_of(job.session, meeting, person) if person else None
    how = proven(job) if reg is not None and reg.status != RegistrationStatus.CANCELLED else ""
    if person is not None and reg is not None and reg.status != RegistrationStatus.CANCELLED and not how:
        # The From header alone can be forged: a forged cancellation would free the seat for the forger.
        return ask_to_confirm(job, person, "confirm_cancel", f"cancel for {meeting.date}", meeting)
    if how == REPLY and _declines(job.msg):
        return "processed", f"cancel for {meeting.date} declined in reply to our mail: registration kept"
    done = signups.cancel_and_tell(job.session, job.app.cfg, meeting, person, job.now,
                                   _teller(job, person, meeting)) if person else None
    if done is None:
        note = _reply(job, _transient_person(job), "not_registered", meeting)
        return "processed", f"cancel for {meeting.date}: was not registered{note}"
    return "processed", f"cancelled ({done.previous}) for {meeting.date} ({how}){done.note}"


def handle_calendar_reply(job: Job) -> tuple[str, str]:
    partstat = job.decision.partstat
    lock = partstat == "DECLINED"
    # decide always sets the date of a calendar reply; a None would find no meeting, handled below
    meeting = registry.meeting_on(job.session, cast(dt.date, job.decision.meeting_date), lock=lock)
    person = registry.find_person(job.session, job.msg.sender)
    reg = registry.registration_of(job.session, meeting, person) if meeting and person else None
    if reg is None or meeting is None or person is None:
        return "processed", f"calendar reply {partstat} from someone not registered"
    if partstat == "DECLINED" and reg.status != RegistrationStatus.CANCELLED and not proven(job):
        # a DECLINED cancels: as forgeable as an afmelden mail, so the same proof is asked
        return ask_to_confirm(job, person, "confirm_cancel", f"cancel for {meeting.date}", meeting)
    reg.partstat = partstat
    if partstat != "DECLINED":
        return "processed", f"calendar reply {partstat} recorded for {meeting.date}"
    # They already removed it from their calendar: a short confirmation, without an invite.
    done = signups.cancel_and_tell(job.session, job.app.cfg, meeting, person, job.now, _teller(job, person, meeting),
                                   invite=False)
    if done is None:
        return "processed", f"calendar reply DECLINED for {meeting.date}: was already cancelled"
    return "processed", f"declined in calendar: cancelled for {meeting.date}{done.note}"


def handle_unknown_date(job: Job) -> tuple[str, str]:
    cfg = job.app.cfg
    upcoming = open_meetings(job.session, cfg, job.app.today())
    asked = long_date(job.decision.meeting_date, cfg.network.language) if job.decision.meeting_date else "die datum"
    example = upcoming[0]["ref"] if upcoming else meeting_ref(cfg, job.app.today())
    note = _reply(job, _transient_person(job), "unknown_date", None, open_meetings=upcoming, asked=asked,
                  example=example)
    return "processed", job.decision.reason + note


def handle_past_meeting(job: Job) -> tuple[str, str]:
    cfg = job.app.cfg
    # decide always sets the date of a past meeting; a None would find no meeting, passed on as None
    meeting = registry.meeting_on(job.session, cast(dt.date, job.decision.meeting_date))
    upcoming = open_meetings(job.session, cfg, job.app.today())
    example = upcoming[0]["ref"] if upcoming else meeting_ref(cfg, job.app.today())
    note = _reply(job, _transient_person(job), "past_meeting", meeting, open_meetings=upcoming, example=example)
    return "processed", job.decision.reason + note


def handle_ignore(job: Job) -> tuple[str, str]:
    return "processed", job.decision.reason


def handle_attention(job: Job) -> tuple[str, str]:
    return "attention", job.decision.reason


def handle_person(job: Job) -> tuple[str, str]:
    """A person answers: the message goes to the attention folder, and the sender hears so (never silence)."""
    note = _reply(job, _transient_person(job), "person_ack", subject=strip_prefixes(job.msg.subject))
    return "attention", job.decision.reason + ("; acknowledged" if not note else note)


def handle_ask_back(job: Job) -> tuple[str, str]:
    """Unsure what they mean: ask "do you mean to register?"; the question's subject names the meeting, so a
    plain "ja" to it registers (inbox/registration_rules.py) and a "nee" changes nothing."""
    assert job.decision.meeting_date is not None  # decide sets it for ASK_BACK
    meeting = registry.meeting_on(job.session, job.decision.meeting_date)
    assert meeting is not None
    person = _transient_person(job)
    key = f"ask:register:{meeting.date}:{job.msg.sender.lower()}:{job.now.date()}"
    allowed, note = reply_allowed(job)
    if allowed and not send_letter(job.session, job.app.cfg, key=key, template="ask_register", person=person,
                                   now=job.now, meeting=meeting, in_reply_to=job.msg.message_id,
                                   references=job.msg.references):
        note = "; asked already today"
    return "processed", job.decision.reason + note


def handle_noted(job: Job) -> tuple[str, str]:
    meeting = registry.meeting_on(job.session, job.decision.meeting_date) if job.decision.meeting_date else None
    return "processed", job.decision.reason + _reply(job, _transient_person(job), "noted", meeting)


REGISTRATION_HANDLERS: dict[str, Callable[[Job], tuple[str, str]]] = {
    d.REGISTER: handle_register,
    d.CANCEL: handle_cancel,
    d.CALENDAR_REPLY: handle_calendar_reply,
    d.UNKNOWN_DATE: handle_unknown_date,
    d.PAST_MEETING: handle_past_meeting,
    d.IGNORE: handle_ignore,
    d.ATTENTION: handle_attention,
    d.PERSON: handle_person,
    d.ASK_BACK: handle_ask_back,
    d.NOTED: handle_noted,
}
