"""Message in, decision out: what an incoming message asks for. Pure; no database, no network.

The checks run in the order of CHECKS below; the first that returns a Decision wins.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from inbox.auth import dmarc_failed
from inbox.dates import find_any_date_refs, find_date_refs, resolve
from inbox.loops import no_reply_reason, reply_suppressed
from inbox.message import Incoming
from inbox.text import may_contain, strip_prefixes
from mailer.ics import parse_itip

# Actions, each handled by one function in inbox/handlers.py.
REGISTER = "register"
CANCEL = "cancel"
UNKNOWN_DATE = "unknown_date"
PAST_MEETING = "past_meeting"
CALENDAR_REPLY = "calendar_reply"
IGNORE = "ignore"  # processed, nothing to do and nothing to answer
ATTENTION = "attention"  # a human should look at it


@dataclass(frozen=True)
class MeetingInfo:
    date: dt.date
    uid: str
    status: str = "scheduled"


@dataclass(frozen=True)
class Context:
    """What the decider may know besides the message."""

    network_name: str
    own_addresses: frozenset[str]
    own_domain: str
    meetings: Sequence[MeetingInfo]
    today: dt.date
    authserv_id: str | None = None
    post_address: str = ""  # the mailing list's address (inbox/listrules.py)
    bounce_address: str = ""
    organisers: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Decision:
    action: str
    reason: str
    meeting_date: dt.date | None = None
    may_reply: bool = True  # False: act, but send nothing back
    partstat: str = ""  # for calendar replies
    detail: str = ""  # e.g. the token of a list reply (inbox/listrules.py)


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


def _check_sender(msg: Incoming, ctx: Context) -> Decision | None:
    if not msg.sender:  # nobody to act for or to answer: a human looks, told why
        return Decision(ATTENTION, msg.sender_problem or "no usable sender address", may_reply=False)
    return None


def _check_machine_mail(msg: Incoming, ctx: Context) -> Decision | None:
    reason = no_reply_reason(msg.msg, own_addresses=ctx.own_addresses, own_msgid_domain=ctx.own_domain)
    if reason:
        return Decision(IGNORE, f"not answered: {reason}", may_reply=False)
    return None


def _check_spoofing(msg: Incoming, ctx: Context) -> Decision | None:
    domain = msg.sender.rpartition("@")[2]
    if dmarc_failed(msg.msg, authserv_id=ctx.authserv_id, sender_domain=domain):
        return Decision(ATTENTION, f"DMARC failed for {domain}: sender may be forged")
    return None


def _check_calendar_reply(msg: Incoming, ctx: Context) -> Decision | None:
    if msg.calendar is None:
        return None
    method, replies = parse_itip(msg.calendar)
    if method != "REPLY":
        return None
    known = {m.uid: m for m in ctx.meetings}
    for reply in replies:
        meeting = known.get(reply.uid)
        if meeting is not None:
            partstat = reply.partstat.upper()
            return Decision(
                CALENDAR_REPLY,
                f"calendar reply {partstat}",
                meeting_date=meeting.date,
                may_reply=partstat == "DECLINED",  # a decline cancels, and that is confirmed in a short mail
                partstat=partstat,
            )
    return Decision(IGNORE, "calendar reply for an unknown meeting", may_reply=False)


def _meeting_request(msg: Incoming, ctx: Context) -> Decision | None:
    subject = strip_prefixes(msg.subject)
    refs = find_date_refs(subject, ctx.network_name)
    source = "subject"
    if not refs:
        refs = find_date_refs(msg.own_text[:5000], ctx.network_name)
        source = "body"
    if not refs:
        return None
    dates = [m.date for m in ctx.meetings if m.status == "scheduled"]
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


def _check_date_without_name(msg: Incoming, ctx: Context) -> Decision | None:
    """'Aanmelding 18 september 2018' without the network's name: the mailbox is ours, so a subject that
    asks to sign up (or off) for the exact date of a scheduled, upcoming meeting is clear enough."""
    subject = strip_prefixes(msg.subject)
    cancelling = is_cancellation(subject)
    if not (cancelling or _SIGN_UP.search(subject)):
        return None
    upcoming = [m.date for m in ctx.meetings if m.status == "scheduled" and m.date >= ctx.today]
    for ref in find_any_date_refs(subject):
        day = resolve(ref, upcoming, ctx.today)
        if day in upcoming:
            action = CANCEL if cancelling else REGISTER
            return Decision(action, f"{action} for {day} (date in subject, without the network name)", day)
    return None


def _check_reply_to_us(msg: Incoming, ctx: Context) -> Decision | None:
    """A cancellation that names no date, in reply to one of our mails: only clear when one meeting is open."""
    if not asks_to_cancel(msg):
        return None
    upcoming = [m for m in ctx.meetings if m.status == "scheduled" and m.date >= ctx.today]
    if len(upcoming) == 1:
        return Decision(CANCEL, f"cancel for {upcoming[0].date} (the only open meeting)", upcoming[0].date)
    return Decision(ATTENTION, "cancellation without a recognisable meeting date")


from inbox import listrules  # noqa: E402  (it imports this module lazily)
from inbox import network_rules  # noqa: E402  (theme polls and who is who; imports this module lazily)

CHECKS: list[Callable[[Incoming, Context], Decision | None]] = [
    _check_sender,  # nothing can be done without an address
    listrules.check_bounce,  # bounces of list mail: counted, never answered (they are machine mail)
    listrules.check_unsubscribe_token,  # List-Unsubscribe mailto: the token is the proof
    _check_machine_mail,  # auto-replies, bounces, lists: never answered (RFC 3834)
    _check_spoofing,  # our own receiving server says the From is forged
    network_rules.check_poll,  # votes to nieuws+poll-ID, theme polls posted by organisers, results on request
    listrules.check_list_mail,  # approval replies, posts, (un)subscribe: before any date is read
    _check_calendar_reply,  # Accept / Decline / Tentative from Outlook and Gmail
    network_rules.check_profile,  # "rol: pionier", "ja, deel mijn gegevens" (also in a registration)
    _meeting_request,  # "Pioniersnetwerk 18 september 2018" in subject or own text
    _check_date_without_name,  # "Aanmelding 18 september 2018": the exact date of an open meeting
    _check_reply_to_us,  # "ik kan toch niet komen" without a date
]


def decide(msg: Incoming, ctx: Context) -> Decision:
    for check in CHECKS:
        decision = check(msg, ctx)
        if decision is not None:
            if decision.may_reply and reply_suppressed(msg.msg):
                decision = dataclasses.replace(
                    decision, reason=decision.reason + "; sender asked for no automatic reply", may_reply=False
                )
            return decision
    return Decision(ATTENTION, "no meeting date recognised near the network name")
