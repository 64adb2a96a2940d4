"""The host's list: [network] host_list_days before a meeting its host contact gets the attendee list as XLSX
(names, organisations, roles, status and the needs people wrote), and the day before an updated one when it
changed since. `pioniers hostlist DATE` sends the current list at once.

Needs can be health data (AVG): they travel only in the attachment, never in the mail's own text, and the
purge removes these messages with the meeting's registrations (network/privacy.py).

Every list is an outbox row keyed hostlist:<meeting id>:<date>:<digest of the list>[:...]: the key says which
list went out, so a restart or a second poll never sends one twice, and a moved meeting gets its own.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from base.config import Config
from db import registry
from db.app import App
from db.models import Meeting, OutboundMessage
from db.states import MeetingStatus, RegistrationStatus
from mailer.letters import meeting_view, send_letter_to
from mailer.mime import File
from network.exports import XLSX_TYPE, Sheet, host_sheet, xlsx_bytes
from network.meetings import UserError, _require

KIND = "host_list"  # the outbox rows' kind (the template's name)


def key_prefix(meeting_id: int) -> str:
    """Every host's list of a meeting, whatever its date became: what the purge removes."""
    return f"hostlist:{meeting_id}:"


def _digest(sheet: Sheet) -> str:
    return hashlib.sha256(json.dumps(sheet.rows, default=str).encode()).hexdigest()[:16]


def _sent_keys(session: Session, prefix: str) -> list[str]:
    return list(session.scalars(select(OutboundMessage.key).where(OutboundMessage.key.startswith(prefix))))


@dataclass(frozen=True)
class Sent:
    to: str
    confirmed: int
    waiting: int


def _counts(session: Session, meeting: Meeting) -> tuple[int, int]:
    return (registry.count(session, meeting, RegistrationStatus.CONFIRMED),
            registry.count(session, meeting, RegistrationStatus.WAITLISTED))


def _queue(session: Session, cfg: Config, meeting: Meeting, sheet: Sheet, key: str, now: dt.datetime,
           updated: bool) -> Sent | None:
    confirmed, waiting = _counts(session, meeting)
    nl = cfg.network.language == "nl"
    name = ("deelnemers" if nl else "attendees") + f"-{meeting.date.isoformat()}.xlsx"
    queued = send_letter_to(
        session, cfg, key=key, template="host_list", to=meeting.host_contact, name="", now=now, auto_reply=False,
        meeting=meeting_view(cfg, meeting),
        confirmed=confirmed, waiting=waiting, updated=updated,
        reply_to=cfg.network.organisers[0] if cfg.network.organisers else "",  # the host's question reaches a person
        files=(File(name, XLSX_TYPE, xlsx_bytes(sheet)),))
    if not queued:
        return None
    meeting.host_list_sent_at = now
    return Sent(meeting.host_contact, confirmed, waiting)


def queue_host_lists(app: App) -> int:
    """host_list_days before each meeting with a host contact: its list, once. The day before the meeting: the
    list again, once, when it changed since it went out (someone registered, cancelled or moved up)."""
    cfg, days = app.cfg, app.cfg.network.host_list_days
    if days <= 0:
        return 0
    today, now = app.today(), app.now()
    queued = 0
    with app.sm.begin() as session:
        meetings = list(session.scalars(select(Meeting).where(
            Meeting.status == MeetingStatus.SCHEDULED, Meeting.host_contact != "", Meeting.date >= today,
            Meeting.date <= today + dt.timedelta(days=days))))
        for meeting in meetings:
            prefix = f"{key_prefix(meeting.id)}{meeting.date.isoformat()}:"
            sent = _sent_keys(session, prefix)
            update_due = (meeting.date - today).days <= 1 and not any(k.endswith(":update") for k in sent)
            if sent and not update_due:
                continue  # looked at every round: the list is read only when one may go out
            sheet = host_sheet(session, cfg, meeting)
            digest = _digest(sheet)
            if not sent:  # the first for this date; "updated" when one went out before (the meeting moved, or
                # `forget` removed a list that named someone)
                queued += _queue(session, cfg, meeting, sheet, f"{prefix}{digest}", now,
                                 updated=meeting.host_list_sent_at is not None) is not None
            elif not any(k.startswith(f"{prefix}{digest}") for k in sent):  # it changed since the last one
                queued += _queue(session, cfg, meeting, sheet, f"{prefix}{digest}:update", now,
                                 updated=True) is not None
    return queued


def send_host_list(app: App, day: dt.date) -> Sent:
    """`pioniers hostlist DATE`: the current list to the host contact now (marked as an updated list when one
    went out before)."""
    with app.sm.begin() as session:
        meeting = _require(session, day, lock=False)
        if meeting.status != MeetingStatus.SCHEDULED:
            raise UserError(f"the meeting on {day} is cancelled")
        if not meeting.host_contact:
            raise UserError(f"the meeting on {day} has no host contact: "
                            f"pioniers meeting update {day} --host-contact EMAIL")
        prefix = f"{key_prefix(meeting.id)}{meeting.date.isoformat()}:"
        sheet = host_sheet(session, app.cfg, meeting)
        earlier = bool(_sent_keys(session, prefix))
        now = app.now()
        sent = _queue(session, app.cfg, meeting, sheet, f"{prefix}{_digest(sheet)}:manual:{now.isoformat()}", now,
                      updated=earlier)
        if sent is None:
            raise UserError("that list was queued a moment ago")
        return sent


def list_counts(app: App, day: dt.date) -> Sent:
    """Who would get the list now, and its counts: what the prompt names."""
    with app.sm.begin() as session:
        meeting = _require(session, day, lock=False)
        return Sent(meeting.host_contact, *_counts(session, meeting))
