"""The list message: rendered ONCE per announcement with placeholders, then filled per member by byte joins.

Why: a list of thousands must not be rendered (Jinja, MIME, encoding) per member. The text and HTML parts
are quoted-printable encoded by mime.qp, which never breaks a line inside a placeholder, so the
per-member parts (To, Message-ID, greeting, unsubscribe token) are plain substitutions on the bytes.
"""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import html as htmllib
import re
import secrets
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from email.headerregistry import Address
from email.message import EmailMessage, Message, MIMEPart
from email.utils import format_datetime
from io import BytesIO
from typing import Any

from base.config import Config
from base.html import html_to_text
from base.text import clean, part_text
from mailer import msgid
from mailer.compose import POLICY, environment
from mailer.fill import Holes, cut
from mailer.mime import qp, qp_value

MAGIC = b"PIONIERS-LIST-1 "
MAX_NAME = 80


# --- what the organiser wrote ----------------------------------------------------------------------


@dataclass
class Source:
    subject: str
    text: str
    html: str = ""
    related: list[Message] = field(default_factory=list)  # inline images the HTML refers to (cid:)
    attachments: list[Message] = field(default_factory=list)  # kept as they came, e.g. a PDF agenda


def source_from_message(msg: Message) -> Source:
    """Subject, text, HTML and attachments of an organiser's post, as written."""
    text = html = ""
    others: list[Message] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = part.get_content_disposition()
        if ctype == "text/plain" and disposition != "attachment" and not text:
            text = part_text(part)
        elif ctype == "text/html" and disposition != "attachment" and not html:
            html = part_text(part)
        else:
            others.append(part)
    related, attachments = [], []
    for part in others:
        cid = str(part.get("Content-ID", "")).strip().strip("<>")
        if cid and html and f"cid:{cid}" in html and part.get_content_disposition() != "attachment":
            related.append(part)
        else:
            attachments.append(part)
    if not text and html:
        text = html_to_text(html)
    subject = clean(str(msg.get("Subject", "")))
    return Source(subject=subject, text=text, html=html, related=related, attachments=attachments)


# --- rendering once --------------------------------------------------------------------------------


def _placeholder(nonce: str, name: str) -> str:
    return f"@@{nonce}:{name}@@"


def _pattern(nonce: str) -> re.Pattern[str]:
    return re.compile(f"@@{nonce}:[A-Z]+@@")


def list_id(cfg: Config) -> str:
    local, _, domain = cfg.post_address.partition("@")
    return f"{local}.{domain}"


def _tagged(cfg: Config, tag: str) -> str:
    """post address with a +tag: nieuws+TAG@domain, delivered into the same inbox."""
    local, _, domain = cfg.post_address.partition("@")
    return f"{local}+{tag}@{domain}"


def unsubscribe_address(cfg: Config, token: str) -> str:
    return _tagged(cfg, f"unsubscribe-{token}")


def approve_address(cfg: Config, token: str) -> str:
    return _tagged(cfg, f"approve-{token}")


def confirm_address(cfg: Config, token: str) -> str:
    return _tagged(cfg, f"confirm-{token}")


def envelope_sender(cfg: Config, token: str) -> str:
    """VERP: bounces+TOKEN@domain names the member in every bounce, whatever the bounce looks like."""
    if not cfg.list.verp:
        return cfg.bounce_address
    local, _, domain = cfg.bounce_address.partition("@")
    return f"{local}+{token}@{domain}"


def _leaf(subtype: str, payload: str) -> MIMEPart:
    part = MIMEPart(policy=POLICY)
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(payload)
    return part


def _multi(subtype: str, parts: list[Message]) -> MIMEPart:
    multi = MIMEPart(policy=POLICY)
    multi["Content-Type"] = f"multipart/{subtype}"
    multi.set_payload(list(parts))
    return multi


def _insert_html(html: str, greeting: str, footer: str) -> str:
    body = re.search(r"<body[^>]*>", html, re.IGNORECASE)
    html = html[:body.end()] + greeting + html[body.end():] if body else greeting + html
    end = html.lower().rfind("</body>")
    return html[:end] + footer + html[end:] if end >= 0 else html + footer


# A post that opens with its own greeting ("Beste pioniers,", "Hallo allemaal!"): the organiser's words stay and the
# member's copy gets no second one. A short first line, or one ending in ',' or '!': "Dag van de Open Overheid op
# 17 juni" is a title, not a greeting.
_GREETING = re.compile(r"(?i)\s*(?:beste|hallo|hoi|hey|hi|dag|goede(?:morgen|middag|n?avond)|geachte|lieve|dear|hello"
                       r"|good\s+(?:morning|afternoon|evening))\b")


def greets(text: str) -> bool:
    """Whether a post's first line is a greeting of its own; decided once per post."""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return bool(_GREETING.match(first)) and (len(first.split()) <= 4 or first.endswith((",", "!")))


