"""Mail about meetings, to one person: the template context, the invite, and the queued outbox row."""
from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import markupsafe
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import lookups
from db.models import Meeting, OutboundMessage, Person
from mailer import format as fmt
from mailer.compose import Invite, Rendered, render
from mailer.mime import build_reply_bytes
from mailer.ics import build_invite
from mailer.outbox import queue
from pioniers.config import Config


def meeting_ref(cfg: Config, day: dt.date) -> str:
    """'Pioniersnetwerk 18 maart 2027': the words people copy into a subject, and our matcher reads back."""
    return f"{cfg.network.name} {fmt.short_date(day, cfg.network.language)}"


def meeting_view(cfg: Config, m: Meeting) -> dict[str, Any]:
    lang = cfg.network.language
    return {
        "date": m.date,
        "when": fmt.when(m.date, m.start, m.end, lang),
        "when_date": fmt.long_date(m.date, lang),
        "location": m.location,
        "host": m.host,
        "theme": m.theme,
        "capacity": m.capacity,
        "ref": meeting_ref(cfg, m.date),
    }


def open_meetings(session: Session, cfg: Config, today: dt.date) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Meeting).where(Meeting.date >= today, Meeting.status == "scheduled").order_by(Meeting.date).limit(6)
    )
    return [meeting_view(cfg, m) for m in rows]


def invite_for(cfg: Config, m: Meeting, person: Person, method: str, now: dt.datetime) -> Invite:
    lang = cfg.network.language
    start = dt.datetime.combine(m.date, dt.time.fromisoformat(m.start))
    end = dt.datetime.combine(m.date, dt.time.fromisoformat(m.end))
    theme = f" - {m.theme}" if m.theme else ""
    where = "Gastheer" if lang == "nl" else "Host"
    description = f"{cfg.network.title}{theme}\n{where}: {m.host}\n{fmt.when(m.date, m.start, m.end, lang)}"
    data = build_invite(
        method=method, uid=m.uid, sequence=m.sequence, start=start, end=end, tzid=cfg.network.timezone,
        summary=f"{cfg.network.title}{theme}", location=m.location, description=description,
        organizer_email=cfg.network.registration_address, organizer_name=cfg.network.title,
        attendee_email=person.email, attendee_name=person.name, stamp=now,
    )
    return Invite(data, method)


_NAME = "\ue000name\ue000"  # a private-use character: Jinja escapes nothing in it


@functools.lru_cache(maxsize=256)
def _render_once(lang: str, template: str, frozen: tuple[tuple[str, Any], ...], named: bool) -> Rendered:
    ctx = {k: (dict(v) if k == "meeting" and v is not None else v) for k, v in frozen}
    return render(lang, template, name=_NAME if named else "", **ctx)


def _render_cached(lang: str, template: str, ctx: dict[str, Any]) -> Rendered:
    """A letter is the same for everyone but the name: rendered once per (template, meeting, context), then
    the name filled in (escaped as Jinja would in HTML). Contexts that cannot be a cache key render directly."""
    name = ctx["name"] or ""
    rest = {k: v for k, v in ctx.items() if k != "name"}
    try:
        frozen = tuple(sorted((k, tuple(v.items()) if k == "meeting" and v is not None else v)
                              for k, v in rest.items()))
        hash(frozen)
    except TypeError:
        return render(lang, template, **ctx)
    base = _render_once(lang, template, frozen, bool(name))
    if _NAME in base.subject or _NAME in name:
        return render(lang, template, **ctx)
    text, html = base.text.replace(_NAME, name), base.html.replace(_NAME, str(markupsafe.escape(name)))
    if "\ue000" in text or "\ue000" in html:  # a template changed the name (a filter): render it for real
        return render(lang, template, **ctx)
    return Rendered(subject=base.subject, text=text, html=html)


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
    rendered = _render_cached(net.language, template, ctx)
    invite = invite_for(cfg, meeting, person, invite_method, now) if meeting is not None and invite_method else None
    message = build_reply_bytes(
        sender=net.registration_address, sender_name=net.title, to=person.email, subject=rendered.subject,
        text=rendered.text, html=rendered.html, now=now, in_reply_to=in_reply_to, references=references,
        invite=invite.data if invite else None, invite_method=invite.method if invite else "",
        invite_filename="uitnodiging.ics" if net.language == "nl" else "invite.ics",
        auto_reply=auto_reply, lang=net.language,
    )
    return queue(session, key=key, recipient=person.email, kind=template, message=message, now=now,
                 auto_reply=auto_reply, subject=rendered.subject, checked=True)
