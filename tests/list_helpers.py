"""Helpers for the mailing-list tests: members, posts with attachments, and reading what the sink got."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import re
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from sqlalchemy import select

from db.models import Member
from helpers import ORGANISER
from network.members import add_member

POST = "nieuws@pioniers.test"
BOUNCES = "bounces@pioniers.test"


def add_members(world, *people: tuple[str, str]) -> None:
    for address, name in people:
        add_member(world.app, address, name)


def member(world, address: str) -> Member:
    with world.app.sm.begin() as s:
        return s.scalar(select(Member).where(Member.email == address))


def post(subject: str = "Nieuws van het netwerk", text: str = "Beste leden,\n\nHet nieuws van deze maand.\n",
         html: str | None = "<html><body><p>Beste leden,</p><p>Het <b>nieuws</b> van deze maand.</p></body></html>",
         sender: str = f"Organisatie <{ORGANISER}>", to: str = POST, pdf: bytes | None = b"%PDF-1.4 agenda",
         headers: dict | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(dt.datetime(2027, 2, 1, 10, 0, tzinfo=dt.timezone.utc))
    msg["Message-ID"] = make_msgid(domain="client.example")
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(text)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    if pdf is not None:
        msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="agenda.pdf")
    return msg.as_bytes()


def reply_to(original: EmailMessage, sender: str, body: str = "Prima, versturen maar.\n",
             to: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to or str(original.get("Reply-To") or original["From"])
    msg["Subject"] = "RE: " + str(original["Subject"])
    msg["Date"] = format_datetime(dt.datetime(2027, 2, 1, 11, 0, tzinfo=dt.timezone.utc))
    msg["Message-ID"] = make_msgid(domain="client.example")
    msg["In-Reply-To"] = str(original["Message-ID"])
    msg.set_content(body + "\n\n> " + "\n> ".join(str(original["Subject"]).splitlines()))
    return msg.as_bytes()


def parsed(sink_message) -> EmailMessage:
    return email.message_from_bytes(sink_message.data, policy=email.policy.default)


def received(world, since: int = 0) -> list[tuple[str, EmailMessage, str]]:
    """(recipient, message, envelope sender) of everything the sink accepted from index `since`."""
    return [(m.rcpt_tos[0], parsed(m), m.mail_from) for m in world.sink.messages[since:]]


def list_copies(world, since: int = 0) -> list[tuple[str, EmailMessage, str]]:
    return [r for r in received(world, since) if r[1]["List-Id"]]


def token_of(msg: EmailMessage) -> str:
    return re.search(r"\[#([0-9a-f]{26})\]", str(msg["Subject"])).group(1)


def text_part(msg: EmailMessage) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


def html_part(msg: EmailMessage) -> str:
    return msg.get_body(preferencelist=("html",)).get_content()
