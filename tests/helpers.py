"""Test helpers: a settable clock, a configured App on real servers, and realistic mail builders."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
import textwrap
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from base.config import load_config
from db.app import App
from db.migrate import upgrade
from network.meetings import add_meeting
from pioniers.service import poll_once

REG = "aanmelden@pioniers.test"
ORGANISER = "organisatie@pioniers.test"
AUTHSERV = "mx.pioniers.test"  # the [imap] authserv_id of the test worlds: its Authentication-Results are believed


@dataclass
class Clock:
    now: dt.datetime = field(default_factory=lambda: dt.datetime(2027, 2, 1, 9, 0, tzinfo=dt.timezone.utc))

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += dt.timedelta(**kw)


def write_config(path: Path, db_url: str, *, imap: dict | None = None, smtp: dict | None = None,
                 extra: str = "") -> Path:
    imap = imap or {}
    smtp = smtp or {}
    cfg = textwrap.dedent(f"""\
        [network]
        name = "Pioniersnetwerk"
        title = "Pioniersnetwerk Open Overheid"
        registration_address = "{REG}"
        organisers = ["{ORGANISER}"]
        timezone = "Europe/Amsterdam"
        language = "nl"

        [database]
        url = "{db_url}"

        [imap]
        host = "{imap.get('host', '')}"
        port = {imap.get('port', 993)}
        ssl = false
        username = "{imap.get('user', '')}"
        password = "{imap.get('password', '')}"
        authserv_id = "{AUTHSERV}"

        [smtp]
        host = "{smtp.get('host', '')}"
        port = {smtp.get('port', 25)}
        starttls = false
        """) + extra
    path.write_text(cfg, encoding="utf-8")
    return path


@dataclass
class World:
    app: App
    mailbox: object
    sink: object
    clock: Clock
    config_path: Path

    @classmethod
    def create(cls, tmp: Path, db_url: str, mailbox, sink, extra: str = "") -> World:
        path = write_config(tmp / "config.toml", db_url,
                            imap={"host": mailbox.host, "port": mailbox.port, "user": mailbox.user,
                                  "password": mailbox.password},
                            smtp={"host": sink.host, "port": sink.port}, extra=extra)
        clock = Clock()
        app = App.from_config(load_config(path), clock)
        upgrade(app.sm.kw["bind"])
        return cls(app, mailbox, sink, clock, path)

    def meeting(self, day: str = "2027-03-18", **kw) -> None:
        args = {"start": "14:00", "end": "17:00", "location": "Stadskantoor, Stadserf 1, Schiedam",
                "host": "Gemeente Schiedam", "theme": "Open data"} | kw
        add_meeting(self.app, dt.date.fromisoformat(day), args.pop("start"), args.pop("end"),
                    args.pop("location"), args.pop("host"), args.pop("theme"), args.pop("capacity", None),
                    past=True)  # a test sets up whatever history it needs

    def deliver(self, raw: bytes) -> None:
        self.mailbox.append(raw)

    def poll(self):
        return poll_once(self.app)

    def replies(self) -> list[EmailMessage]:
        return [email.message_from_bytes(m.data, policy=email.policy.default) for m in self.sink.messages]

    def close(self) -> None:
        self.app.sm.kw["bind"].dispose()


def authenticated(sender: str) -> dict[str, str]:
    """The header our own receiving server adds when the sender's domain passes DMARC: proof of the From."""
    domain = sender.rpartition("@")[2].rstrip(">")
    return {"Authentication-Results": f"{AUTHSERV}; spf=pass smtp.mailfrom={domain}; dmarc=pass header.from={domain}"}


def last_sent_to(world, address: str) -> EmailMessage:
    """The latest letter the service sent to address (from the sink)."""
    mine = [m for m in world.replies() if address in str(m["To"])]
    assert mine, f"nothing was sent to {address}"
    return mine[-1]


def reply_mail(world, sender: str, body: str, subject: str | None = None) -> bytes:
    """A reply to the latest letter we sent to sender: In-Reply-To its Message-ID, as a mail client does."""
    original = last_sent_to(world, sender.rpartition("<")[2].rstrip(">"))
    return mail(sender=sender, subject=subject or "RE: " + str(original["Subject"]), body=body,
                headers={"In-Reply-To": str(original["Message-ID"]), "References": str(original["Message-ID"])})


def mail(subject: str = "Pioniersnetwerk 18 maart 2027", body: str = "Graag meld ik me aan.\n",
         sender: str = "Jan Jansen <jan.jansen@schiedam.nl>", to: str = REG, headers: dict | None = None,
         html: str | None = None, msgid: str | None = None) -> bytes:
    """A message as a mail client would send it."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(dt.datetime(2027, 2, 1, 10, 0, tzinfo=dt.timezone.utc))
    msg["Message-ID"] = msgid or make_msgid(domain="client.example")
    for key, value in (headers or {}).items():
        msg[key] = value
    if html is not None and body is None:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(body)
        if html is not None:
            msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


def parts(msg: EmailMessage) -> dict[str, list]:
    out: dict[str, list] = {}
    for part in msg.walk():
        if not part.is_multipart():
            out.setdefault(part.get_content_type(), []).append(part)
    return out


def text_of(msg: EmailMessage) -> str:
    return parts(msg)["text/plain"][0].get_content()
