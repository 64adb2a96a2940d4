"""Outgoing mail: a Jinja2 template per outcome (subject, text and HTML blocks) turned into a MIME message."""
from __future__ import annotations

import datetime as dt
import email.policy
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from base.text import clean

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# SMTP line endings, and room for Outlook's long Message-IDs: the default 78 would fold and encode them.
POLICY = email.policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@cache
def _environment(lang: str) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(TEMPLATES / lang), str(TEMPLATES)]),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(lang: str, template: str, **context: Any) -> Rendered:
    """Render templates/<lang>/<name>.txt and .html; the subject is the text template's first line."""
    env = _environment(lang)
    text = env.get_template(f"{template}.txt").render(**context)
    subject_line, _, body = text.partition("\n")
    if not subject_line.lower().startswith("subject:"):
        raise ValueError(f"template {lang}/{template}.txt must start with a 'Subject:' line")
    html = env.get_template(f"{template}.html").render(**context)
    page = env.get_template("layout.html").render(content=html, lang=lang)
    return Rendered(subject=clean(subject_line[8:]), text=body.lstrip("\n"), html=page)


@dataclass(frozen=True)
class Invite:
    data: bytes
    method: str  # REQUEST | CANCEL


def build_message(
    *,
    sender: str,
    sender_name: str,
    to: str,
    rendered: Rendered,
    now: dt.datetime,
    in_reply_to: str = "",
    references: tuple[str, ...] = (),
    invite: Invite | None = None,
    auto_reply: bool = True,
    lang: str = "nl",
    msgid: str = "",
) -> EmailMessage:
    msg = EmailMessage(policy=POLICY)
    msg["From"] = Address(display_name=clean(sender_name), addr_spec=sender)
    msg["To"] = Address(addr_spec=to)  # the bare address only: nothing from the sender's headers
    msg["Subject"] = clean(rendered.subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = msgid or make_msgid(domain=sender.rpartition("@")[2])
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        refs = [r for r in references[-10:] if r != in_reply_to]
        msg["References"] = " ".join([*refs, in_reply_to])
    msg["Content-Language"] = lang
    if auto_reply:
        msg["Auto-Submitted"] = "auto-replied"
        msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(rendered.text, cte="quoted-printable")
    msg.add_alternative(rendered.html, subtype="html", cte="quoted-printable")
    if invite is not None:
        msg.add_alternative(
            invite.data,
            maintype="text",
            subtype="calendar",
            params={"method": invite.method, "charset": "UTF-8"},
        )
        msg.add_attachment(invite.data, maintype="application", subtype="ics", filename="uitnodiging.ics"
                           if lang == "nl" else "invite.ics")
    return msg
