"""Outgoing mail: a Jinja2 template per outcome (subject, text and HTML blocks); mime.py makes the message."""
from __future__ import annotations

import email.policy
from dataclasses import dataclass
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
def environment(lang: str, own: str = "") -> jinja2.Environment:
    """The letters in lang; own: a folder laid out as templates/ whose files win over the shipped ones."""
    folders = [str(Path(own) / lang), own] if own else []
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([*folders, str(TEMPLATES / lang), str(TEMPLATES)]),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(lang: str, template: str, own: str = "", **context: Any) -> Rendered:
    """Render templates/<lang>/<name>.txt and .html (own: see environment); the subject is the text template's
    first line."""
    env = environment(lang, own)
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
