"""Handlers for the organisers' desk (inbox/desk_rules.py); the table at the bottom is merged into
inbox/handlers.py HANDLERS.

Reading commands (help, overzicht, deelnemers, aandacht) are answered at once. Commands that change data
(aanmelden, afmelden, behandeld) are only described to the organiser, with a single-use token, exactly as a list
post is: their reply "ja" to it (inbox/list_handlers.py hands desk tokens to carry_out here) does it. The token is a
list token of kind "desk:<message id>": the message that asked is read again then, so nothing else is stored.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from db import members, registry
from db.models import InboundMessage, ListToken, Meeting
from db.states import MeetingStatus, RegistrationStatus
from inbox import desk_commands as dc
from inbox import desk_rules
from inbox.job import Job, reply_allowed
from inbox.message import parse_message
from mailer import format as fmt
from mailer.letters import meeting_view, send_letter_to
from mailer.mime import File
from mailer.outbox import sent_since
from network import desk
from network.exports import XLSX_TYPE, attendee_sheet_in, xlsx_bytes
from network.meetings import UserError

KIND = "desk:"  # ListToken.kind of a desk confirmation: "desk:<the asking message's id>"


def _reply(job: Job, template: str, *, key: str = "", budget: bool = False, reply_to: str | None = None,
           **context: Any) -> str:
    """The reply to this message; answering it reaches the desk again (reply_to). A proven organiser's desk replies
    are not counted against the daily reply limit (a loop guard for strangers: a busy organiser asks more than ten
    things a day); refusals are."""
    if budget:
        allowed, note = reply_allowed(job)
        if not allowed:
            return note
    elif not job.decision.may_reply:
        return "; no reply sent"
    cfg = job.app.cfg
    send_letter_to(job.session, cfg, key=key or f"reply:{job.row_id}", template=template, to=job.msg.sender,
                   name=job.msg.name, now=job.now, in_reply_to=job.msg.message_id,
                   references=job.msg.references, desk_address=cfg.desk_address,
                   reply_to=cfg.desk_address if reply_to is None else reply_to, **context)
    return ""


def _sent_today(job: Job, kind: str) -> int:
    return sent_since(job.session, kind, job.msg.sender, job.now - dt.timedelta(days=1))


def handle_refuse(job: Job) -> tuple[str, str]:
    if _sent_today(job, "desk_refusal") >= job.app.cfg.list.refusal_per_day:
        return "processed", job.decision.reason + "; refused before today: no reply"
    return "processed", job.decision.reason + _reply(job, "desk_refusal", budget=True, reply_to="")


def handle_unverified(job: Job) -> tuple[str, str]:
    """Possibly forged: a person looks. The organiser's own address hears once a day that nothing was done (a
    forger reads nothing of it)."""
    if _sent_today(job, "desk_unverified") >= 1:
        return "attention", job.decision.reason + "; told before today: no reply"
    return "attention", job.decision.reason + _reply(job, "desk_unverified", budget=True)


# --- reading commands ------------------------------------------------------------------------------


def _upcoming(job: Job) -> list[Meeting]:
    return list(job.session.scalars(select(Meeting).where(
        Meeting.date >= job.app.today(), Meeting.status == MeetingStatus.SCHEDULED).order_by(Meeting.date)))


def _meeting_line(job: Job, m: Meeting) -> dict[str, Any]:
    confirmed = registry.count(job.session, m, RegistrationStatus.CONFIRMED)
    return {**meeting_view(job.app.cfg, m), "confirmed": confirmed,
            "waitlisted": registry.count(job.session, m, RegistrationStatus.WAITLISTED),
            "free": max(m.capacity - confirmed, 0) if m.capacity else None}


def _meeting_lines(job: Job) -> list[dict[str, Any]]:
    """The coming meetings with their counts: the overview, and the list under a problem or a question."""
    return [_meeting_line(job, m) for m in _upcoming(job)]


def _help(job: Job, command: dc.Command) -> tuple[str, str]:
    return "processed", f"desk: help sent{' (not understood)' if command.unknown else ''}" + _reply(
        job, "desk_help", asked=command.text if command.unknown else "", example_day=_example_day(job))


def _example_day(job: Job) -> str:
    upcoming = _upcoming(job)
    day = upcoming[0].date if upcoming else job.app.today()
    return f"{day.day} {fmt.short_date(day, job.app.cfg.network.language).split()[1]}"


def _overview(job: Job, command: dc.Command) -> tuple[str, str]:
    lines = _meeting_lines(job)
    return "processed", f"desk: overview of {len(lines)} meeting(s) sent" + _reply(
        job, "desk_overview", meetings=lines)


def _no_meeting(job: Job, command: dc.Command, day: dt.date | None) -> tuple[str, str]:
    lang = job.app.cfg.network.language
    asked = fmt.long_date(day, lang) if day else ""
    what = f"no meeting on {day}" if day else "no meeting coming"
    return "processed", f"desk: {command.kind}: {what}" + _reply(
        job, "desk_problem", problem="no_meeting", asked=asked, command=command.text,
        meetings=_meeting_lines(job))


def _attendees(job: Job, command: dc.Command) -> tuple[str, str]:
    day = command.day
    if day is None:
        upcoming = _upcoming(job)
        day = upcoming[0].date if upcoming else None
    meeting = registry.meeting_on(job.session, day) if day else None
    if meeting is None or day is None:
        return _no_meeting(job, command, day)
    sheet = attendee_sheet_in(job.session, job.app, day)
    word = "deelnemers" if job.app.cfg.network.language == "nl" else "attendees"
    xlsx = File(f"{word}-{day.isoformat()}.xlsx", XLSX_TYPE, xlsx_bytes(sheet))
    line = _meeting_line(job, meeting)
    cancelled = registry.count(job.session, meeting, RegistrationStatus.CANCELLED)
    return "processed", f"desk: attendee list of {day} sent ({len(sheet.rows)} rows)" + _reply(
        job, "desk_attendees", files=(xlsx,), meeting=line, cancelled=cancelled)


def _moment(job: Job, moment: dt.datetime) -> str:
    local = moment.astimezone(job.app.tz)
    return f"{fmt.long_date(local.date(), job.app.cfg.network.language)}, {local:%H.%M}" + (
        " uur" if job.app.cfg.network.language == "nl" else "")


_REASONS = (  # the message log's English reasons, as an organiser reads them in a Dutch mail (first match wins)
    ("no usable sender", "geen bruikbaar afzenderadres"),
    ("no usable from", "geen bruikbaar afzenderadres"),
    ("dmarc failed", "de afzender is mogelijk vervalst (DMARC mislukt)"),
    ("desk command from an organiser", "een opdracht aan de balie waarvan niet vast te stellen was dat die van de "
     "organisator kwam"),
    ("no meeting date recognised", "geen datum van een bijeenkomst gevonden"),
    ("cancellation without a recognisable", "een afmelding zonder herkenbare datum"),
    ("question about", "een vraag over een bijeenkomst"),
    ("the month named holds", "de genoemde maand heeft meer dan een bijeenkomst"),
    ("a reply to our mail, for a person", "een antwoord op onze mail, om te lezen"),
    ("also for a person", "aangemeld, maar er staat ook iets in om te lezen"),
    ("who-is-who", "een antwoord over rol of onderwerp van iemand die nooit is aangemeld"),
    ("list token not accepted", "een antwoord met een onbekende of andermans bevestiging"),
    ("error while handling", "een fout bij het verwerken"),
    ("unreadable message", "een bericht dat niet te lezen was"),
)


def dutch_reason(reason: str) -> str:
    """Why a message waits for a person, in Dutch where we know the words; else as the log says it."""
    lowered = reason.lower()
    return next((dutch for words, dutch in _REASONS if words in lowered), reason)


def _attention(job: Job, command: dc.Command) -> tuple[str, str]:
    waiting = [{"id": w.id, "sender": w.sender, "subject": w.subject, "reason": dutch_reason(w.reason),
                "received": _moment(job, w.received_at)} for w in desk.waiting_for_person(job.session)]
    return "processed", f"desk: {len(waiting)} message(s) waiting for a person sent" + _reply(
        job, "desk_attention", waiting=waiting, example_id=waiting[0]["id"] if waiting else 12,
        example_day=_example_day(job))


# --- commands that change data: described, then done on "ja" -----------------------------------------


def _incomplete(job: Job, command: dc.Command) -> tuple[str, str]:
    return "processed", f"desk: {command.describe()}: incomplete" + _reply(
        job, "desk_problem", problem=command.problem, asked="", command=command.text,
        meetings=_meeting_lines(job))


def _what(job: Job, command: dc.Command) -> dict[str, Any] | str:
    """What the command will do, for the confirmation and the report; a problem name when it cannot be done."""
    session = job.session
    meeting: Meeting | None = None
    if command.day is not None:
        meeting = registry.meeting_on(session, command.day)
        if meeting is None or meeting.status != MeetingStatus.SCHEDULED or meeting.date < job.app.today():
            return "no_meeting"
    context: dict[str, Any] = {"action": command.action or command.kind, "email": command.email,
                               "meeting": _meeting_line(job, meeting) if meeting is not None else None,
                               "person_name": command.name, "organisation": command.organisation,
                               "message": None}
    if command.kind == dc.RESOLVE:
        row = session.get(InboundMessage, command.message_id) if command.message_id is not None else None
        if row is None or row.outcome != "attention" or row.resolved_at is not None:
            return "no_message"
        context["message"] = {"id": row.id, "sender": row.sender, "subject": row.subject}
        context["email"] = row.sender
    person = registry.find_person(session, context["email"]) if context["email"] else None
    if person is not None:
        context["person_name"] = command.name or person.name
    if meeting is not None:
        reg = registry.registration_of(session, meeting, person) if person is not None else None
        active = reg is not None and reg.status != RegistrationStatus.CANCELLED
        if context["action"] == dc.REGISTER and active:
            return "already"
        if context["action"] == dc.CANCEL and not active:
            return "not_registered"
    return context


def _ask(job: Job, command: dc.Command) -> tuple[str, str]:
    what = _what(job, command)
    if isinstance(what, str):
        return "processed", f"desk: {command.describe()}: {what}" + _reply(
            job, "desk_problem", problem=what, command=command.text,
            asked=fmt.long_date(command.day, job.app.cfg.network.language) if command.day else "",
            meetings=_meeting_lines(job))
    cfg = job.app.cfg
    valid = dt.timedelta(hours=cfg.list.approval_hours)
    token = members.issue_token(job.session, f"{KIND}{job.row_id}", job.msg.sender, job.now, valid)
    note = _reply(job, "desk_confirm", token=token,
                 expires=_moment(job, job.now + valid), **what)
    return "processed", f"desk: {command.describe()}: confirmation asked (token, by reply)" + note


_READING: dict[str, Callable[[Job, dc.Command], tuple[str, str]]] = {
    dc.HELP: _help, dc.OVERVIEW: _overview, dc.ATTENDEES: _attendees, dc.ATTENTION: _attention}


def handle_command(job: Job) -> tuple[str, str]:
    command = job.decision.detail
    assert isinstance(command, dc.Command)  # set by desk_rules.check_desk
    if command.problem:
        outcome, why = _incomplete(job, command)
    elif command.kind in dc.CHANGES:
        outcome, why = _ask(job, command)
    else:
        outcome, why = _READING[command.kind](job, command)
    return outcome, f"{job.decision.reason}; {why.removeprefix('desk: ')}"  # who asked, how proven, what was done


# --- the reply to a confirmation -----------------------------------------------------------------------


def is_desk_token(token: ListToken | None) -> bool:
    return token is not None and token.kind.startswith(KIND)


def refused_token(job: Job, problem: str) -> tuple[str, str]:
    """The organiser's own desk token, expired or used: nothing is done, and they hear so."""
    return "processed", f"desk confirmation not accepted: {problem}" + _reply(job, "desk_token_invalid")


