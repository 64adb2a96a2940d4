"""Fast assembly of our own replies as bytes: multipart/mixed > alternative (text, html, calendar) + .ics.

Why by hand: email.message re-parses every header through its policy (several ms per message), and after an
announcement replies go out by the thousand. Only fixed, well-formed structures are written here; the tests
read every reply back with the stdlib parser and an independent iCalendar parser.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from email.header import Header
from email.utils import format_datetime, formataddr

from inbox.message import clean


def _header_text(value: str) -> str:
    """RFC 2047 only when needed; the value is one clean line (no CR/LF can reach a header)."""
    value = clean(value)
    if value.isascii():
        return value
    return Header(value, "utf-8", header_name="Subject").encode(linesep="\r\n")


def _qp(text: str) -> bytes:
    data = text.replace("\r\n", "\n").encode("utf-8")
    return binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")


def _b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def message_id(domain: str) -> str:
    return f"<{uuid.uuid4().hex}@{domain}>"


def build_reply_bytes(
    *,
    sender: str,
    sender_name: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    now: dt.datetime,
    in_reply_to: str = "",
    references: tuple[str, ...] = (),
    invite: bytes | None = None,
    invite_method: str = "",
    invite_filename: str = "invite.ics",
    auto_reply: bool = True,
    lang: str = "nl",
) -> bytes:
    domain = sender.rpartition("@")[2]
    head = [
        f"From: {formataddr((clean(sender_name), sender), charset='utf-8')}",
        f"To: {to}",  # the bare address only: nothing from the sender's headers
        f"Subject: {_header_text(subject)}",
        f"Date: {format_datetime(now)}",
        f"Message-ID: {message_id(domain)}",
    ]
    if in_reply_to:
        refs = [r for r in references[-10:] if r != in_reply_to]
        head += [f"In-Reply-To: {in_reply_to}", f"References: {' '.join([*refs, in_reply_to])}"]
    head.append(f"Content-Language: {lang}")
    if auto_reply:
        head += ["Auto-Submitted: auto-replied", "X-Auto-Response-Suppress: All"]
    head.append("MIME-Version: 1.0")

    alt_b, mixed_b = f"alt-{uuid.uuid4().hex}", f"mix-{uuid.uuid4().hex}"
    qp = b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    alt = [
        b"--" + alt_b.encode() + b"\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n" + qp + _qp(text),
        b"--" + alt_b.encode() + b"\r\nContent-Type: text/html; charset=\"utf-8\"\r\n" + qp + _qp(html),
    ]
    if invite is not None:
        alt.append(b"--" + alt_b.encode() + b"\r\nContent-Type: text/calendar; method=\"" + invite_method.encode()
                   + b"\"; charset=\"UTF-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + _b64(invite))
    alternative = b"\r\n".join(alt) + b"\r\n--" + alt_b.encode() + b"--\r\n"
    alt_head = f"Content-Type: multipart/alternative; boundary=\"{alt_b}\"".encode()
    if invite is None:
        return "\r\n".join(head).encode() + b"\r\n" + alt_head + b"\r\n\r\n" + alternative
    mixed = (
        b"--" + mixed_b.encode() + b"\r\n" + alt_head + b"\r\n\r\n" + alternative + b"\r\n"
        + b"--" + mixed_b.encode() + b"\r\nContent-Type: application/ics; name=\"" + invite_filename.encode()
        + b"\"\r\nContent-Disposition: attachment; filename=\"" + invite_filename.encode()
        + b"\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + _b64(invite)
        + b"\r\n--" + mixed_b.encode() + b"--\r\n"
    )
    return ("\r\n".join(head) + f"\r\nContent-Type: multipart/mixed; boundary=\"{mixed_b}\"\r\n\r\n").encode() + mixed
