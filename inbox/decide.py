"""Message in, decision out: what an incoming message asks for. Pure; no database, no network.

The checks run in the order of CHECKS below; the first that returns a Decision wins. Most come from the rule
modules (registration_rules, listrules, network_rules); the few that guard them all are here.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

from inbox import desk_rules, listrules, network_rules, registration_forms, registration_rules
from inbox.auth import dmarc_failed
from inbox.decision import ATTENTION, CALENDAR_REPLY, IGNORE, PERSON, Context, Decision
from inbox.decision import MeetingInfo  # noqa: F401  (decide()'s input, as inbox/runner.py builds it: d.MeetingInfo)
from inbox.loops import no_reply_reason, reply_suppressed
from inbox.message import Incoming
from mailer.ics import parse_itip


def _check_sender(msg: Incoming, ctx: Context) -> Decision | None:
    if not msg.sender:  # nobody to act for or to answer: a human looks, told why
        return Decision(ATTENTION, msg.sender_problem or "no usable sender address", may_reply=False)
    return None


def _check_machine_mail(msg: Incoming, ctx: Context) -> Decision | None:
    reason = no_reply_reason(msg.msg, own_addresses=ctx.own_addresses, secret=ctx.secret)
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


def _check_for_person(msg: Incoming, ctx: Context) -> Decision | None:
    return Decision(PERSON, "no meeting date recognised near the network name: for a person")


CHECKS: list[Callable[[Incoming, Context], Decision | None]] = [
    _check_sender,  # nothing can be done without an address
    listrules.check_bounce,  # bounces of list mail: counted, never answered (they are machine mail)
    listrules.check_unsubscribe_token,  # List-Unsubscribe mailto: the token is the proof
    _check_machine_mail,  # auto-replies, bounces, lists: never answered (RFC 3834)
    _check_spoofing,  # our own receiving server says the From is forged
    desk_rules.check_desk,  # organisers' commands to the desk address: never a post, a vote or a registration
    network_rules.check_poll,  # votes to nieuws+poll-ID, theme polls posted by organisers, results on request
    listrules.check_list_mail,  # approval replies, posts, (un)subscribe: before any date is read
    _check_calendar_reply,  # Accept / Decline / Tentative from Outlook and Gmail
    network_rules.check_profile,  # "rol: pionier", "ja, deel mijn gegevens" (also in a registration)
    registration_forms.check_meeting_request,  # "Pioniersnetwerk 18 september 2018" in subject or own text
    registration_forms.check_month_only,  # "Aanmelding Pioniersnetwerk maart 2027": the one meeting that month
    registration_forms.check_dates_without_name,  # "Aanmelding 18 september 2018": the exact date of an open meeting
    registration_forms.check_date_alone,
    registration_forms.check_date_in_own_words,  # "Ik kom op 17 juni." under "Pioniersnetwerk" or "Afmelding"  # a subject that is only a meeting's date: "do 17/6", "16-9"
    registration_rules.check_reply_to_us,  # "ik kan toch niet komen" without a date
    _check_for_person,  # whatever is left: a person reads it, and the sender is told so
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
    raise AssertionError("the last check always decides")  # pragma: no cover
