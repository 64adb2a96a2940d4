"""Handlers for the mailing list's decisions (inbox/listrules.py); the table at the bottom is merged into
inbox/handlers.py HANDLERS.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from db import members
from db.models import Announcement, Meeting
from inbox import desk_handlers
from inbox import listrules as lr
from inbox.job import Job, proven, reply_allowed
from mailer import listmail
from mailer.letters import send_letter_to
from mailer.outbox import sent_since
from network import announcements as ann_ops
from db.registry import is_forgotten
from db.states import AnnouncementStatus, MemberStatus

log = logging.getLogger("pioniers.list")


def _reply(job: Job, template: str, to: str = "", **context: Any) -> str:  # forwarded as send_letter_to's
    allowed, note = reply_allowed(job)
    if not allowed:
        return note
    send_letter_to(job.session, job.app.cfg, key=f"reply:{job.row_id}", template=template,
                   to=to or job.msg.sender, name=job.msg.name, now=job.now, in_reply_to=job.msg.message_id,
                   references=job.msg.references, **context)
    return ""


def handle_bounce(job: Job) -> tuple[str, str]:
    cfg = job.app.cfg
    member = members.by_token(job.session, job.decision.token)  # the only way a bounce counts
    found = [member] if member is not None else []
    if not found:
        return "processed", job.decision.reason + "; no list member matches"
    notes = []
    for member in found:
        disabled = members.record_bounce(job.session, member, cfg.list.bounce_threshold, job.now)
        notes.append(f"member #{member.id}: {member.bounces} bounce(s)" + (", disabled" if disabled else ""))
        if disabled:
            log.warning("list member #%s disabled after %d bounces", member.id, member.bounces)
    return "processed", job.decision.reason + "; " + "; ".join(notes)


def handle_post(job: Job) -> tuple[str, str]:
    src = listmail.source_from_message(job.msg.msg)
    ann = ann_ops.create(job.session, job.app, src, posted_by=job.msg.sender)
    meeting = job.session.get(Meeting, ann.meeting_id) if ann.meeting_id is not None else None
    notes = ann_ops.before_announcing(job.session, meeting) if meeting is not None else []
    ann_ops.send_preview(job.session, job.app, ann, job.msg.sender, job.msg.name,
                         in_reply_to=job.msg.message_id, references=job.msg.references,
                         notes=tuple(n.said(job.app.cfg.network.language) for n in notes))
    return "processed", f"announcement #{ann.id} held; preview sent to the sender for approval"


def handle_refuse(job: Job) -> tuple[str, str]:
    sent = sent_since(job.session, "list_refusal", job.msg.sender, job.now - dt.timedelta(days=1))
    if sent >= job.app.cfg.list.refusal_per_day:
        return "processed", job.decision.reason + "; refused before today: no reply"
    return "processed", job.decision.reason + _reply(job, "list_refusal")


def _handle_token(job: Job, yes: bool, unclear: bool = False) -> tuple[str, str]:
    redeemed = members.redeem(job.session, job.decision.token, job.msg.sender, job.now)
    token = redeemed.token
    if desk_handlers.is_desk_token(token):  # a reply to the organisers' desk: its confirmation, not the list's
        assert token is not None
        if redeemed.ok:
            return desk_handlers.carry_out(job, token, yes=yes, unclear=unclear)
        if token.email == job.msg.sender:
            return desk_handlers.refused_token(job, redeemed.problem)
    if not redeemed.ok:
        if token is not None and token.email == job.msg.sender:  # their own token, expired or used: tell them
            return "processed", f"list token not accepted: {redeemed.problem}" + _reply(
                job, "list_token_invalid", problem=redeemed.problem)
        # Someone else's token, or none we know: possibly forged. A human looks; nothing is sent.
        return "attention", f"list token not accepted: {redeemed.problem}"
    assert token is not None
    if token.kind == "unsubscribe":
        if not yes:
            return "processed", "unsubscribe not confirmed (declined): still a member"
        _, was = members.unsubscribe(job.session, token.email, job.now)
        what = "unsubscribed from the list, confirmed by reply" if was else "unsubscribe confirmed (had already left)"
        return "processed", what + _reply(job, "list_unsubscribed")
    if token.kind == "confirm":
        member = members.find(job.session, token.email)
        if member is None or not yes:
            return "processed", "subscription not confirmed (declined)"
        members.activate(job.session, member, job.now)
        return "processed", f"subscription of member #{member.id} confirmed" + _reply(job, "list_subscribed")
    ann = job.session.get(Announcement, token.announcement_id, with_for_update=True)
    if ann is None or ann.status != AnnouncementStatus.HELD:
        return "processed", "approval reply for an announcement that is no longer held"
    if unclear:
        # No plain yes: nothing is sent, the post stays held and its token valid (single use, until it expires).
        token.used_at = None
        return "processed", f"announcement #{ann.id} not sent: {job.decision.reason}; still held" + _reply(
            job, "list_token_unclear", reply_to=listmail.approve_address(job.app.cfg, job.decision.token),
            subject=ann.subject, token=job.decision.token)
    if not yes:
        ann_ops.discard(ann)
        return "processed", f"announcement #{ann.id} discarded by the sender" + _reply(
            job, "list_discarded", subject=ann.subject)
    count = ann_ops.start_sending(job.session, job.app, ann)
    return "processed", f"announcement #{ann.id} approved by the sender: {count} deliveries queued" + _reply(
        job, "list_approved", subject=ann.subject, count=count)


def handle_token_yes(job: Job) -> tuple[str, str]:
    return _handle_token(job, True)


def handle_token_no(job: Job) -> tuple[str, str]:
    return _handle_token(job, False)


def handle_token_unclear(job: Job) -> tuple[str, str]:
    """A held post waits for a plain yes; a confirmation of (un)subscribing takes a plain reply as before."""
    return _handle_token(job, True, unclear=True)


def handle_subscribe(job: Job) -> tuple[str, str]:
    cfg, now = job.app.cfg, job.now
    member = members.find(job.session, job.msg.sender)
    if member is not None and member.status == MemberStatus.ACTIVE:
        return "processed", "already a list member" + _reply(job, "list_subscribed")
    if is_forgotten(job.session, cfg.secret, job.msg.sender):
        # They asked to be forgotten: a subscription request is not stored (nor answered with a token).
        return "processed", "subscription request from an address on the do-not-mail list: not stored"
    member = members.request(job.session, job.msg.sender, job.msg.name, now)
    # Double opt-in: one confirmation request a day at most, so nobody can be flooded by requests in their name.
    if members.recent_token(job.session, "confirm", member.email, now - dt.timedelta(days=1)):
        return "processed", "subscription requested again; confirmation already sent today"
    allowed, note = reply_allowed(job)
    if not allowed:
        return "processed", "subscription requested" + note
    token = members.issue_token(job.session, "confirm", member.email, now, dt.timedelta(hours=cfg.list.approval_hours))
    send_letter_to(job.session, cfg, key=f"reply:{job.row_id}", template="list_confirm", to=member.email,
                   name=job.msg.name, now=now, reply_to=listmail.confirm_address(cfg, token),
                   in_reply_to=job.msg.message_id, references=job.msg.references, token=token)
    return "processed", "subscription requested; confirmation mailed (double opt-in)"


def handle_unsubscribe(job: Job) -> tuple[str, str]:
    cfg, now = job.app.cfg, job.now
    member = members.find(job.session, job.msg.sender)
    if member is not None and member.status == MemberStatus.ACTIVE and not proven(job):
        # The From alone may be forged: the address itself confirms by reply, like a subscription.
        what = "unsubscribe asked: waiting for confirmation by reply (sender not proven)"
        if members.recent_token(job.session, "unsubscribe", member.email, now - dt.timedelta(days=1)):
            return "processed", what + "; confirmation already asked today"
        allowed, note = reply_allowed(job)
        if not allowed:
            return "processed", what + note
        token = members.issue_token(job.session, "unsubscribe", member.email, now,
                                    dt.timedelta(hours=cfg.list.approval_hours))
        send_letter_to(job.session, cfg, key=f"reply:{job.row_id}", template="list_confirm_unsubscribe",
                       to=member.email, name=member.name or job.msg.name, now=now,
                       reply_to=listmail.confirm_address(cfg, token), token=token)
        return "processed", what
    member, was = members.unsubscribe(job.session, job.msg.sender, job.now)
    what = "unsubscribed from the list" if was else "unsubscribe request (was not an active member)"
    return "processed", what + _reply(job, "list_unsubscribed")


def handle_unsubscribe_token(job: Job) -> tuple[str, str]:
    member = members.by_token(job.session, job.decision.token)
    if member is None:
        return "processed", "unsubscribe with an unknown token"
    _, was = members.unsubscribe(job.session, member.email, job.now)
    what = f"{member.email} unsubscribed by List-Unsubscribe" if was else f"{member.email} had already left"
    # The confirmation goes to the member's own address, whoever sent the request.
    return "processed", what + _reply(job, "list_unsubscribed", to=member.email)


LIST_HANDLERS: dict[str, Callable[[Job], tuple[str, str]]] = {
    lr.BOUNCE: handle_bounce,
    lr.POST: handle_post,
    lr.REFUSE: handle_refuse,
    lr.TOKEN_YES: handle_token_yes,
    lr.TOKEN_NO: handle_token_no,
    lr.TOKEN_UNCLEAR: handle_token_unclear,
    lr.SUBSCRIBE: handle_subscribe,
    lr.UNSUBSCRIBE: handle_unsubscribe,
    lr.UNSUBSCRIBE_TOKEN: handle_unsubscribe_token,
}
