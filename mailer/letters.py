"""Mail about meetings, to one person: the template context, the invite, and the queued outbox row."""
from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Any

import markupsafe
from sqlalchemy import select
from sqlalchemy.orm import Session

from base.config import Config, NetworkConfig
from db import lookups
from db.models import Meeting, OutboundMessage, Person
from db.states import MeetingStatus
from mailer import fill
from mailer import format as fmt
from mailer.compose import Invite, render
from mailer.ics import Event, build_invite
from mailer.mime import File, Text, build_reply_bytes
from mailer.msgid import make_msgid
from mailer.outbox import queue


def meeting_ref(cfg: Config, day: dt.date) -> str:
    """'Pioniersnetwerk 18 maart 2027': the words people copy into a subject, and our matcher reads back."""
    return _ref(cfg.network.name, cfg.network.language, day)


def _ref(name: str, lang: str, day: dt.date) -> str:
    return f"{name} {fmt.short_date(day, lang)}"


def meeting_view(cfg: Config, m: Meeting) -> dict[str, Any]:
    return dict(_view(cfg.network.name, cfg.network.language, m.date, m.start, m.end, m.location, m.host, m.theme,
                      m.capacity))


@functools.lru_cache(maxsize=64)  # the same for every letter about a meeting; keyed on all it is made of
def _view(name: str, lang: str, day: dt.date, start: str, end: str, location: str, host: str, theme: str,
          capacity: int | None) -> tuple[tuple[str, Any], ...]:
    return (
        ("date", day),
        ("when", fmt.when(day, start, end, lang)),
        ("when_date", fmt.long_date(day, lang)),
        ("location", location),
        ("host", host),
        ("host_in_text", fmt.in_text(host, lang)),  # "bij de gemeente Schiedam"
        ("theme", theme),
        ("capacity", capacity),
        ("ref", _ref(name, lang, day)),
    )


def open_meetings(session: Session, cfg: Config, today: dt.date) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Meeting).where(Meeting.date >= today, Meeting.status == MeetingStatus.SCHEDULED).order_by(Meeting.date).limit(6)
    )
    return [meeting_view(cfg, m) for m in rows]


def invite_for(cfg: Config, m: Meeting, email: str, name: str, method: str, now: dt.datetime) -> Invite:
    net = cfg.network
    start, end, summary, description = _invite_text(net.title, net.language, m.date, m.start, m.end, m.theme, m.host)
    event = Event(method=method, uid=m.uid, sequence=m.sequence, start=start, end=end, tzid=net.timezone,
                  summary=summary, location=m.location, description=description,
                  organizer_email=net.registration_address, organizer_name=net.title)
    return Invite(build_invite(event, attendee_email=email, attendee_name=name, stamp=now), method)


@functools.lru_cache(maxsize=64)  # the same for every invite to a meeting; keyed on all it is made of
def _invite_text(title: str, lang: str, day: dt.date, start_time: str, end_time: str, theme: str,
                 host: str) -> tuple[dt.datetime, dt.datetime, str, str]:
    """(start, end, summary, description) of a meeting's invite."""
    start = dt.datetime.combine(day, dt.time.fromisoformat(start_time))
    end = dt.datetime.combine(day, dt.time.fromisoformat(end_time))
    theme = f" - {theme}" if theme else ""
    where = "Gastheer" if lang == "nl" else "Host"
    description = f"{title}{theme}\n{where}: {host}\n{fmt.when(day, start_time, end_time, lang)}"
    return start, end, f"{title}{theme}", description


_PERSONAL = ("name", "position")  # what differs per recipient: filled into a letter rendered once for the rest
# the types of values that may key a cached render: immutable, equal when they render alike (a row or a list is
# neither); the meeting is its view's items
_PLAIN: set[type] = {str, int, bool, float, type(None), dt.date, dt.datetime, NetworkConfig}


def _mark(key: str) -> str:
    return f"\ue000{key}\ue000"  # a private-use character: Jinja escapes nothing in it


_MARK = re.compile("\ue000(\\w+)\ue000")


@dataclass(frozen=True)
class _Cut:
    """A letter rendered with marks for the personal values, each body cut at line starts so that the lines
    holding a mark are pieces of their own: every other piece is the same str for everyone (mime encodes it once,
    and cut at line starts a piece is also quoted-printable alone: mime._qp)."""
    subject: str
    text: fill.Lines
    html: fill.Lines
    real: bool  # render it with the real values: a mark in the subject, or one a template filter changed


