"""Handlers for the network's decisions (inbox/network_rules.py); the table at the bottom is merged into
inbox/handlers.py HANDLERS.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import registry
from db.models import Meeting, Person, Poll, PollOption, Proposal
from db.states import PollStatus, RegistrationStatus
from inbox import network_rules as nr
from inbox.decision import AlsoRegister, PollRef
from inbox.job import Job, proven, reply_allowed
from inbox.registration_handlers import ask_confirmation, handle_register
from mailer import format as fmt
from mailer import listmail
from mailer.letters import meeting_view, send_letter, send_letter_to
from network import announcements as ann_ops
from network import polls, profiles
from network.meetings import UserError


def _letter(job: Job, template: str, reply_to: str = "", **context: Any) -> str:
    """The one reply to this message, through the list's letter (the sender need not be a Person)."""
    allowed, note = reply_allowed(job)
    if not allowed:
        return note
    send_letter_to(job.session, job.app.cfg, key=f"reply:{job.row_id}", template=template, to=job.msg.sender,
                   name=job.msg.name, now=job.now, reply_to=reply_to, in_reply_to=job.msg.message_id,
                   references=job.msg.references, **context)
    return ""


def _poll_of(job: Job) -> Poll | None:
    if isinstance(job.decision.detail, PollRef):
        return job.session.get(Poll, job.decision.detail.poll_id)
    day = job.decision.meeting_date
    if day is None:  # an organiser asking for "the" results: the most recent live poll
        return job.session.scalar(select(Poll).where(Poll.status.in_((PollStatus.OPEN, PollStatus.CLOSING)))
                                  .order_by(Poll.id.desc()).limit(1))
    meeting = registry.meeting_on(job.session, day)
    return polls.poll_for_meeting(job.session, meeting) if meeting is not None else None


def handle_poll_post(job: Job) -> tuple[str, str]:
    app, session, day = job.app, job.session, job.decision.meeting_date
    assert day is not None
    meeting = registry.meeting_on(session, day, lock=True)
    assert meeting is not None
    src = listmail.source_from_message(job.msg.msg)
    notes = [n.said(app.cfg.network.language) for n in ann_ops.before_announcing(session, meeting, poll=True)]
    options = nr.poll_options(job.msg.own_text)
    closes = nr.closing_date(job.msg.own_text, app.today())
    try:
        poll, ann = polls.create_poll(session, app, meeting, options, closes, created_by=job.msg.sender, src=src)
    except UserError as exc:
        said = exc.said(app.cfg.network.language) if isinstance(exc, polls.PollRefused) else str(exc)
        return "processed", f"theme poll not opened: {exc}" + _letter(job, "poll_refused", problem=said,
                                                                      subject=src.subject)
    ann_ops.send_preview(session, app, ann, job.msg.sender, job.msg.name, in_reply_to=job.msg.message_id,
                         references=job.msg.references, notes=tuple(notes))
    return "processed", (f"theme poll #{poll.id} for {day} ({len(options)} options, closes after "
                         f"{poll.closes_on}) held as announcement #{ann.id}; preview sent to {job.msg.sender}")


def handle_poll_reply(job: Job) -> tuple[str, str]:
    app, session, cfg = job.app, job.session, job.app.cfg
    voter = job.msg.sender
    poll = _poll_of(job)
    if poll is None:
        # the rules only set the date of a scheduled meeting, so it is found
        view = meeting_view(cfg, cast(Meeting, registry.meeting_on(session, job.decision.meeting_date))) \
            if job.decision.meeting_date else None
        return "processed", "reply to a theme poll that does not exist" + _letter(
            job, "poll_reply", problem="no_poll", meeting=view, subject=job.msg.subject)
    meeting = session.get(Meeting, poll.meeting_id)
    assert meeting is not None
    options = polls.options_of(session, poll)
    lang = cfg.network.language
    context: dict[str, Any] = {"meeting": meeting_view(cfg, meeting), "options": options, "subject": poll.subject,
                               "closes": fmt.long_date(poll.closes_on, lang) if poll.closes_on else ""}
    if not polls.may_vote(session, cfg, voter):
        return "processed", f"theme poll #{poll.id}: {voter} is no member, not counted" + _letter(
            job, "poll_reply", problem="not_member", **context)
    if not polls.accepting_votes(session, poll, app.today()):
        winner = session.get(PollOption, poll.winner_option_id) if poll.winner_option_id else None
        return "processed", f"theme poll #{poll.id} is closed: not counted" + _letter(
            job, "poll_reply", problem="closed", winner=winner.text if winner else "", **context)
    again = polls.poll_address(cfg, poll.id)  # replying to our answer is voting again
    ballot = nr.parse_ballot(job.msg.own_text)
    option: PollOption | None = None
    if ballot.number is not None:
        option = next((o for o in options if o.position == ballot.number), None)
    elif ballot.phrases:
        found = nr.match_option(ballot.phrases, [(o.position, o.text) for o in options])
        option = next((o for o in options if o.position == found), None)
    if option is None and not ballot.proposal:
        what = f"there is no option {ballot.number}" if ballot.number is not None else "no option recognised"
        return "processed", f"theme poll #{poll.id}: {what}" + _letter(
            job, "poll_reply", problem="unclear", number=ballot.number, reply_to=again, **context)
    notes = []
    vote = polls.record_vote(session, poll, voter, option, job.now) if option is not None else None
    if vote is not None:
        assert option is not None  # a vote is only recorded for an option
        if not vote.changed:
            notes.append(f"same vote ({option.position}) again")
        elif vote.previous is not None:
            notes.append(f"vote changed from {vote.previous.position} to {option.position}")
        else:
            notes.append(f"vote for {option.position}")
    proposal = polls.add_proposal(session, poll, voter, job.msg.name, ballot.proposal, job.now) \
        if ballot.proposal else None
    quiet = _proposal_flood(session, poll.id, voter, job.now) if proposal is not None else ""
    if proposal is not None:
        notes.append(f"proposal #{proposal.id}" + quiet)
        for organiser in cfg.network.organisers if not quiet else ():
            send_letter_to(session, cfg, key=f"poll-proposal:{proposal.id}:{organiser}",
                           template="poll_proposal", to=organiser, name="", now=job.now, auto_reply=False,
                           proposal=proposal.text, proposer=proposal.name or voter, proposer_email=voter,
                           **context)
    elif ballot.proposal:
        notes.append("same proposal again")
    reason = f"theme poll #{poll.id}: " + ", ".join(notes)
    if not (vote is not None and vote.changed) and proposal is None:
        return "processed", reason + "; already acknowledged, no reply"
    return "processed", reason + _letter(
        job, "poll_reply", problem="", reply_to=again, option=option if vote is not None and vote.changed else None,
        previous=vote.previous if vote is not None else None, proposal=proposal.text if proposal else "", **context)


