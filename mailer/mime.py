"""Fast assembly of our letters as bytes: multipart/mixed > alternative (text, html, calendar) + .ics and/or a
whole message (a list preview shows the member copy); the one quoted-printable encoder of our mail.

Why by hand: email.message re-parses every header through its policy (several ms per message), and after an
announcement replies go out by the thousand. Only fixed, well-formed structures are written here; the tests
read every reply back with the stdlib parser and an independent iCalendar parser.
"""
from __future__ import annotations

import binascii
import datetime as dt
import functools
import itertools
import os
import re
from dataclasses import dataclass
from email.header import Header
from email.utils import format_datetime, formataddr

from base.text import clean


@functools.lru_cache(maxsize=256)  # a letter's subject is the same for everyone it goes to
def _header_text(value: str) -> str:
    """RFC 2047 only when needed; the value is one clean line (no CR/LF can reach a header)."""
    value = clean(value)
    if value.isascii():
        return value
    return Header(value, "utf-8", header_name="Subject").encode(linesep="\r\n")


@functools.lru_cache(maxsize=16)
def _from_header(sender_name: str, sender: str) -> str:
    return formataddr((clean(sender_name), sender), charset="utf-8")


@functools.lru_cache(maxsize=8)  # a burst shares its seconds; the offset is in the key as equal instants hash alike
def _date_header(now: dt.datetime, _offset: dt.timedelta | None) -> str:
    return format_datetime(now)


Text = str | tuple[str, ...]
"""A body, or its pieces in order, each but the last ending in a line break (see _qp)."""


def qp(text: str, keep: re.Pattern[str] | None = None) -> bytes:
    """Quoted-printable (UTF-8) with CRLF lines, as binascii.b2a_qp writes it; the one encoder of our mail.

    Matches of `keep` (placeholders filled in later, listmail.py) are never cut by a soft line break; they must
    be of characters that stand for themselves and start with one that is no hex digit (e.g. '@').
    A lone CR is written =0D: b2a_qp would pass it on bare, and a bare CR must not reach SMTP.
    """
    data = text.replace("\r\n", "\n").encode("utf-8")
    lone_cr = b"\r" in data
    if lone_cr:  # 0xFF is never in UTF-8: b2a_qp encodes it (and counts its three characters), then it is renamed
        data = data.replace(b"\r", b"\xff")
    encoded = binascii.b2a_qp(data, istext=True)
    if lone_cr:
        encoded = encoded.replace(b"=FF", b"=0D")
    kept = keep is not None and keep.search(text) is not None
    # b2a_qp writes a line of 77 or 78 characters when it ends in an encoded space or tab (=20, =09)
    if kept or ((b"=20" in encoded or b"=09" in encoded) and max(map(len, encoded.split(b"\n"))) > 76):
        encoded = _keep_whole(encoded, re.compile(keep.pattern.encode()) if kept and keep is not None else None)
    return encoded.replace(b"\n", b"\r\n")


def _keep_whole(encoded: bytes, keep: re.Pattern[bytes] | None) -> bytes:
    """b2a_qp's lines again, where a soft line break cut a match of `keep` (those lines broken before it) or a
    line is longer than 76 characters."""
    out: list[bytes] = []
    soft: list[bytes] = []  # the soft-broken lines of one line of text so far, without their '='
    for line in encoded.split(b"\n"):
        if line.endswith(b"="):
            soft.append(line[:-1])
            continue
        parts, soft = [*soft, line], []
        whole = b"".join(parts)
        matches = {m.start(): m.end() for m in keep.finditer(whole)} if len(parts) > 1 and keep is not None else {}
        cuts = itertools.accumulate(len(part) for part in parts[:-1])
        if len(parts[-1]) <= 76 and not any(start < cut < end for cut in cuts for start, end in matches.items()):
            out.append(b"=\n".join(parts))
            continue
        tokens: list[bytes] = []  # of the line being written: at most 75 characters and the '=', as b2a_qp
        length = i = 0
        while i < len(whole):
            j = matches.get(i) or (i + 3 if whole[i] == ord("=") else i + 1)  # a match, an =XX or a character
            if length and length + j - i > 75:
                out.append(b"".join(tokens) + b"=")
                tokens, length = [], 0
            tokens.append(whole[i:j])
            length += j - i
            i = j
        out.append(b"".join(tokens))
    return b"\n".join(out)


def qp_value(text: str) -> bytes:
    """A value filled into a quoted-printable line: everything but ASCII letters and digits encoded, so that no
    character of it can mean anything there (a trailing space, '=', a line break)."""
    return "".join(ch if ch.isascii() and ch.isalnum() else "".join(f"={b:02X}" for b in ch.encode())
                   for ch in text).encode("ascii")


def _qp(text: Text) -> bytes:
    """qp() of a body or of its pieces, joined; pieces are encoded one by one, the same ones only once.

    b2a_qp starts every line afresh and only looks ahead within a line, so pieces that end in a line break
    encode to the same bytes separately as joined.
    """
    if isinstance(text, str):
        return qp(text)
    last = len(text) - 1
    for i, piece in enumerate(text):
        if i < last and piece and piece[-1] != "\n":
            return qp("".join(text))
    return b"".join([_qp_piece(piece) for piece in text])


# the parts of a letter around the name: the same str objects every time, so hashed only once
_qp_piece = functools.lru_cache(maxsize=64)(qp)


