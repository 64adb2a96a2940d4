"""Mail about meetings, to one person: the template context, the invite, and the queued outbox row."""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

import markupsafe
from sqlalchemy import select
from sqlalchemy.orm import Session

from base.config import Config
from db import lookups
from db.models import Meeting, OutboundMessage, Person
from mailer import format as fmt
from mailer.compose import Invite, render
from mailer.ics import Event, build_invite
from mailer.mime import Text, build_reply_bytes
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
        ("theme", theme),
        ("capacity", capacity),
        ("ref", _ref(name, lang, day)),
    )


def open_meetings(session: Session, cfg: Config, today: dt.date) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Meeting).where(Meeting.date >= today, Meeting.status == "scheduled").order_by(Meeting.date).limit(6)
    )
    return [meeting_view(cfg, m) for m in rows]


def invite_for(cfg: Config, m: Meeting, person: Person, method: str, now: dt.datetime) -> Invite:
    net = cfg.network
    start, end, summary, description = _invite_text(net.title, net.language, m.date, m.start, m.end, m.theme, m.host)
    event = Event(method=method, uid=m.uid, sequence=m.sequence, start=start, end=end, tzid=net.timezone,
                  summary=summary, location=m.location, description=description,
                  organizer_email=net.registration_address, organizer_name=net.title)
    data = build_invite(event, attendee_email=person.email, attendee_name=person.name, stamp=now)
    return Invite(data, method)


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


def _mark(key: str) -> str:
    return f"\ue000{key}\ue000"  # a private-use character: Jinja escapes nothing in it


@dataclass(frozen=True)
class _Cut:
    """A letter rendered with marks for the personal values, each body cut at line starts so that the lines
    holding a mark are pieces of their own: every other piece is the same str for everyone (mime encodes it once,
    and cut at line starts a piece is also quoted-printable alone: mime._qp)."""
    subject: str
    text: tuple[str, ...]
    html: tuple[str, ...]
    real: bool  # render it with the real values: a mark in the subject, or one a template filter changed


def _cut(body: str) -> tuple[str, ...]:
    pieces: list[str] = []
    start = 0
    while (at := body.find("\ue000", start)) >= 0:
        line = body.rfind("\n", 0, at) + 1
        end = body.find("\n", at) + 1 or len(body)
        if line > start:
            pieces.append(body[start:line])
        pieces.append(body[line:end])
        start = end
    if start < len(body) or not pieces:
        pieces.append(body[start:])
    return tuple(pieces)


def _fill(pieces: tuple[str, ...], values: dict[str, str]) -> tuple[str, ...]:
    out = []
    for piece in pieces:
        if "\ue000" in piece:
            for key, value in values.items():
                piece = piece.replace(_mark(key), value)
        out.append(piece)
    return tuple(out)


@functools.lru_cache(maxsize=256)
def _render_once(lang: str, template: str, frozen: tuple[tuple[str, Any], ...], personal: tuple[str, ...]) -> _Cut:
    ctx = {k: (dict(v) if k == "meeting" and v is not None else v) for k, v in frozen}
    base = render(lang, template, **ctx, **{k: _mark(k) for k in personal})
    rest = base.text + base.html
    for key in personal:
        rest = rest.replace(_mark(key), "")
    real = "\ue000" in base.subject or "\ue000" in rest
    return _Cut(base.subject, _cut(base.text), _cut(base.html), real)


def _render_cached(lang: str, template: str, ctx: dict[str, Any]) -> tuple[str, Text, Text]:
    """(subject, text, html). A letter is the same for everyone but their name (and place on the waiting list):
    rendered once per (template, meeting, rest of the context), then those filled in (escaped as Jinja would
    in HTML). A personal value is printed by the templates as it is; an empty one is rendered as itself, as
    templates test for it. Contexts that cannot be a cache key render directly."""
    personal = tuple(k for k in _PERSONAL if ctx.get(k))
    values = {k: str(ctx[k]) for k in personal}
    try:
        frozen = tuple(sorted((k, tuple(v.items()) if k == "meeting" and v is not None else v)
                              for k, v in ctx.items() if k not in personal))
        hash(frozen)
    except TypeError:
        frozen = ()
    base = _render_once(lang, template, frozen, personal) if frozen else None
    if base is None or base.real or any("\ue000" in v for v in values.values()):
        rendered = render(lang, template, **ctx)
        return rendered.subject, rendered.text, rendered.html
    escaped = {k: str(markupsafe.escape(v)) for k, v in values.items()}
    return base.subject, _fill(base.text, values), _fill(base.html, escaped)


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
    in_reply_to: str = "",
    references: tuple[str, ...] = (),
    auto_reply: bool = True,
    **context: Any,
) -> bool:
    """Render, build and queue one personal message; False when this key was queued before."""
    lk = lookups.get(session)
    if lk.keys[key] if lk is not None and key in lk.keys else \
            session.scalar(select(OutboundMessage.id).where(OutboundMessage.key == key)) is not None:
        return False  # checked before rendering: reminders and resends look often
    net = cfg.network
    ctx: dict[str, Any] = {
        "network": net,
        "name": person.name,
        "meeting": meeting_view(cfg, meeting) if meeting is not None else None,
        **context,
    }
    subject, text, html = _render_cached(net.language, template, ctx)
    invite = invite_for(cfg, meeting, person, invite_method, now) if meeting is not None and invite_method else None
    message = build_reply_bytes(
        sender=net.registration_address, sender_name=net.title, to=person.email, subject=subject,
        text=text, html=html, now=now, in_reply_to=in_reply_to, references=references,
        invite=invite.data if invite else None, invite_method=invite.method if invite else "",
        invite_filename="uitnodiging.ics" if net.language == "nl" else "invite.ics",
        auto_reply=auto_reply, lang=net.language,
        # marked for this recipient: a reply to it proves the address (inbox/proof.py)
        msgid=make_msgid(cfg.secret, net.registration_address.rpartition("@")[2], person.email),
    )
    return queue(session, key=key, recipient=person.email, kind=template, message=message, now=now,
                 secret=cfg.secret, auto_reply=auto_reply, subject=subject, checked=True)