def prepare(cfg: Config, src: Source, *, announcement_id: int, reply_to: str, now: dt.datetime) -> bytes:
    """The member message with placeholders, stored with the announcement (see fill()).

    The opening before the post is per member: OPEN/OH (a greeting, then a note for a member already registered
    for the meeting the post names) or, when the post greets of its own, NOTE/NH (the note alone). Messages
    prepared before this have GT/GH (the greeting) followed by a blank line; fill() still fills those."""
    nonce = secrets.token_hex(4)
    ph = {name: _placeholder(nonce, name) for name in ("TO", "MID", "TOKEN", "OPEN", "OH", "NOTE", "NH")}
    own = greets(src.text)
    opening_text, opening_html = (ph["NOTE"], ph["NH"]) if own else (ph["OPEN"], ph["OH"])
    keep = _pattern(nonce)
    env = environment(cfg.network.language, cfg.templates)
    footer_ctx: dict[str, Any] = {"network": cfg.network, "unsubscribe_address": unsubscribe_address(cfg, ph["TOKEN"]),
                                  "registration_address": cfg.network.registration_address}
    footer_text = env.get_template("_list_footer.txt").render(**footer_ctx).strip()
    footer_html = env.get_template("_list_footer.html").render(**footer_ctx).strip()
    text = f"{opening_text}{src.text.strip()}\n\n-- \n{footer_text}\n"
    body: Message = _leaf("plain", qp(text, keep).decode("ascii"))
    if src.html:
        html = _insert_html(src.html, opening_html, footer_html)
        html_part: Message = _leaf("html", qp(html, keep).decode("ascii"))
        if src.related:
            html_part = _multi("related", [html_part, *src.related])
        body = _multi("alternative", [body, html_part])
    if src.attachments:
        body = _multi("mixed", [body, *src.attachments])

    msg = EmailMessage(policy=POLICY)
    msg["From"] = Address(display_name=clean(cfg.network.title), addr_spec=cfg.network.registration_address)
    msg["Subject"] = clean(src.subject)
    msg["Date"] = format_datetime(now)
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["List-Id"] = f"{clean(cfg.network.title)} <{list_id(cfg)}>"
    msg["List-Post"] = "NO"  # members cannot post (RFC 2369)
    msg["Precedence"] = "list"
    msg["X-Auto-Response-Suppress"] = "OOF, AutoReply"  # ask Exchange not to answer every copy
    msg["Content-Language"] = cfg.network.language
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = body["Content-Type"]
    if body.get("Content-Transfer-Encoding"):
        msg["Content-Transfer-Encoding"] = body["Content-Transfer-Encoding"]
    msg.set_payload(body.get_payload())
    buf = BytesIO()
    BytesGenerator(buf, policy=POLICY).flatten(msg)

    domain = cfg.domain
    unsubscribe = f"<mailto:{unsubscribe_address(cfg, ph['TOKEN'])}?subject=unsubscribe>"
    mark = msgid.list_msgid_prefix(cfg.secret, announcement_id)  # tells our own mail coming back (inbox/loops.py)
    head = [f"To: {ph['TO']}", f"Message-ID: {mark}{ph['MID']}@{domain}>"]
    if cfg.list.unsubscribe_url:
        sep = "&" if "?" in cfg.list.unsubscribe_url else "?"
        head.append(f"List-Unsubscribe: {unsubscribe},\r\n <{cfg.list.unsubscribe_url}{sep}token={ph['TOKEN']}>")
        head.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")  # RFC 8058
    else:
        head.append(f"List-Unsubscribe: {unsubscribe}")
    return MAGIC + nonce.encode() + b"\r\n" + "\r\n".join(head).encode() + b"\r\n" + buf.getvalue()


# --- filling in, per member ------------------------------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    """A prepared message cut at its placeholders: fill() is a join of bytes."""

    body: Holes[bytes]
    greeting_text: tuple[Holes[bytes], bytes]  # (with a name: a NAME hole, without a name)
    greeting_html: tuple[Holes[bytes], bytes]
    notes: dict[str, tuple[bytes, bytes]]  # registration status -> (text, html) of "Je bent al aangemeld ..."

    def fill(self, *, email: str, member_id: int, token: str, name: str, registered: str = "") -> bytes:
        """registered: the member's status for the meeting the post names (confirmed|waitlisted), or ''."""
        name = clean(name)[:MAX_NAME]
        if name:
            gt = self.greeting_text[0].fill({"NAME": qp_value(name)})
            gh = self.greeting_html[0].fill({"NAME": qp_value(htmllib.escape(name))})
        else:
            gt, gh = self.greeting_text[1], self.greeting_html[1]
        nt, nh = self.notes.get(registered, (b"", b""))
        return self.body.fill({"TO": clean(email).encode(), "MID": str(member_id).encode(), "TOKEN": token.encode(),
                               "GT": gt, "GH": gh, "OPEN": gt + b"\r\n\r\n" + nt, "OH": gh + b"\r\n" + nh,
                               "NOTE": nt, "NH": nh})


def compile_prepared(cfg: Config, prepared: bytes) -> Compiled:
    if not prepared.startswith(MAGIC):
        raise ValueError("not a prepared list message")
    first, _, template = prepared.partition(b"\r\n")
    nonce = first[len(MAGIC):].decode()
    holes = re.compile(f"@@{nonce}:([A-Z]+)@@".encode())
    marker = _placeholder(nonce, "NAME")
    keep = _pattern(nonce)
    env = environment(cfg.network.language, cfg.templates)

    def greeting(kind: str, name: str) -> bytes:
        rendered = env.get_template(f"_greeting.{kind}").render(name=name).strip()
        return qp(rendered, keep)

    def note(kind: str, status: str) -> bytes:
        rendered = env.get_template(f"_list_registered.{kind}").render(status=status).strip()
        return qp(rendered + "\n\n" if kind == "txt" else rendered)

    notes = {status: (note("txt", status), note("html", status)) for status in ("confirmed", "waitlisted")}
    return Compiled(cut(template, holes), (cut(greeting("txt", marker), holes), greeting("txt", "")),
                    (cut(greeting("html", marker), holes), greeting("html", "")), notes)


def as_message(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)
