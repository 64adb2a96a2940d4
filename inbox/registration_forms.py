"""Registrations as people write them, besides "Pioniersnetwerk 18 september 2018": a subject that is only a
meeting's date ("do 17/6"), a month with one meeting ("Pioniersnetwerk maart 2027"), several meetings in one mail,
colleagues signed up too, a weekday or year written wrongly. Pure functions; the checks are listed in
inbox/decide.py CHECKS, around inbox/registration_rules.py's, whose decisions they extend.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence

from base.dates import (DateRef, find_any_date_refs, find_date_refs, find_month_refs, in_month, resolve,
                        weekday_differs)
from inbox import intent
from inbox.colleagues import colleagues_named
from inbox.decision import (ASK_BACK, CANCEL, PAST_MEETING, PERSON, REGISTER, UNKNOWN_DATE, AlsoMeetings,
                            Context, Decision, ForPerson)
from inbox.message import Incoming
from inbox.registration_rules import (_SIGN_UP, check_date_without_name, is_cancellation, meeting_request,
                                      open_days)
from inbox.text import strip_prefixes

MAX_MEETINGS = 4  # meetings one mail registers for: a year's worth
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def named_refs(msg: Incoming, ctx: Context) -> tuple[list[DateRef], str]:
    """The dates near the network name in the subject, else in the sender's own text (never in the quote),
    and which of the two it was."""
    days = open_days(ctx)
    refs = find_date_refs(strip_prefixes(msg.subject), ctx.network_name, days)
    if refs:
        return refs, "subject"
    return find_date_refs(msg.own_text[:5000], ctx.network_name, days), "body"


def registering_more(decision: Decision, refs: Sequence[DateRef], msg: Incoming, ctx: Context,
                     days: Sequence[dt.date] = ()) -> Decision:
    """A registration with what more the mail says: the other upcoming meetings it names (refs, or days
    already resolved), colleagues it signs up (invited, not registered), a weekday that is not the meeting's.
    Other decisions are returned as they are."""
    main = decision.meeting_date
    if decision.action != REGISTER or main is None:
        return decision
    upcoming = open_days(ctx)
    all_dates = [m.date for m in ctx.meetings]
    others: list[dt.date] = [d for d in days if d != main]
    reason = decision.reason
    for ref in refs:
        day = resolve(ref, all_dates, ctx.today)
        if day is None:
            continue
        if day == main and weekday_differs(ref, day):
            # The date wins over the weekday: the confirmation names the meeting's own weekday.
            reason += f"; the weekday written is not the meeting's ({_WEEKDAYS[day.weekday()]}): registered by the date"
        elif day in upcoming and day != main and day not in others:
            others.append(day)
    # In date order, the first as the decision's meeting: every worker locks the meetings in the same order.
    main, *others = sorted([main, *others[: MAX_MEETINGS - 1]])
    colleagues = colleagues_named(msg.own_text, msg.sender, ctx.own_addresses)
    if others:
        reason += f"; registers for {main}, also for {', '.join(d.isoformat() for d in others)}"
    if colleagues:
        reason += f"; {len(colleagues)} colleague(s) to invite"
    also = decision.detail if isinstance(decision.detail, ForPerson) else None  # a question or need, kept
    detail = AlsoMeetings(tuple(others), colleagues, also) if others or colleagues else decision.detail
    return dataclasses.replace(decision, reason=reason, meeting_date=main, detail=detail)


def wrong_year(refs: Sequence[DateRef], ctx: Context) -> Decision | None:
    """"17 juni 2026" when no meeting was on that day and 17 juni 2027 is the one upcoming meeting on that day
    and month: a slip of the year, most likely, but the year is what was written. Not registered; a person (or
    an ask-back) settles it, with the meeting it most likely means as the decision's date."""
    known = {m.date for m in ctx.meetings}
    upcoming = open_days(ctx)
    for ref in refs:
        if ref.year is None:
            continue
        try:
            named = dt.date(ref.year, ref.month, ref.day)
        except ValueError:
            continue
        if named in known:
            continue
        same = [d for d in upcoming if (d.day, d.month) == (ref.day, ref.month) and abs(d.year - ref.year) <= 1]
        if len(same) == 1:
            return Decision(ASK_BACK, f"ask back: {named} is no meeting, {same[0]} is (the year written wrongly?)",
                            same[0])
    return None


def check_meeting_request(msg: Incoming, ctx: Context) -> Decision | None:
    """meeting_request, and what more the mail says (registering_more); a date whose year is the only thing
    off is asked back (wrong_year) instead of told it is no meeting."""
    decision = meeting_request(msg, ctx)
    if decision is None:
        return None
    refs, _ = named_refs(msg, ctx)
    if decision.action in (UNKNOWN_DATE, PAST_MEETING):
        return wrong_year(refs, ctx) or decision
    return registering_more(decision, refs, msg, ctx)