@functools.lru_cache(maxsize=256)
def _render_once(lang: str, own: str, template: str, frozen: tuple[tuple[str, Any], ...],
                 personal: tuple[str, ...]) -> _Cut:
    ctx = {k: (dict(v) if k == "meeting" and v is not None else v) for k, v in frozen}
    base = render(lang, template, own, **ctx, **{k: _mark(k) for k in personal})
    rest = base.text + base.html
    for key in personal:
        rest = rest.replace(_mark(key), "")
    real = "\ue000" in base.subject or "\ue000" in rest
    return _Cut(base.subject, fill.cut_lines(base.text, _MARK), fill.cut_lines(base.html, _MARK), real)


def _render_cached(lang: str, own: str, template: str, ctx: dict[str, Any]) -> tuple[str, Text, Text]:
    """(subject, text, html). A letter is the same for everyone but their name (and place on the waiting list):
    rendered once per (template, meeting, rest of the context), then those filled in (escaped as Jinja would
    in HTML). A personal value is printed by the templates as it is; an empty one is rendered as itself, as
    templates test for it. Contexts with other values than plain ones (lists, rows) render directly."""
    personal = tuple(k for k in _PERSONAL if ctx.get(k))
    values = {k: str(ctx[k]) for k in personal}
    frozen = tuple(sorted((k, tuple(v.items()) if k == "meeting" and v is not None else v)
                          for k, v in ctx.items() if k not in personal))
    plain = {type(v) for k, v in frozen if k != "meeting"} <= _PLAIN
    base = _render_once(lang, own, template, frozen, personal) if plain else None
    if base is None or base.real or any("\ue000" in v for v in values.values()):
        rendered = render(lang, template, own, **ctx)
        return rendered.subject, rendered.text, rendered.html
    escaped = {k: str(markupsafe.escape(v)) for k, v in values.items()}
    return base.subject, base.text.fill(values), base.html.fill(escaped)


def send_letter(
    session: Session,
    cfg: Config,
    *,
    key: str,
    template: str,
    person: Person,
    now: dt.datetime,
    meeting: Meeting | None = None,
    invite_method: str | None = None,
    **options: Any,
) -> bool:
    """One letter to a person, about a meeting (with its invite when there is an invite_method) or not:
    send_letter_to with the person's address and name; options are send_letter_to's and the template's."""
    return send_letter_to(session, cfg, key=key, template=template, to=person.email, name=person.name, now=now,
                          invite_of=meeting if invite_method else None, invite_method=invite_method or "",
                          meeting=meeting_view(cfg, meeting) if meeting is not None else None, **options)


def send_letter_to(
    session: Session,
    cfg: Config,
    *,
    key: str,
    template: str,
    to: str,
    name: str,
    now: dt.datetime,
    invite_of: Meeting | None = None,
    invite_method: str = "",
    reply_to: str = "",
    attach: bytes | None = None,
    files: tuple[File, ...] = (),
    in_reply_to: str = "",
    references: tuple[str, ...] = (),
    auto_reply: bool = True,
    **context: Any,
) -> bool:
    """Render, build and queue one letter to an address: every letter we write (not the list's copies to members)
    goes this way. False when this key was queued before.

    invite_of: the meeting whose invite (invite_method REQUEST | CANCEL) goes with it, to this attendee;
    attach: a whole message to show (a list preview: the exact copy a member gets); files: attachments for
    people (an attendee list as XLSX).
    """
    lk = lookups.get(session)
    if lk.keys[key] if lk is not None and key in lk.keys else \
            session.scalar(select(OutboundMessage.id).where(OutboundMessage.key == key)) is not None:
        return False  # checked before rendering: reminders and resends look often
    net = cfg.network
    ctx: dict[str, Any] = {"network": net, "name": name, "post_address": cfg.post_address, **context}
    subject, text, html = _render_cached(net.language, cfg.templates, template, ctx)
    invite = invite_for(cfg, invite_of, to, name, invite_method, now) if invite_of is not None else None
    message = build_reply_bytes(
        sender=net.registration_address, sender_name=net.title, to=to, subject=subject, text=text, html=html,
        now=now, in_reply_to=in_reply_to, references=references, reply_to=reply_to,
        invite=invite.data if invite else None, invite_method=invite.method if invite else "",
        invite_filename="uitnodiging.ics" if net.language == "nl" else "invite.ics", attach=attach,
        files=files, auto_reply=auto_reply, lang=net.language,
        msgid=make_msgid(cfg.secret, cfg.domain, to),  # marked for this recipient: a reply proves the address
    )
    return queue(session, key=key, recipient=to, kind=template, message=message, now=now,
                 secret=cfg.secret, auto_reply=auto_reply, subject=subject, checked=True)