def _asked(job: Job, token: ListToken) -> dc.Command | None:
    """The command the token confirms, read again from the message that asked (as it was read then)."""
    row = job.session.get(InboundMessage, int(token.kind[len(KIND):]))
    if row is None or row.raw is None:
        return None
    msg = parse_message(row.raw)
    meetings = [m.date for m in job.session.scalars(select(Meeting))]
    asked_on = row.received_at.astimezone(job.app.tz).date()
    command = dc.parse(msg.subject, msg.own_text, meetings, asked_on)
    return command if command.changes else None


def carry_out(job: Job, token: ListToken, *, yes: bool, unclear: bool) -> tuple[str, str]:
    """A redeemed desk token: "ja" does what was described, "nee" nothing, anything else asks again."""
    command = _asked(job, token)
    if command is None:
        return "attention", "desk confirmation: the message that asked can no longer be read"
    if unclear:
        token.used_at = None  # single use: still valid for a plain "ja", until it expires
        return "processed", f"desk: {command.describe()}: not done, no plain yes ({job.decision.reason})" + _reply(
            job, "desk_unclear", token=job.decision.token, command=command.text)
    if not yes:
        return "processed", f"desk: {command.describe()}: declined by the organiser, nothing done" + _reply(
            job, "desk_discarded", command=command.text)
    cfg, session, now, by = job.app.cfg, job.session, job.now, job.msg.sender
    try:
        if command.kind == dc.REGISTER:
            assert command.day is not None  # complete: command.changes
            outcome = desk.register_for(session, cfg, email=command.email, day=command.day, now=now,
                                        name=command.name, organisation=command.organisation, by=by)
        elif command.kind == dc.CANCEL:
            assert command.day is not None
            outcome = desk.cancel_for(session, cfg, email=command.email, day=command.day, now=now, by=by)
        else:
            assert command.message_id is not None
            outcome = desk.resolve(session, cfg, message_id=command.message_id, action=command.action,
                                   day=command.day, now=now, by=by)
    except UserError as exc:
        return "processed", f"desk: {command.describe()}: not done: {exc}" + _reply(
            job, "desk_done", changed=False, dutch=dutch_problem(str(exc)), told=[], command=command.text)
    return "processed", f"desk: {command.describe()} confirmed by the organiser: {outcome.said}" + (
        f"; told {', '.join(outcome.told)}" if outcome.told else "") + _reply(
        job, "desk_done", changed=outcome.changed, dutch=outcome.dutch, told=list(outcome.told),
        command=command.text)


_PROBLEMS = (  # network.desk's English one-liners, in the words an organiser reads
    ("no meeting on", "Er is geen bijeenkomst op die datum."),
    ("is cancelled", "Die bijeenkomst gaat niet door."),
    ("has passed", "Die bijeenkomst is al geweest."),
    ("asked to be forgotten", "Dit adres staat op de lijst van mensen die niet meer gemaild willen worden."),
    ("is not an email address", "Dat is geen geldig e-mailadres."),
    ("waits for a person", "Er is geen bericht met dat nummer dat nog op een mens wacht."),
    ("already resolved", "Dat bericht is al afgehandeld."),
    ("no sender address", "Dat bericht heeft geen afzender om aan of af te melden."),
    ("needs the meeting's date", "Zet de datum van de bijeenkomst erbij."),
)


def dutch_problem(english: str) -> str:
    lowered = english.lower()
    for words, dutch in _PROBLEMS:
        if words in lowered:
            return dutch
    return "Dat kon niet: " + english


DESK_HANDLERS: dict[str, Callable[[Job], tuple[str, str]]] = {
    desk_rules.COMMAND: handle_command,
    desk_rules.REFUSE: handle_refuse,
    desk_rules.UNVERIFIED: handle_unverified,
}