PROPOSALS_MAILED_PER_MEMBER = 3  # per poll: a member's further proposals wait in `themes results`
PROPOSALS_MAILED_PER_DAY = 20  # per poll, all members together: organisers are never flooded


def _proposal_flood(session: Session, poll_id: int, email: str, now: dt.datetime) -> str:
    """'' when the organisers may be told of this proposal at once, else why not (it is kept either way)."""
    base = select(func.count(Proposal.id)).where(Proposal.poll_id == poll_id)
    if (session.scalar(base.where(Proposal.email == email)) or 0) > PROPOSALS_MAILED_PER_MEMBER:
        return f" (not mailed to the organisers: more than {PROPOSALS_MAILED_PER_MEMBER} from this member)"
    if (session.scalar(base.where(Proposal.created_at >= now - dt.timedelta(days=1))) or 0) > \
            PROPOSALS_MAILED_PER_DAY:
        return f" (not mailed to the organisers: more than {PROPOSALS_MAILED_PER_DAY} today; see themes results)"
    return ""


def handle_poll_results(job: Job) -> tuple[str, str]:
    poll = _poll_of(job)
    if poll is None:
        return "processed", "results asked for, but there is no theme poll" + _letter(
            job, "poll_reply", problem="no_poll", meeting=None, subject=job.msg.subject)
    t = polls.tally(job.session, poll)
    return "processed", f"results of theme poll #{poll.id} asked for by the sender" + _letter(
        job, "poll_results", **polls.results_context(job.app.cfg, t))


def _unproven_profile(job: Job, profile: profiles.Profile) -> bool:
    """Role, topic or consent to share would put words on the participant list in this person's name: they need
    proof of the From. Withdrawing consent alone shares less, so it is taken as it comes."""
    wants_shown = bool(profile.role or profile.topic or profile.consent)
    return wants_shown and not proven(job)


def _ask_profile(job: Job, person: Person, profile: profiles.Profile) -> str:
    return ask_confirmation(job, person, "confirm_profile", f"confirm:profile:{person.email.lower()}:{job.now.date()}",
                            f"who-is-who ({profile.describe()})", role=profile.role, topic=profile.topic,
                            consent=profile.consent)


def handle_profile(job: Job) -> tuple[str, str]:
    session, cfg = job.session, job.app.cfg
    profile = nr.parse_profile(job.msg.own_text)
    person = registry.find_person(session, job.msg.sender)
    if isinstance(job.decision.detail, AlsoRegister):
        assert job.decision.meeting_date is not None  # set with "register"; the meeting is asserted below
        meeting = registry.meeting_on(session, job.decision.meeting_date)
        assert meeting is not None
        reg = registry.registration_of(session, meeting, person) if person is not None else None
        # Not registered yet, or registering again after cancelling (a new mail, not a reply to ours).
        if reg is None or (reg.status == RegistrationStatus.CANCELLED and not nr.is_reply(job.msg)):
            registering = dataclasses.replace(job.decision, detail=job.decision.detail.registering)
            outcome, reason = handle_register(dataclasses.replace(job, decision=registering))
            person = registry.find_person(session, job.msg.sender)
            if person is not None and _unproven_profile(job, profile):
                # registering is open to anyone; what is shown in their name is not
                return outcome, reason + "; " + _ask_profile(job, person, profile)
            changed = profiles.apply_profile(person, profile, job.now) if person is not None else []
            return outcome, reason + (f"; who-is-who: {', '.join(changed)}" if changed else "")
    if person is None:
        return "attention", f"who-is-who ({profile.describe()}) from someone who never registered"
    if _unproven_profile(job, profile):
        return "processed", _ask_profile(job, person, profile)
    changed = profiles.apply_profile(person, profile, job.now)
    if not changed:
        return "processed", "who-is-who unchanged: already acknowledged, no reply"
    allowed, note = reply_allowed(job)
    if allowed:
        send_letter(session, cfg, key=f"reply:{job.row_id}", template="profile_ack", person=person, now=job.now,
                    in_reply_to=job.msg.message_id, references=job.msg.references,
                    **profiles.profile_context(cfg, person))
    return "processed", f"who-is-who: {', '.join(changed)}" + note


NETWORK_HANDLERS: dict[str, Callable[[Job], tuple[str, str]]] = {
    nr.POLL_POST: handle_poll_post,
    nr.POLL_REPLY: handle_poll_reply,
    nr.POLL_RESULTS: handle_poll_results,
    nr.PROFILE: handle_profile,
}