def _b64(data: bytes) -> bytes:
    """Base64 in CRLF lines of 76 characters, as base64.encodebytes writes them (there with LF).

    Why by hand: encodebytes calls b2a_base64 once for every 57 bytes.
    """
    encoded = binascii.b2a_base64(data, newline=False)
    lines = [encoded[i:i + 76] for i in range(0, len(encoded), 76)]
    lines.append(b"")  # a line break after the last line too
    return b"\r\n".join(lines)


def _random_hex(count: int) -> list[str]:
    """`count` random 128-bit hex strings (as uuid4().hex, from one os.urandom call instead of one each)."""
    data = os.urandom(16 * count).hex()
    return [data[i:i + 32] for i in range(0, 32 * count, 32)]


@dataclass(frozen=True)
class File:
    """An attachment for a person: what they save and open (an XLSX list)."""
    filename: str
    content_type: str
    data: bytes


def message_id(domain: str, token: str = "") -> str:
    return f"<{token or _random_hex(1)[0]}@{domain}>"


def build_reply_bytes(
    *,
    sender: str,
    sender_name: str,
    to: str,
    subject: str,
    text: Text,
    html: Text,
    now: dt.datetime,
    in_reply_to: str = "",
    references: tuple[str, ...] = (),
    reply_to: str = "",
    invite: bytes | None = None,
    invite_method: str = "",
    invite_filename: str = "invite.ics",
    attach: bytes | None = None,
    files: tuple[File, ...] = (),
    auto_reply: bool = True,
    lang: str = "nl",
    msgid: str = "",
) -> bytes:
    """Every letter we write: attach is a whole message (message/rfc822), e.g. the exact copy a member gets;
    files are attachments for people (an attendee list as XLSX)."""
    domain = sender.rpartition("@")[2]
    msg_token, alt_token, mixed_token = _random_hex(3)
    head = [
        f"From: {_from_header(sender_name, sender)}",
        f"To: {clean(to)}",  # the bare address only: nothing from the sender's headers
        f"Subject: {_header_text(subject)}",
        f"Date: {_date_header(now.replace(microsecond=0), now.utcoffset())}",
        f"Message-ID: {msgid or message_id(domain, msg_token)}",
    ]
    if reply_to:
        head.append(f"Reply-To: {clean(reply_to)}")
    if in_reply_to:
        in_reply_to = clean(in_reply_to)  # theirs: one line, whatever their Message-ID held
        refs = [clean(r) for r in references[-10:] if r != in_reply_to]
        refs.append(in_reply_to)
        fold = " " if sum(map(len, refs)) + len(refs) < 900 else "\r\n "  # lines of 998 characters at most
        head += [f"In-Reply-To: {in_reply_to}", f"References: {fold.join(refs)}"]
    head.append(f"Content-Language: {lang}")
    # RFC 3834: every letter is made by the service, a reply or not; no out-of-office answers to either
    head += [f"Auto-Submitted: {'auto-replied' if auto_reply else 'auto-generated'}", "X-Auto-Response-Suppress: All"]
    head.append("MIME-Version: 1.0")

    alt_b, mixed_b = f"alt-{alt_token}".encode(), f"mix-{mixed_token}".encode()
    qp_head = b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    alternative = [
        b'Content-Type: multipart/alternative; boundary="', alt_b, b'"\r\n\r\n',
        b"--", alt_b, b'\r\nContent-Type: text/plain; charset="utf-8"\r\n', qp_head, _qp(text), b"\r\n",
        b"--", alt_b, b'\r\nContent-Type: text/html; charset="utf-8"\r\n', qp_head, _qp(html),
    ]
    if invite is None and attach is None and not files:
        return b"".join([("\r\n".join(head) + "\r\n").encode(), *alternative, b"\r\n--", alt_b, b"--\r\n"])
    attachments: list[bytes] = []
    if invite is not None:
        ics = _b64(invite)  # the same bytes twice: encoded once
        alternative += [
            b"\r\n--", alt_b, b'\r\nContent-Type: text/calendar; method="', invite_method.encode(),
            b'"; charset="UTF-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n', ics]
        attachments += [
            b"--", mixed_b, b'\r\nContent-Type: application/ics; name="', invite_filename.encode(),
            b'"\r\nContent-Disposition: attachment; filename="', invite_filename.encode(),
            b'"\r\nContent-Transfer-Encoding: base64\r\n\r\n', ics, b"\r\n"]
    if attach is not None:
        attachments += [
            b"--", mixed_b, b"\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment\r\n"
            b"Content-Transfer-Encoding: ", b"7bit" if attach.isascii() else b"8bit", b"\r\n\r\n", attach,
            b"\r\n"]  # the line break before a boundary is the boundary's: the copy keeps its own last one
    for f in files:
        name = _header_text(f.filename).encode()  # RFC 2231 is what Outlook reads least well; encoded-words it reads
        attachments += [
            b"--", mixed_b, b"\r\nContent-Type: ", f.content_type.encode(), b'; name="', name,
            b'"\r\nContent-Disposition: attachment; filename="', name,
            b'"\r\nContent-Transfer-Encoding: base64\r\n\r\n', _b64(f.data), b"\r\n"]
    return b"".join([
        ("\r\n".join(head) + '\r\nContent-Type: multipart/mixed; boundary="').encode(), mixed_b, b'"\r\n\r\n',
        b"--", mixed_b, b"\r\n", *alternative, b"\r\n--", alt_b, b"--\r\n\r\n",
        *attachments, b"--", mixed_b, b"--\r\n",
    ])
