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
from inbox.decision import ATTENTION, CANCEL, PAST_MEETING, REGISTER, UNKNOWN_DATE, Context, Decision
from inbox.message import Incoming
from inbox.text import may_contain, strip_prefixes

# Cancellation, as people write it. Kept precise: "niet" alone is no cancellation.
_CANCEL = re.compile(
    r"""\b(
        afmeld(en|ing)(?!\s+(voor\s+de\s+)?(nieuwsbrief|mailinglijst|lijst))
      | afzeggen | zeg\w*\s+(\w+\s+){0,2}af\b
      | ik\s+(moet|wil)\s+(me\s+)?(helaas\s+)?(afmelden|afzeggen|annuleren)
      | (kan|kom)\s+(\w+\s+){0,3}(toch\s+)?niet\s+(\w+\s+){0,2}(komen|aanwezig\s+zijn|aansluiten|deelnemen|erbij\s+zijn)
      | ben\s+(\w+\s+){0,2}verhinderd | helaas\s+verhinderd
      | (zal|ben)\s+er\s+(\w+\s+){0,2}niet\s+bij\b
      | aanmelding\s+(\w+\s+){0,2}(intrekken|annuleren|terugtrekken|cancelen)
      | (trek|annuleer)\s+(\w+\s+){0,2}aanmelding
      | cancel(\s+my\s+registration)?\b | unregister
      | can(no|')t\s+(make\s+it|attend|come)
    )""",
    re.IGNORECASE | re.VERBOSE,
)
# Every branch of _CANCEL holds one of these words: text without any is no cancellation (the regex is slow).
_CANCEL_WORDS = ("afmeld", "zeg", "annule", "niet", "verhinderd", "trek", "can", "unregister")


def is_cancellation(text: str) -> bool:
    return may_contain(text, _CANCEL_WORDS) and bool(_CANCEL.search(text))


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
    cancelling = is_cancellation(subject) or is_cancellation(msg.own_text[:5000])
    action = CANCEL if cancelling else REGISTER
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
    return Decision(action, f"{action} for {resolved} (date in {source})", resolved)


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
    return Decision(ATTENTION, "cancellation without a recognisable meeting date")


def open_days(ctx: Context) -> list[dt.date]:
    """The upcoming scheduled meetings' dates: a short number form ("18/3", "16-9") counts only on one of them
    (base/dates.find_date_refs), since elsewhere it may be anything ("bel 06-12", "3/4 van de deelnemers")."""
    return [m.date for m in ctx.meetings if m.status == MeetingStatus.SCHEDULED and m.date >= ctx.today]
