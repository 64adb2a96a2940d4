"""Message in, decision out, for registering and cancelling: which scheduled meeting a message names, and whether
it cancels. Pure functions.

The checks are listed in inbox/decide.py CHECKS; inbox/network_rules.py asks meeting_request and asks_to_cancel
too, when someone who says who they are also registers.
"""
from __future__ import annotations

import datetime as dt
import re

from base.dates import find_any_date_refs, find_date_refs, resolve
from db.states import MeetingStatus
from inbox import intent
from inbox.decision import (ASK_BACK, CANCEL, NOTED, PAST_MEETING, PERSON, REGISTER, UNKNOWN_DATE, Context,
                            Decision, ForPerson)
from inbox.intent import is_cancellation
from inbox.message import Incoming
from inbox.text import may_contain, strip_prefixes

def asks_to_cancel(msg: Incoming) -> bool:
    """The subject or the sender's own text says they cancel."""
    return is_cancellation(strip_prefixes(msg.subject) + "\n" + msg.own_text[:5000])


def meeting_request(msg: Incoming, ctx: Context) -> Decision | None:
    """"Pioniersnetwerk 18 september 2018" in the subject, else in the sender's own text: register, or cancel when
    the message says so; a date that is no scheduled meeting, or one that has passed, is told as such."""
    subject = strip_prefixes(msg.subject)
    refs = find_date_refs(subject, ctx.network_name, open_days(ctx))
    source = "subject"
    if not refs:
        refs = find_date_refs(msg.own_text[:5000], ctx.network_name, open_days(ctx))
        source = "body"
    if not refs:
        return None
    dates = [m.date for m in ctx.meetings if m.status == MeetingStatus.SCHEDULED]
    all_dates = [m.date for m in ctx.meetings]
    reading = intent.read(msg.own_text[:5000], subject)
    cancelling = is_cancellation(subject) or reading.declines
    resolved = None
    for ref in refs:
        resolved = resolve(ref, all_dates, ctx.today)
        if resolved in dates:
            break
    if resolved is None or resolved not in dates:
        shown = resolved.isoformat() if resolved else "an invalid date"
        return Decision(UNKNOWN_DATE, f"{shown} ({source}) is no scheduled meeting", resolved)
    if resolved < ctx.today:
        return Decision(PAST_MEETING, f"meeting {resolved} has taken place", resolved)
    if cancelling:  # "kan niet", "toch niet": never a registration; cancels only a proven registration
        return Decision(CANCEL, f"cancel for {resolved} (date in {source}; {reading.why or 'cancels'})", resolved)
    return _register_or_ask(msg, subject, reading, resolved, source)


def _register_or_ask(msg: Incoming, subject: str, reading: intent.Reading, day: dt.date,
                     source: str) -> Decision:
    """Register only what reads as a registration; ask back when unsure, hand questions to a person."""
    why = f"date in {source}; {reading.why}"
    if reading.has(intent.DOUBT) and not intent.read(msg.own_text[:5000]).has(intent.REGISTER):
        # unsure, and their own words do not ask to register ("maar meld me aan" does)
        return Decision(ASK_BACK, f"unsure for {day} ({why}): asked back", day)
    replying = subject != msg.subject  # RE:/FW: a reply to the announcement or a mail of ours
    if replying and reading.has(intent.DISCARD) and not reading.has(intent.APPROVE):  # "nee" to our question
        return Decision(NOTED, f"no for {day} ({why}): nothing changed", day)
    if reading.has(intent.QUESTION) and not reading.has(intent.REGISTER, intent.APPROVE):
        # only a question, in reply or not ("Waar precies?"): a person answers; nobody is registered for asking
        return Decision(PERSON, f"question about {day} ({why}): for a person", day)
    flagged = reading.has(intent.QUESTION, intent.NEED)
    return Decision(REGISTER, f"register for {day} ({why if reading.intents else 'date in ' + source})", day,
                    detail=ForPerson(reading.why, intent.need_note(msg.own_text)) if flagged else None)


_SIGN_UP = re.compile(r"\b(aanmeld\w*|meld\w*\s+(mij|me|ik)\b|inschrijv\w*|deelname|register\w*|sign\s*up)",
                      re.IGNORECASE)


def check_date_without_name(msg: Incoming, ctx: Context) -> Decision | None:
    """'Aanmelding 18 september 2018' without the network's name: the mailbox is ours, so a subject that
    asks to sign up (or off) for the exact date of a scheduled, upcoming meeting is clear enough."""
    subject = strip_prefixes(msg.subject)
    cancelling = is_cancellation(subject)
    if not (cancelling or _SIGN_UP.search(subject)):
        return None
    upcoming = [m.date for m in ctx.meetings if m.status == MeetingStatus.SCHEDULED and m.date >= ctx.today]
    for ref in find_any_date_refs(subject):
        day = resolve(ref, upcoming, ctx.today)
        if day in upcoming:
            action = CANCEL if cancelling else REGISTER
            return Decision(action, f"{action} for {day} (date in subject, without the network name)", day)
    return None


def check_reply_to_us(msg: Incoming, ctx: Context) -> Decision | None:
    """A cancellation that names no date, in reply to one of our mails: only clear when one meeting is open."""
    if not asks_to_cancel(msg):
        return None
    upcoming = [m for m in ctx.meetings if m.status == MeetingStatus.SCHEDULED and m.date >= ctx.today]
    if len(upcoming) == 1:
        return Decision(CANCEL, f"cancel for {upcoming[0].date} (the only open meeting)", upcoming[0].date)
    return Decision(PERSON, "cancellation without a recognisable meeting date: for a person")


def open_days(ctx: Context) -> list[dt.date]:
    """The upcoming scheduled meetings' dates: a short number form ("18/3", "16-9") counts only on one of them
    (base/dates.find_date_refs), since elsewhere it may be anything ("bel 06-12", "3/4 van de deelnemers")."""
    return [m.date for m in ctx.meetings if m.status == MeetingStatus.SCHEDULED and m.date >= ctx.today]