def check_dates_without_name(msg: Incoming, ctx: Context) -> Decision | None:
    """check_date_without_name, with the other meetings and colleagues the mail names."""
    decision = check_date_without_name(msg, ctx)
    if decision is None:
        return None
    return registering_more(decision, find_any_date_refs(strip_prefixes(msg.subject)), msg, ctx)


def _asks(msg: Incoming, subject: str) -> tuple[bool, bool]:
    """(cancels, signs up), from the subject or the top of the sender's own text."""
    own = msg.own_text[:5000]
    cancelling = is_cancellation(subject) or is_cancellation(own)
    return cancelling, bool(_SIGN_UP.search(subject) or _SIGN_UP.search(own[:1000]))


def check_month_only(msg: Incoming, ctx: Context) -> Decision | None:
    """"Aanmelding Pioniersnetwerk maart 2027": a month without a day, near the network name, in a mail that
    signs up (or off). Each month named must hold one upcoming meeting: that one; a month with several is asked
    back."""
    subject = strip_prefixes(msg.subject)
    months = find_month_refs(subject, ctx.network_name) or find_month_refs(msg.own_text[:5000], ctx.network_name)
    if not months:
        return None
    cancelling, signing_up = _asks(msg, subject)
    if not (cancelling or signing_up):
        return None
    upcoming = open_days(ctx)
    days: list[dt.date] = []
    for ref in months:
        found = in_month(ref, upcoming, ctx.today)
        if len(found) > 1:
            listed = ", ".join(d.isoformat() for d in found)
            return Decision(PERSON, f"for a person: the month named holds {len(found)} meetings ({listed})")
        days += [d for d in found if d not in days]
    if not days:
        return None
    action = CANCEL if cancelling else REGISTER
    decision = Decision(action, f"{action} for {days[0]} (the one meeting in the month named)", days[0])
    return registering_more(decision, (), msg, ctx, days[:MAX_MEETINGS])


_LETTER_WORDS = re.compile(r"[^\W\d_]+")
# What may stand beside a date in a subject that is nothing but the date: "do 17/6", "Bijeenkomst 18.3".
_BESIDE_A_DATE = frozenset({
    "op", "de", "het", "voor", "bijeenkomst", "graag", "ja", "aanwezig", "ik", "kom", "en", "meeting",
    "ma", "di", "wo", "do", "vr", "za", "zo", "maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag",
    "zondag", "januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
    "november", "december", "e", "ste",
})


def check_date_in_own_words(msg: Incoming, ctx: Context) -> Decision | None:
    """"Ik kom op 17 juni.", "Graag afmelden voor 17 juni." under a subject without a date ("Pioniersnetwerk",
    "Afmelding"): the sender's own first lines name one upcoming meeting's day and say clearly what they want."""
    own = msg.own_text[:1000]
    upcoming = open_days(ctx)
    days = {resolve(ref, upcoming, ctx.today) for ref in find_any_date_refs(own)}
    if len(days) != 1 or not days <= set(upcoming):
        return None
    (day,) = days
    assert day is not None  # in upcoming
    reading = intent.read(own, strip_prefixes(msg.subject))
    if not reading.clear or reading.has(intent.QUESTION):
        return None  # unsure or asking: the later checks hand it to a person
    if reading.declines:
        return Decision(CANCEL, f"cancel for {day} (date in their own words; {reading.why})", day)
    if reading.has(intent.REGISTER):
        return Decision(REGISTER, f"register for {day} (date in their own words; {reading.why})", day)
    return None


def check_date_alone(msg: Incoming, ctx: Context) -> Decision | None:
    """A subject that is only a date, without the network name: "do 17/6", "16-9", "18.3". The mailbox is ours,
    so it registers (or, when the text says so, cancels) when every date in it is an upcoming scheduled
    meeting."""
    subject = strip_prefixes(msg.subject)
    if len(subject) > 60 or not all(w.lower() in _BESIDE_A_DATE for w in _LETTER_WORDS.findall(subject)):
        return None
    refs = find_any_date_refs(subject)
    upcoming = open_days(ctx)
    days = [resolve(ref, upcoming, ctx.today) for ref in refs]
    if not refs or not all(d in upcoming for d in days):
        return None
    cancelling, _ = _asks(msg, subject)
    action = CANCEL if cancelling else REGISTER
    first = days[0]
    assert first is not None  # in upcoming
    decision = Decision(action, f"{action} for {first} (a subject that is only the date of a meeting)", first)
    return registering_more(decision, refs, msg, ctx)
